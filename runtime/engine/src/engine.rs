//! The engine: one deterministic evaluator driven by event time through an injected clock.
//! The daemon, `vigil test` and `vigil replay` all feed it samples and call [`Engine::advance`]
//! with their notion of "now"; evaluation times are multiples of the interval from the Unix
//! epoch, as Prometheus aligns them, and an evaluation runs once every sample it may read has
//! arrived (`now - lateness >= t`).

use crate::alert::{Book, Inputs, Origin, Policy};
use crate::incremental::Acc;
use crate::labels::{LabelId, Labels, Sym};
use crate::rows::{self, Plan};
use crate::store::{Append, Store};
use crate::vector::{Compile, Eval, LabelSel, VExpr, Vector};
use std::collections::HashMap;
use std::sync::Arc;
use vigil_compiler::eval::{Frame, RuleSet, SlotVal};
use vigil_compiler::ir::SlotSource;
use vigil_compiler::ir::meta::RuleKind;
use vigil_compiler::ir::series::{Rows, SeriesExpr};
use vigil_vocab::{AlertState, LabelSet, Severity, Transition};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Default evaluation interval, ms (a rule's own `interval` wins).
    pub interval: i64,
    /// How long after an evaluation time samples for it may still arrive, ms.
    pub lateness: i64,
    /// Series per selector (the per-rule cardinality limit).
    pub max_series: usize,
    /// Keys per event rule (aggregate groups, sequence keys): the event-side limit.
    pub max_keys: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: 15_000,
            lateness: 0,
            max_series: 100_000,
            max_keys: crate::events::DEFAULT_MAX_KEYS,
        }
    }
}

struct LevelPlan {
    when: usize,
    when_rows: Arc<Plan>,
    recover: Option<(usize, Arc<Plan>)>,
    value: Option<usize>,
    policy: Policy,
    severity: Option<Severity>,
}

struct MetricRule {
    id: String,
    levels: Vec<LevelPlan>,
    interval: i64,
    delay: i64,
    static_labels: Vec<(String, String)>,
    books: Vec<Book>,
    /// Index in `firing` (every rule has one, so composites can name event rules).
    index: usize,
    /// Some composite reads this rule's state.
    read: bool,
}

/// Counters for `--stats` and the daemon's metrics.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub samples: u64,
    pub stored: u64,
    pub unread: u64,
    pub refused: u64,
    pub too_late: u64,
    /// Samples with a time too far from 1970 to be real.
    pub out_of_range: u64,
    /// Evaluations skipped because nothing could change (no data for longer than the horizon).
    pub skipped: u64,
    pub evaluations: u64,
    pub row_evaluations: u64,
    pub many_to_many: u64,
}

pub struct Engine {
    rules: Arc<RuleSet>,
    pub labels: Labels,
    pub store: Store,
    slots: Vec<Option<VExpr>>,
    slot_bool: Vec<bool>,
    time_slot: Option<u32>,
    records: Vec<(Sym, VExpr, i64)>,
    metric: Vec<MetricRule>,
    /// Per rule: label sets with data (0) or firing (1), for composites.
    firing: Vec<Vec<(LabelId, f64)>>,
    config: Config,
    /// The next evaluation time, once the first sample fixed the start.
    next: Option<i64>,
    /// The last evaluation done.
    evaluated: Option<i64>,
    /// The newest sample stored, and the first evaluation (the idle reference without data).
    newest: Option<i64>,
    first: Option<i64>,
    /// How long after the last sample evaluations can still change anything, ms.
    horizon: i64,
    /// Some rule's condition reads no series (it can change without data).
    data_free: bool,
    /// The clock's step: the greatest common divisor of every rule's interval, so each rule
    /// is evaluated at the multiples of its own.
    step: i64,
    pub counters: Counters,
    cache: Vec<Option<Vector>>,
    /// Vectors of earlier evaluations, reused.
    pool: Vec<Vector>,
    buf: Buffers,
    /// Incremental window state (derived: rebuilt from the store when missing).
    accs: Vec<Vec<Acc>>,
    acc_specs: Vec<crate::vector::AccSpec>,
    frame: Frame<'static>,
    scratch: Vec<(i64, f64)>,
    fscratch: Vec<f64>,
    empty: LabelId,
    /// Event rules: aggregates, sequences, throttles, and their timers.
    pub events: crate::events::Events,
    /// Events waiting for the watermark (`lateness` > 0), in time then arrival order.
    buffered: std::collections::BinaryHeap<std::cmp::Reverse<Buffered>>,
    arrivals: u64,
    event_frame: Option<Frame<'static>>,
    /// Reads event fields straight from JSON text.
    raw: crate::events::raw::RawLayout,
}

/// An event held until the watermark passes it.
struct Buffered {
    ts: i64,
    seq: u64,
    event: Arc<serde_json::Value>,
}

