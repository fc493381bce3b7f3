//! The engine: one deterministic evaluator driven by event time through an injected clock.
//! The daemon, `vigil test` and `vigil replay` all feed it samples and call [`Engine::advance`]
//! with their notion of "now"; evaluation times are multiples of the interval from the Unix
//! epoch, as Prometheus aligns them, and an evaluation runs once every sample it may read has
//! arrived (`now - lateness >= t`).

mod build;
mod clock;
mod intake;
mod observe;
mod snapshot;
mod trace;

pub use observe::{Observation, RuleStat, Stopwatch};
pub use snapshot::Snapshot;
pub use trace::{MAX_TRACES, Trace};

use crate::alert::{Book, Origin, Policy};
use crate::labels::{LabelId, Labels, Sym};
use crate::metric::incremental::Acc;
use crate::metric::rollup::Span;
use crate::metric::rows::Plan;
use crate::metric::store::Store;
use crate::metric::vector::{AccSpec, VExpr, Vector};
use std::sync::Arc;
use vigil_compiler::eval::{Frame, RuleSet};
use vigil_vocab::{AlertState, LabelSet, Severity};

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

/// The value programs of a level: the first that has a value is reported.
type Values = [Option<usize>; 2];

struct LevelPlan {
    when: usize,
    when_rows: Arc<Plan>,
    recover: Option<(usize, Arc<Plan>)>,
    /// `{{ value }}`'s program, and the right side's of an `or` where the left's is missing.
    value: Values,
    policy: Policy,
    severity: Option<Severity>,
}

/// `ALERTS{..}`'s series, taken at the start of each evaluation (so every rule reads the same,
/// whatever its order).
struct AlertSeries {
    /// Per metric rule and level: the labels its alerts get besides their own (the rule's
    /// static labels, `alertname` (the rule's name, or its own `alertname` label),
    /// `alertstate="firing"`, the level's `severity`), interned once.
    extra: Vec<Vec<Vec<(Sym, Sym)>>>,
    now: Vec<(LabelId, f64)>,
}

impl AlertSeries {
    fn new(metric: &[MetricRule], labels: &mut Labels) -> AlertSeries {
        let mut pair = |k: &str, v: &str| (labels.sym(k), labels.sym(v));
        let extra = metric
            .iter()
            .map(|rule| {
                let name = rule
                    .static_labels
                    .iter()
                    .find(|(k, _)| k == "alertname")
                    .map_or_else(|| rule.id.rsplit('.').next().unwrap_or(""), |(_, v)| v);
                rule.levels
                    .iter()
                    .map(|level| {
                        let mut e: Vec<(Sym, Sym)> =
                            rule.static_labels.iter().map(|(k, v)| pair(k, v)).collect();
                        e.push(pair("alertname", name));
                        e.push(pair("alertstate", "firing"));
                        if let Some(s) = level.severity {
                            e.push(pair("severity", s.word()));
                        }
                        e
                    })
                    .collect()
            })
            .collect();
        AlertSeries {
            extra,
            now: Vec::new(),
        }
    }
}

struct MetricRule {
    id: std::sync::Arc<str>,
    levels: Vec<LevelPlan>,
    interval: i64,
    delay: i64,
    static_labels: Vec<(String, String)>,
    /// Per level, what it adds to its alerts' labels ([`Origin::extra`]).
    extras: Vec<LabelId>,
    books: Vec<Book>,
    /// Index in `firing` (every rule has one, so composites can name event rules).
    index: usize,
    /// Some composite reads this rule's state.
    read: bool,
    stat: RuleStat,
}

impl MetricRule {
    /// Whose alerts level `li`'s book holds.
    fn origin(&self, li: usize) -> Origin<'_> {
        Origin {
            rule: &self.id,
            severity: self.levels[li].severity,
            extra: self.extras[li],
        }
    }
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
    pub match_conflicts: u64,
}

