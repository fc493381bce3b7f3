//! The daemon's pure core: the engine that `vigil replay` and `vigil test` run, fed batches of
//! accepted lines and moved by a clock its caller passes in (no IO, no wall clock here), so
//! applying the write-ahead log after a restart repeats exactly what happened before it.

use crate::history::History;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use vigil_compiler::eval::RuleSet;
use vigil_engine::feed::Fed;
use vigil_engine::{ActiveAlert, Config, Engine, Transition};
use vigil_ingest::{Context, Format, Record, parse_line_into};
use vigil_vocab::{AlertState, LabelSet};

/// An acknowledgement of one alert episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The episode acknowledged (the alert's `active_at`): a later episode is not.
    pub active_at: Option<i64>,
    pub at: i64,
    pub by: String,
    pub comment: String,
}

/// What applying one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub samples: u64,
    pub events: u64,
    /// Samples and events that arrived after the evaluation or watermark they belonged to.
    pub late: u64,
    /// Samples of new series that every rule reading them had no room for (`max_series`).
    pub over_limit: u64,
}

pub struct Core {
    engine: Engine,
    /// The time the engine has been advanced to, ms.
    pub clock: i64,
    pub acks: BTreeMap<String, Ack>,
    cx: Context,
    recs: VecDeque<Record>,
    spare: Vec<Record>,
    /// Rules' recent condition values (off unless [`Core::keep_history`] is called).
    pub history: History,
    /// Times each rule's evaluation (the caller's clock; the core reads none).
    stopwatch: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
}

impl Core {
    pub fn new(rules: Arc<RuleSet>, config: Config) -> Result<Core, String> {
        let engine = Engine::new(rules, config).map_err(|e| e.to_string())?;
        Ok(Core {
            engine,
            clock: i64::MIN,
            acks: BTreeMap::new(),
            cx: Context {
                time: None,
                raw_events: true,
                checked: false,
                series_keys: None,
            },
            recs: VecDeque::new(),
            spare: Vec::new(),
            history: History::default(),
            stopwatch: None,
        })
    }

    /// Keeps rules' recent condition values (see [`History`]).
    pub fn keep_history(&mut self, history: History) {
        self.engine.observe(history.enabled());
        self.history = history;
    }

    /// Times each metric rule's evaluation with `watch` (ns from a fixed start).
    pub fn set_stopwatch(&mut self, watch: Arc<dyn Fn() -> u64 + Send + Sync>) {
        let w = watch.clone();
        self.engine.set_stopwatch(Some(Box::new(move || w())));
        self.stopwatch = Some(watch);
    }

