//! The engine's thread: the only owner of the core and the write-ahead log. Requests wait in
//! a bounded queue; each turn takes every request waiting (up to a bound), logs them with one
//! sync (group commit), applies them in order and answers, so throughput holds while every
//! answered input is on disk. Between requests the wall clock moves the engine, and the state
//! is checkpointed on a timer, after a reload and on shutdown.

use crate::checkpoint::{self, Checkpoint};
use crate::core::{Ack, AlertView, Applied, Core};
use crate::metrics::Metrics;
use crate::wal::{Body, Wal};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use vigil_compiler::eval::RuleSet;
use vigil_engine::{Config, Transition};
use vigil_vocab::AlertState;

/// Requests to the engine's thread.
pub enum Cmd {
    /// Accepted input as logged (lines, or records in binary), the records parsed from it at
    /// the edge (what is applied), and the arrival time both used.
    Ingest {
        log: Body,
        records: std::collections::VecDeque<vigil_ingest::Record>,
        now: i64,
        /// When the request arrived (`vigil_decision_seconds` ends at its answer).
        arrived: Instant,
        reply: oneshot::Sender<Result<Applied, String>>,
    },
    Alerts {
        reply: oneshot::Sender<Vec<AlertView>>,
    },
    Ack {
        id: String,
        ack: Ack,
        reply: oneshot::Sender<Result<bool, String>>,
    },
    Rules {
        reply: oneshot::Sender<Vec<RuleView>>,
    },
    /// One rule's recent condition values (`None`: no such rule).
    History {
        rule: String,
        since: Option<i64>,
        reply: oneshot::Sender<Option<crate::history::Chart>>,
    },
    Swap {
        rules: Arc<RuleSet>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Recorded lines played in time order (the demo); the wall clock waits until `done`.
    Backfill { lines: String, done: bool },
    /// The engine's clock, ms.
    Clock { reply: oneshot::Sender<i64> },
    /// The newest sample of every series held.
    Series {
        reply: oneshot::Sender<Vec<(String, vigil_vocab::LabelSet, i64, f64)>>,
    },
}

/// A rule as `GET /api/v1/rules` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleView {
    pub id: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<vigil_vocab::Severity>,
    /// `firing` when some alert fires, else `pending` when one is pending, else `inactive`
    /// (Prometheus's words).
    pub state: &'static str,
    pub pending: usize,
    pub firing: usize,
    /// `ok`, or `err` with `last_error` (series refused by the cardinality limit).
    pub health: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Metric rules: the last evaluation's time (epoch ms; the API writes RFC 3339), how
    /// long it took, and rows read and holding. Event rules: the last matching event's time.
    #[serde(skip)]
    pub last_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_seconds: Option<f64>,
    /// Metric rules: evaluations; event rules: matching events (since the rules were loaded).
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<usize>,
}

/// Where the transitions go (the console, and routing).
pub type Sink = Box<dyn FnMut(&Transition) + Send>;

pub struct Worker {
    pub core: Core,
    pub wal: Option<Wal>,
    pub data_dir: PathBuf,
    /// The engine's settings for a rule set (its interval may differ after a reload).
    pub config_for: Box<dyn Fn(&RuleSet) -> Config + Send>,
    pub tick: Duration,
    pub checkpoint_every: Duration,
    pub metrics: Arc<Metrics>,
    pub sink: Sink,
    /// A backfill is playing: the wall clock does not move the engine.
    pub backfilling: bool,
}

