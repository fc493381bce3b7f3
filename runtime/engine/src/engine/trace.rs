//! `vigil replay --trace RULE` and `vigil test -v`: for each evaluation of a traced rule and
//! each label set, the parts of its condition with the values they compared and whether each
//! held ("why didn't it fire?"). The engine collects them; the caller drains and prints them.

use super::Engine;
use crate::labels::LabelId;
use vigil_compiler::eval::explain::{self, Part};
use vigil_vocab::{LabelSet, Severity};

/// Traces held before the caller drains them; more are counted in [`Tracer::dropped`].
pub const MAX_TRACES: usize = 100_000;

/// One row of one evaluation of a traced rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The evaluation time, ms.
    pub at: i64,
    pub rule: String,
    pub severity: Option<Severity>,
    /// The `recover when` condition (else `when`).
    pub recover: bool,
    pub labels: LabelSet,
    pub held: bool,
    pub parts: Vec<Part>,
}

#[derive(Debug, Default)]
pub(super) struct Tracer {
    /// Metric rules traced, by index.
    rules: Vec<usize>,
    /// The level being evaluated: `(rule, level, time, recover)`.
    pub(super) now: Option<(usize, usize, i64, bool)>,
    out: Vec<Trace>,
    pub dropped: u64,
}

impl Tracer {
    pub(super) fn traces(&self, ri: usize) -> bool {
        self.rules.contains(&ri)
    }
}

impl Engine {
    /// Traces rule `id` (`pkg.name`, or `name` when one package has it). Event rules are not
    /// traced: each event that matches is an alert already.
    pub fn trace(&mut self, id: &str) -> Result<(), String> {
        let hits: Vec<usize> = (0..self.metric.len())
            .filter(|&i| {
                let r = &self.metric[i].id;
                &**r == id || r.rsplit('.').next() == Some(id)
            })
            .collect();
        match hits.as_slice() {
            [i] => {
                self.tracer.rules.push(*i);
                Ok(())
            }
            [] => Err(format!(
                "no metric rule `{id}` to trace (rules evaluated over series: {})",
                self.metric
                    .iter()
                    .map(|r| &*r.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Err(format!(
                "`{id}` names rules in several packages: write `package.{id}`"
            )),
        }
    }

    /// The traces collected since the last call.
    pub fn take_traces(&mut self) -> Vec<Trace> {
        std::mem::take(&mut self.tracer.out)
    }

    /// Traces dropped because they were not drained in time.
    pub fn traces_dropped(&self) -> u64 {
        self.tracer.dropped
    }

    /// Records the row in the frame now (predicate `prog` gave `held`).
    pub(super) fn trace_row(&mut self, prog: usize, labels: LabelId, held: bool) {
        let Some((ri, li, at, recover)) = self.tracer.now else {
            return;
        };
        if self.tracer.out.len() >= MAX_TRACES {
            self.tracer.dropped += 1;
            return;
        }
        let rule = &self.metric[ri];
        let trace = Trace {
            at,
            rule: rule.id.to_string(),
            severity: rule.levels[li].severity,
            recover,
            labels: self.labels.to_map(labels),
            held,
            parts: explain::explain(&self.rules, prog, &self.frame),
        };
        self.tracer.out.push(trace);
    }
}