    /// The engine's observations and counts into the history.
    fn observed(&mut self) {
        self.history.take(&mut self.engine, self.clock);
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The same state under other rules (a reload): what the new rules share with the old
    /// ones by rule id keeps its state, moved out of `self` (which is then only to be
    /// replaced by the result). The history and stopwatch carry over; on an error `self` is
    /// unchanged.
    pub fn with_rules(&mut self, rules: Arc<RuleSet>, config: Config) -> Result<Core, String> {
        let mut next = Core::new(rules, config)?;
        next.engine.restore(self.engine.take_snapshot());
        next.clock = self.clock;
        next.acks = self.acks.clone();
        if let Some(w) = self.stopwatch.clone() {
            next.set_stopwatch(w);
        }
        let mut history = std::mem::take(&mut self.history);
        history.rebuilt(&next.rule_ids());
        next.keep_history(history);
        Ok(next)
    }

    pub fn restore(&mut self, snap: vigil_engine::engine::Snapshot, clock: i64) {
        self.engine.restore(snap);
        self.clock = clock;
        let ids = self.rule_ids();
        self.history.rebuilt(&ids);
    }

    fn rule_ids(&self) -> Vec<Arc<str>> {
        self.engine
            .rule_stats()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    pub fn snapshot(&self) -> vigil_engine::engine::Snapshot {
        self.engine.snapshot()
    }

    /// Moves the clock to `now` (never back): evaluations, timers and held events due by then.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Transition>) {
        if now > self.clock {
            self.clock = now;
        }
        self.engine.advance(self.clock, out);
        self.forget_acks();
        self.observed();
    }

    /// Applies a batch of lines the edge accepted, arriving at `now` (records without a time
    /// take it). Lines were checked on acceptance, so none is refused here.
    /// While a backfill plays (`follow_wall` false) the clock is the recording's and stays.
    pub fn apply(
        &mut self,
        now: i64,
        lines: &str,
        follow_wall: bool,
        out: &mut Vec<Transition>,
    ) -> Applied {
        let mut recs = self.parse(Some(now), lines);
        let applied = self.apply_records(now, &mut recs, follow_wall, out);
        self.recs = recs;
        applied
    }

    /// The records of `lines` (checked on acceptance: none is refused here); those without a
    /// time take `now`.
    fn parse(&mut self, now: Option<i64>, lines: &str) -> VecDeque<Record> {
        let mut recs = std::mem::take(&mut self.recs);
        recs.clear();
        self.cx.time = now;
        for line in lines.split('\n') {
            let _ = parse_line_into(line, Format::Auto, &mut self.cx, &mut recs, &mut self.spare);
        }
        recs
    }

    /// Ingests one record, counting what it was.
    fn ingest(&mut self, r: &Record, applied: &mut Applied, out: &mut Vec<Transition>) {
        match self.engine.ingest_record(r, out) {
            Fed::Sample => applied.samples += 1,
            Fed::Samples(n) => applied.samples += n,
            Fed::Event => applied.events += 1,
            Fed::Nothing | Fed::Malformed(_) => {}
        }
    }

    /// [`Core::apply`] for records already parsed from the lines (at the edge, with the same
    /// `now` for those without a time): what the log holds reads back as exactly these.
    pub fn apply_records(
        &mut self,
        now: i64,
        recs: &mut VecDeque<Record>,
        follow_wall: bool,
        out: &mut Vec<Transition>,
    ) -> Applied {
        if follow_wall {
            self.tick(now, out);
        }
        let before = self.not_taken();
        let mut applied = Applied::default();
        while let Some(r) = recs.pop_front() {
            self.ingest(&r, &mut applied, out);
        }
        self.engine.advance(self.clock, out);
        (applied.late, applied.over_limit) = self.not_taken_since(before);
        self.observed();
        applied
    }

    /// Applies recorded lines in time order with the clock moved to just before each record,
    /// as `vigil replay` does (the demo source; the wall clock waits meanwhile).
    pub fn backfill(&mut self, lines: &str, out: &mut Vec<Transition>) -> Applied {
        let before = self.not_taken();
        let mut applied = Applied::default();
        let mut recs = self.parse(None, lines);
        for r in recs.drain(..) {
            let ts = r.ts();
            if ts.saturating_sub(1) > self.clock {
                self.clock = ts - 1;
                self.engine.advance(self.clock, out);
            }
            self.ingest(&r, &mut applied, out);
        }
        self.recs = recs;
        (applied.late, applied.over_limit) = self.not_taken_since(before);
        self.observed();
        applied
    }

    /// The engine's counts of input it did not take: too late (samples and events), and
    /// samples of new series over the series limit.
    fn not_taken(&self) -> (u64, u64) {
        let c = &self.engine.counters;
        (c.too_late + self.engine.events.counters.too_late, c.refused)
    }

    /// What [`Core::not_taken`] counted since `before`: an answer's `late` and `over_limit`.
    fn not_taken_since(&self, before: (u64, u64)) -> (u64, u64) {
        let now = self.not_taken();
        (now.0 - before.0, now.1 - before.1)
    }

    /// Records an acknowledgement of alert `id`; false when no such alert is active.
    pub fn ack(&mut self, id: &str, mut ack: Ack) -> bool {
        let Some(a) = self.alerts().into_iter().find(|a| a.id == id) else {
            return false;
        };
        ack.active_at = a.active_since;
        self.acks.insert(id.to_string(), ack);
        true
    }

    /// Acknowledgements of alerts no longer active (or of an earlier episode) are dropped.
    fn forget_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let live: BTreeMap<String, Option<i64>> = self
            .engine
            .alerts()
            .iter()
            .map(|a| (alert_id(&a.rule, &a.labels), a.active_at))
            .collect();
        self.acks
            .retain(|id, ack| live.get(id).is_some_and(|&at| at == ack.active_at));
    }

    /// Rule `id`'s recent condition values at or after `since` (ms); `None` when no rule
    /// has that id.
    pub fn chart(&self, id: &str, since: Option<i64>) -> Option<crate::history::Chart> {
        let rule = self.engine.rules().ir().rules.iter().find(|r| r.id == id)?;
        Some(self.history.chart(id, rule.kind.word(), since))
    }

    /// Alerts pending or firing now.
    pub fn alerts(&self) -> Vec<AlertView> {
        self.engine
            .alerts()
            .into_iter()
            .map(|a| AlertView::new(a, &self.acks))
            .collect()
    }
}

