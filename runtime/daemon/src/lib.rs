//! `vigil run`: the daemon. Inputs arrive over HTTP, are checked at the edge, logged to disk
//! (write-ahead log, group commit) and applied to the one engine that `vigil replay` and
//! `vigil test` run, on its own thread, moved by the wall clock; the state is checkpointed
//! and restored on restart. IO lives here; the engine and the core stay pure data moved by
//! the clock they are given.
//!
//! Stages: `config` (vigil.toml) -> `api` (HTTP: `body` decoding, line checks, auth) ->
//! `worker` (queue, `wal`, `core`, `checkpoint`) -> sink (`console`) and `routing` (groups,
//! silences, the outbox, notifiers; `alertmanager` serves its API).

#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod api;
pub mod audit;
pub mod body;
pub mod checkpoint;
pub mod config;
pub mod console;
pub mod core;
pub mod demo;
pub mod files;
pub mod history;
pub mod host;
pub mod log;
pub mod metrics;
pub mod playbooks;
pub mod routing;
pub mod scrape;
pub mod syslog;
pub mod wal;
pub mod watch;
pub mod worker;

pub use api::Loader;
pub use config::Config;
pub use worker::Sink;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_compiler::eval::RuleSet;

/// Why the daemon could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("the rules do not load:\n{0}")]
    Rules(String),
    #[error("data directory {path}: {why}")]
    DataDir { path: String, why: String },
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: String, why: String },
    #[error("{0}")]
    State(String),
}

/// The engine's settings for a rule set under this configuration.
fn engine_config(
    times: &config::Times,
    limits: &config::Limits,
    rules: &RuleSet,
) -> vigil_engine::Config {
    vigil_engine::Config {
        interval: times.interval.unwrap_or_else(|| {
            rules
                .ir()
                .interval
                .map_or(15_000, |s| (s * 1000.0).round() as i64)
        }),
        lateness: times.lateness,
        max_series: limits.max_series,
        max_keys: limits.max_keys,
    }
}