/// Most requests taken in one turn.
const TURN: usize = 512;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Worker {
    pub fn run(mut self, rx: Receiver<Cmd>) {
        let mut out = Vec::new();
        let mut next_tick = Instant::now();
        let mut next_checkpoint = Instant::now() + self.checkpoint_every;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut turn = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(c) => turn.push(c),
                Err(RecvTimeoutError::Timeout) => {}
                // Every sender is gone: the server stopped without asking; keep the state.
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.checkpoint();
                    return;
                }
            }
            while turn.len() < TURN {
                match rx.try_recv() {
                    Ok(c) => turn.push(c),
                    Err(_) => break,
                }
            }
            self.metrics.queue.set(rx.len() as i64);
            if self.turn(turn, &mut out) {
                return;
            }
            if Instant::now() >= next_tick {
                // While a backfill plays, its recording is the clock.
                if !self.backfilling {
                    let t0 = Instant::now();
                    self.core.tick(now_ms(), &mut out);
                    self.metrics.evaluation.observe(t0.elapsed().as_secs_f64());
                    self.emit(&mut out);
                }
                // Sampled on the clock, not per batch: `/metrics` readers see them at most a
                // tick old, and ingest does not pay for counting alerts.
                self.gauges();
                next_tick = Instant::now() + self.tick;
            }
            if Instant::now() >= next_checkpoint {
                if let Err(e) = self.checkpoint() {
                    crate::log::error(&format!("checkpoint failed: {e}"));
                }
                next_checkpoint = Instant::now() + self.checkpoint_every;
            }
        }
    }

    /// One turn's requests: logged with one sync, then applied and answered in order. True
    /// when the daemon is to stop.
    fn turn(&mut self, turn: Vec<Cmd>, out: &mut Vec<Transition>) -> bool {
        let now = now_ms();
        let logged = self.log(&turn, now);
        let mut stop = None;
        let mut swapped = Vec::new();
        for (c, logged) in turn.into_iter().zip(logged) {
            match c {
                Cmd::Ingest {
                    mut records,
                    now,
                    arrived,
                    reply,
                    ..
                } => {
                    let r = logged.map(|()| {
                        let t0 = Instant::now();
                        let follow = !self.backfilling;
                        let a = self.core.apply_records(now, &mut records, follow, out);
                        self.metrics.evaluation.observe(t0.elapsed().as_secs_f64());
                        self.metrics
                            .decision
                            .observe(arrived.elapsed().as_secs_f64());
                        a
                    });
                    let _ = reply.send(r);
                }
                Cmd::Ack { id, ack, reply } => {
                    let _ = reply.send(logged.map(|()| self.core.ack(&id, ack)));
                }
                Cmd::Alerts { reply } => {
                    let _ = reply.send(self.core.alerts());
                }
                Cmd::Rules { reply } => {
                    let _ = reply.send(self.rules());
                }
                Cmd::History { rule, since, reply } => {
                    let _ = reply.send(self.core.chart(&rule, since));
                }
                Cmd::Swap { rules, reply } => {
                    // A checkpoint after the turn: every entry logged in it is applied first.
                    let config = (self.config_for)(&rules);
                    match self.core.with_rules(rules, config) {
                        Ok(c) => {
                            self.core = c;
                            swapped.push(reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                Cmd::Backfill { lines, done } => {
                    if logged.is_ok() {
                        self.backfilling = !done;
                        let t0 = Instant::now();
                        self.core.backfill(&lines, out);
                        self.metrics.evaluation.observe(t0.elapsed().as_secs_f64());
                    }
                }
                Cmd::Clock { reply } => {
                    let _ = reply.send(self.core.clock);
                }
                Cmd::Series { reply } => {
                    let _ = reply.send(self.core.engine().series_now());
                }
                // Last in the turn, after everything logged with it is applied.
                Cmd::Shutdown { reply } => stop = Some(reply),
            }
        }
        if let Some(reply) = stop {
            self.core.tick(now, out);
            self.emit(out);
            let r = self.checkpoint();
            for s in swapped {
                let _ = s.send(r.clone());
            }
            let _ = reply.send(r);
            return true;
        }
        self.emit(out);
        if !swapped.is_empty() {
            let r = self.checkpoint();
            for s in swapped {
                let _ = s.send(r.clone());
            }
        }
        false
    }

    /// Logs the turn's inputs with one sync; each command's result (`Ok` for those that log
    /// nothing). A request the log refuses (a full disk) fails alone: the entries written
    /// before and after it are synced, applied and answered, so the log and the engine keep
    /// the same inputs, and no client that was refused finds its input replayed after a
    /// restart.
    fn log(&mut self, turn: &[Cmd], now: i64) -> Vec<Result<(), String>> {
        let mut results = vec![Ok(()); turn.len()];
        let Some(wal) = &mut self.wal else {
            return results;
        };
        let mut written = Vec::new();
        for (i, c) in turn.iter().enumerate() {
            let appended = match c {
                Cmd::Ingest { log, now, .. } => wal.append(*now, log),
                Cmd::Ack { id, ack, .. } => {
                    let json = serde_json::json!({"id": id, "ack": ack}).to_string();
                    wal.append(now, &Body::<_, &[u8]>::Ack(json.as_str()))
                }
                Cmd::Backfill { lines, .. } => {
                    wal.append(now, &Body::<_, &[u8]>::Backfill(lines.as_str()))
                }
                _ => continue,
            };
            match appended {
                Ok(_) => written.push(i),
                Err(e) => results[i] = Err(format!("write-ahead log: {e}")),
            }
        }
        if !written.is_empty()
            && let Err(e) = wal.sync()
        {
            let why = format!("write-ahead log: {e}");
            for i in written {
                results[i] = Err(why.clone());
            }
        }
        if wal.broken().is_some() {
            // `/readyz` and `/metrics` say so from now on.
            self.metrics.wal_broken.set(1);
        }
        results
    }

    fn emit(&mut self, out: &mut Vec<Transition>) {
        for t in out.iter() {
            self.metrics
                .transitions
                .get_or_create(&vec![("state", t.state.word().to_string())])
                .inc();
            (self.sink)(t);
        }
        out.clear();
    }

    /// Alerts by state and the engine's counters, for `/metrics`.
    fn gauges(&self) {
        let alerts = self.core.engine().alerts();
        for state in [AlertState::Pending, AlertState::Firing] {
            let n = alerts.iter().filter(|a| a.state == state).count();
            self.metrics
                .alerts
                .get_or_create(&vec![("state", state.word().to_string())])
                .set(n as i64);
        }
        let c = &self.core.engine().counters;
        let e = &self.core.engine().events.counters;
        for (name, v) in [
            ("samples", c.samples),
            ("samples_stored", c.stored),
            ("samples_unread", c.unread),
            ("samples_refused_by_limit", c.refused),
            ("samples_too_late", c.too_late),
            ("events", e.events),
            ("events_too_late", e.too_late),
            ("events_refused_by_limit", e.refused),
            ("evaluations", c.evaluations),
        ] {
            self.metrics
                .engine
                .get_or_create(&vec![("counter", name.to_string())])
                .set(v);
        }
    }

    fn rules(&self) -> Vec<RuleView> {
        // (pending, firing) by rule, counted in one pass.
        let mut counts: std::collections::HashMap<&str, (usize, usize)> = Default::default();
        let engine = self.core.engine();
        let alerts = engine.alerts();
        for a in &alerts {
            let c = counts.entry(&a.rule).or_default();
            match a.state {
                AlertState::Pending => c.0 += 1,
                AlertState::Firing => c.1 += 1,
                _ => {}
            }
        }
        let mut refused: std::collections::HashMap<String, u64> = Default::default();
        for (rule, n) in engine.refusals() {
            *refused.entry(rule).or_default() += n;
        }
        let stats: std::collections::HashMap<_, _> = engine.rule_stats().into_iter().collect();
        engine
            .rules()
            .ir()
            .rules
            .iter()
            .map(|r| {
                let (pending, firing) = counts.get(r.id.as_str()).copied().unwrap_or_default();
                let stat = stats.get(r.id.as_str()).cloned().unwrap_or_default();
                let last_error = refused
                    .get(&r.id)
                    .map(|n| format!("{n} series refused by the series limit (limits.max_series)"));
                let metric = r.kind == vigil_compiler::ir::meta::RuleKind::Metric;
                RuleView {
                    id: r.id.clone(),
                    kind: r.kind.word(),
                    severity: r.severity,
                    state: if firing > 0 {
                        "firing"
                    } else if pending > 0 {
                        "pending"
                    } else {
                        "inactive"
                    },
                    pending,
                    firing,
                    health: if last_error.is_some() { "err" } else { "ok" },
                    last_error,
                    last_at: stat.at,
                    evaluation_seconds: (metric && stat.at.is_some())
                        .then_some(stat.nanos as f64 / 1e9),
                    count: stat.count,
                    rows: metric.then_some(stat.rows),
                    hits: metric.then_some(stat.hits),
                }
            })
            .collect()
    }

    /// Writes a checkpoint covering every entry logged so far (each was applied in the turn
    /// that logged it), then deletes the log segments before the one it points into. The
    /// segment is not ended here: a checkpoint a minute would otherwise start (and prepare)
    /// a segment a minute however little was logged.
    pub fn checkpoint(&mut self) -> Result<(), String> {
        let pos = self.wal.as_ref().map(Wal::position).unwrap_or_default();
        let cp = Checkpoint::new(
            pos,
            self.core.clock,
            self.core.snapshot(),
            self.core.acks.clone(),
        );
        checkpoint::write(&self.data_dir, &cp).map_err(|e| format!("checkpoint: {e}"))?;
        self.metrics.checkpoints.inc();
        if let Some(w) = &mut self.wal {
            w.drop_before(pos)
                .map_err(|e| format!("write-ahead log: {e}"))?;
            self.metrics.wal_bytes.set(w.bytes());
        }
        self.gauges();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{self, Pos, Settings};
    use std::collections::VecDeque;

    fn worker(dir: &std::path::Path) -> Worker {
        let src =
            "package t\nrule r {\n  when count() over 10s >= 1\n  on event where event.x == 1\n}\n";
        let checked = vigil_compiler::check_source("t.rules", src, None);
        assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
        let rules = Arc::new(
            RuleSet::from_checked(&checked, vigil_compiler::eval::Engine::Interp).unwrap(),
        );
        let settings = Settings {
            segment_bytes: 1 << 20,
            sync: true,
            preallocate: false,
        };
        let (log, _) = Wal::open(&dir.join("wal"), Pos::default(), settings, &mut |_| {}).unwrap();
        Worker {
            core: Core::new(rules, Config::default()).unwrap(),
            wal: Some(log),
            data_dir: dir.to_path_buf(),
            config_for: Box::new(|_| Config::default()),
            tick: Duration::from_secs(1),
            checkpoint_every: Duration::from_secs(3600),
            metrics: Arc::new(Metrics::new()),
            sink: Box::new(|_| {}),
            backfilling: false,
        }
    }

    fn ingest(text: String) -> (Cmd, oneshot::Receiver<Result<Applied, String>>) {
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Ingest {
            log: Body::Lines(text),
            records: VecDeque::new(),
            now: 1,
            arrived: Instant::now(),
            reply,
        };
        (cmd, rx)
    }

    /// A checkpoint points into the segment being written rather than ending it (with one a
    /// minute, every minute would start a segment): a restart replays only what came after.
    #[test]
    fn checkpoints_point_into_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = worker(dir.path());
        for text in ["a", "b"] {
            let (cmd, _rx) = ingest(text.into());
            w.turn(vec![cmd], &mut Vec::new());
            w.checkpoint().unwrap();
        }
        let (cmd, _rx) = ingest("c".into());
        w.turn(vec![cmd], &mut Vec::new());
        drop(w);
        let logs = std::fs::read_dir(dir.path().join("wal"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count();
        assert_eq!(logs, 1);
        let cp = crate::checkpoint::read(dir.path()).unwrap().unwrap();
        assert!(cp.wal.offset > 0);
        let mut replayed = Vec::new();
        let settings = Settings {
            segment_bytes: 1 << 20,
            sync: false,
            preallocate: false,
        };
        Wal::open(&dir.path().join("wal"), cp.wal, settings, &mut |e| {
            replayed.push(e.body)
        })
        .unwrap();
        assert_eq!(replayed, vec![Body::Lines("c".into())]);
    }

    /// A request the log refuses fails alone; the requests around it in its turn are logged,
    /// applied and answered, and only they are in the log.
    #[test]
    fn a_refused_entry_fails_only_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = worker(dir.path());
        let (a, mut ra) = ingest("a".into());
        let (b, mut rb) = ingest("b".repeat(wal::MAX_ENTRY));
        let (c, mut rc) = ingest("c".into());
        assert!(!w.turn(vec![a, b, c], &mut Vec::new()));
        assert!(matches!(ra.try_recv(), Ok(Ok(_))));
        let refused = rb.try_recv().unwrap().unwrap_err();
        assert!(refused.contains("too large"), "{refused}");
        assert!(matches!(rc.try_recv(), Ok(Ok(_))));
        drop(w);
        let mut logged = Vec::new();
        let settings = Settings {
            segment_bytes: 1 << 20,
            sync: false,
            preallocate: false,
        };
        Wal::open(
            &dir.path().join("wal"),
            Pos::default(),
            settings,
            &mut |e| logged.push(e.body),
        )
        .unwrap();
        assert_eq!(
            logged,
            vec![Body::Lines("a".into()), Body::Lines("c".into())]
        );
    }
}