/// An alert as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// Stable across restarts: a hash of the rule and the label set.
    pub id: String,
    pub rule: String,
    pub state: AlertState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<vigil_vocab::Severity>,
    pub labels: LabelSet,
    /// `null` when the condition has no value.
    pub value: Option<f64>,
    /// Epoch ms; the API writes RFC 3339.
    #[serde(skip)]
    pub active_since: Option<i64>,
    #[serde(skip)]
    pub firing_since: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Ack>,
}

impl AlertView {
    fn new(a: ActiveAlert, acks: &BTreeMap<String, Ack>) -> AlertView {
        let id = alert_id(&a.rule, &a.labels);
        let acknowledged = acks
            .get(&id)
            .filter(|k| k.active_at == a.active_at)
            .cloned();
        AlertView {
            id,
            rule: a.rule.to_string(),
            state: a.state,
            severity: a.severity,
            labels: a.labels,
            value: a.value.is_finite().then_some(a.value),
            active_since: a.active_at,
            firing_since: a.fired_at,
            acknowledged,
        }
    }
}

/// 64-bit FNV-1a of the rule and the label pairs, as 16 hex digits: the same alert has the
/// same id in every run and version.
pub fn alert_id(rule: &str, labels: &LabelSet) -> String {
    let pairs = labels
        .iter()
        .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]);
    let h = vigil_vocab::hash::fnv1a(std::iter::once(rule.as_bytes()).chain(pairs));
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_compiler::eval::Engine as Backend;

    const RULES: &str = r#"package t