impl PartialEq for Buffered {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.seq) == (o.ts, o.seq)
    }
}
impl Eq for Buffered {}
impl PartialOrd for Buffered {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Buffered {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}

/// The engine's state as plain data: what the daemon persists and restores. Label sets are
/// numbered in the snapshot's own `labels` table; restoring maps them into the new engine's
/// (which may have compiled other rules in the meantime: state of rules that no longer exist
/// is dropped, new rules start empty).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub labels: Labels,
    pub series: Vec<crate::store::Series>,
    /// `(rule id, level index, alerts)`.
    pub alerts: Vec<(String, usize, Book)>,
    /// `(rule id, label sets with data or firing)`, what composites read.
    pub states: Vec<(String, Vec<(LabelId, f64)>)>,
    pub next: Option<i64>,
    pub evaluated: Option<i64>,
    #[serde(default)]
    pub newest: Option<i64>,
    /// Event rules: windows, partial sequences, instantaneous alerts, throttles.
    #[serde(default)]
    pub events: crate::events::EventSnapshot,
    /// Events accepted but still waiting for the watermark (`lateness`), in order.
    #[serde(default)]
    pub buffered: Vec<(i64, serde_json::Value)>,
}

/// Per-evaluation buffers, reused so a warm engine allocates little.
#[derive(Default)]
struct Buffers {
    rows: Vec<(LabelId, bool, f64)>,
    hits: Vec<(LabelId, f64)>,
    present: Vec<LabelId>,
    recovered: Vec<(LabelId, bool)>,
}

/// A rule set the engine cannot run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

