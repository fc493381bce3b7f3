//! Notifiers: what routing decided to send, delivered. `payload` renders each kind without
//! IO; `send` makes one attempt (reqwest with rustls, lettre for SMTP) and says what came of
//! it; `destination` refuses addresses the configuration does not allow; `outbox` keeps
//! every notification on disk until delivered; [`Delivery`] retries with capped exponential
//! backoff and jitter, honours `Retry-After`, and moves what fails for good to the dead
//! letters.

#![forbid(unsafe_code)]

pub mod destination;
pub mod outbox;
pub mod payload;
pub mod send;

pub use destination::Policy;
pub use outbox::{Entry, Outbox};
pub use send::{ConsoleFn, Outcome, SecretFn, Sender};

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use vigil_vocab::notify::NotifierPlan;

/// Retry timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first retry's delay (before jitter).
    pub base: Duration,
    /// No delay is longer.
    pub cap: Duration,
    /// Attempts for a notifier that does not set `retries` (first attempt included).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            attempts: 12,
        }
    }
}

impl Backoff {
    /// The delay before attempt `n + 1` after `n` failed ones: `base·2ⁿ⁻¹` capped, then
    /// scaled into [½, 1) by a jitter drawn from the notification id and `n`, so retries of
    /// many notifications spread out and a test sees the same delays every run.
    pub fn delay(&self, id: &str, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(
                1u32.checked_shl(n.saturating_sub(1).min(20))
                    .unwrap_or(u32::MAX),
            )
            .min(self.cap);
        let h = vigil_vocab::hash::fnv1a([id.as_bytes(), &n.to_le_bytes()[..]]);
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        exp.mul_f64(0.5 + 0.5 * u)
    }
}

/// What became of a notification, for the API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Record {
    pub id: String,
    pub notifier: String,
    pub group_key: String,
    pub ts: i64,
    /// `sent`, `retrying`, `failed`.
    pub result: &'static str,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub alerts: usize,
}

/// How many outcomes the API can list.
const RECENT: usize = 500;

/// Called with each outcome (the daemon's counters, log and audit log; its error never holds
/// a URL or a secret).
pub type OnResult = Arc<dyn Fn(&Record) + Send + Sync>;

/// The delivery loop: one task per pending notification, bounded in number.
#[derive(Clone)]
pub struct Delivery {
    sender: Arc<Sender>,
    outbox: Arc<Outbox>,
    plans: Arc<RwLock<BTreeMap<String, NotifierPlan>>>,
    backoff: Backoff,
    recent: Arc<Mutex<VecDeque<Record>>>,
    slots: Arc<tokio::sync::Semaphore>,
    on_result: OnResult,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Delivery {
    pub fn new(
        sender: Sender,
        outbox: Outbox,
        plans: BTreeMap<String, NotifierPlan>,
        backoff: Backoff,
        concurrency: usize,
        on_result: OnResult,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Delivery {
        Delivery {
            sender: Arc::new(sender),
            outbox: Arc::new(outbox),
            plans: Arc::new(RwLock::new(plans)),
            backoff,
            recent: Arc::new(Mutex::new(VecDeque::new())),
            slots: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            on_result,
            clock,
        }
    }

    /// The notifiers of newly loaded rules.
    pub fn set_plans(&self, plans: BTreeMap<String, NotifierPlan>) {
        if let Ok(mut p) = self.plans.write() {
            *p = plans;
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The sender (a playbook's HTTP steps go out the same way, destinations checked).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Recent outcomes, newest first.
    pub fn recent(&self) -> Vec<Record> {
        self.recent
            .lock()
            .map(|r| r.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    fn record(&self, e: &outbox::Entry, result: &'static str, error: Option<String>) {
        let rec = Record {
            id: e.notification.id.clone(),
            notifier: e.notification.notifier.clone(),
            group_key: e.notification.group_key.clone(),
            ts: e.notification.ts,
            result,
            attempts: e.attempts,
            error,
            alerts: e.notification.alerts.len(),
        };
        (self.on_result)(&rec);
        if let Ok(mut r) = self.recent.lock() {
            // A retried notification's earlier line is replaced.
            r.retain(|x| x.id != e.notification.id);
            r.push_back(rec);
            while r.len() > RECENT {
                r.pop_front();
            }
        }
    }

    /// Keeps `e` on disk, then delivers it in the background. An error means it could not be
    /// written: it was not accepted.
    pub fn submit(&self, e: outbox::Entry) -> std::io::Result<()> {
        self.outbox.put(&e)?;
        self.start(e);
        Ok(())
    }

    /// Delivers an entry already on disk (after a restart) in the background.
    pub fn start(&self, e: outbox::Entry) {
        let me = self.clone();
        tokio::spawn(async move { me.deliver(e).await });
    }

    async fn deliver(&self, mut e: outbox::Entry) {
        loop {
            let plan = self
                .plans
                .read()
                .ok()
                .and_then(|p| p.get(&e.notification.notifier).cloned());
            let Some(plan) = plan else {
                let why = format!(
                    "notifier `{}` is no longer in the rules",
                    e.notification.notifier
                );
                return self.give_up(e, why);
            };
            let outcome = {
                let _slot = self.slots.acquire().await;
                e.attempts += 1;
                self.sender.send(&plan, &e.notification, e.until).await
            };
            let attempts = plan
                .seconds("retries")
                .map_or(self.backoff.attempts, |r| r.max(0.0) as u32 + 1);
            match outcome {
                Outcome::Sent => {
                    self.outbox.done(&e.notification.id);
                    self.record(&e, "sent", None);
                    return;
                }
                Outcome::Failed(why) => return self.give_up(e, why),
                Outcome::Retry { why, .. } if e.attempts >= attempts => {
                    let why = format!("{why} (after {} attempts)", e.attempts);
                    return self.give_up(e, why);
                }
                Outcome::Retry { after, why } => {
                    self.record(&e, "retrying", Some(why.clone()));
                    e.last_error = Some(why);
                    let wait =
                        after.unwrap_or_else(|| self.backoff.delay(&e.notification.id, e.attempts));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn give_up(&self, mut e: outbox::Entry, why: String) {
        e.last_error = Some(why.clone());
        e.failed_at = Some((self.clock)());
        if let Err(err) = self.outbox.dead(&e) {
            // It stays pending: tried again after a restart rather than lost.
            self.record(
                &e,
                "failed",
                Some(format!("{why}; dead letter not written: {err}")),
            );
            return;
        }
        self.record(&e, "failed", Some(why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            attempts: 5,
        };
        let d1 = b.delay("a", 1);
        assert!(d1 >= Duration::from_millis(50) && d1 < Duration::from_millis(100));
        let d3 = b.delay("a", 3);
        assert!(d3 >= Duration::from_millis(200) && d3 < Duration::from_millis(400));
        assert!(b.delay("a", 30) < Duration::from_secs(1));
        assert_eq!(b.delay("a", 2), b.delay("a", 2));
        assert_ne!(b.delay("a", 2), b.delay("b", 2));
    }
}
