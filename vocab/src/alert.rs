//! Alerts: how severe, which state, and the change of state the engine reports.

use crate::LabelSet;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad an alert is, in increasing order (so levels sort and compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Someone should look during working hours.
    Warning,
    /// Someone should look now.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::High,
        Severity::Critical,
    ];

    /// The severity a rule writes (`severity high`), if `s` is one.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.word() == s)
    }

    /// As written in rules and alert labels.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The state of one alert (a rule level and a label set), and the state a [`Transition`]
/// moves it to. An alert at rest is `Inactive`; `Resolved` is the change from firing back to
/// rest, reported once (the alert itself is then inactive again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Not pending or firing (or a pending alert whose condition stopped before its `for`).
    Inactive,
    /// The condition holds, `for` has not yet passed.
    Pending,
    /// The condition has held for `for`.
    Firing,
    /// A firing alert stopped firing.
    Resolved,
}

impl AlertState {
    /// Every state, in the order above.
    pub const ALL: [AlertState; 4] = [
        AlertState::Inactive,
        AlertState::Pending,
        AlertState::Firing,
        AlertState::Resolved,
    ];

    /// As written in tests (`expect x firing`) and printed in alert changes.
    pub fn word(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// The state a test or an API names, if `s` is one.
    pub fn parse(s: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|v| v.word() == s)
    }

    /// Pending or firing: the alert exists for routing and composites.
    pub fn is_active(self) -> bool {
        matches!(self, AlertState::Pending | AlertState::Firing)
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Comparing with the written word, so timelines read naturally in tests (`t.state == "firing"`).
impl PartialEq<&str> for AlertState {
    fn eq(&self, other: &&str) -> bool {
        self.word() == *other
    }
}

impl PartialEq<str> for AlertState {
    fn eq(&self, other: &str) -> bool {
        self.word() == other
    }
}

/// What a rule's `no_data` clause does when a label set's data stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoDataAction {
    /// Fire (the silence is the problem).
    Alert,
    /// Resolve at once, ignoring `keep_firing`.
    Resolve,
    /// Keep the last state (Prometheus's behaviour without data).
    Keep,
    /// Treat the silence as the condition being false.
    Ok,
}

/// One alert's change of state: what `vigil replay` prints, `vigil test` checks and the
/// daemon routes, records and notifies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// When, epoch milliseconds (evaluation or event time, never the wall clock).
    pub ts: i64,
    /// The rule, `package.name` (shared: every alert of a rule points at one copy).
    pub rule: std::sync::Arc<str>,
    /// The level's severity, when the rule has one.
    pub severity: Option<Severity>,
    /// The alert's identity: its label set (with `severity` when the rule has several levels),
    /// shared: the engine builds a label set's map once and hands out copies of the handle.
    pub labels: std::sync::Arc<LabelSet>,
    /// The state the alert moved to.
    pub state: AlertState,
    /// The value the condition reported (`{{ value }}`); NaN when there is none.
    pub value: f64,
    /// The alert is flapping (its notifications are held).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flapping: bool,
    /// The event an alert of a single-event rule (or a sequence's last step) fired on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<crate::EventJson>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in AlertState::ALL {
            assert_eq!(AlertState::parse(s.word()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.word()), Some(s));
        }
        assert!(Severity::Info < Severity::Critical);
        assert!(AlertState::Firing == "firing");
        assert!(AlertState::Pending.is_active() && !AlertState::Resolved.is_active());
    }
}