impl Engine {
    /// An engine for a rule set (shared: tests build one engine per test from one
    /// compilation).
    pub fn new(rules: impl Into<Arc<RuleSet>>, mut config: Config) -> Result<Engine, BuildError> {
        let rules: Arc<RuleSet> = rules.into();
        // A zero interval would never advance the clock.
        config.interval = config.interval.max(1);
        config.lateness = config.lateness.max(0);
        let mut labels = Labels::default();
        let mut store = Store::new(config.max_series);
        let ir = rules.ir();
        let rule_index: HashMap<String, usize> = ir
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let lateness_s = config.lateness as f64 / 1000.0;
        let n = ir.layout.len();
        let mut slots: Vec<Option<VExpr>> = vec![None; n];
        let mut slot_bool = vec![false; n];
        let mut time_slot = None;
        let mut accs: Vec<crate::vector::AccSpec> = Vec::new();
        // The rule that first reads a slot owns its selectors (and their cardinality limit).
        let mut owner: HashMap<u32, String> = HashMap::new();
        for p in &ir.programs {
            if let Some(r) = &p.rows {
                let mut leaves = Vec::new();
                r.leaves(&mut leaves);
                for l in leaves {
                    owner.entry(l).or_insert_with(|| p.rule.clone());
                }
            }
        }
        for p in &ir.programs {
            let mut stack = vec![p.root];
            while let Some(id) = stack.pop() {
                let node = ir.node(id);
                if let vigil_compiler::ir::Node::Slot(r, _) = node
                    && r.depth == 0
                {
                    owner.entry(r.id).or_insert_with(|| p.rule.clone());
                }
                stack.extend(node.children());
            }
        }
        for (i, info) in ir.layout.slots.iter().enumerate() {
            let slot = i as u32;
            if info.source == SlotSource::Time {
                time_slot = Some(slot);
                continue;
            }
            let plan = match (&info.source, ir.series.get(&slot)) {
                (_, Some(p)) => p.clone(),
                (SlotSource::Rule(r), None) => SeriesExpr::RuleState(r.clone()),
                _ => continue,
            };
            slot_bool[i] = matches!(
                plan,
                SeriesExpr::RuleState(_)
                    | SeriesExpr::Trend { .. }
                    | SeriesExpr::Absent { .. }
                    | SeriesExpr::Outside { .. }
                    | SeriesExpr::AtLeast(..)
                    | SeriesExpr::Anomaly { flag: true, .. }
            );
            let rule = owner.get(&slot).cloned().unwrap_or_default();
            let mut c = Compile {
                store: &mut store,
                labels: &mut labels,
                rule: &rule,
                rule_index: &rule_index,
                lateness_s,
                accs: &mut accs,
            };
            slots[i] = Some(c.expr(&plan).map_err(BuildError)?);
        }
        let mut records = Vec::new();
        for (name, plan) in &ir.records {
            let mut c = Compile {
                store: &mut store,
                labels: &mut labels,
                rule: name,
                rule_index: &rule_index,
                lateness_s,
                accs: &mut accs,
            };
            let v = c.expr(plan).map_err(BuildError)?;
            let metric = labels.sym(name);
            records.push((metric, v, 0));
        }
        // Recorded series are kept as long as their readers need.
        for (metric, _, reach) in &mut records {
            *reach = store
                .selectors
                .iter()
                .filter(|s| s.metric == *metric)
                .map(|s| s.reach_ms)
                .max()
                .unwrap_or(0);
        }
        let max = crate::store::MAX_TIME as f64;
        let ms = |s: f64| {
            let v = (s * 1000.0).round();
            if v.is_nan() {
                0
            } else {
                v.clamp(-max, max) as i64
            }
        };
        let mut read_rules: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (slot, info) in ir.layout.slots.iter().enumerate() {
            if let SlotSource::Rule(r) = &info.source {
                read_rules.insert(r.clone());
            }
            if let Some(p) = ir.series.get(&(slot as u32)) {
                read_rules.extend(p.rules().into_iter().map(str::to_string));
            }
        }
        for (_, p) in &ir.records {
            read_rules.extend(p.rules().into_iter().map(str::to_string));
        }
        let mut metric = Vec::new();
        for (index, meta) in ir.rules.iter().enumerate() {
            if meta.kind != RuleKind::Metric {
                continue;
            }
            let interval = meta.interval.map(ms).unwrap_or(config.interval).max(1);
            let mut levels = Vec::new();
            for l in &meta.levels {
                let plan_of = |p: usize, labels: &mut Labels| {
                    compile_rows(
                        ir.programs[p].rows.as_ref().unwrap_or(&Rows::Scalar),
                        ir,
                        labels,
                    )
                };
                let when_rows = Arc::new(plan_of(l.when, &mut labels));
                let recover = l.recover.map(|r| (r, Arc::new(plan_of(r, &mut labels))));
                levels.push(LevelPlan {
                    when: l.when,
                    when_rows,
                    recover,
                    value: l.value,
                    severity: l.severity,
                    policy: Policy {
                        for_: ms(l.for_),
                        keep_firing: ms(meta.keep_firing),
                        cooldown: ms(meta.cooldown),
                        no_data: meta.no_data.map(|(d, a)| (ms(d), a)),
                        flapping: meta.flapping.map(|(lo, hi, over)| (lo, hi, ms(over))),
                        interval,
                        has_recover: l.recover.is_some(),
                    },
                });
            }
            metric.push(MetricRule {
                id: meta.id.clone(),
                books: vec![Book::default(); levels.len()],
                levels,
                interval,
                delay: ms(meta.delay),
                static_labels: meta.labels.clone(),
                index,
                read: read_rules.contains(&meta.id),
            });
        }
        // Composites after the rules they read: a stable topological order.
        let deps: Vec<Vec<usize>> = metric
            .iter()
            .map(|r| {
                let mut d = Vec::new();
                for l in &r.levels {
                    let mut leaves = Vec::new();
                    for p in std::iter::once(l.when).chain(l.recover.as_ref().map(|x| x.0)) {
                        if let Some(rows) = &ir.programs[p].rows {
                            rows.leaves(&mut leaves);
                        }
                    }
                    for s in leaves {
                        if let Some(p) = ir.series.get(&s) {
                            d.extend(
                                p.rules()
                                    .into_iter()
                                    .filter_map(|x| rule_index.get(x).copied()),
                            );
                        }
                        if let SlotSource::Rule(x) = &ir.layout.slots[s as usize].source
                            && let Some(&i) = rule_index.get(x)
                        {
                            d.push(i);
                        }
                    }
                }
                d
            })
            .collect();
        let order = topo(&metric.iter().map(|r| r.index).collect::<Vec<_>>(), &deps);
        let mut ordered: Vec<Option<MetricRule>> = metric.into_iter().map(Some).collect();
        let metric: Vec<MetricRule> = order
            .into_iter()
            .filter_map(|i| ordered[i].take())
            .collect();
        let empty = labels.intern(Vec::new());
        let frame = Frame::new(ir);
        let reach = store
            .selectors
            .iter()
            .map(|s| s.reach_ms)
            .max()
            .unwrap_or(0);
        let timers = metric
            .iter()
            .flat_map(|r| {
                r.levels.iter().map(move |l| {
                    let p = &l.policy;
                    p.for_
                        + p.keep_firing
                        + p.cooldown
                        + p.no_data.map_or(0, |n| n.0)
                        + p.flapping.map_or(0, |f| f.2)
                        + r.delay
                        + 2 * r.interval
                })
            })
            .max()
            .unwrap_or(0);
        let data_free = metric.iter().any(|r| {
            r.levels.iter().any(|l| {
                matches!(*l.when_rows, Plan::Scalar)
                    || l.recover
                        .as_ref()
                        .is_some_and(|(_, p)| matches!(**p, Plan::Scalar))
            })
        });
        fn gcd(a: i64, b: i64) -> i64 {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        let step = metric
            .iter()
            .map(|r| r.interval)
            .fold(config.interval, gcd)
            .max(1);
        let horizon = reach
            .saturating_add(timers)
            .saturating_add(2 * config.interval)
            .min(crate::store::MAX_TIME);
        let events =
            crate::events::Events::new(&rules, &mut labels, config.interval, config.max_keys);
        Ok(Engine {
            events,
            buffered: std::collections::BinaryHeap::new(),
            arrivals: 0,
            event_frame: None,
            raw: crate::events::raw::RawLayout::new(rules.ir()),
            firing: vec![Vec::new(); ir.rules.len()],
            cache: vec![None; n],
            pool: Vec::new(),
            accs: vec![Vec::new(); accs.len()],
            acc_specs: accs,
            buf: Buffers::default(),
            rules,
            labels,
            store,
            slots,
            slot_bool,
            time_slot,
            records,
            metric,
            config,
            next: None,
            evaluated: None,
            newest: None,
            first: None,
            horizon,
            data_free,
            step,
            counters: Counters::default(),
            frame,
            scratch: Vec::new(),
            fscratch: Vec::new(),
            empty,
        })
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Whether any rule is evaluated over series.
    pub fn has_metric_rules(&self) -> bool {
        !self.metric.is_empty()
    }

    /// Ingests one sample (`ts` in ms). Returns what happened to it.
    pub fn ingest(&mut self, metric: &str, labels: &[(&str, &str)], ts: i64, value: f64) -> Append {
        self.ingest_pairs(metric, labels.iter().copied(), ts, value)
    }

    /// [`Engine::ingest`] with labels from any iterator (no intermediate list).
    pub fn ingest_pairs<'s>(
        &mut self,
        metric: &str,
        labels: impl IntoIterator<Item = (&'s str, &'s str)>,
        ts: i64,
        value: f64,
    ) -> Append {
        self.counters.samples += 1;
        let Some(m) = self.labels.lookup(metric) else {
            self.counters.unread += 1;
            return Append::Unread;
        };
        let set = self.labels.intern_strs(labels);
        self.ingest_interned(m, set, ts, value)
    }

    /// A staleness marker for a series at `ts` (the series ended; instant reads stop).
    pub fn ingest_stale<'s>(
        &mut self,
        metric: &str,
        labels: impl IntoIterator<Item = (&'s str, &'s str)>,
        ts: i64,
    ) {
        let Some(m) = self.labels.lookup(metric) else {
            return;
        };
        let set = self.labels.intern_strs(labels);
        self.store.mark_stale(m, set, ts);
    }