rule hot {
  severity warning
  when cpu > 90 for 2s
}
rule failed {
  severity high
  when count() by event.user over 10s >= 2
  on event where event.ok == false
}
"#;

    fn core() -> Core {
        core_with(0)
    }

    fn core_with(lateness: i64) -> Core {
        let checked = vigil_compiler::check_source("t.rules", RULES, None);
        assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
        let rules = RuleSet::from_checked(&checked, Backend::Interp).expect("compiles");
        let config = Config {
            interval: 1000,
            lateness,
            ..Config::default()
        };
        Core::new(Arc::new(rules), config).expect("runs")
    }

    /// Condition values are kept per label set for `keep` and up to the bound of label sets
    /// (later ones counted, not kept), held or not; event rules count matches per minute.
    #[test]
    fn history_is_bounded_by_age_and_label_sets() {
        // Samples arriving at `now` are in time for the evaluation at `now`.
        let mut c = core_with(500);
        c.keep_history(History::new(5_000, 1));
        let t0 = 1_795_428_000_000i64;
        let mut out = Vec::new();
        for i in 0..20 {
            let now = t0 + i * 1000;
            let text = format!(
                "cpu{{host=\"a\"}} {}\ncpu{{host=\"b\"}} 1\n{{\"event\":{{\"user\":\"u\",\"ok\":false}}}}",
                if i < 10 { 95 } else { 50 }
            );
            c.apply(now, &text, true, &mut out);
        }
        let chart = c.chart("t.hot", None).expect("a rule");
        assert_eq!(chart.series.len(), 1, "{chart:?}");
        let line = &chart.series[0];
        assert_eq!(line.labels.get("host").map(String::as_str), Some("a"));
        let (first, last) = (line.points[0], *line.points.last().unwrap());
        assert!(last.0 - first.0 <= 5.0, "{chart:?}");
        assert_eq!((last.1, last.2), (Some(50.0), false));
        assert!(chart.dropped_values >= 19, "{chart:?}");
        let events = c.chart("t.failed", None).expect("a rule");
        let matched: f64 = events.series[0].points.iter().filter_map(|p| p.1).sum();
        assert_eq!(
            matched, 19.0,
            "the first batch's match is the count before history read it"
        );
        assert!(c.chart("t.nope", None).is_none());
    }

    /// Events without a `ts` take their arrival time, read as text straight into the rules
    /// or (held for `lateness`) parsed later: either way they count and match.
    #[test]
    fn untimed_events_are_taken_at_arrival() {
        for lateness in [0, 2_000] {
            let mut c = core_with(lateness);
            let t0 = 1_795_428_000_000i64;
            let mut out = Vec::new();
            for i in 0..3 {
                c.apply(
                    t0 + i * 100,
                    "{\"event\":{\"user\":\"u\",\"ok\":false}}",
                    true,
                    &mut out,
                );
            }
            c.tick(t0 + 5_000, &mut out);
            let e = &c.engine().events.counters;
            assert_eq!(
                (e.events, e.matched, e.malformed),
                (3, 3, 0),
                "lateness {lateness}"
            );
            assert!(
                out.iter().any(|t| &*t.rule == "t.failed"),
                "lateness {lateness}: {out:?}"
            );
        }
    }

    /// A remote_write request applied as one record per series (labels once) leaves the
    /// engine exactly as the same samples applied one by one: stored samples, staleness
    /// markers, series refused for a bad name or a repeated label.
    #[test]
    fn series_records_apply_as_their_samples_do() {
        use vigil_ingest::remote_write::{Label, STALE_NAN, Sample, TimeSeries, WriteRequest};
        let t0 = 1_795_428_000_000i64;
        let label = |n: &str, v: &str| Label {
            name: n.into(),
            value: v.into(),
        };
        let samples = |vals: &[f64]| -> Vec<Sample> {
            (vals.iter().enumerate())
                .map(|(i, &value)| Sample {
                    value,
                    timestamp: t0 + i as i64 * 400,
                })
                .collect()
        };
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        label("zone", "z"),
                        label("__name__", "cpu"),
                        label("host", "a"),
                    ],
                    samples: samples(&[91.0, 95.0, 97.0, 99.0, 98.0]),
                },
                TimeSeries {
                    labels: vec![label("__name__", "cpu"), label("host", "b")],
                    samples: samples(&[95.0, 96.0, f64::from_bits(STALE_NAN)]),
                },
                TimeSeries {
                    labels: vec![label("__name__", "unread"), label("host", "a")],
                    samples: samples(&[1.0, 2.0]),
                },
                TimeSeries {
                    labels: vec![label("__name__", "cpu"), label("h", "1"), label("h", "2")],
                    samples: samples(&[99.0]),
                },
                TimeSeries {
                    labels: vec![label("host", "nameless")],
                    samples: samples(&[99.0]),
                },
            ],
        };
        let (mut one, mut each) = (core_with(500), core_with(500));
        let (mut out_one, mut out_each) = (Vec::new(), Vec::new());
        let mut series = Vec::new();
        let bad = vigil_ingest::remote_write::to_series(req.clone(), &mut series);
        let mut recs: VecDeque<Record> = series.into();
        let mut flat = VecDeque::new();
        let bad_flat = vigil_ingest::remote_write::to_records(&req, &mut String::new(), &mut flat);
        assert_eq!(bad, bad_flat);
        assert_eq!(bad.len(), 2);
        let a = one.apply_records(t0 + 2_000, &mut recs, true, &mut out_one);
        let b = each.apply_records(t0 + 2_000, &mut flat, true, &mut out_each);
        assert_eq!(a, b);
        assert_eq!(a.samples, 10);
        for t in [t0 + 3_000, t0 + 6_000] {
            one.tick(t, &mut out_one);
            each.tick(t, &mut out_each);
        }
        assert!(!out_one.is_empty());
        assert_eq!(out_one, out_each);
        assert_eq!(one.engine().series_now(), each.engine().series_now());
        assert_eq!(
            format!("{:?}", one.engine().counters),
            format!("{:?}", each.engine().counters)
        );
    }

    /// What the daemon applies live (records parsed at the edge) and what a restart applies
    /// from the log (the same lines parsed again, with the logged arrival time) end in the
    /// same state: same changes, same alerts with the same start times.
    #[test]
    fn the_log_replays_what_was_applied() {
        let t0 = 1_795_428_000_000i64;
        let batches: Vec<(i64, String)> = (0..20)
            .map(|i| {
                let now = t0 + i * 700;
                let text = format!(
                    "{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"a\"}},\"value\":{}}}\n\
                     # time: {now}\ncpu{{host=\"b\"}} 95\n\
                     {{\"event\":{{\"user\":\"u{}\",\"ok\":false}}}}",
                    if i % 7 == 0 { 10 } else { 95 },
                    i % 3
                );
                (now, text)
            })
            .collect();
        let (mut live, mut replayed) = (core(), core());
        let (mut out_live, mut out_replayed) = (Vec::new(), Vec::new());
        for (now, text) in &batches {
            // The edge: parsed once, with `now` for lines without a time.
            let mut cx = Context {
                time: Some(*now),
                raw_events: true,
                checked: false,
                series_keys: None,
            };
            let mut recs = VecDeque::new();
            for line in text.split('\n') {
                parse_line_into(line, Format::Auto, &mut cx, &mut recs, &mut Vec::new()).unwrap();
            }
            live.apply_records(*now, &mut recs, true, &mut out_live);
            replayed.apply(*now, text, true, &mut out_replayed);
        }
        assert!(!out_live.is_empty());
        assert_eq!(out_live, out_replayed);
        let (a, b) = (live.alerts(), replayed.alerts());
        assert!(!a.is_empty());
        let key = |v: &Vec<AlertView>| -> Vec<(String, Option<i64>)> {
            v.iter().map(|x| (x.id.clone(), x.active_since)).collect()
        };
        assert_eq!(key(&a), key(&b));
    }
}
