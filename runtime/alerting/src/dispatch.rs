//! Groups, their timers and the notification log, as Alertmanager's dispatcher and dedup
//! stage do them (`dispatch/dispatch.go`, `notify/dedup_stage.go`): an alert joins one group
//! per route it reaches (keyed by the route and the values of its `group_by` labels); a new
//! group first flushes after `group_wait` (at once when its alert started longer ago than
//! that), then every `group_interval`. A flush sends a notifier the group's unmuted alerts
//! when the log says they changed: new firing alerts, newly resolved ones (when the notifier
//! sends resolutions), all resolved, or nothing changed for `repeat`. Resolved alerts leave
//! the group after the flush that reported them.

use crate::alert::Alert;
use crate::notification::Notification;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use vigil_vocab::LabelSet;

/// Alertmanager's defaults for a route that sets nothing.
pub const GROUP_WAIT_MS: i64 = 30_000;
pub const GROUP_INTERVAL_MS: i64 = 300_000;
pub const REPEAT_MS: i64 = 4 * 3_600_000;

/// One aggregation group: a route and the values of its `group_by` labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub key: String,
    /// The route's position in the tree (`/0/2`), or `notify/RULE` for a rule's own
    /// `notify` clause.
    pub route: String,
    pub labels: LabelSet,
    pub notifiers: Vec<String>,
    pub group_interval: i64,
    pub repeat: i64,
    /// Its alerts' fingerprints (the alerts themselves are held once, by [`crate::State`]).
    pub alerts: BTreeSet<u64>,
    /// When the next flush is due (epoch ms).
    pub next: i64,
    pub flushed: bool,
    /// `during CALENDAR`: notifications are sent only while the calendar is open (as
    /// Alertmanager's `active_time_intervals`).
    #[serde(default)]
    pub during: Option<String>,
    /// `muted during CALENDAR`: nothing is sent while the calendar is open (Alertmanager's
    /// `mute_time_intervals`).
    #[serde(default)]
    pub muted: Option<String>,
}

/// What a notifier was last sent for a group: the notification log's entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub ts: i64,
}

/// How long the log remembers a group it no longer hears about (Alertmanager's default).
pub const LOG_RETENTION_MS: i64 = 120 * 3_600_000;

/// Why a flush sends (or not): Alertmanager's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    First,
    NewAlerts,
    AllResolved,
    NewResolved,
    Repeat,
    None,
}

impl Reason {
    pub fn word(self) -> &'static str {
        match self {
            Reason::First => "first",
            Reason::NewAlerts => "new_alerts",
            Reason::AllResolved => "all_resolved",
            Reason::NewResolved => "new_resolved",
            Reason::Repeat => "repeat",
            Reason::None => "none",
        }
    }
}

/// The dedup stage's decision for one notifier.
pub fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: i64,
    now: i64,
) -> Reason {
    let Some(e) = entry else {
        return if firing.is_empty() {
            Reason::None
        } else {
            Reason::First
        };
    };
    if !firing.is_subset(&e.firing) {
        return if e.firing.is_empty() {
            Reason::First
        } else {
            Reason::NewAlerts
        };
    }
    if firing.is_empty() {
        return if e.firing.is_empty() {
            Reason::None
        } else {
            Reason::AllResolved
        };
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return Reason::NewResolved;
    }
    // At or past (Alertmanager asks "before", but its timers drift by a few milliseconds
    // past each interval; ours land exactly on it).
    if e.ts <= now - repeat {
        return Reason::Repeat;
    }
    Reason::None
}

/// Why an alert is left out of a notification (it stays in its group).
pub trait Mute {
    /// `true` when `a` must not be sent now.
    fn muted(&mut self, a: &Alert, now: i64) -> bool;
}

impl Group {
    /// Inserts or updates an alert; a group that has not flushed yet flushes at once when
    /// the alert started longer than `group_wait` ago.
    pub fn insert(&mut self, a: &Alert, fp: u64, group_wait: i64, now: i64) {
        if !self.flushed && a.starts_at + group_wait < now {
            self.next = self.next.min(now);
        }
        self.alerts.insert(fp);
    }