    fn ingest_interned(&mut self, metric: Sym, set: LabelId, ts: i64, value: f64) -> Append {
        if ts.unsigned_abs() > crate::store::MAX_TIME as u64 {
            self.counters.out_of_range += 1;
            return Append::OutOfRange;
        }
        if self.next.is_none() {
            self.next = Some(align_up(ts, self.step));
        }
        let r = self
            .store
            .append(&self.labels, metric, set, ts, value, self.evaluated);
        match r {
            Append::Stored => {
                self.counters.stored += 1;
                self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
            }
            Append::Unread => self.counters.unread += 1,
            Append::Refused => self.counters.refused += 1,
            Append::TooLate => self.counters.too_late += 1,
            Append::OutOfRange => {}
        }
        r
    }

    /// Starts evaluating at the first interval multiple at or after `t` (when no sample has
    /// fixed the start yet).
    pub fn start_at(&mut self, t: i64) {
        if self.next.is_none() && t.unsigned_abs() <= crate::store::MAX_TIME as u64 {
            self.next = Some(align_up(t, self.step));
        }
    }

    /// Ingests one event at `ts` (ms). Without `lateness` it is processed at once (after
    /// the event timers due before it); with `lateness` it waits until the watermark passes
    /// it, so events shuffled within `lateness` are processed in time order. Events older
    /// than the watermark are dropped and counted.
    pub fn ingest_event(&mut self, ts: i64, event: &serde_json::Value, out: &mut Vec<Transition>) {
        if ts.unsigned_abs() > crate::store::MAX_TIME as u64 {
            self.counters.out_of_range += 1;
            return;
        }
        self.start_at(ts);
        if self.config.lateness == 0 {
            self.events
                .run_timers(&self.rules, &mut self.labels, ts - 1, out);
            let mut frame = self
                .event_frame
                .take()
                .unwrap_or_else(|| Frame::new(self.rules.ir()))
                .recycle();
            frame.fill_json(self.rules.ir(), event);
            let mut raw = || Arc::new(event.clone());
            self.event_at(&mut frame, ts, &mut raw, out);
            self.event_frame = Some(frame.recycle());
            return;
        }
        if self.events.watermark.is_some_and(|w| ts < w) {
            self.events.counters.events += 1;
            self.events.counters.too_late += 1;
            return;
        }
        self.arrivals += 1;
        self.buffered.push(std::cmp::Reverse(Buffered {
            ts,
            seq: self.arrivals,
            event: Arc::new(event.clone()),
        }));
    }

