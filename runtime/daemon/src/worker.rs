//! The engine's thread: the only owner of the core and the write-ahead log. Requests wait in
//! a bounded queue; each turn takes every request waiting (up to a bound), writes them to the
//! log and applies them in order, which decides every rule on them. One sync covers a group
//! of turns (group commit); it runs on the log's syncing thread while this one applies the
//! next turn, and a turn's answers and transitions leave only once a sync started after its
//! writes has finished (answers from the syncing thread as soon as it is done, transitions
//! from this thread in order). So decisions do not wait for the disk, throughput holds, and
//! nothing is answered, notified or shown before its input is on disk. Checkpoints are
//! written on a thread of their own. Between requests the wall
//! clock moves the engine, and the state is checkpointed on a timer, after a reload and on
//! shutdown.

use crate::checkpoint::{self, Checkpoint};
use crate::core::{Ack, AlertView, Applied, Core};
use crate::metrics::Metrics;
use crate::wal::{Body, Wal};
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
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
    /// Metric rules: the time of every evaluation since the rules were loaded (what the rule
    /// costs, to find the expensive ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_seconds_total: Option<f64>,
    /// Metric rules: evaluations; event rules: matching events (since the rules were loaded).
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<usize>,
}

/// Where the transitions go (the console, and routing).
pub type Sink = Box<dyn FnMut(&Transition) + Send>;

/// What the engine's thread started and has not finished: answers and transitions held until
/// a sync covers the inputs they follow from (those behind the sync under way, and those of
/// turns written since: the next sync's), and a checkpoint being written.
#[derive(Default)]
pub struct Pending {
    syncing: Group,
    next: Group,
    checkpoint: Option<Writing>,
}

/// A checkpoint written on a thread of its own: serialising, writing and syncing it (and
/// freeing its copy of the state) take longer than taking the copy, and ingest waits for
/// none of it. The log before `pos` is deleted once it is on disk.
struct Writing {
    pos: crate::wal::Pos,
    done: Receiver<Result<(), String>>,
    /// Reloads answered once it is on disk.
    replies: Vec<oneshot::Sender<Result<(), String>>>,
}

#[derive(Default)]
struct Group {
    answers: Vec<Answer>,
    out: Vec<Transition>,
    /// Entries were written for it (else it needs only the syncs before it).
    wrote: bool,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.answers.is_empty() && self.out.is_empty() && !self.wrote
    }
}

/// An answer held until its turn is synced: no one sees the effect of an input before it is
/// durable.
enum Answer {
    Ingest(
        oneshot::Sender<Result<Applied, String>>,
        Result<Applied, String>,
        Instant,
    ),
    Ack(oneshot::Sender<Result<bool, String>>, Result<bool, String>),
    /// A query's answer, computed in its place in the turn.
    Other(Box<dyn FnOnce() + Send>),
}