    /// A due flush: one notification per notifier whose log entry says something changed.
    /// The log is updated as notifications are handed over (the caller's outbox keeps them
    /// from there), and resolved alerts that were reported leave the group. Outside its
    /// calendar (`active` false) nothing is sent: firing alerts wait for the session, as
    /// Alertmanager's active time intervals do.
    #[allow(clippy::too_many_arguments)]
    pub fn flush(
        &mut self,
        now: i64,
        active: bool,
        store: &BTreeMap<u64, Alert>,
        log: &mut BTreeMap<String, LogEntry>,
        send_resolved: &dyn Fn(&str) -> bool,
        mute: &mut dyn Mute,
        out: &mut Vec<Notification>,
    ) {
        self.next = now + self.group_interval;
        self.flushed = true;
        if self.alerts.is_empty() {
            return;
        }
        // Borrowed until a notifier needs them: most flushes send nothing.
        let mut kept: Vec<&Alert> = Vec::with_capacity(self.alerts.len());
        let mut gone = Vec::new();
        let (mut firing, mut resolved) = (BTreeSet::new(), BTreeSet::new());
        for fp in &self.alerts {
            let Some(a) = store.get(fp) else {
                gone.push(*fp);
                continue;
            };
            let is_resolved = a.resolved_at(now);
            if is_resolved {
                gone.push(*fp);
            }
            if mute.muted(a, now) {
                continue;
            }
            if is_resolved {
                resolved.insert(*fp);
            } else {
                firing.insert(*fp);
            }
            kept.push(a);
        }
        let mut sorted = false;
        for n in self.notifiers.iter().filter(|_| active) {
            let lkey = log_key(&self.key, n);
            let sr = send_resolved(n);
            let reason = needs_update(log.get(&lkey), &firing, &resolved, sr, self.repeat, now);
            if reason == Reason::None {
                continue;
            }
            log.insert(
                lkey,
                LogEntry {
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                    ts: now,
                },
            );
            if !sorted {
                kept.sort_by(|a, b| a.labels.cmp(&b.labels));
                sorted = true;
            }
            let alerts: Vec<Alert> = kept
                .iter()
                .filter(|a| sr || !a.resolved_at(now))
                .map(|a| {
                    let mut a = (*a).clone();
                    // A firing alert's end (a sender's timeout) is not news.
                    if !a.resolved_at(now) {
                        a.ends_at = None;
                    }
                    a
                })
                .collect();
            if alerts.is_empty() {
                continue;
            }
            let mut note = Notification::new(n, &self.key, &self.labels, now, reason, alerts);
            note.renew_within = self.repeat + self.group_interval;
            out.push(note);
        }
        // Resolved alerts leave the group once reported (the store drops them after).
        for fp in gone {
            self.alerts.remove(&fp);
        }
    }
}

/// The notification log's key for a group and a notifier.
pub fn log_key(group: &str, notifier: &str) -> String {
    format!("{group}\u{1f}{notifier}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn dedup_follows_alertmanager() {
        let e = LogEntry {
            firing: set(&[1, 2]),
            resolved: set(&[]),
            ts: 1000,
        };
        let r = |entry: Option<&LogEntry>, f: &[u64], res: &[u64], now: i64| {
            needs_update(entry, &set(f), &set(res), true, 10_000, now)
        };
        assert_eq!(r(None, &[1], &[], 0), Reason::First);
        assert_eq!(r(None, &[], &[1], 0), Reason::None);
        assert_eq!(r(Some(&e), &[1, 2, 3], &[], 2000), Reason::NewAlerts);
        assert_eq!(r(Some(&e), &[1], &[2], 2000), Reason::NewResolved);
        assert_eq!(r(Some(&e), &[], &[1, 2], 2000), Reason::AllResolved);
        assert_eq!(r(Some(&e), &[1, 2], &[], 2000), Reason::None);
        assert_eq!(r(Some(&e), &[1, 2], &[], 11_001), Reason::Repeat);
        let cleared = LogEntry {
            firing: set(&[]),
            resolved: set(&[1]),
            ts: 0,
        };
        assert_eq!(r(Some(&cleared), &[1], &[], 5), Reason::First);
        assert_eq!(
            needs_update(Some(&e), &set(&[1]), &set(&[2]), false, 10_000, 2000),
            Reason::None,
            "a notifier that does not send resolutions is not told about one"
        );
    }
}
