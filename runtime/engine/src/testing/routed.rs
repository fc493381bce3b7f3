//! `expect [no] notification ...`: a test's alert changes through routing, on the code the
//! daemon runs (`vigil-alerting`: groups and timers, inhibitions, the test's silences), with
//! the test's clock. Each flush happens at its exact due time, so `at` names it exactly.

use super::{duration, subset};
use std::sync::Arc;
use vigil_alerting::{Alerting, Matcher, Notification, Settings, Silence};
use vigil_compiler::eval::RuleSet;
use vigil_compiler::ir::testplan::TestCase;
use vigil_vocab::Transition;

/// At most this many clock steps (a flush or a change each): a guard, far above any test.
const MAX_STEPS: usize = 1_000_000;

/// The notifications the alert changes of `timeline` (in time order) cause up to `end`.
pub fn notifications(
    rules: &RuleSet,
    case: &TestCase,
    timeline: &[Transition],
    end: i64,
) -> Vec<Notification> {
    let mut al = Alerting::new(Arc::new(rules.ir().routing.clone()), Settings::default());
    for (i, s) in case.silences.iter().enumerate() {
        let silence = Silence {
            id: format!("test-silence-{i}"),
            matchers: s
                .labels
                .iter()
                .map(|(k, v)| Matcher {
                    name: k.clone(),
                    value: v.clone(),
                    is_regex: false,
                    is_equal: true,
                })
                .collect(),
            starts_at: s.from,
            ends_at: s.to,
            created_by: "test".into(),
            comment: String::new(),
            updated_at: 0,
            hid_since: None,
            reminded: Vec::new(),
        };
        // The checker proved the times are durations; a silence that refuses (no labels,
        // ending before it starts) silences nothing.
        let _ = al.set_silence(silence, s.from.min(0));
    }
    let mut out = Vec::new();
    let mut next_change = 0;
    for _ in 0..MAX_STEPS {
        let change = timeline.get(next_change).map(|t| t.ts);
        let Some(now) = change.into_iter().chain(al.next_due()).min() else {
            break;
        };
        if now > end {
            break;
        }
        while let Some(t) = timeline.get(next_change).filter(|t| t.ts == now) {
            al.transition(t, now);
            next_change += 1;
        }
        out.extend(al.tick(now));
    }
    out
}

/// Checks the case's notification expectations against what was sent.
pub fn check(case: &TestCase, sent: &[Notification], failures: &mut Vec<String>) {
    for e in &case.notifications {
        let hit = |n: &Notification| {
            n.notifier == e.notifier
                && e.at.is_none_or(|at| n.ts == at)
                && n.alerts.iter().any(|a| subset(&e.labels, &a.labels))
        };
        let found = sent.iter().find(|n| hit(n));
        match (found, e.negated) {
            (None, false) => {
                let to: Vec<String> = sent
                    .iter()
                    .filter(|n| n.notifier == e.notifier)
                    .map(describe)
                    .collect();
                failures.push(format!(
                    "expected {}, but {}",
                    e.text,
                    if to.is_empty() {
                        format!("nothing was sent to {}", e.notifier)
                    } else {
                        format!("{} got: {}", e.notifier, to.join("; "))
                    }
                ));
            }
            (Some(n), true) => {
                failures.push(format!("expected {}, but {} was sent", e.text, describe(n)))
            }
            _ => {}
        }
    }
}

/// `ops at 40s (firing: high_cpu{host="a"})`.
pub fn describe(n: &Notification) -> String {
    let alerts: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            let mut l = a.labels.clone();
            l.remove("alertname");
            l.remove("rule");
            l.remove("severity");
            format!("{}{}", a.name(), vigil_vocab::render_labels(&l))
        })
        .collect();
    format!(
        "{} at {} ({}: {})",
        n.notifier,
        duration(n.ts),
        n.status(),
        alerts.join(", ")
    )
}
