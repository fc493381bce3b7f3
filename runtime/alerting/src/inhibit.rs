//! Inhibition, as Alertmanager's inhibitor does it: an alert matching a rule's target is
//! muted while some other firing alert matches its source and both have equal values of
//! the rule's `equal` labels (an absent label equals an absent one). An alert matching both
//! sides does not mute itself. An `unless` rule is the converse (kube-prometheus's
//! `InfoInhibitor` without the extra alert): its target is muted while no other such alert
//! fires.

use crate::alert::Alert;
use std::collections::HashMap;
use vigil_vocab::LabelSet;
use vigil_vocab::notify::InhibitPlan;

/// Per rule, the firing sources by their `equal` values: built once per flush round so each
/// alert's check is a lookup.
pub struct Index<'a> {
    rules: &'a [InhibitPlan],
    sources: Vec<HashMap<Vec<String>, Vec<u64>>>,
}

fn get<'l>(labels: &'l LabelSet) -> impl Fn(&str) -> Option<String> + 'l {
    move |k| labels.get(k).cloned()
}

fn key(rule: &InhibitPlan, labels: &LabelSet) -> Vec<String> {
    rule.equal
        .iter()
        .map(|l| labels.get(l).cloned().unwrap_or_default())
        .collect()
}

impl<'a> Index<'a> {
    pub fn new<'b>(
        rules: &'a [InhibitPlan],
        alerts: impl Iterator<Item = &'b Alert>,
        now: i64,
    ) -> Index<'a> {
        let mut sources = vec![HashMap::<Vec<String>, Vec<u64>>::new(); rules.len()];
        for a in alerts.filter(|a| !a.resolved_at(now)) {
            for (i, r) in rules.iter().enumerate() {
                if r.source.holds(&get(&a.labels)) {
                    sources[i]
                        .entry(key(r, &a.labels))
                        .or_default()
                        .push(a.fingerprint());
                }
            }
        }
        Index { rules, sources }
    }

    /// What inhibits `a`, if anything does.
    pub fn inhibited_by(&self, a: &Alert) -> Option<Inhibitor> {
        let me = a.fingerprint();
        for (i, r) in self.rules.iter().enumerate() {
            if (self.sources[i].is_empty() && !r.unless) || !r.target.holds(&get(&a.labels)) {
                continue;
            }
            let other = self.sources[i]
                .get(&key(r, &a.labels))
                .and_then(|fps| fps.iter().find(|fp| **fp != me));
            match (other, r.unless) {
                (Some(fp), false) => return Some(Inhibitor::Alert(*fp)),
                (None, true) => return Some(Inhibitor::Absence(i)),
                _ => {}
            }
        }
        None
    }
}

/// Why an alert is inhibited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inhibitor {
    /// This firing alert (its fingerprint) mutes it.
    Alert(u64),
    /// The `unless` rule at this position has no alert letting it through.
    Absence(usize),
}

impl Inhibitor {
    /// The inhibiting alert's fingerprint, as Alertmanager's API lists it (`unless` rules
    /// name none).
    pub fn fingerprint(self) -> Option<u64> {
        match self {
            Inhibitor::Alert(fp) => Some(fp),
            Inhibitor::Absence(_) => None,
        }
    }
}
