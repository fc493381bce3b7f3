//! Routing's pure core: alerts in (the engine's changes, or alerts posted to the
//! Alertmanager-compatible API), notifications out, on a clock the caller passes. Groups
//! and timers, inhibition, silences, flapping holds and the notification log follow
//! Alertmanager; the whole state is plain data ([`State`]) that the daemon persists and a
//! cluster can partition by group. No IO: `vigil test` and the daemon run this same code.
//!
//! Stages: `alert` (what routing routes) -> `dispatch` (groups by route, timers, the log)
//! with `silence` and `inhibit` muting at each flush -> `notification` (what a notifier
//! sends).

#![forbid(unsafe_code)]

pub mod alert;
pub mod dispatch;
pub mod inhibit;
pub mod notification;
pub mod silence;

pub use alert::Alert;
pub use notification::Notification;
pub use silence::{Matcher, Silence, SilenceError, SilenceState, Silences};

use dispatch::{GROUP_INTERVAL_MS, GROUP_WAIT_MS, Group, LOG_RETENTION_MS, LogEntry, REPEAT_MS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_vocab::notify::Routing;
use vigil_vocab::route::Route;
use vigil_vocab::{LabelSet, Transition};

/// Times routing itself keeps, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// An alert posted without `endsAt` resolves this long after its last update unless it
    /// is posted again (Alertmanager's `resolve_timeout`).
    pub resolve_timeout: i64,
    /// A silence's owner is reminded this long before it ends.
    pub remind_before: i64,
    /// ... and when it has hidden a firing alert for this long.
    pub forgotten_after: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            resolve_timeout: 5 * 60_000,
            remind_before: 3_600_000,
            forgotten_after: 24 * 3_600_000,
        }
    }
}

/// Everything routing remembers: persisted by the daemon, restored on restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Every alert routing knows, by fingerprint (resolved ones until their groups report
    /// them).
    pub alerts: BTreeMap<u64, Alert>,
    pub groups: BTreeMap<String, Group>,
    /// The notification log: per group and notifier, what was last sent.
    pub log: BTreeMap<String, LogEntry>,
    pub silences: Silences,
}

/// How an alert stands for the API: muted by whom, and which groups hold it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub alert: Alert,
    pub fingerprint: String,
    /// `active`, or `suppressed` (silenced, inhibited or held while flapping).
    pub state: &'static str,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    /// The notifiers its routes name.
    pub receivers: Vec<String>,
}

/// The routing core.
pub struct Alerting {
    routing: Arc<Routing>,
    settings: Settings,
    state: State,
}

impl Alerting {
    pub fn new(routing: Arc<Routing>, settings: Settings) -> Alerting {
        Alerting {
            routing,
            settings,
            state: State::default(),
        }
    }

    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Takes over a persisted state (alerts are re-grouped under the current routes).
    pub fn restore(&mut self, state: State, now: i64) {
        self.state = state;
        self.regroup(now);
    }

    /// New rules: every alert is routed again; groups that still exist keep their timers and
    /// the log keeps what each notifier was told, so nothing is sent twice.
    pub fn set_routing(&mut self, routing: Arc<Routing>, now: i64) {
        self.routing = routing;
        self.regroup(now);
    }

    fn regroup(&mut self, now: i64) {
        let old = std::mem::take(&mut self.state.groups);
        let alerts = std::mem::take(&mut self.state.alerts);
        for (fp, a) in &alerts {
            self.route(a, *fp, now);
        }
        self.state.alerts = alerts;
        for (k, g) in &mut self.state.groups {
            if let Some(o) = old.get(k) {
                g.next = o.next;
                g.flushed = o.flushed;
            }
        }
    }

