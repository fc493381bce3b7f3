//! The rule test runner behind `vigil test`: feeds a test's inputs to the same engine the
//! daemon and `vigil replay` run (clock at 0, advanced to each input and expectation time),
//! records every alert state change, and checks the expectations against them.

mod playbooks;
mod routed;
pub use routed::describe;

use crate::engine::{Config, Engine};
use crate::feed::{Merge, Sorted};
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_compiler::eval::RuleSet;
use vigil_compiler::ir::testplan::{Expect, Input, TestCase};
use vigil_compiler::series_notation::Point;
use vigil_ingest::{self as ingest, Format, Record};
use vigil_vocab::{AlertState, LabelSet, Transition, render_labels};

/// What one test did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub place: String,
    /// Empty when the test passed.
    pub failures: Vec<String>,
    /// Expectations written but not checkable yet.
    pub unchecked: Vec<String>,
    /// What routing sent during the test (when the test expects notifications).
    pub notifications: Vec<vigil_alerting::Notification>,
    /// Alert state changes, for `--verbose`.
    pub timeline: Vec<Transition>,
    /// With [`run_traced`]: every evaluation of the metric rules the test expects things of.
    pub traces: Vec<crate::engine::Trace>,
    /// Evaluations past what a trace holds, not in `traces`.
    pub traces_dropped: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one test case on a fresh engine for `rules`; `interval` is the default evaluation
/// interval (ms) when the test sets none.
pub fn run(rules: &Arc<RuleSet>, case: &TestCase, interval: i64) -> Outcome {
    run_with(rules, case, interval, false)
}

/// [`run`], tracing the conditions of the metric rules the test's expectations name
/// (`vigil test -v`).
pub fn run_traced(rules: &Arc<RuleSet>, case: &TestCase, interval: i64) -> Outcome {
    run_with(rules, case, interval, true)
}

