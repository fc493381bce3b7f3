//! What the daemon shows of each rule's recent work: when it was last evaluated and how long
//! that took, and (while observing) every row's condition value, which the dashboard charts.
//! The engine reads no clock: durations come from a stopwatch its caller injects.

use super::Engine;
use crate::labels::LabelId;
use std::sync::Arc;

/// Nanoseconds from some fixed start, read by the caller's clock.
pub type Stopwatch = Box<dyn Fn() -> u64 + Send>;

/// One rule's last evaluation (metric rules) or last match (event rules).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleStat {
    /// The last evaluation's time (metric rules) or the last matching event's (event rules), ms.
    pub at: Option<i64>,
    /// How long the last evaluation took, ns (0 without a stopwatch; event rules: 0).
    pub nanos: u64,
    /// Evaluations (metric rules) or matching events (event rules) since the engine was built.
    pub count: u64,
    /// Rows the last evaluation read, and of them those where the condition held.
    pub rows: usize,
    pub hits: usize,
    /// Every evaluation's time and first-level rows added up (what a rule has cost so far,
    /// for `vigil replay --stats`).
    pub total_nanos: u64,
    pub total_rows: u64,
}

/// One row of one evaluation while observing: the condition's value (the left side of its
/// first comparison, computed whether or not it held) and whether the first level held.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub rule: Arc<str>,
    pub t: i64,
    pub labels: LabelId,
    pub value: f64,
    pub holds: bool,
}

impl Engine {
    /// Records every metric rule row's condition value into [`Engine::observed`] (off by
    /// default: replay and tests do not pay for it).
    pub fn observe(&mut self, on: bool) {
        self.observing = on;
    }

    /// Times each metric rule's evaluation with `watch`.
    pub fn set_stopwatch(&mut self, watch: Option<Stopwatch>) {
        self.stopwatch = watch;
    }

    /// Takes the observations made since the last call (their label ids are this engine's).
    pub fn take_observed(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.observed)
    }

    /// Every rule's statistics, in rule set order, by rule id.
    pub fn rule_stats(&self) -> Vec<(Arc<str>, RuleStat)> {
        let mut v: Vec<(usize, Arc<str>, RuleStat)> = self
            .metric
            .iter()
            .map(|r| (r.index, r.id.clone(), r.stat.clone()))
            .collect();
        v.extend(self.events.rule_stats());
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, id, s)| (id, s)).collect()
    }

    pub(super) fn lap(&self) -> u64 {
        self.stopwatch.as_ref().map_or(0, |w| w())
    }
}