    /// After a restart: the engine's firing alerts are the truth for engine alerts (changes
    /// between routing's last save and the crash were not seen). Ours that no longer fire
    /// resolve now; theirs that routing lacks are added.
    pub fn reconcile(&mut self, firing: Vec<Alert>, now: i64) {
        let theirs: std::collections::HashSet<u64> =
            firing.iter().map(Alert::fingerprint).collect();
        let stale: Vec<Alert> = self
            .state
            .alerts
            .iter()
            .filter(|(fp, a)| {
                !a.external
                    && !a.labels.contains_key("silence_id")
                    && !a.resolved_at(now)
                    && !theirs.contains(fp)
            })
            .map(|(_, a)| a.clone())
            .collect();
        for mut a in stale {
            a.ends_at = Some(now);
            a.updated_at = now;
            self.put(a, now);
        }
        for a in firing {
            let known = self
                .state
                .alerts
                .get(&a.fingerprint())
                .is_some_and(|o| !o.resolved_at(now));
            if !known {
                self.put(a, now);
            }
        }
    }

    /// An engine change (pending and inactive ones are ignored).
    pub fn transition(&mut self, t: &Transition, now: i64) {
        let notes = self.routing.rules.get(&*t.rule);
        if let Some(a) = Alert::of_transition(t, notes) {
            self.put(a, now);
        }
    }

    /// An alert set (from the engine, or posted by a Prometheus): merged with the one it
    /// updates (its start kept while it has not resolved) and routed into its groups.
    pub fn put(&mut self, mut a: Alert, now: i64) {
        let fp = a.fingerprint();
        if let Some(old) = self.state.alerts.get(&fp)
            && !old.resolved_at(a.starts_at)
            && old.starts_at < a.starts_at
        {
            a.starts_at = old.starts_at;
        }
        a.updated_at = a.updated_at.max(now);
        self.route(&a, fp, now);
        self.state.alerts.insert(fp, a);
    }

    /// An alert from the Alertmanager API: without `startsAt` it starts now, without
    /// `endsAt` it resolves after `resolve_timeout` unless posted again.
    pub fn post(&mut self, mut a: Alert, now: i64) {
        if a.starts_at == 0 {
            a.starts_at = now;
        }
        if a.ends_at.is_none() {
            a.ends_at = Some(now + self.settings.resolve_timeout);
        }
        a.updated_at = now;
        self.put(a, now);
    }

    fn route(&mut self, a: &Alert, fp: u64, now: i64) {
        let routing = self.routing.clone();
        for (rkey, r, notifiers) in routes_of(&routing, a) {
            let group_labels: LabelSet = match &r.group_by {
                Some(by) => by
                    .iter()
                    .filter_map(|l| Some((l.clone(), a.labels.get(l)?.clone())))
                    .collect(),
                None => LabelSet::new(),
            };
            let key = format!("{rkey}:{}", vigil_vocab::render_labels(&group_labels));
            let ms = |s: Option<f64>, d: i64| s.map_or(d, |s| (s * 1000.0).round() as i64);
            let wait = ms(r.group_wait, GROUP_WAIT_MS);
            let g = self
                .state
                .groups
                .entry(key.clone())
                .or_insert_with(|| Group {
                    key,
                    route: rkey,
                    labels: group_labels,
                    notifiers: notifiers.to_vec(),
                    group_interval: ms(r.group_interval, GROUP_INTERVAL_MS),
                    repeat: ms(r.repeat, REPEAT_MS),
                    alerts: std::collections::BTreeSet::new(),
                    next: now + wait,
                    flushed: false,
                    during: r.during.clone(),
                    muted: r.muted.clone(),
                });
            g.insert(a, fp, wait, now);
        }
    }

    /// The earliest time a group is due, so the caller can sleep until then.
    pub fn next_due(&self) -> Option<i64> {
        self.state.groups.values().map(|g| g.next).min()
    }