/// Runs the daemon until SIGTERM or Ctrl-C: recovers the state in the data directory, binds,
/// prints `listening on http://ADDR` as its first line on stdout, serves, and on the way out
/// drains, checkpoints and returns.
pub fn run(config: Config, loader: Loader, sink: Sink) -> Result<(), DaemonError> {
    let times = config.times()?;
    match config.log_format.as_str() {
        "human" => log::init(false),
        "json" => log::init(true),
        f => {
            return Err(DaemonError::State(format!(
                "log_format `{f}`: human or json"
            )));
        }
    }
    let rules = Arc::new(loader().map_err(DaemonError::Rules)?);
    let data_dir = config.data_dir.clone();
    let dir_err = |why: String| DaemonError::DataDir {
        path: data_dir.display().to_string(),
        why,
    };
    std::fs::create_dir_all(&data_dir).map_err(|e| dir_err(e.to_string()))?;
    let lock = std::fs::File::create(data_dir.join("LOCK")).map_err(|e| dir_err(e.to_string()))?;
    lock.try_lock()
        .map_err(|_| dir_err("another vigil daemon is using it".into()))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // The rule loader runs on its blocking threads: a main thread's stack, as `vigil
        // check` has, for rules nested up to the checker's limit.
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::State(format!("cannot start the runtime: {e}")))?;
    // Routing's delivery tasks are spawned on this runtime.
    let _entered = rt.enter();
    let metrics = Arc::new(metrics::Metrics::new());
    let audit = if config.audit.enabled {
        Some(Arc::new(
            audit::Audit::open(&data_dir, &config.audit).map_err(DaemonError::State)?,
        ))
    } else {
        None
    };
    // What the rules say about notifying and responding, shared by routing and playbooks.
    let notify_rules = Arc::new(rules.ir().routing.clone());
    let routing = {
        let m = metrics.clone();
        let audit = audit.clone();
        let on_result: vigil_notify::OnResult = Arc::new(move |r: &vigil_notify::Record| {
            let (notifier, why) = (&r.notifier, r.error.as_deref());
            m.notifications
                .get_or_create(&vec![
                    ("notifier", notifier.to_string()),
                    ("result", r.result.to_string()),
                ])
                .inc();
            match (r.result, why) {
                ("failed", Some(why)) => log::error(&format!(
                    "notification to `{notifier}` failed for good (a dead letter): {why}"
                )),
                ("retrying", Some(why)) => log::info(&format!(
                    "notification to `{notifier}` will be retried: {why}"
                )),
                _ => {}
            }
            if let Some(a) = &audit {
                a.record(
                    worker::now_ms(),
                    "notification",
                    serde_json::to_value(r).unwrap_or_default(),
                );
            }
        });
        let console: vigil_notify::ConsoleFn = Arc::new(|text: &str| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // The console text escapes outside text itself (a label cannot add a line).
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        });
        Arc::new(
            routing::Routing::open(
                &data_dir,
                notify_rules.clone(),
                &config.notify,
                on_result,
                console,
            )
            .map_err(DaemonError::State)?,
        )
    };
    let ecfg = engine_config(&times, &config.limits, &rules);
    let mut core = core::Core::new(rules.clone(), ecfg.clone()).map_err(DaemonError::Rules)?;
    core.keep_history(history::History::new(
        times.history_keep,
        config.history.series_per_rule,
    ));
    let started = std::time::Instant::now();
    core.set_stopwatch(Arc::new(move || started.elapsed().as_nanos() as u64));
    let cp = checkpoint::read(&data_dir).map_err(DaemonError::State)?;
    let from = match cp {
        Some(cp) => {
            core.restore(cp.snapshot, cp.clock);
            core.acks = cp.acks;
            cp.wal
        }
        None => wal::Pos::default(),
    };
    let wal = if config.wal.enabled {
        let mut sink_out = Vec::new();
        // Whether the log was in the middle of a backfill (the wall clock waited).
        let mut backfilling = false;
        let (w, rec) = wal::Wal::open(
            &data_dir.join("wal"),
            from,
            wal::Settings {
                segment_bytes: config.wal.segment_bytes,
                sync: config.wal.sync,
                preallocate: config.wal.preallocate,
            },
            &mut |e| {
                // Transitions of replayed input were emitted before the restart.
                match e.body {
                    wal::Body::Lines(text) => {
                        core.apply(e.now, &text, !backfilling, &mut sink_out);
                    }
                    wal::Body::Records(bytes) => {
                        let mut recs = std::collections::VecDeque::new();
                        match vigil_ingest::binary::decode_packed(&bytes, &mut recs) {
                            Ok(()) => {
                                core.apply_records(e.now, &mut recs, !backfilling, &mut sink_out);
                            }
                            // The entry's checksum held: this is a bug, not damage. Reported;
                            // what could be read is applied.
                            Err(why) => {
                                log::error(&format!("write-ahead log entry not readable: {why}"));
                                core.apply_records(e.now, &mut recs, !backfilling, &mut sink_out);
                            }
                        }
                    }
                    wal::Body::Backfill(text) => {
                        backfilling = !text.is_empty();
                        core.backfill(&text, &mut sink_out);
                    }
                    wal::Body::Ack(json) => {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&json)
                            && let (Some(id), Ok(ack)) = (
                                v["id"].as_str(),
                                serde_json::from_value::<core::Ack>(v["ack"].clone()),
                            )
                        {
                            core.ack(id, ack);
                        }
                    }
                }
                sink_out.clear();
            },
        )
        .map_err(|e| dir_err(format!("write-ahead log: {e}")))?;
        if rec.entries > 0 {
            log::info(&format!("recovered {} log entries", rec.entries));
        }
        for (seg, off, why) in &rec.cuts {
            log::error(&format!(
                "write-ahead log segment {seg} was damaged at byte {off} ({why}); cut off there"
            ));
        }
        metrics.wal_bytes.set(w.bytes());
        Some(w)
    } else {
        None
    };

    // Changes between routing's last save and a crash were not routed: the engine's firing
    // alerts, as recovered, are the truth.
    routing.reconcile(
        core.engine()
            .alerts()
            .into_iter()
            .filter(|a| a.state == vigil_vocab::AlertState::Firing)
            .map(|a| vigil_vocab::Transition {
                ts: a.fired_at.or(a.active_at).unwrap_or_else(worker::now_ms),
                rule: a.rule,
                severity: a.severity,
                labels: a.labels.into(),
                state: a.state,
                value: a.value,
                flapping: false,
                event: None,
            })
            .collect(),
    );
    let playbooks = Arc::new(
        playbooks::Playbooks::open(
            &data_dir,
            notify_rules,
            routing.delivery.clone(),
            audit.clone(),
            config.playbooks.allow_shell.clone(),
            core.acks.keys().cloned().collect(),
        )
        .map_err(DaemonError::State)?,
    );
    let (sink, console) = console::spawn(sink, metrics.clone());
    let sink: Sink = {
        let routing = routing.clone();
        let playbooks = playbooks.clone();
        let audit = audit.clone();
        let mut sink = sink;
        Box::new(move |t| {
            sink(t);
            if let Some(a) = &audit {
                a.record(
                    t.ts,
                    "alert",
                    serde_json::json!({
                        "rule": &*t.rule,
                        "state": t.state,
                        "severity": t.severity,
                        "labels": t.labels,
                        "value": if t.value.is_finite() { Some(t.value) } else { None },
                    }),
                );
            }
            routing.transition(t);
            playbooks.transition(t);
        })
    };
    let (tx, rx) = crossbeam_channel::bounded(config.limits.queue.max(1));
    let worker = worker::Worker {
        core,
        wal,
        data_dir: data_dir.clone(),
        config_for: {
            let limits = config.limits.clone();
            Box::new(move |r: &RuleSet| engine_config(&times, &limits, r))
        },
        tick: Duration::from_millis(times.tick as u64),
        checkpoint_every: Duration::from_millis(times.checkpoint_every as u64),
        metrics: metrics.clone(),
        sink,
        backfilling: config.demo.is_some(),
        pending: Default::default(),
    };
    // The engine and routing start once `listening on` is printed: it is stdout's first line.
    let (go, started) = std::sync::mpsc::channel::<()>();
    let engine_thread = std::thread::Builder::new()
        .name("vigil-engine".into())
        .spawn(move || {
            // A failed start drops the sender: run anyway, to take the shutdown.
            let _ = started.recv();
            worker.run(rx)
        })
        .map_err(|e| DaemonError::State(format!("cannot start the engine thread: {e}")))?;

    if let Some(demo) = &config.demo {
        let lines = demo::load(&demo.files).map_err(DaemonError::State)?;
        let (tx, speed) = (tx.clone(), demo.speed);
        log::info(&format!(
            "demo: playing {} recorded lines {speed}x faster than recorded",
            lines.len()
        ));
        std::thread::Builder::new()
            .name("vigil-demo".into())
            .spawn(move || demo::play(lines, speed, tx))
            .map_err(|e| DaemonError::State(format!("cannot start the demo: {e}")))?;
    }
    let token = |var: &str| std::env::var(var).ok().filter(|t| !t.is_empty());
    let state = Arc::new(api::AppState {
        tx,
        times,
        metrics,
        api_token: token(&config.api.token_env),
        ingest_token: token(&config.api.ingest_token_env),
        loader,
        reload: Mutex::new(api::ReloadStatus {
            ok: true,
            ..Default::default()
        }),
        ready: AtomicBool::new(true),
        rates: api::Rates::default(),
        running: Mutex::new(rules.clone()),
        reloaded: tokio::sync::Notify::new(),
        reloading: tokio::sync::Mutex::new(()),
        list_reads: Mutex::default(),
        routing: routing.clone(),
        playbooks: playbooks.clone(),
        audit: audit.clone(),
        started_at: worker::now_ms(),
        config,
    });
    let start = {
        let routing = routing.clone();
        let audit = audit.clone();
        let playbooks = playbooks.clone();
        move || {
            let _ = go.send(());
            tokio::spawn(routing.run());
            playbooks.resume();
            if let Some(a) = audit {
                tokio::spawn(a.run());
            }
        }
    };
    let served = rt.block_on(serve(state.clone(), start));
    // Ask the engine to checkpoint and stop, then wait for it.
    let (reply, done) = tokio::sync::oneshot::channel();
    let stopped = match state.tx.send(worker::Cmd::Shutdown { reply }) {
        Ok(()) => rt.block_on(done).unwrap_or(Ok(())),
        Err(_) => Ok(()),
    };
    drop(state);
    let _ = engine_thread.join();
    console.finish(Duration::from_secs(2));
    // After the engine's last changes.
    routing.save();
    if let Some(a) = &audit {
        a.checkpoint(worker::now_ms());
    }
    served?;
    stopped.map_err(DaemonError::State)?;
    log::info("stopped");
    Ok(())
}