fn run_with(rules: &Arc<RuleSet>, case: &TestCase, interval: i64, trace: bool) -> Outcome {
    let mut out = Outcome {
        name: case.name.clone(),
        place: case.place.clone(),
        failures: Vec::new(),
        unchecked: case.unchecked.clone(),
        notifications: Vec::new(),
        timeline: Vec::new(),
        traces: Vec::new(),
        traces_dropped: 0,
    };
    let config = Config {
        interval: case.interval.unwrap_or(interval).max(1),
        ..Config::default()
    };
    let mut engine = match Engine::new(rules.clone(), config) {
        Ok(e) => e,
        Err(e) => {
            out.failures.push(format!("the rules cannot run: {e}"));
            return out;
        }
    };
    if trace {
        let mut named: Vec<&str> = case.expects.iter().map(|e| e.rule.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        for r in named {
            // Event rules are not traced (each matching event is an alert already).
            let _ = engine.trace(r);
        }
    }
    let records = inputs(case, &mut out.failures);
    let mut feed = Merge::new(vec![Sorted::new(records)]);
    let mut checkpoints: Vec<i64> = case.expects.iter().filter_map(checkpoint).collect();
    checkpoints.sort_unstable();
    checkpoints.dedup();
    let end = feed.sources[0]
        .last_time()
        .into_iter()
        .chain(checkpoints.last().copied())
        .chain(case.advance)
        .chain(case.notifications.iter().filter_map(|n| n.at))
        .chain(case.playbooks.iter().filter_map(|p| p.at))
        .max()
        .unwrap_or(0);
    engine.start_at(0);
    let mut timeline: Vec<Transition> = Vec::new();
    let mut cp = checkpoints.iter().peekable();
    let check = |engine: &mut Engine, t: i64, timeline: &mut Vec<Transition>, out: &mut Outcome| {
        check_at(case, engine, t, timeline, &mut out.failures);
    };
    while let Some((i, ts)) = feed.earliest() {
        while let Some(&&c) = cp.peek() {
            if c >= ts {
                break;
            }
            cp.next();
            check(&mut engine, c, &mut timeline, &mut out);
        }
        engine.advance(ts - 1, &mut timeline);
        feed.ingest(&mut engine, i, &mut timeline);
    }
    for &c in cp {
        check(&mut engine, c, &mut timeline, &mut out);
    }
    engine.advance(end, &mut timeline);
    timeline.retain(|t| in_scope(case, &t.rule));
    check_whole_run(case, &timeline, &mut out.failures);
    if !case.notifications.is_empty() {
        out.notifications = routed::notifications(rules, case, &timeline, end);
        routed::check(case, &out.notifications, &mut out.failures);
    }
    if !case.playbooks.is_empty() {
        let runs = playbooks::simulate(rules, &timeline);
        playbooks::check(case, &runs, end, &mut out.failures);
    }
    out.timeline = timeline;
    out.traces = engine.take_traces();
    out.traces_dropped = engine.traces_dropped();
    out
}

/// The expectations due at `t`, checked once the clock reached `t` (those written for an
/// earlier time, from the recorded changes).
fn check_at(
    case: &TestCase,
    engine: &mut Engine,
    t: i64,
    timeline: &mut Vec<Transition>,
    failures: &mut Vec<String>,
) {
    engine.advance(t, timeline);
    timeline.retain(|x| in_scope(case, &x.rule));
    let mut active = engine.active();
    active.retain(|a| in_scope(case, &a.0));
    for e in case.expects.iter().filter(|e| checkpoint(e) == Some(t)) {
        let at = e.at.unwrap_or(t);
        let ok = if at == t {
            holds(e, t, &active, timeline)
        } else {
            holds_before(e, at, timeline)
        };
        if ok == e.negated {
            // The state at the time asked: the clock may have gone past it (`advance to`).
            let then = if at == t {
                active.clone()
            } else {
                states_at(&e.rule, at, timeline)
            };
            failures.push(explain(e, at, &then, timeline));
        }
    }
}

/// Expectations about the whole run: `expect no x` without a time, and `expect nothing else
/// fires`.
fn check_whole_run(case: &TestCase, timeline: &[Transition], failures: &mut Vec<String>) {
    for e in case.expects.iter().filter(|e| e.at.is_none()) {
        if let Some(t) = timeline
            .iter()
            .find(|t| *t.rule == *e.rule && t.state == e.state && subset(&e.labels, &t.labels))
        {
            failures.push(format!(
                "expected {}, but at {} it was {} {}",
                e.text,
                duration(t.ts),
                t.state,
                labels(&t.labels)
            ));
        }
    }
    if !case.nothing_else {
        return;
    }
    for t in timeline.iter().filter(|t| t.state == AlertState::Firing) {
        let expected = case.expects.iter().any(|e| {
            !e.negated
                && e.state == AlertState::Firing
                && *e.rule == *t.rule
                && subset(&e.labels, &t.labels)
        });
        if !expected {
            failures.push(format!(
                "unexpected alert: {} firing at {} {}",
                t.rule,
                duration(t.ts),
                labels(&t.labels)
            ));
        }
    }
}

/// A test's inputs as records (series points, staleness markers, events, event files);
/// unreadable files and lines become failures.
fn inputs(case: &TestCase, failures: &mut Vec<String>) -> Vec<Record> {
    let mut records = Vec::new();
    for input in &case.inputs {
        match input {
            Input::Series {
                metric,
                labels,
                every,
                points,
            } => {
                for (i, p) in points.iter().enumerate() {
                    let ts = i as i64 * every;
                    let (metric, labels) = (metric.clone(), labels.clone());
                    match p {
                        Point::Value(v) => records.push(Record::Sample {
                            metric,
                            labels,
                            ts,
                            value: *v,
                        }),
                        Point::Stale => records.push(Record::Stale { metric, labels, ts }),
                        Point::Missing => {}
                    }
                }
            }
            Input::Event { at, event } => records.push(event_record(*at, event)),
            Input::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => {
                    for (n, line) in text.lines().enumerate() {
                        match ingest::parse_line(line, Format::Json) {
                            // Checked in full here (a bad line is the test's failure), read
                            // as text at its time like any event.
                            Ok(recs) => records.extend(recs.into_iter().map(|r| match r {
                                Record::Event { ts, event } => event_record(ts, &event),
                                other => other,
                            })),
                            Err(e) => failures.push(format!("{}:{}: {e}", path.display(), n + 1)),
                        }
                    }
                }
                Err(e) => failures.push(format!("cannot read {}: {e}", path.display())),
            },
        }
    }
    records
}

/// A test's event as the line `vigil replay` reads (`{"ts": .., "event": {..}}`, the object
/// kept as text), so a test reads its fields with production's reader.
pub fn event_record(ts: i64, event: &serde_json::Value) -> Record {
    let head = format!("{{\"ts\":{ts},\"event\":");
    let start = head.len();
    Record::Raw {
        ts,
        line: format!("{head}{event}}}"),
        start,
    }
}

/// Whether a rule (`pkg.name`) is in the test's packages.
fn in_scope(case: &TestCase, rule: &str) -> bool {
    let pkg = rule.rsplit_once('.').map_or("", |p| p.0);
    case.packages.iter().any(|p| p == pkg)
}

type Active = Vec<(String, LabelSet, AlertState)>;