    /// Moves the clock to `now`: due groups flush, silence reminders are raised, and what
    /// is no longer needed is forgotten. The notifications to send, in group order.
    pub fn tick(&mut self, now: i64) -> Vec<Notification> {
        self.remind(now);
        let mut out = Vec::new();
        let due: Vec<String> = self
            .state
            .groups
            .iter()
            .filter(|(_, g)| g.next <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if !due.is_empty() {
            let routing = self.routing.clone();
            let index = inhibit::Index::new(&routing.inhibits, self.state.alerts.values(), now);
            let silences = &self.state.silences;
            let mut mute = Muter {
                index: &index,
                silences,
            };
            let send_resolved = |n: &str| {
                routing
                    .notifiers
                    .get(n)
                    .and_then(|p| p.flag("send_resolved"))
                    .unwrap_or(true)
            };
            for k in due {
                if let Some(g) = self.state.groups.get_mut(&k) {
                    // A calendar the rules no longer declare holds nothing back.
                    let open = |c: &String| routing.calendars.get(c).map(|cal| cal.is_open(now));
                    let active = g.during.as_ref().is_none_or(|c| open(c) != Some(false))
                        && g.muted.as_ref().is_none_or(|c| open(c) != Some(true));
                    g.flush(
                        now,
                        active,
                        &self.state.alerts,
                        &mut self.state.log,
                        &send_resolved,
                        &mut mute,
                        &mut out,
                    );
                }
            }
        }
        self.gc(now);
        out
    }

    /// Drops empty groups, resolved alerts no group holds, old log entries and silences.
    fn gc(&mut self, now: i64) {
        self.state.groups.retain(|_, g| !g.alerts.is_empty());
        let held: std::collections::HashSet<u64> = self
            .state
            .groups
            .values()
            .flat_map(|g| g.alerts.iter().copied())
            .collect();
        self.state
            .alerts
            .retain(|fp, a| !a.resolved_at(now) || held.contains(fp));
        self.state.log.retain(|_, e| now - e.ts < LOG_RETENTION_MS);
        self.state.silences.gc(now);
    }

    /// A silence's owner hears before it ends, and when it has hidden a firing alert for
    /// longer than `forgotten_after`: as alerts (`alertname` `SilenceEnding` or
    /// `SilenceForgotten`, `owner`, `silence_id`), routed like any other so a tree can send
    /// them to the owner.
    fn remind(&mut self, now: i64) {
        if self.state.silences.all.is_empty() {
            return;
        }
        let firing: Vec<&Alert> = self
            .state
            .alerts
            .values()
            .filter(|a| !a.resolved_at(now) && !a.labels.contains_key("silence_id"))
            .collect();
        let mut raise = Vec::new();
        for s in &mut self.state.silences.all {
            if s.state(now) != SilenceState::Active {
                continue;
            }
            let hiding = firing.iter().any(|a| s.matches(&a.labels));
            s.hid_since = if hiding {
                s.hid_since.or(Some(now))
            } else {
                None
            };
            // Only for silences longer than the notice: a short one ends before anyone acts.
            let ending = s.ends_at - now <= self.settings.remind_before
                && s.ends_at - s.starts_at > self.settings.remind_before;
            let forgotten = s
                .hid_since
                .is_some_and(|t| now - t >= self.settings.forgotten_after);
            for (what, due, name) in [
                ("ending", ending, "SilenceEnding"),
                ("forgotten", forgotten, "SilenceForgotten"),
            ] {
                if due && !s.reminded.iter().any(|r| r == what) {
                    s.reminded.push(what.into());
                    raise.push(reminder(s, name, now));
                }
            }
        }
        for a in raise {
            self.put(a, now);
        }
    }

    /// Every alert routing holds that has not resolved, with how it stands.
    pub fn alerts(&self, now: i64) -> Vec<AlertView> {
        let index = inhibit::Index::new(&self.routing.inhibits, self.state.alerts.values(), now);
        self.state
            .alerts
            .values()
            .filter(|a| !a.resolved_at(now))
            .map(|a| {
                let silenced_by = self.state.silences.muting(a, now);
                let inhibitor = index.inhibited_by(a);
                let inhibited_by: Vec<String> = inhibitor
                    .and_then(inhibit::Inhibitor::fingerprint)
                    .map(|fp| format!("{fp:016x}"))
                    .into_iter()
                    .collect();
                let mut receivers: Vec<String> = routes_of(&self.routing, a)
                    .into_iter()
                    .flat_map(|(_, _, n)| n.iter().cloned())
                    .collect();
                receivers.dedup();
                let muted = !silenced_by.is_empty() || inhibitor.is_some() || a.flapping;
                AlertView {
                    fingerprint: format!("{:016x}", a.fingerprint()),
                    alert: a.clone(),
                    state: if muted { "suppressed" } else { "active" },
                    silenced_by,
                    inhibited_by,
                    receivers,
                }
            })
            .collect()
    }

    pub fn silences(&self) -> &Silences {
        &self.state.silences
    }

    /// Adds or updates a silence.
    pub fn set_silence(&mut self, s: Silence, now: i64) -> Result<String, SilenceError> {
        self.state.silences.set(s, now)
    }

    /// Ends a silence now; its reminders resolve.
    pub fn expire_silence(&mut self, id: &str, now: i64) -> Result<(), SilenceError> {
        self.state.silences.expire(id, now)?;
        let ours: Vec<Alert> = self
            .state
            .alerts
            .values()
            .filter(|a| a.labels.get("silence_id").is_some_and(|s| s == id) && !a.resolved_at(now))
            .cloned()
            .collect();
        for mut a in ours {
            a.ends_at = Some(now);
            a.updated_at = now;
            self.put(a, now);
        }
        Ok(())
    }
}

/// The routes an alert reaches (a rule's own `notify` first, with the root's settings), each
/// with its key and the notifiers it sends to.
fn routes_of<'r>(routing: &'r Routing, a: &Alert) -> Vec<(String, &'r Route, &'r [String])> {
    let label = |k: &str| a.labels.get(k).cloned();
    let mut out = Vec::new();
    if let Some(rule) = a.labels.get("rule")
        && let Some(notes) = routing.rules.get(rule)
        && !notes.notify.is_empty()
    {
        out.push((
            format!("notify/{rule}"),
            &routing.tree,
            notes.notify.as_slice(),
        ));
    }
    for (k, r) in routing.tree.reached(&label) {
        if !r.notifiers.is_empty() {
            out.push((k, r, r.notifiers.as_slice()));
        }
    }
    out
}

