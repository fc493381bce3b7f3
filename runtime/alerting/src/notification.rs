//! A notification: one group's alerts for one notifier at one flush. What the outbox keeps
//! and the notifiers render.

use crate::alert::Alert;
use crate::dispatch::Reason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_vocab::LabelSet;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per group, notifier and flush: receivers and the outbox tell repeats by it.
    pub id: String,
    pub notifier: String,
    pub group_key: String,
    pub group_labels: LabelSet,
    /// The flush, epoch ms.
    pub ts: i64,
    /// `first`, `new_alerts`, `new_resolved`, `all_resolved`, `repeat`, `test`.
    pub reason: String,
    /// Firing alerts (no `ends_at`) and resolved ones, by labels.
    pub alerts: Vec<Alert>,
    /// Within how long the group sends again while it fires (its `repeat` and interval), ms:
    /// how long an Alertmanager receiving it should keep its alerts firing.
    #[serde(default)]
    pub renew_within: i64,
}

impl Notification {
    pub fn new(
        notifier: &str,
        group_key: &str,
        group_labels: &LabelSet,
        ts: i64,
        reason: Reason,
        alerts: Vec<Alert>,
    ) -> Notification {
        let ts_text = ts.to_string();
        let parts = [
            group_key.as_bytes(),
            notifier.as_bytes(),
            ts_text.as_bytes(),
        ];
        Notification {
            id: format!("{:016x}", vigil_vocab::hash::fnv1a(parts)),
            notifier: notifier.into(),
            group_key: group_key.into(),
            group_labels: group_labels.clone(),
            ts,
            reason: reason.word().into(),
            alerts,
            renew_within: crate::dispatch::REPEAT_MS + crate::dispatch::GROUP_INTERVAL_MS,
        }
    }

    /// `firing` when any alert fires, else `resolved` (Alertmanager's group status).
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| !a.resolved_at(self.ts)) {
            "firing"
        } else {
            "resolved"
        }
    }

    /// How many alerts fire.
    pub fn firing(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| !a.resolved_at(self.ts))
            .count()
    }

    /// Labels every alert has with the same value.
    pub fn common_labels(&self) -> LabelSet {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert has with the same value.
    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// A stable key for the group, the same in every notification about it (PagerDuty's
    /// dedup key: its incident opens and resolves as the group does).
    pub fn group_hash(&self) -> String {
        format!(
            "{:016x}",
            vigil_vocab::hash::fnv1a([self.group_key.as_bytes()])
        )
    }
}

fn common<'a>(mut sets: impl Iterator<Item = &'a BTreeMap<String, String>>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut out = first.clone();
    for s in sets {
        out.retain(|k, v| s.get(k) == Some(v));
    }
    out
}
