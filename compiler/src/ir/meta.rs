//! What the alert state machine needs to know about a rule, lowered from its clauses. Every
//! duration is in seconds.

use vigil_vocab::{NoDataAction, Severity};

/// How a rule is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `when` over series (and composites over other rules' states), evaluated per interval.
    Metric,
    /// `on event where` with or without an aggregate, or a sequence: driven by events.
    Event,
}

impl RuleKind {
    /// `metric` or `event`, as the API writes it.
    pub fn word(self) -> &'static str {
        match self {
            RuleKind::Metric => "metric",
            RuleKind::Event => "event",
        }
    }
}

/// One severity level of a rule (a rule with a plain `when` has one level without severity).
#[derive(Debug, Clone)]
pub struct Level {
    pub severity: Option<Severity>,
    /// Program indices in [`super::Ir::programs`].
    pub when: usize,
    pub recover: Option<usize>,
    /// What `{{ value }}` reports: the left operand of the condition's first comparison.
    pub value: Option<usize>,
    /// In `A or B`, the first operand of `B`: reported where `A`'s is missing (a row that
    /// only `B` has, as PromQL's `or` reports the right side's element).
    pub value_alt: Option<usize>,
    pub for_: f64,
}

#[derive(Debug, Clone)]
pub struct RuleMeta {
    /// `pkg.name`.
    pub id: String,
    pub kind: RuleKind,
    pub severity: Option<Severity>,
    /// Static labels (`labels { team = "infra" }`) added to every alert.
    pub labels: Vec<(String, String)>,
    /// Levels, lowest severity first.
    pub levels: Vec<Level>,
    pub keep_firing: f64,
    pub cooldown: f64,
    pub delay: f64,
    pub interval: Option<f64>,
    pub no_data: Option<(f64, NoDataAction)>,
    /// `flapping damp low..high over d`.
    pub flapping: Option<(f64, f64, f64)>,
    pub summary: Option<String>,
    /// Event rules: filter, aggregates, sequence, throttle.
    pub events: Option<super::events::EventPlan>,
}
