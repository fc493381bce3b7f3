//! An alert as routing sees it: Alertmanager's model (labels, annotations, `startsAt`,
//! `endsAt`), whoever produced it (the engine's transitions or a Prometheus posting to
//! `/api/v2/alerts`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_vocab::notify::RuleNotes;
use vigil_vocab::template::{Value, number, render};
use vigil_vocab::{AlertState, LabelSet, Transition};

/// One alert. Firing while `ends_at` is absent or later than now; resolved after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Its identity.
    pub labels: LabelSet,
    /// `summary`, `description`, `value` and whatever a sender attached.
    pub annotations: BTreeMap<String, String>,
    /// Epoch milliseconds.
    pub starts_at: i64,
    /// When it resolved (or, for a sender's alert, when it will unless renewed).
    pub ends_at: Option<i64>,
    /// Last time it was set.
    pub updated_at: i64,
    /// Where it came from (a link a notification can carry).
    #[serde(default)]
    pub generator_url: String,
    /// Held while the rule says it is flapping.
    #[serde(default)]
    pub flapping: bool,
    /// Posted through the Alertmanager API (not an engine alert: a restart does not
    /// reconcile it with the engine's state).
    #[serde(default)]
    pub external: bool,
}

impl Alert {
    /// Resolved at `now`.
    pub fn resolved_at(&self, now: i64) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }

    /// The label set's stable 64-bit hash (FNV-1a over sorted names and values), shown as
    /// Alertmanager shows fingerprints: 16 hex digits.
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// The `alertname` label, else empty.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// An engine change as an alert: `None` for changes routing ignores (pending, inactive).
    /// Labels gain `alertname` (the rule's name), `rule` (`package.name`) and `severity`;
    /// annotations carry the rendered summary and description and the value.
    pub fn of_transition(t: &Transition, notes: Option<&RuleNotes>) -> Option<Alert> {
        let resolved = match t.state {
            AlertState::Firing => false,
            AlertState::Resolved => true,
            AlertState::Pending | AlertState::Inactive => return None,
        };
        let mut labels = (*t.labels).clone();
        let name = t.rule.rsplit('.').next().unwrap_or(&t.rule);
        labels
            .entry("alertname".into())
            .or_insert_with(|| name.to_string());
        labels
            .entry("rule".into())
            .or_insert_with(|| t.rule.to_string());
        if let Some(s) = t.severity {
            labels
                .entry("severity".into())
                .or_insert_with(|| s.to_string());
        }
        let mut annotations = BTreeMap::new();
        if !t.value.is_nan() {
            annotations.insert("value".into(), number(t.value));
        }
        if let Some(n) = notes {
            let event = t.event.as_ref().map(vigil_vocab::EventJson::value);
            let lookup = |k: &str| -> Option<Value<'_>> {
                match k {
                    "value" => Some(Value::Num(t.value)),
                    "rule" => Some(Value::Str((*t.rule).into())),
                    "severity" => t.severity.map(|s| Value::Str(s.to_string().into())),
                    k => match k.strip_prefix("event.") {
                        Some(path) => event_field(event.as_ref(), path),
                        None => t.labels.get(k).map(|v| Value::Str(v.as_str().into())),
                    },
                }
            };
            if let Some(s) = &n.summary {
                annotations.insert("summary".into(), render(s, &lookup));
            }
            if let Some(d) = &n.description {
                annotations.insert("description".into(), render(d, &lookup));
            }
            for (k, v) in &n.annotations {
                annotations.insert(k.clone(), render(v, &lookup));
            }
        }
        Some(Alert {
            labels,
            annotations,
            starts_at: t.ts,
            ends_at: resolved.then_some(t.ts),
            updated_at: t.ts,
            generator_url: String::new(),
            flapping: t.flapping,
            external: false,
        })
    }
}

/// `event.a.b` of an alert's event, for templates.
fn event_field<'a>(event: Option<&'a serde_json::Value>, path: &str) -> Option<Value<'a>> {
    vigil_vocab::template::event_field(event?, path)
}

/// The label names and values in order, hashed stably ([`vigil_vocab::hash::fnv1a`]): the
/// same in every run and version, as fingerprints in the notification log and receivers'
/// payloads must be.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    vigil_vocab::hash::fnv1a(
        labels
            .iter()
            .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn change(state: AlertState) -> Transition {
        Transition {
            ts: 60_000,
            rule: Arc::from("infra.high_cpu"),
            severity: Some(vigil_vocab::Severity::Warning),
            labels: std::sync::Arc::new([("host".to_string(), "a".to_string())].into()),
            state,
            value: 93.5,
            flapping: false,
            event: None,
        }
    }

    #[test]
    fn transitions_become_alerts_with_names_and_rendered_texts() {
        let notes = RuleNotes {
            summary: Some("cpu {{ value }} on {{ host }}".into()),
            annotations: vec![("runbook_url".into(), "https://rb/{{ host }}".into())],
            ..RuleNotes::default()
        };
        let a = Alert::of_transition(&change(AlertState::Firing), Some(&notes)).unwrap();
        assert_eq!(a.name(), "high_cpu");
        assert_eq!(a.labels["rule"], "infra.high_cpu");
        assert_eq!(a.labels["severity"], "warning");
        assert_eq!(a.annotations["summary"], "cpu 93.5 on a");
        assert_eq!(a.annotations["runbook_url"], "https://rb/a");
        assert!(!a.resolved_at(61_000));
        let r = Alert::of_transition(&change(AlertState::Resolved), None).unwrap();
        assert!(r.resolved_at(60_000));
        assert_eq!(r.fingerprint(), a.fingerprint());
        assert!(Alert::of_transition(&change(AlertState::Pending), None).is_none());
    }

    #[test]
    fn fingerprints_do_not_confuse_split_labels() {
        let a: LabelSet = [("a".to_string(), "bc".to_string())].into();
        let b: LabelSet = [("ab".to_string(), "c".to_string())].into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
