//! The daemon's own metrics, served at `GET /metrics` in the OpenMetrics text format: what
//! came in and from where, what was refused and why, how long evaluation takes, what fires,
//! how full the queue and the log are.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(&'static str, String)>;

/// `vigil_decision_seconds`' upper bounds: 100 us to 1 s, finest between 0.25 and 2.5 ms.
const DECISION_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    1.0,
];

pub struct Metrics {
    registry: Registry,
    /// Lines by source and result (`accepted`, `refused`).
    pub lines: Family<Labels, Counter>,
    /// Refusals by reason (a line's or a whole request's).
    pub refused: Family<Labels, Counter>,
    pub transitions: Family<Labels, Counter>,
    /// Alerts now, by state.
    pub alerts: Family<Labels, Gauge>,
    /// Seconds to apply a batch or move the clock (evaluations included).
    pub evaluation: Histogram,
    /// Seconds from an ingest request's arrival to the engine's decision on it (written to
    /// the log, applied, every rule decided; the sync comes after). Buckets are fine around
    /// 1 ms, the latency target.
    pub decision: Histogram,
    /// Seconds from an ingest request's arrival to its answer, after the log's sync: what a
    /// client waits for, less the network.
    pub answer: Histogram,
    pub queue: Gauge,
    /// 1 once the write-ahead log failed (it takes nothing more until a restart).
    pub wal_broken: Gauge,
    pub wal_bytes: Gauge<u64, AtomicU64>,
    pub checkpoints: Counter,
    pub reloads: Family<Labels, Counter>,
    /// Lists re-read from their files without recompiling, by result.
    pub list_reloads: Family<Labels, Counter>,
    /// The engine's counters (samples stored, too late, refused by a limit, ...).
    pub engine: Family<Labels, Gauge<u64, AtomicU64>>,
    /// Notification attempts by notifier and result (`sent`, `retrying`, `failed`).
    pub notifications: Family<Labels, Counter>,
    /// Alert changes not printed: stdout was not being read (see `console`).
    pub console_dropped: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("vigil");
        let lines = Family::<Labels, Counter>::default();
        registry.register(
            "ingest_lines",
            "Input lines by source and result",
            lines.clone(),
        );
        let refused = Family::<Labels, Counter>::default();
        registry.register("ingest_refused", "Refused input by reason", refused.clone());
        let transitions = Family::<Labels, Counter>::default();
        registry.register(
            "alert_transitions",
            "Alert state changes by state",
            transitions.clone(),
        );
        let alerts = Family::<Labels, Gauge>::default();
        registry.register("alerts", "Alerts pending or firing", alerts.clone());
        let evaluation = Histogram::new(exponential_buckets(1e-5, 4.0, 10));
        registry.register(
            "evaluation_seconds",
            "Time to apply a batch or move the clock, evaluations included",
            evaluation.clone(),
        );
        let decision = Histogram::new(DECISION_BUCKETS.iter().copied());
        registry.register(
            "decision_seconds",
            "Time from an ingest request's arrival to the engine's decision on it (written to the log, applied, every rule decided)",
            decision.clone(),
        );
        let answer = Histogram::new(DECISION_BUCKETS.iter().copied());
        registry.register(
            "answer_seconds",
            "Time from an ingest request's arrival to its answer, once its input is synced to the log",
            answer.clone(),
        );
        let queue = Gauge::default();
        registry.register(
            "queue_depth",
            "Batches waiting for the engine",
            queue.clone(),
        );
        let wal_broken = Gauge::default();
        registry.register(
            "wal_broken",
            "1 once the write-ahead log failed: nothing more is accepted until the daemon restarts",
            wal_broken.clone(),
        );
        let wal_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "wal_bytes",
            "Bytes in the write-ahead log",
            wal_bytes.clone(),
        );
        let checkpoints = Counter::default();
        registry.register("checkpoints", "Checkpoints written", checkpoints.clone());
        let reloads = Family::<Labels, Counter>::default();
        registry.register("reloads", "Rule reloads by result", reloads.clone());
        let list_reloads = Family::<Labels, Counter>::default();
        registry.register(
            "list_reloads",
            "Lists re-read from their files (no recompile) by result",
            list_reloads.clone(),
        );
        let engine = Family::<Labels, Gauge<u64, AtomicU64>>::default();
        registry.register("engine", "Engine counters by name", engine.clone());
        let notifications = Family::<Labels, Counter>::default();
        registry.register(
            "notifications",
            "Notification attempts by notifier and result",
            notifications.clone(),
        );
        let console_dropped = Counter::default();
        registry.register(
            "console_dropped",
            "Alert changes not printed on the console because stdout was not being read",
            console_dropped.clone(),
        );
        Metrics {
            registry,
            lines,
            refused,
            transitions,
            alerts,
            evaluation,
            decision,
            answer,
            queue,
            wal_broken,
            wal_bytes,
            checkpoints,
            reloads,
            list_reloads,
            engine,
            notifications,
            console_dropped,
        }
    }

    pub fn refuse(&self, reason: &str) {
        self.refused
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