async fn serve(state: Arc<api::AppState>, start: impl FnOnce()) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    // Handlers first: a signal from here on stops the daemon cleanly, never by default action.
    let sig = |k: SignalKind| {
        signal(k).map_err(|e| DaemonError::State(format!("cannot handle signals: {e}")))
    };
    let (term, int, mut hup) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::hangup())?,
    );
    let addr = state.config.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| DaemonError::Listen {
            addr: addr.clone(),
            why: e.to_string(),
        })?;
    let local = listener.local_addr().map_err(|e| DaemonError::Listen {
        addr: addr.clone(),
        why: e.to_string(),
    })?;
    scrape::start(&state, &state.config.scrape).map_err(DaemonError::State)?;
    syslog::start(&state, &state.config.syslog)
        .await
        .map_err(DaemonError::State)?;
    host::start(&state, &state.config.host, &state.config.probe).map_err(DaemonError::State)?;
    files::start(&state, &state.config.file, &state.config.data_dir).map_err(DaemonError::State)?;
    if state.config.stdin {
        files::stdin(state.clone(), tokio::runtime::Handle::current());
    }
    // Dropped when serving ends, and the watching with it.
    let _watcher = watch::start(&state).map_err(DaemonError::State)?;
    let reload = state.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = api::reload_rules(&reload).await;
        }
    });
    // Everything is up: the first line says where (tests and scripts wait for it).
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}");
        let _ = out.flush();
    }
    start();
    let app = api::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal(term, int))
        .await
        .map_err(|e| DaemonError::State(format!("server: {e}")))
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal(mut term: tokio::signal::unix::Signal, mut int: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    log::info("stopping: draining requests, then a checkpoint");
}