    /// [`Engine::ingest_event`] for an event object given as JSON text: the fields the rules
    /// read are taken straight from the text (the event is parsed in full only for alerts
    /// that carry it). Text that is not a JSON object is dropped and counted.
    pub fn ingest_event_text(&mut self, ts: i64, text: &str, out: &mut Vec<Transition>) {
        if self.event_from_text(ts, text, 0, "", out) {
            return;
        }
        self.events.counters.slow_path += 1;
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v.is_object() => self.ingest_event(ts, &v, out),
            _ => self.events.counters.malformed += 1,
        }
    }

    /// [`Engine::ingest_event_text`] for a whole input line `{"ts": .., "event": {...}}` whose
    /// event object starts at `start` (as `ingest` found it): only the closing `}` may follow
    /// the object, else the line is read with serde like any other.
    pub fn ingest_event_line(
        &mut self,
        ts: i64,
        line: &str,
        start: usize,
        out: &mut Vec<Transition>,
    ) {
        if self.event_from_text(ts, line, start, "}", out) {
            return;
        }
        self.events.counters.slow_path += 1;
        match vigil_ingest::parse_line(line, vigil_ingest::Format::Json) {
            Ok(records) => {
                for r in records {
                    if let vigil_ingest::Record::Event { ts, event } = r {
                        self.ingest_event(ts, &event, out);
                    }
                }
            }
            Err(_) => self.events.counters.malformed += 1,
        }
    }

    /// The direct reader: the object at `start` of `text`, followed by `tail` (and white
    /// space) only. False when the caller must use serde (nothing was processed).
    fn event_from_text(
        &mut self,
        ts: i64,
        text: &str,
        start: usize,
        tail: &str,
        out: &mut Vec<Transition>,
    ) -> bool {
        if self.config.lateness != 0 || ts.unsigned_abs() > crate::store::MAX_TIME as u64 {
            return false;
        }
        let Some(object) = text.get(start..) else {
            return false;
        };
        // A stored frame is all missing (recycled below), as the direct reader needs.
        let mut frame: Frame<'_> = self
            .event_frame
            .take()
            .unwrap_or_else(|| Frame::new(self.rules.ir()));
        let read = self
            .raw
            .fill_object(self.rules.ir(), object, &mut frame)
            .filter(|&end| object[end..].trim() == tail);
        if let Some(end) = read {
            let object = &object[..end];
            self.start_at(ts);
            self.events
                .run_timers(&self.rules, &mut self.labels, ts - 1, out);
            let mut parsed =
                || Arc::new(serde_json::from_str(object).unwrap_or(serde_json::Value::Null));
            self.event_at(&mut frame, ts, &mut parsed, out);
        }
        self.event_frame = Some(frame.recycle());
        read.is_some()
    }

    fn event_at(
        &mut self,
        frame: &mut Frame,
        ts: i64,
        raw: &mut dyn FnMut() -> Arc<serde_json::Value>,
        out: &mut Vec<Transition>,
    ) {
        if self.events.is_empty() {
            self.events.counters.events += 1;
            return;
        }
        self.events
            .event(&self.rules, &mut self.labels, frame, ts, raw, out);
        self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
    }

    /// The clock: runs everything due at or before `now - lateness` in time order: event
    /// timers, then buffered events, then the metric evaluation of that time (which sees the
    /// events at its own time).
    ///
    /// Once no data has arrived for longer than every window, lookback and timer of the rules
    /// (the *horizon*) and one evaluation has run past it, further evaluations cannot change
    /// anything, so the clock jumps to the last due one instead of running each (a gap of years
    /// in the input costs one evaluation). A rule whose condition reads no series at all (only
    /// `time()` and constants) turns this off.
    pub fn advance(&mut self, now: i64, out: &mut Vec<Transition>) {
        let until =
            now.clamp(-crate::store::MAX_TIME, crate::store::MAX_TIME) - self.config.lateness;
        let ticking = !self.metric.is_empty() || !self.records.is_empty();
        loop {
            let timer = self.events.next_timer().filter(|&t| t <= until);
            let event = self.buffered.peek().map(|b| b.0.ts).filter(|&t| t <= until);
            let tick = self.next.filter(|&t| t <= until && ticking);
            let first = [timer, event, tick].into_iter().flatten().min();
            let Some(at) = first else { break };
            if timer == Some(at) {
                self.events
                    .run_timers(&self.rules, &mut self.labels, at, out);
                continue;
            }
            if event == Some(at) {
                let Some(std::cmp::Reverse(b)) = self.buffered.pop() else {
                    break;
                };
                let mut frame = self
                    .event_frame
                    .take()
                    .unwrap_or_else(|| Frame::new(self.rules.ir()))
                    .recycle();
                frame.fill_json(self.rules.ir(), &b.event);
                let ev = b.event.clone();
                let mut raw = || ev.clone();
                self.event_at(&mut frame, b.ts, &mut raw, out);
                self.event_frame = Some(frame.recycle());
                continue;
            }
            let t = at;
            if !self.data_free
                && let (Some(newest), Some(done)) = (self.newest.or(self.first), self.evaluated)
                && done > newest + self.horizon
                && t > newest + self.horizon
            {
                let last = until - until.rem_euclid(self.step);
                let limit = [
                    self.events.next_timer(),
                    self.buffered.peek().map(|b| b.0.ts),
                ]
                .into_iter()
                .flatten()
                .min()
                .map_or(last, |x| x - x.rem_euclid(self.step) - self.step);
                let last = last.min(limit);
                if last > t {
                    self.counters.skipped += ((last - t) / self.step) as u64;
                    self.next = Some(last);
                    continue;
                }
            }
            self.evaluate(t, out);
            self.first.get_or_insert(t);
            self.evaluated = Some(t);
            self.next = Some(t + self.step);
        }
        if !ticking
            && let Some(n) = self.next
            && n <= until
        {
            self.next = Some(until - until.rem_euclid(self.step) + self.step);
        }
    }

    /// Runs every evaluation up to and including `t` regardless of lateness (end of input).
    pub fn finish(&mut self, t: i64, out: &mut Vec<Transition>) {
        let saved = self.config.lateness;
        self.config.lateness = 0;
        self.advance(t, out);
        self.config.lateness = saved;
    }

    /// Computes series slot `slot` at `at` into the cache (unless `cached` and already there).
    fn vector(&mut self, slot: u32, at: i64, cached: bool) {
        if cached && self.cache[slot as usize].is_some() {
            return;
        }
        let slots = std::mem::take(&mut self.slots);
        if let Some(expr) = slots[slot as usize].as_ref() {
            let mut v = self.cache[slot as usize]
                .take()
                .or_else(|| self.pool.pop())
                .unwrap_or_default();
            self.eval_vector(expr, at, &mut v);
            self.cache[slot as usize] = Some(v);
        }
        self.slots = slots;
    }

    /// Evaluates a series plan at time `t` into `v`.
    fn eval_vector(&mut self, expr: &VExpr, t: i64, v: &mut Vector) {
        Eval {
            store: &self.store,
            labels: &mut self.labels,
            firing: &self.firing,
            t,
            scratch: &mut self.scratch,
            fscratch: &mut self.fscratch,
            many_to_many: &mut self.counters.many_to_many,
            accs: &mut self.accs,
            acc_specs: &self.acc_specs,
        }
        .eval(expr, v);
    }

    /// One evaluation at time `t` (ms): records, then rules in dependency order.
    fn evaluate(&mut self, t: i64, out: &mut Vec<Transition>) {
        for c in &mut self.cache {
            if let Some(v) = c.take() {
                self.pool.push(v);
            }
        }
        let records = if t % self.config.interval == 0 {
            std::mem::take(&mut self.records)
        } else {
            Vec::new()
        };
        for (metric, expr, reach) in &records {
            let (metric, reach) = (*metric, *reach);
            let mut v = self.pool.pop().unwrap_or_default();
            self.eval_vector(expr, t, &mut v);
            for &(l, x) in &v {
                self.store.record(&self.labels, metric, l, t, x, reach);
            }
            self.pool.push(v);
        }
        if !records.is_empty() {
            self.records = records;
        }
        if let Some(ts) = self.time_slot {
            self.frame.set(ts, SlotVal::number(t as f64 / 1000.0));
        }
        self.events.publish(&mut self.firing);
        let mut changes = Vec::new();
        for ri in 0..self.metric.len() {
            if t % self.metric[ri].interval != 0 {
                continue;
            }
            let delay = self.metric[ri].delay;
            let at = t - delay;
            if let Some(ts) = self.time_slot {
                self.frame.set(ts, SlotVal::number(at as f64 / 1000.0));
            }
            let mut firing = Vec::new();
            let mut known: Vec<LabelId> = Vec::new();
            for li in 0..self.metric[ri].levels.len() {
                changes.clear();
                self.level_inputs(ri, li, at, delay == 0);
                if self.metric[ri].read {
                    known.extend(self.buf.present.iter().copied());
                }
                let inputs = Inputs {
                    hits: &self.buf.hits,
                    present: &self.buf.present,
                    recovered: &self.buf.recovered,
                    empty: self.empty,
                };
                let rule = &mut self.metric[ri];
                let policy = rule.levels[li].policy.clone();
                rule.books[li].step(&policy, t, &inputs, &mut changes);
                if rule.read {
                    rule.books[li].firing(&mut firing);
                }
                self.counters.evaluations += 1;
                let origin = Origin {
                    rule: &rule.id,
                    static_labels: &rule.static_labels,
                    severity: rule.levels[li].severity,
                    levels: rule.levels.len(),
                };
                let mut lines: Vec<Transition> = changes
                    .iter()
                    .map(|c| origin.transition(&self.labels, t, c, None))
                    .collect();
                // By label set, then state as written (the order the timeline has always had).
                lines.sort_by(|a, b| (&a.labels, a.state.word()).cmp(&(&b.labels, b.state.word())));
                out.extend(lines);
            }
            if !self.metric[ri].read {
                continue;
            }
            firing.sort_unstable();
            firing.dedup();
            known.sort_unstable();
            known.dedup();
            let mut states: Vec<(LabelId, f64)> = known
                .into_iter()
                .filter(|l| firing.binary_search(l).is_err())
                .map(|l| (l, 0.0))
                .collect();
            states.extend(firing.into_iter().map(|l| (l, 1.0)));
            let idx = self.metric[ri].index;
            self.firing[idx] = states;
        }
    }

    /// The rows of one level at `at` into `self.buf`: where `when` holds (with values) in
    /// `hits`, every label set with data in `present` (sorted), `recover when` per label set in
    /// `recovered` (sorted).
    fn level_inputs(&mut self, ri: usize, li: usize, at: i64, cached: bool) {
        let level = &self.metric[ri].levels[li];
        let (when, value) = (level.when, level.value);
        let when_plan = level.when_rows.clone();
        let recover = level.recover.clone();
        let mut rows = std::mem::take(&mut self.buf.rows);
        self.eval_rows(&when_plan, at, cached, when, value, &mut rows);
        self.buf.hits.clear();
        self.buf.present.clear();
        for &(l, ok, v) in &rows {
            self.buf.present.push(l);
            if ok {
                self.buf.hits.push((l, v));
            }
        }
        self.buf.present.sort_unstable();
        self.buf.present.dedup();
        self.buf.recovered.clear();
        if let Some((rp, plan)) = recover {
            self.eval_rows(&plan, at, cached, rp, None, &mut rows);
            self.buf
                .recovered
                .extend(rows.iter().map(|&(l, ok, _)| (l, ok)));
            self.buf.recovered.sort_unstable_by_key(|x| x.0);
        }
        self.buf.rows = rows;
    }

    /// Evaluates predicate `prog` (and numeric `value`) for every row of `plan`: `(labels,
    /// holds, value)`. A single series slot (the common case) is read straight from its vector.
    fn eval_rows(
        &mut self,
        plan: &Plan,
        at: i64,
        cached: bool,
        prog: usize,
        value: Option<usize>,
        out: &mut Vec<(LabelId, bool, f64)>,
    ) {
        out.clear();
        if let Plan::Leaf { slot, .. } = plan {
            let slot = *slot;
            if !cached {
                self.cache[slot as usize] = None;
            }
            self.vector(slot, at, true);
            let vector = self.cache[slot as usize].take().unwrap_or_default();
            let boolean = self.slot_bool[slot as usize];
            for &(l, x) in &vector {
                let val = if boolean {
                    SlotVal::boolean(x != 0.0)
                } else {
                    SlotVal::number(x)
                };
                self.frame.set(slot, val);
                let (ok, v) = self.run(prog, value);
                out.push((l, ok, v));
            }
            self.frame.set(slot, SlotVal::missing());
            self.counters.row_evaluations += vector.len() as u64;
            if cached {
                self.cache[slot as usize] = Some(vector);
            } else {
                self.pool.push(vector);
            }
            return;
        }
        let rows = self.rows_of(plan, at, cached);
        for row in &rows {
            self.fill(row);
            let (ok, v) = self.run(prog, value);
            out.push((row.labels, ok, v));
            self.clear(row);
        }
        self.counters.row_evaluations += rows.len() as u64;
    }

    /// Runs a predicate on the frame and, when it holds, the value program.
    #[inline]
    fn run(&self, prog: usize, value: Option<usize>) -> (bool, f64) {
        if !self.rules.eval_bool(prog, &self.frame) {
            return (false, f64::NAN);
        }
        let v = value
            .and_then(|p| self.rules.eval_num(p, &self.frame))
            .unwrap_or(f64::NAN);
        (true, v)
    }

    fn rows_of(&mut self, plan: &Plan, at: i64, cached: bool) -> Vec<rows::Row> {
        let mut leaves = Vec::new();
        plan_leaves(plan, &mut leaves);
        if !cached {
            for &l in &leaves {
                self.cache[l as usize] = None;
            }
        }
        for &l in &leaves {
            self.vector(l, at, true);
        }
        let cache = &self.cache;
        let leaf = |s: u32| cache.get(s as usize).and_then(|v| v.as_ref());
        let r = rows::build(
            plan,
            &mut self.labels,
            &leaf,
            &mut self.counters.many_to_many,
        )
        .rows;
        if !cached {
            for &l in &leaves {
                self.cache[l as usize] = None;
            }
        }
        r
    }

    fn fill(&mut self, row: &rows::Row) {
        for &(s, v) in &row.vals {
            let val = if self.slot_bool[s as usize] {
                SlotVal::boolean(v != 0.0)
            } else {
                SlotVal::number(v)
            };
            self.frame.set(s, val);
        }
    }

    fn clear(&mut self, row: &rows::Row) {
        for &(s, _) in &row.vals {
            self.frame.set(s, SlotVal::missing());
        }
    }

    /// Alerts currently pending or firing, for tests and the API: `(rule, labels, state)`.
    pub fn active(&self) -> Vec<(String, LabelSet, AlertState)> {
        let mut v = Vec::new();
        for r in &self.metric {
            for (li, b) in r.books.iter().enumerate() {
                for (l, a) in &b.alerts {
                    if a.state.is_active() {
                        let origin = Origin {
                            rule: &r.id,
                            static_labels: &r.static_labels,
                            severity: r.levels[li].severity,
                            levels: r.levels.len(),
                        };
                        v.push((r.id.clone(), origin.labels(&self.labels, *l), a.state));
                    }
                }
            }
        }
        self.events.active(&self.labels, &mut v);
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }

    /// The state to persist.
    pub fn snapshot(&self) -> Snapshot {
        let ids: Vec<&str> = self
            .rules
            .ir()
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        Snapshot {
            labels: self.labels.clone(),
            series: self.store.series.clone(),
            alerts: self
                .metric
                .iter()
                .flat_map(|r| {
                    r.books
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (r.id.clone(), i, b.clone()))
                })
                .collect(),
            states: self
                .firing
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(i, v)| (ids[i].to_string(), v.clone()))
                .collect(),
            next: self.next,
            evaluated: self.evaluated,
            newest: self.newest,
            events: self.events.snapshot(),
            buffered: {
                let mut b: Vec<&Buffered> = self.buffered.iter().map(|r| &r.0).collect();
                b.sort();
                b.into_iter().map(|b| (b.ts, (*b.event).clone())).collect()
            },
        }
    }

    /// Restores persisted state into a freshly built engine (before any sample).
    pub fn restore(&mut self, mut snap: Snapshot) {
        snap.labels.reindex();
        let (syms, sets) = self.labels.import(&snap.labels);
        let set = |l: LabelId| sets.get(l as usize).copied().unwrap_or(self.empty);
        for mut s in snap.series {
            s.metric = syms.get(s.metric as usize).copied().unwrap_or(0);
            s.labels = set(s.labels);
            self.store.restore(&self.labels, s);
        }
        for (rule, level, book) in snap.alerts {
            if let Some(r) = self.metric.iter_mut().find(|r| r.id == rule)
                && let Some(b) = r.books.get_mut(level)
            {
                *b = book.remap(&set);
            }
        }
        let ids: HashMap<&str, usize> = self
            .rules
            .ir()
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        for (rule, st) in snap.states {
            if let Some(&i) = ids.get(rule.as_str()) {
                self.firing[i] = st.into_iter().map(|(l, v)| (set(l), v)).collect();
            }
        }
        self.events.restore(snap.events, &set);
        for (ts, event) in snap.buffered {
            self.arrivals += 1;
            self.buffered.push(std::cmp::Reverse(Buffered {
                ts,
                seq: self.arrivals,
                event: Arc::new(event),
            }));
        }
        self.next = snap.next;
        self.evaluated = snap.evaluated;
        self.newest = snap.newest;
        self.first = snap.evaluated;
    }

    /// Bytes held by the series store.
    pub fn store_bytes(&self) -> usize {
        self.store.bytes()
    }

    /// Selectors that refused series (cardinality limit), as `(rule, refused)`.
    pub fn refusals(&self) -> Vec<(String, u64)> {
        self.store
            .selectors
            .iter()
            .filter(|s| s.refused > 0)
            .map(|s| {
                (
                    s.rule.split('\u{0}').next().unwrap_or("").to_string(),
                    s.refused,
                )
            })
            .collect()
    }
}