/// A silence's reminder to its owner, as an alert routed like any other.
fn reminder(s: &Silence, name: &str, now: i64) -> Alert {
    let labels: LabelSet = [
        ("alertname", name),
        ("owner", s.created_by.as_str()),
        ("silence_id", s.id.as_str()),
        ("severity", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let matchers: Vec<String> = s
        .matchers
        .iter()
        .map(|m| {
            let op = match (m.is_regex, m.is_equal) {
                (false, true) => "=",
                (false, false) => "!=",
                (true, true) => "=~",
                (true, false) => "!~",
            };
            format!("{}{op}\"{}\"", m.name, m.value)
        })
        .collect();
    let summary = if name == "SilenceEnding" {
        format!("silence {} by {} ends soon", s.id, s.created_by)
    } else {
        format!(
            "silence {} by {} has hidden firing alerts for a long time",
            s.id, s.created_by
        )
    };
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), summary);
    annotations.insert(
        "description".to_string(),
        format!("{{{}}}: {}", matchers.join(", "), s.comment),
    );
    Alert {
        labels,
        annotations,
        starts_at: now,
        ends_at: Some(s.ends_at),
        updated_at: now,
        generator_url: String::new(),
        flapping: false,
        external: false,
    }
}

/// Silences, inhibitions and flapping holds, as the dispatcher asks at each flush.
struct Muter<'a> {
    index: &'a inhibit::Index<'a>,
    silences: &'a Silences,
}

impl dispatch::Mute for Muter<'_> {
    fn muted(&mut self, a: &Alert, now: i64) -> bool {
        a.flapping
            || self
                .silences
                .all
                .iter()
                .any(|s| s.state(now) == SilenceState::Active && s.matches(&a.labels))
            || self.index.inhibited_by(a).is_some()
    }
}