impl Answer {
    /// Sends it; an input's answer fails if the sync did (`synced`).
    fn send(self, synced: &Result<(), String>, metrics: &Metrics) {
        match self {
            Answer::Ingest(reply, r, arrived) => {
                let r = r.and_then(|a| synced.clone().map(|()| a));
                metrics.answer.observe(arrived.elapsed().as_secs_f64());
                let _ = reply.send(r);
            }
            Answer::Ack(reply, r) => {
                let _ = reply.send(r.and_then(|a| synced.clone().map(|()| a)));
            }
            Answer::Other(send) => send(),
        }
    }
}

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
    pub pending: Pending,
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
        let mut next_tick = Instant::now();
        let mut next_checkpoint = Instant::now() + self.checkpoint_every;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut turn = Vec::new();
            match self.next_cmd(&rx, wait) {
                Ok(c) => turn.extend(c),
                // Every sender is gone: the server stopped without asking; keep the state.
                Err(()) => {
                    let _ = self.checkpoint();
                    return;
                }
            }
            // A finished sync's answers go before the new turn is worked.
            self.pump(false);
            while turn.len() < TURN {
                match rx.try_recv() {
                    Ok(c) => turn.push(c),
                    Err(_) => break,
                }
            }
            self.metrics.queue.set(rx.len() as i64);
            if !turn.is_empty() && self.turn(turn) {
                return;
            }
            if Instant::now() >= next_tick {
                // While a backfill plays, its recording is the clock.
                if !self.backfilling {
                    let t0 = Instant::now();
                    let mut out = Vec::new();
                    self.core.tick(now_ms(), &mut out);
                    self.metrics.evaluation.observe(t0.elapsed().as_secs_f64());
                    // What the clock decided follows from inputs maybe not yet synced.
                    self.pending.next.out.append(&mut out);
                }
                // Sampled on the clock, not per batch: `/metrics` readers see them at most a
                // tick old, and ingest does not pay for counting alerts.
                self.gauges();
                next_tick = Instant::now() + self.tick;
            }
            // Starts the sync for this turn's writes, unless one is under way.
            self.pump(false);
            self.checkpointed(false);
            // One still being written (a large state on a slow disk) is not waited for: the
            // next starts once it is done.
            if Instant::now() >= next_checkpoint && self.pending.checkpoint.is_none() {
                // A failure is logged; the next is tried on the timer.
                let _ = self.start_checkpoint(Vec::new());
                next_checkpoint = Instant::now() + self.checkpoint_every;
            }
        }
    }

    /// The next request, waiting up to `wait`; `None` when the wait ended first or the sync
    /// under way finished (its answers are due). `Err` once every sender is gone.
    fn next_cmd(&self, rx: &Receiver<Cmd>, wait: Duration) -> Result<Option<Cmd>, ()> {
        let got = match self.wal.as_ref().and_then(Wal::syncing) {
            None => rx.recv_timeout(wait),
            Some(done) => {
                let mut sel = crossbeam_channel::Select::new();
                let cmd = sel.recv(rx);
                sel.recv(done);
                match sel.ready_timeout(wait) {
                    Ok(i) if i == cmd => rx.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    }),
                    _ => Err(RecvTimeoutError::Timeout),
                }
            }
        };
        match got {
            Ok(c) => Ok(Some(c)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }

    /// Lets held answers and transitions go as syncs cover them: takes the sync under way if
    /// it is done (with `wait`, waits for it), then starts one for the turns written since.
    /// The answers go from the syncing thread as soon as their sync is done (this thread may
    /// be applying a large request by then); transitions go from here, in order. A group that
    /// wrote nothing needs no sync of its own, only those before it.
    fn pump(&mut self, wait: bool) {
        loop {
            if let Some(wal) = &mut self.wal
                && let Some(done) = wal.syncing()
            {
                if !wait && done.is_empty() {
                    return;
                }
                let _ = wal.finish_sync();
                let g = std::mem::take(&mut self.pending.syncing);
                self.release(g);
            }
            if self.pending.next.is_empty() {
                return;
            }
            let mut g = std::mem::take(&mut self.pending.next);
            let answers = std::mem::take(&mut g.answers);
            let metrics = self.metrics.clone();
            let answer = move |r: &std::io::Result<()>| {
                let synced = match r {
                    Ok(()) => Ok(()),
                    Err(e) => Err(format!("write-ahead log: {e}")),
                };
                for a in answers {
                    a.send(&synced, &metrics);
                }
            };
            match &mut self.wal {
                Some(wal) if g.wrote => {
                    // Answered by `answer` in any case, here when the sync failed to start.
                    let _ = wal.start_sync(Box::new(answer));
                }
                _ => answer(&Ok(())),
            }
            if self.wal.as_ref().is_some_and(|w| w.syncing().is_some()) {
                self.pending.syncing = g;
                if !wait {
                    return;
                }
            } else {
                self.release(g);
            }
        }
    }

    /// A query's answer, computed in its place in the turn, held with the turn's answers
    /// (so it shows nothing whose input is not yet on disk).
    fn answer_query<T: Send + 'static>(&mut self, reply: oneshot::Sender<T>, v: T) {
        let send = move || {
            let _ = reply.send(v);
        };
        self.pending
            .next
            .answers
            .push(Answer::Other(Box::new(send)));
    }

    /// Sends a synced group's transitions (its answers are gone already).
    fn release(&mut self, g: Group) {
        if self.wal.as_ref().is_some_and(|w| w.broken().is_some()) {
            // `/readyz` and `/metrics` say so from now on.
            self.metrics.wal_broken.set(1);
        }
        let mut out = g.out;
        self.emit(&mut out);
    }

    /// One turn's requests. Each input is written to the log, then applied, which decides
    /// every rule on it; one sync covers the turn; only then do answers and transitions leave
    /// the thread. So a decision does not wait for the disk, and nothing it caused (an answer,
    /// a notification, a query showing its alert) is seen before its input is durable. True
    /// when the daemon is to stop.
    fn turn(&mut self, turn: Vec<Cmd>) -> bool {
        let now = now_ms();
        let (logged, wrote) = self.write(&turn, now);
        // Answers and transitions are held in the next sync's group as they are made.
        self.pending.next.wrote |= wrote;
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
                        let a = self.core.apply_records(
                            now,
                            &mut records,
                            follow,
                            &mut self.pending.next.out,
                        );
                        self.metrics.evaluation.observe(t0.elapsed().as_secs_f64());
                        self.metrics
                            .decision
                            .observe(arrived.elapsed().as_secs_f64());
                        a
                    });
                    self.pending
                        .next
                        .answers
                        .push(Answer::Ingest(reply, r, arrived));
                }
                Cmd::Ack { id, ack, reply } => {
                    let r = logged.map(|()| self.core.ack(&id, ack));
                    self.pending.next.answers.push(Answer::Ack(reply, r));
                }
                Cmd::Alerts { reply } => {
                    let v = self.core.alerts();
                    self.answer_query(reply, v);
                }
                Cmd::Rules { reply } => {
                    let v = self.rules();
                    self.answer_query(reply, v);
                }
                Cmd::History { rule, since, reply } => {
                    let v = self.core.chart(&rule, since);
                    self.answer_query(reply, v);
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
                        self.core.backfill(&lines, &mut self.pending.next.out);
                        self.metrics.evaluation.observe(t0.elapsed().as_secs_f64());
                    }
                }
                Cmd::Clock { reply } => {
                    let v = self.core.clock;
                    self.answer_query(reply, v);
                }
                Cmd::Series { reply } => {
                    let v = self.core.engine().series_now();
                    self.answer_query(reply, v);
                }
                // Last in the turn, after everything logged with it is applied.
                Cmd::Shutdown { reply } => stop = Some(reply),
            }
        }
        if stop.is_none() && swapped.is_empty() {
            return false;
        }
        // A checkpoint (which settles what is held first) after everything logged in the turn
        // is applied.
        if let Some(reply) = stop {
            self.pump(true);
            let mut out = Vec::new();
            self.core.tick(now, &mut out);
            self.emit(&mut out);
            let r = self.checkpoint();
            for s in swapped {
                let _ = s.send(r.clone());
            }
            let _ = reply.send(r);
            return true;
        }
        // Answered once the checkpoint is on disk; the engine goes on meanwhile.
        let _ = self.start_checkpoint(swapped);
        false
    }

    /// Writes the turn's inputs to the log (not yet synced): each command's result (`Ok` for
    /// those that log nothing), and whether anything was written. A request the log refuses
    /// (a full disk) fails alone: the entries written before and after it are applied, synced
    /// and answered, so the log and the engine keep the same inputs, and no client that was
    /// refused finds its input replayed after a restart. (After a failed sync, the inputs
    /// written since are refused although applied: they are in the file, and a restart
    /// replays them too.)
    fn write(&mut self, turn: &[Cmd], now: i64) -> (Vec<Result<(), String>>, bool) {
        let mut results = vec![Ok(()); turn.len()];
        let mut wrote = false;
        let Some(wal) = &mut self.wal else {
            return (results, wrote);
        };
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
                Ok(_) => wrote = true,
                Err(e) => results[i] = Err(format!("write-ahead log: {e}")),
            }
        }
        if wal.broken().is_some() {
            self.metrics.wal_broken.set(1);
        }
        (results, wrote)
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
        let truncated = self.core.engine().store.truncated;
        for (name, v) in [
            ("samples", c.samples),
            ("samples_stored", c.stored),
            ("samples_unread", c.unread),
            ("samples_truncated", truncated),
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
        // What the limits refused, by rule: metric rules' series, event rules' new keys.
        let mut refused: std::collections::HashMap<String, String> = Default::default();
        let mut series: std::collections::HashMap<String, u64> = Default::default();
        for (rule, n) in engine.refusals() {
            *series.entry(rule).or_default() += n;
        }
        for (rule, n) in series {
            let why = format!("{n} series refused by the series limit (limits.max_series)");
            refused.insert(rule, why);
        }
        for (rule, n) in engine.events.refusals() {
            let why = format!("{n} events of new keys refused by the key limit (limits.max_keys)");
            refused.insert(rule, why);
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
                let last_error = refused.remove(&r.id);
                let metric = r.kind == vigil_compiler::ir::meta::RuleKind::Metric;
                let evaluated = metric && stat.at.is_some();
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
                    evaluation_seconds: evaluated.then_some(stat.nanos as f64 / 1e9),
                    evaluation_seconds_total: evaluated.then_some(stat.total_nanos as f64 / 1e9),
                    count: stat.count,
                    rows: metric.then_some(stat.rows),
                    hits: metric.then_some(stat.hits),
                }
            })
            .collect()
    }

    /// Writes a checkpoint and waits for it (on shutdown, and when the server is gone).
    pub fn checkpoint(&mut self) -> Result<(), String> {
        self.start_checkpoint(Vec::new())?;
        self.checkpointed(true).unwrap_or(Ok(()))
    }

    /// Starts a checkpoint covering every entry logged so far: each was applied in the turn
    /// that logged it, and is synced and answered first. The copy of the state is taken here;
    /// a thread writes it, and [`Worker::checkpointed`] then deletes the log segments before
    /// the one it points into. The segment is not ended: a checkpoint a minute would otherwise
    /// start (and prepare) a segment a minute however little was logged. One at a time: a
    /// checkpoint still being written is finished first. `Err` (logged, and sent to
    /// `replies`) when no thread could be started to write it.
    fn start_checkpoint(
        &mut self,
        replies: Vec<oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), String> {
        self.checkpointed(true);
        self.pump(true);
        let pos = self.wal.as_ref().map(Wal::position).unwrap_or_default();
        let cp = Checkpoint::new(
            pos,
            self.core.clock,
            self.core.snapshot(),
            self.core.acks.clone(),
        );
        let dir = self.data_dir.clone();
        let (tell, done) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("vigil-checkpoint".into())
            .spawn(move || {
                let r = checkpoint::write(&dir, &cp)
                    .map(drop)
                    .map_err(|e| format!("checkpoint: {e}"));
                drop(cp);
                let _ = tell.send(r);
            });
        if let Err(e) = spawned {
            // The next one is tried on the timer.
            let why = format!("checkpoint: no thread to write it ({e})");
            crate::log::error(&why);
            for s in replies {
                let _ = s.send(Err(why.clone()));
            }
            return Err(why);
        }
        self.pending.checkpoint = Some(Writing { pos, done, replies });
        Ok(())
    }

    /// Finishes the checkpoint being written, if it is done (with `wait`, once it is): the
    /// log before it is deleted and the reloads waiting for it answered. Its result, if one
    /// was finished.
    fn checkpointed(&mut self, wait: bool) -> Option<Result<(), String>> {
        let w = self.pending.checkpoint.as_ref()?;
        let stopped = || Err("checkpoint: its writing thread stopped".to_string());
        let r = if wait {
            w.done.recv().unwrap_or_else(|_| stopped())
        } else {
            match w.done.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => stopped(),
            }
        };
        let w = self.pending.checkpoint.take()?;
        let r = r.and_then(|()| {
            self.metrics.checkpoints.inc();
            match &mut self.wal {
                Some(log) => {
                    let dropped = log
                        .drop_before(w.pos)
                        .map_err(|e| format!("write-ahead log: {e}"));
                    self.metrics.wal_bytes.set(log.bytes());
                    dropped
                }
                None => Ok(()),
            }
        });
        if let Err(e) = &r {
            crate::log::error(&format!("checkpoint failed: {e}"));
        }
        self.gauges();
        for s in w.replies {
            let _ = s.send(r.clone());
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{self, Pos, Settings};
    use std::collections::VecDeque;

    fn rules() -> Arc<RuleSet> {
        let src =
            "package t\nrule r {\n  when count() over 10s >= 1\n  on event where event.x == 1\n}\n";
        let checked = vigil_compiler::check_source("t.rules", src, None);
        assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
        Arc::new(RuleSet::from_checked(&checked, vigil_compiler::eval::Engine::Interp).unwrap())
    }

    fn worker(dir: &std::path::Path) -> Worker {
        let settings = Settings {
            segment_bytes: 1 << 20,
            sync: true,
            preallocate: false,
        };
        let (log, _) = Wal::open(&dir.join("wal"), Pos::default(), settings, &mut |_| {}).unwrap();
        Worker {
            core: Core::new(rules(), Config::default()).unwrap(),
            wal: Some(log),
            data_dir: dir.to_path_buf(),
            config_for: Box::new(|_| Config::default()),
            tick: Duration::from_secs(1),
            checkpoint_every: Duration::from_secs(3600),
            metrics: Arc::new(Metrics::new()),
            sink: Box::new(|_| {}),
            backfilling: false,
            pending: Pending::default(),
        }
    }

    fn ingest(text: String) -> (Cmd, oneshot::Receiver<Result<Applied, String>>) {
        let (reply, rx) = oneshot::channel();
        let records = vigil_ingest::parse_line(&text, vigil_ingest::Format::Auto)
            .map(VecDeque::from)
            .unwrap_or_default();
        let cmd = Cmd::Ingest {
            log: Body::Lines(text),
            records,
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
            w.turn(vec![cmd]);
            w.checkpoint().unwrap();
        }
        let (cmd, _rx) = ingest("c".into());
        w.turn(vec![cmd]);
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
        assert!(!w.turn(vec![a, b, c]));
        w.pump(true);
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

    /// The engine decides on a turn's inputs before the log's sync. Their answers, and the
    /// answers to queries after them, leave from the syncing thread once a sync started after
    /// they were written is done; the transitions they cause leave from the engine's thread
    /// after that.
    #[test]
    fn answers_and_transitions_wait_for_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = worker(dir.path());
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = sent.clone();
        w.sink = Box::new(move |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let transitions = || sent.load(std::sync::atomic::Ordering::Relaxed);
        let (a, mut ra) = ingest(r#"{"ts":1000,"event":{"x":1}}"#.into());
        let (reply, mut alerts) = oneshot::channel();
        assert!(!w.turn(vec![a, Cmd::Alerts { reply }]));
        // Decided (the engine holds the alert), and nothing has left: no sync has started.
        assert_eq!(w.core.alerts().len(), 1);
        assert!(ra.try_recv().is_err() && alerts.try_recv().is_err());
        assert_eq!(transitions(), 0);
        w.pump(false);
        assert!(w.wal.as_ref().unwrap().syncing().is_some());
        assert_eq!(transitions(), 0);
        // The syncing thread answers without this one.
        assert!(matches!(ra.blocking_recv(), Ok(Ok(_))));
        assert_eq!(alerts.blocking_recv().unwrap().len(), 1);
        assert_eq!(transitions(), 0);
        // A later turn is answered once its own sync is done.
        let (b, mut rb) = ingest(r#"{"ts":1001,"event":{"x":2}}"#.into());
        assert!(!w.turn(vec![b]));
        assert!(rb.try_recv().is_err());
        w.pump(true);
        assert!(matches!(rb.try_recv(), Ok(Ok(_))));
        assert_eq!(transitions(), 1);
    }

    /// A reload's checkpoint is written on a thread: the engine's thread goes on, and the
    /// reload is answered once the checkpoint is on disk and the log before it deleted.
    #[test]
    fn a_reload_is_answered_once_its_checkpoint_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = worker(dir.path());
        let (a, _ra) = ingest(r#"{"ts":1000,"event":{"x":1}}"#.into());
        assert!(!w.turn(vec![a]));
        let (reply, mut reloaded) = oneshot::channel();
        assert!(!w.turn(vec![Cmd::Swap {
            rules: rules(),
            reply
        }]));
        assert!(reloaded.try_recv().is_err());
        assert!(w.pending.checkpoint.is_some());
        // The engine takes requests while the checkpoint is written.
        let (b, mut rb) = ingest(r#"{"ts":1001,"event":{"x":1}}"#.into());
        assert!(!w.turn(vec![b]));
        w.pump(true);
        assert!(matches!(rb.try_recv(), Ok(Ok(_))));
        assert_eq!(w.checkpointed(true), Some(Ok(())));
        assert_eq!(reloaded.try_recv().unwrap(), Ok(()));
        let cp = crate::checkpoint::read(dir.path()).unwrap().unwrap();
        assert!(cp.wal.offset > 0);
        // The alert the first event raised is in the checkpoint; the second came after it.
        assert_eq!(cp.snapshot.events.rules[0].keys.len(), 1);
        assert_eq!(w.core.alerts().len(), 1);
    }
}