fn plan_leaves(p: &Plan, out: &mut Vec<u32>) {
    match p {
        Plan::Scalar => {}
        Plan::Leaf { slot, .. } => {
            if !out.contains(slot) {
                out.push(*slot)
            }
        }
        Plan::Join { lhs, rhs, .. } => {
            plan_leaves(lhs, out);
            plan_leaves(rhs, out);
        }
    }
}

fn compile_rows(r: &Rows, ir: &vigil_compiler::ir::Ir, labels: &mut Labels) -> Plan {
    match r {
        Rows::Scalar => Plan::Scalar,
        Rows::Leaf(s) => {
            let natural = matches!(ir.layout.slots[*s as usize].source, SlotSource::Rule(_))
                || matches!(
                    ir.series.get(s),
                    Some(SeriesExpr::RuleState(_) | SeriesExpr::Score(_) | SeriesExpr::AtLeast(..))
                );
            Plan::Leaf { slot: *s, natural }
        }
        Rows::Join {
            kind,
            arith,
            matching,
            lhs,
            rhs,
        } => Plan::Join {
            kind: *kind,
            arith: *arith,
            matching: matching.as_ref().map(|m| LabelSel {
                keep: m.on,
                names: m.labels.iter().map(|n| labels.sym(n)).collect(),
            }),
            lhs: Box::new(compile_rows(lhs, ir, labels)),
            rhs: Box::new(compile_rows(rhs, ir, labels)),
        },
    }
}

/// The first multiple of `step` at or after `t`.
pub fn align_up(t: i64, step: i64) -> i64 {
    let r = t.rem_euclid(step);
    if r == 0 { t } else { t + (step - r) }
}

/// A stable topological order of rules by their dependencies (indices into `ids`' positions).
fn topo(ids: &[usize], deps: &[Vec<usize>]) -> Vec<usize> {
    let pos: HashMap<usize, usize> = ids.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    let mut done = vec![false; ids.len()];
    let mut order = Vec::new();
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        pos: &HashMap<usize, usize>,
        done: &mut [bool],
        order: &mut Vec<usize>,
        depth: usize,
    ) {
        if done[i] || depth > deps.len() {
            return;
        }
        done[i] = true;
        for d in &deps[i] {
            if let Some(&j) = pos.get(d) {
                visit(j, deps, pos, done, order, depth + 1);
            }
        }
        order.push(i);
    }
    for i in 0..ids.len() {
        visit(i, deps, &pos, &mut done, &mut order, 0);
    }
    order
}
