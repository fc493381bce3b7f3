//! The daemon's side of routing: the pure core (`vigil-alerting`) fed with the engine's
//! changes and alerts posted to the Alertmanager API, moved by the wall clock, its state
//! saved in `routing.json` (silences at once, the rest at most every few seconds); what it
//! decides to send goes to the outbox and the notifiers (`vigil-notify`).

use crate::checkpoint::write_atomic;
use crate::config::NotifyConfig;
use crate::worker::now_ms;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_alerting::{Alert, Alerting, Notification, Settings};
use vigil_notify::{Backoff, Delivery, Entry, Outbox, Policy, Sender};
use vigil_vocab::Transition;

/// How often the state is saved at most when only alerts changed.
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How long the loop sleeps at most (silence reminders, posted alerts' timeouts).
const MAX_SLEEP: Duration = Duration::from_millis(500);

pub struct Routing {
    core: Mutex<Alerting>,
    pub delivery: Delivery,
    state_file: PathBuf,
    dirty: AtomicBool,
    wake: tokio::sync::Notify,
    /// Notifications the outbox could not take yet (retried at the next tick).
    pending: Mutex<Vec<Entry>>,
    /// Notifications accepted before a restart, delivered once [`Routing::run`] starts (after
    /// `listening on`: a console notifier writes to stdout).
    waiting: Mutex<Vec<Entry>>,
}

/// Builds the notifier settings from `[notify]`.
pub struct Parts {
    pub settings: Settings,
    pub backoff: Backoff,
    pub policy: Policy,
}

impl Parts {
    pub fn of(c: &NotifyConfig) -> Result<Parts, String> {
        let d = |key: &str, v: &str| {
            vigil_vocab::duration::parse_ms(v.trim())
                .ok_or_else(|| format!("notify.{key} = `{v}` is not a duration"))
        };
        Ok(Parts {
            settings: Settings {
                resolve_timeout: d("resolve_timeout", &c.resolve_timeout)?,
                remind_before: d("silence_remind_before", &c.silence_remind_before)?,
                forgotten_after: d("silence_forgotten_after", &c.silence_forgotten_after)?,
            },
            backoff: Backoff {
                base: Duration::from_millis(d("backoff_base", &c.backoff_base)? as u64),
                cap: Duration::from_millis(d("backoff_cap", &c.backoff_cap)? as u64),
                attempts: c.attempts.max(1),
            },
            policy: Policy {
                allow_loopback: c.allow_loopback,
                allow_private: c.allow_private,
                allow_link_local: c.allow_link_local,
            },
        })
    }
}

impl Routing {
    /// Opens the saved state and the outbox in `data_dir` (notifications still in the outbox
    /// are delivered once [`Routing::run`] starts).
    pub fn open(
        data_dir: &Path,
        rules: Arc<vigil_vocab::notify::Routing>,
        config: &NotifyConfig,
        on_result: vigil_notify::OnResult,
        console: vigil_notify::ConsoleFn,
    ) -> Result<Routing, String> {
        let parts = Parts::of(config)?;
        let mut core = Alerting::new(rules.clone(), parts.settings);
        let state_file = data_dir.join("routing.json");
        match std::fs::read(&state_file) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(state) => core.restore(state, now_ms()),
                Err(e) => {
                    // Kept for a person to look at; routing starts empty rather than not at all.
                    let aside = state_file.with_extension("json.unreadable");
                    let _ = std::fs::rename(&state_file, &aside);
                    crate::log::error(&format!(
                        "routing state not readable ({e}); moved to {}",
                        aside.display()
                    ));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", state_file.display())),
        }
        let (outbox, waiting) =
            Outbox::open(&data_dir.join("outbox")).map_err(|e| format!("outbox: {e}"))?;
        let secret: vigil_notify::SecretFn =
            Arc::new(|name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()));
        let sender = Sender::new(parts.policy, config.external_url.clone(), secret, console)?;
        let delivery = Delivery::new(
            sender,
            outbox,
            rules.notifiers.clone(),
            parts.backoff,
            config.concurrency.max(1),
            on_result,
            Arc::new(now_ms),
        );
        if !waiting.is_empty() {
            crate::log::info(&format!(
                "delivering {} notifications accepted before the restart",
                waiting.len()
            ));
        }
        Ok(Routing {
            core: Mutex::new(core),
            delivery,
            state_file,
            dirty: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            pending: Mutex::new(Vec::new()),
            waiting: Mutex::new(waiting),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Alerting) -> T) -> T {
        let mut g = self.core.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// An engine change.
    pub fn transition(&self, t: &Transition) {
        self.with(|c| c.transition(t, now_ms()));
        self.dirty.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The engine's firing alerts after a restart.
    pub fn reconcile(&self, firing: Vec<Transition>) {
        let now = now_ms();
        self.with(|c| {
            let alerts = firing
                .iter()
                .filter_map(|t| Alert::of_transition(t, c.routing().rules.get(&*t.rule)))
                .collect();
            c.reconcile(alerts, now)
        });
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Alerts posted to `/api/v2/alerts`.
    pub fn post(&self, alerts: Vec<Alert>) {
        let now = now_ms();
        self.with(|c| {
            for a in alerts {
                c.post(a, now);
            }
        });
        self.dirty.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// New rules: routes, notifiers, inhibitions.
    pub fn set_rules(&self, rules: Arc<vigil_vocab::notify::Routing>) {
        self.delivery.set_plans(rules.notifiers.clone());
        self.with(|c| c.set_routing(rules, now_ms()));
        self.dirty.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Reads the core (the API's answers).
    pub fn read<T>(&self, f: impl FnOnce(&Alerting) -> T) -> T {
        self.with(|c| f(c))
    }

    /// A change the caller must not lose (a silence): saved before this returns.
    pub fn change<T>(&self, f: impl FnOnce(&mut Alerting) -> T) -> Result<T, String> {
        let (out, state) = self.with(|c| {
            let out = f(c);
            (out, serde_json::to_vec(c.state()))
        });
        let state = state.map_err(|e| e.to_string())?;
        write_atomic(&self.state_file, &state).map_err(|e| format!("saving routing state: {e}"))?;
        self.wake.notify_one();
        Ok(out)
    }

    /// Moves the clock: due groups flush into the outbox; the state is saved now and then.
    pub async fn run(self: Arc<Self>) {
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()));
        for e in waiting {
            self.delivery.start(e);
        }
        let mut saved = std::time::Instant::now();
        loop {
            let now = now_ms();
            let (sent, due) = self.with(|c| (c.tick(now), c.next_due()));
            if !sent.is_empty() {
                self.submit(sent);
                // What the log says was sent is saved right after the outbox took it: a crash
                // between the two sends those notifications once more, never loses one.
                self.save();
                saved = std::time::Instant::now();
            }
            if self.dirty.load(Ordering::Relaxed) && saved.elapsed() >= SAVE_EVERY {
                self.save();
                saved = std::time::Instant::now();
            }
            let sleep = due
                .map(|d| {
                    Duration::from_millis(
                        (d - now_ms()).clamp(0, MAX_SLEEP.as_millis() as i64) as u64
                    )
                })
                .unwrap_or(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {
                    // Changes that arrive together are routed together.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    /// Saves the state now (shutdown, and from the loop).
    pub fn save(&self) {
        let state = self.with(|c| serde_json::to_vec(c.state()));
        self.dirty.store(false, Ordering::Relaxed);
        match state
            .map_err(std::io::Error::other)
            .and_then(|s| write_atomic(&self.state_file, &s))
        {
            Ok(()) => {}
            Err(e) => crate::log::error(&format!("saving routing state: {e}")),
        }
    }

    fn submit(&self, sent: Vec<Notification>) {
        let now = now_ms();
        let mut retry = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let earlier = std::mem::take(&mut *retry);
        for e in earlier.into_iter().chain(sent.into_iter().map(|n| Entry {
            until: n.ts + n.renew_within,
            notification: n,
            accepted_at: now,
            attempts: 0,
            last_error: None,
            failed_at: None,
        })) {
            if let Err(err) = self.delivery.submit(e.clone()) {
                // Not on disk: kept in memory and tried again at the next tick.
                crate::log::error(&format!("outbox: {err}; the notification waits in memory"));
                retry.push(e);
            }
        }
    }
}
