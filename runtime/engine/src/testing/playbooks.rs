//! `expect playbook P step N OUTCOME [at t]`: the playbooks the test's alerts start, run on
//! the test's clock with the daemon's step order. Nothing leaves a test: a notify or HTTP step
//! is done when reached, a shell step is skipped (a test allow-lists nothing), an approval
//! waits (a test approves nothing), `wait D` waits D (a test acknowledges nothing). One run per
//! firing episode of an alert, and the playbook's rate limit, as in the daemon.

use super::duration;
use vigil_compiler::eval::RuleSet;
use vigil_compiler::ir::testplan::TestCase;
use vigil_vocab::playbook::Step;
use vigil_vocab::{AlertState, Transition};

/// One run: per step, when it entered each state.
pub struct Run {
    pub playbook: String,
    pub started: i64,
    pub steps: Vec<Vec<(i64, &'static str)>>,
}

impl Run {
    /// Step `i`'s state at `t` (`pending` before it is reached).
    pub fn state_at(&self, i: usize, t: i64) -> &'static str {
        self.steps
            .get(i)
            .and_then(|s| s.iter().rev().find(|(at, _)| *at <= t))
            .map_or("pending", |(_, s)| *s)
    }
}

/// The runs the alert changes of `timeline` start.
pub fn simulate(rules: &RuleSet, timeline: &[Transition]) -> Vec<Run> {
    let routing = &rules.ir().routing;
    let mut runs: Vec<Run> = Vec::new();
    let mut started = std::collections::HashSet::new();
    for t in timeline.iter().filter(|t| t.state == AlertState::Firing) {
        let Some(name) = routing
            .rules
            .get(&*t.rule)
            .and_then(|n| n.playbook.as_ref())
        else {
            continue;
        };
        let Some(plan) = routing.playbooks.get(name) else {
            continue;
        };
        if !started.insert((t.rule.to_string(), format!("{:?}", t.labels), t.ts)) {
            continue;
        }
        if let Some((n, per)) = plan.rate_limit {
            let since = t.ts - (per * 1000.0) as i64;
            let recent = runs
                .iter()
                .filter(|r| &r.playbook == name && r.started > since)
                .count();
            if recent >= n as usize {
                continue;
            }
        }
        let labels = vigil_alerting::Alert::of_transition(t, None)
            .map(|a| a.labels)
            .unwrap_or_default();
        let (mut at, mut blocked) = (t.ts, false);
        let mut steps = Vec::new();
        for s in &plan.steps {
            if blocked {
                steps.push(Vec::new());
                continue;
            }
            // A conditional step whose condition fails is skipped.
            let mut s = s;
            while let Step::When { cond, step } = s {
                if !cond.holds(&|k| labels.get(k).cloned()) {
                    break;
                }
                s = step;
            }
            steps.push(match s {
                Step::When { .. } | Step::Shell { .. } => vec![(at, "skipped")],
                Step::Notify { .. } | Step::Http { .. } => vec![(at, "done")],
                Step::Approve { .. } => {
                    blocked = true;
                    vec![(at, "waiting")]
                }
                Step::Wait { seconds, .. } => {
                    let end = at + (seconds * 1000.0).round() as i64;
                    let s = vec![(at, "waiting"), (end, "done")];
                    at = end;
                    s
                }
            });
        }
        runs.push(Run {
            playbook: name.clone(),
            started: t.ts,
            steps,
        });
    }
    runs
}

/// Checks the case's playbook expectations; `end` is when the test ends.
pub fn check(case: &TestCase, runs: &[Run], end: i64, failures: &mut Vec<String>) {
    for e in &case.playbooks {
        let at = e.at.unwrap_or(end);
        let mine: Vec<&Run> = runs.iter().filter(|r| r.playbook == e.playbook).collect();
        let i = e.step.saturating_sub(1);
        if mine.iter().any(|r| r.state_at(i, at) == e.outcome) {
            continue;
        }
        let had: Vec<String> = mine
            .iter()
            .map(|r| {
                format!(
                    "{} in the run started at {}",
                    r.state_at(i, at),
                    duration(r.started)
                )
            })
            .collect();
        failures.push(if had.is_empty() {
            format!("expected {}, but no run of {} started", e.text, e.playbook)
        } else {
            format!(
                "expected {}, but at {} step {} was {}",
                e.text,
                duration(at),
                e.step,
                had.join("; ")
            )
        });
    }
}