/// Whether the expected state holds at `t` (before negation).
fn holds(e: &Expect, t: i64, active: &Active, timeline: &[Transition]) -> bool {
    let matching = |s: AlertState| {
        active
            .iter()
            .any(|(r, l, st)| *r == e.rule && *st == s && subset(&e.labels, l))
    };
    match e.state {
        AlertState::Pending => matching(AlertState::Pending),
        // An instantaneous alert (a single event, a sequence) fires at one moment.
        AlertState::Firing => {
            matching(AlertState::Firing)
                || timeline.iter().any(|x| {
                    x.ts == t
                        && x.state == AlertState::Firing
                        && *x.rule == *e.rule
                        && subset(&e.labels, &x.labels)
                })
        }
        AlertState::Inactive => !matching(AlertState::Pending) && !matching(AlertState::Firing),
        AlertState::Resolved => {
            // Some matching alert's last change up to `t` was its resolution.
            let mut last: BTreeMap<&LabelSet, AlertState> = BTreeMap::new();
            for x in timeline.iter().filter(|x| x.ts <= t && *x.rule == *e.rule) {
                if subset(&e.labels, &x.labels) {
                    last.insert(&x.labels, x.state);
                }
            }
            last.values().any(|s| *s == AlertState::Resolved)
        }
    }
}

/// When an expectation is checked: at its time, or once the clock reached the `advance to`
/// written before it.
fn checkpoint(e: &Expect) -> Option<i64> {
    e.at.map(|at| e.after.map_or(at, |a| a.max(at)))
}

/// Whether the expected state held at `t`, judged later from the recorded changes.
fn holds_before(e: &Expect, t: i64, timeline: &[Transition]) -> bool {
    let mut last: BTreeMap<&LabelSet, AlertState> = BTreeMap::new();
    let mut fired_at_t = false;
    for x in timeline.iter().filter(|x| x.ts <= t && *x.rule == *e.rule) {
        if subset(&e.labels, &x.labels) {
            last.insert(&x.labels, x.state);
            fired_at_t |= x.ts == t && x.state == AlertState::Firing;
        }
    }
    match e.state {
        AlertState::Firing => fired_at_t || last.values().any(|s| *s == AlertState::Firing),
        AlertState::Inactive => !last.values().any(|s| s.is_active()),
        state => last.values().any(|s| *s == state),
    }
}

/// The active alerts of `rule` at `t`, rebuilt from the recorded changes.
fn states_at(rule: &str, t: i64, timeline: &[Transition]) -> Active {
    let mut last: BTreeMap<&LabelSet, AlertState> = BTreeMap::new();
    for x in timeline.iter().filter(|x| x.ts <= t && &*x.rule == rule) {
        last.insert(&x.labels, x.state);
    }
    last.into_iter()
        .filter(|(_, s)| s.is_active())
        .map(|(l, s)| (rule.to_string(), l.clone(), s))
        .collect()
}

/// The failure message: what was expected and what the engine had at that time.
fn explain(e: &Expect, t: i64, active: &Active, timeline: &[Transition]) -> String {
    let mut had: Vec<String> = active
        .iter()
        .filter(|(r, ..)| *r == e.rule)
        .map(|(_, l, s)| format!("{s} {}", labels(l)))
        .collect();
    had.extend(
        timeline
            .iter()
            .filter(|x| x.ts == t && *x.rule == *e.rule && !x.state.is_active())
            .map(|x| format!("{} {}", x.state, labels(&x.labels))),
    );
    let with = if e.labels.is_empty() {
        String::new()
    } else {
        format!(
            " with {{{}}}",
            e.labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let rule = e.rule.rsplit('.').next().unwrap_or(&e.rule);
    if had.is_empty() {
        format!(
            "expected {}{with}; at {} {rule} had no alerts",
            e.text,
            duration(t)
        )
    } else {
        format!(
            "expected {}{with}; at {} {rule} had: {}",
            e.text,
            duration(t),
            had.join(", ")
        )
    }
}

pub(crate) fn subset(want: &[(String, String)], have: &LabelSet) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// `{a="x", b="y"}`.
pub fn labels(l: &LabelSet) -> String {
    render_labels(l)
}

/// A test time (ms from 0) as the language writes it: `1h2m30s`, `500ms`, `0s`.
pub fn duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (sign, mut v) = if ms < 0 { ("-", -ms) } else { ("", ms) };
    let mut s = String::from(sign);
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if v >= size {
            s.push_str(&format!("{}{unit}", v / size));
            v %= size;
        }
    }
    if v > 0 {
        s.push_str(&format!("{v}ms"));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_like_the_language() {
        assert_eq!(super::duration(90_000), "1m30s");
        assert_eq!(super::duration(3_600_500), "1h500ms");
        assert_eq!(super::duration(0), "0s");
    }
}