pub struct Engine {
    rules: Arc<RuleSet>,
    pub labels: Labels,
    pub store: Store,
    slots: Vec<Option<VExpr>>,
    slot_bool: Vec<bool>,
    time_slot: Option<u32>,
    /// Each `record`: the metric it writes, its plan, how long its series are kept, and the
    /// static labels set on each series (the empty set for none).
    records: Vec<(Sym, VExpr, i64, LabelId)>,
    metric: Vec<MetricRule>,
    /// Per rule: label sets with data (0) or firing (1), for composites.
    firing: Vec<Vec<(LabelId, f64)>>,
    /// When some plan reads `ALERTS{..}`: the metric rules' firing alerts as series.
    alerts: Option<AlertSeries>,
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
    tracer: trace::Tracer,
    cache: Vec<Option<Vector>>,
    /// Vectors of earlier evaluations, reused.
    pool: Vec<Vector>,
    buf: Buffers,
    /// Incremental window state (derived: rebuilt from the store when missing).
    accs: Vec<Vec<Acc>>,
    acc_specs: Vec<AccSpec>,
    /// Per long window served from buckets, one span per selected series.
    spans: Vec<Vec<Span>>,
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
    /// The strings with escapes of the event being read, decoded (reset per event).
    unescaped: bumpalo::Bump,
    /// The last alerting event's text buffer, refilled by the next one once its alerts are
    /// dropped (see [`vigil_vocab::EventJson::refill`]).
    spare_event: Option<vigil_vocab::EventJson>,
    /// Stored series' label sets by a 128-bit hash of the metric and label pairs as they
    /// arrive: a sample of a known series skips interning its strings and label set.
    pub(crate) series_cache: SeriesCache,
    /// See [`Engine::observe`].
    observing: bool,
    observed: Vec<Observation>,
    stopwatch: Option<Stopwatch>,
}

/// See [`Engine::series_cache`]: at most [`SeriesCache::MAX`] entries (cleared when full, and
/// on restore, when label ids change).
#[derive(Default)]
pub(crate) struct SeriesCache {
    pub map: std::collections::HashMap<(u64, u64), LabelId, foldhash::fast::FixedState>,
    /// What a [`vigil_ingest::Record::Keyed`] sample's key stands for.
    pub keyed: std::collections::HashMap<
        vigil_ingest::series_keys::SeriesKey,
        intake::Known,
        foldhash::fast::FixedState,
    >,
    pub a: foldhash::fast::FixedState,
    pub b: foldhash::fast::FixedState,
}

impl SeriesCache {
    pub const MAX: usize = 1 << 20;

    pub fn new() -> SeriesCache {
        SeriesCache {
            map: Default::default(),
            keyed: Default::default(),
            a: foldhash::fast::FixedState::with_seed(0x5EED_0001),
            b: foldhash::fast::FixedState::with_seed(0x5EED_0002),
        }
    }
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

/// Per-evaluation buffers, reused so a warm engine allocates little.
#[derive(Default)]
struct Buffers {
    rows: Vec<(LabelId, bool, f64)>,
    hits: Vec<(LabelId, f64)>,
    present: Vec<LabelId>,
    recovered: Vec<(LabelId, bool)>,
}

/// An alert pending or firing now (`Engine::alerts`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    pub rule: Arc<str>,
    pub labels: LabelSet,
    pub state: AlertState,
    pub severity: Option<vigil_vocab::Severity>,
    /// The condition's latest value (NaN when it has none).
    pub value: f64,
    /// When the pending/firing episode began (unknown for an event alert restored from a
    /// snapshot), ms.
    pub active_at: Option<i64>,
    pub fired_at: Option<i64>,
}

/// A rule set the engine cannot run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

impl Engine {
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Whether any rule is evaluated over series.
    pub fn has_metric_rules(&self) -> bool {
        !self.metric.is_empty()
    }

    /// Alerts currently pending or firing, for tests: `(rule, labels, state)`.
    pub fn active(&self) -> Vec<(String, LabelSet, AlertState)> {
        self.alerts()
            .into_iter()
            .map(|a| (a.rule.to_string(), a.labels, a.state))
            .collect()
    }

    /// Alerts currently pending or firing with what the API shows of them, sorted by rule
    /// and label set.
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        let mut v = Vec::new();
        for r in &self.metric {
            for (li, b) in r.books.iter().enumerate() {
                for (l, a) in &b.alerts {
                    if a.state.is_active() {
                        let origin = r.origin(li);
                        v.push(ActiveAlert {
                            rule: r.id.clone(),
                            labels: origin.labels(&self.labels, *l),
                            state: a.state,
                            severity: r.levels[li].severity,
                            value: a.value,
                            active_at: Some(a.active_at),
                            fired_at: a.fired_at,
                        });
                    }
                }
            }
        }
        self.events.alerts(&self.labels, &mut v);
        v.sort_by(|a, b| (&a.rule, &a.labels).cmp(&(&b.rule, &b.labels)));
        v
    }

    /// The newest sample of every stored series that is not stale, as `(metric, labels, ms,
    /// value)` sorted by metric and labels (`GET /api/v1/series`, federation).
    pub fn series_now(&self) -> Vec<(String, LabelSet, i64, f64)> {
        let mut v: Vec<(String, LabelSet, i64, f64)> = self
            .store
            .series
            .iter()
            .filter_map(|s| {
                let &(t, x) = s.samples.back()?;
                if s.stale.is_some_and(|m| m >= t) {
                    return None;
                }
                let metric = self.labels.str(s.metric).to_string();
                Some((metric, self.labels.to_map(s.labels), t, x))
            })
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
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
