//! The alert state machine, per rule level and label set:
//! inactive -> pending (`for`) -> firing -> resolved (inactive again), with Prometheus's
//! `for` and `keep_firing` semantics, `recover when` hysteresis, the `no_data` policy, flap
//! detection and `cooldown`. The state is plain data (serialisable) so the daemon can persist
//! and restore it.

use crate::labels::{LabelId, Labels, Sym};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use vigil_compiler::ir::intern::FxHasher;
use vigil_vocab::{AlertState, LabelSet, NoDataAction, Severity, Transition};

/// Alerts by label set id (ids are ours, so a cheap hash is safe).
pub type AlertMap = HashMap<LabelId, Alert, BuildHasherDefault<FxHasher>>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    /// Inactive, pending or firing (a resolved alert is inactive again).
    pub state: AlertState,
    /// When the current pending/firing episode began, ms.
    pub active_at: i64,
    pub fired_at: Option<i64>,
    /// First evaluation with the condition false while firing (`keep_firing`).
    pub keep_since: Option<i64>,
    /// Last evaluation that had data (a row) for this label set.
    pub last_data: i64,
    pub resolved_at: Option<i64>,
    #[serde(with = "crate::nan")]
    pub value: f64,
    /// Times of recent firing/resolved changes, for flap detection.
    pub flips: VecDeque<i64>,
    pub flapping: bool,
}

impl Alert {
    fn new(t: i64) -> Alert {
        Alert {
            state: AlertState::Inactive,
            active_at: t,
            fired_at: None,
            keep_since: None,
            last_data: t,
            resolved_at: None,
            value: f64::NAN,
            flips: VecDeque::new(),
            flapping: false,
        }
    }
}

/// What a level's clauses say, in ms.
#[derive(Debug, Clone)]
pub struct Policy {
    pub for_: i64,
    pub keep_firing: i64,
    pub cooldown: i64,
    pub no_data: Option<(i64, NoDataAction)>,
    /// `(low, high, over)`: flapping starts above `high` changes per possible change, ends
    /// below `low`.
    pub flapping: Option<(f64, f64, i64)>,
    pub interval: i64,
    pub has_recover: bool,
}

/// A state change to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub labels: LabelId,
    pub state: AlertState,
    pub value: f64,
    pub flapping: bool,
}

/// One key's evaluation of a level: the value when the condition holds, and whether
/// `recover when` holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub hit: Option<f64>,
    pub recovered: bool,
}

/// One evaluation's inputs for a level.
pub struct Inputs<'a> {
    /// Label sets whose condition holds, with the reported value.
    pub hits: &'a [(LabelId, f64)],
    /// Label sets with data (a row), whether or not the condition holds; sorted.
    pub present: &'a [LabelId],
    /// `recover when` per label set with data; sorted by label set.
    pub recovered: &'a [(LabelId, bool)],
    pub empty: LabelId,
}

/// The alerts of one rule level.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Book {
    pub alerts: AlertMap,
    started: bool,
    #[serde(skip)]
    seen: Vec<LabelId>,
}

impl Book {
    /// Advances every alert of the level to time `t`.
    pub fn step(&mut self, p: &Policy, t: i64, inp: &Inputs, out: &mut Vec<Change>) {
        let no_data = p.no_data.unwrap_or((0, NoDataAction::Keep));
        if no_data.1 == NoDataAction::Alert {
            self.watch_silence(t, inp);
        }
        self.started = true;
        let mut seen = std::mem::take(&mut self.seen);
        seen.clear();
        seen.extend(inp.hits.iter().map(|h| h.0));
        seen.sort_unstable();
        for &(l, v) in inp.hits {
            let a = self.alerts.entry(l).or_insert_with(|| Alert::new(t));
            hold(a, l, p, t, v, &mut || true, out);
        }
        let step = Step { p, t, inp, no_data };
        let mut gone = Vec::new();
        for (&l, a) in self.alerts.iter_mut() {
            if seen.binary_search(&l).is_err() && step.unseen(a, l, out) {
                gone.push(l);
            }
        }
        for l in gone {
            self.alerts.remove(&l);
        }
        self.seen = seen;
        // Forget flap history that has aged out.
        if let Some((_, _, over)) = p.flapping {
            for a in self.alerts.values_mut() {
                while a.flips.front().is_some_and(|f| *f <= t - over) {
                    a.flips.pop_front();
                }
            }
        }
    }

    /// `no_data after d -> alert`: every label set with data is watched for silence (and,
    /// before any data at all, the empty label set is).
    fn watch_silence(&mut self, t: i64, inp: &Inputs) {
        if !self.started && inp.present.is_empty() {
            self.alerts.insert(inp.empty, Alert::new(t));
        }
        for &l in inp.present {
            self.alerts
                .entry(l)
                .or_insert_with(|| Alert::new(t))
                .last_data = t;
        }
        if !inp.present.is_empty()
            && inp.present.binary_search(&inp.empty).is_err()
            && self
                .alerts
                .get(&inp.empty)
                .is_some_and(|a| a.state == AlertState::Inactive)
        {
            self.alerts.remove(&inp.empty);
        }
    }

    /// Advances one alert on its own (event rules evaluate a key when its events change, not
    /// every alert of the level at once). `v.hit` is the value when the condition holds;
    /// `v.recovered` is `recover when` (ignored without one); a firing that `allow` forbids
    /// (a throttle) leaves the alert pending. Returns the next time the alert needs an
    /// evaluation without new events (`for` or `keep_firing` running out).
    pub fn step_one(
        &mut self,
        p: &Policy,
        t: i64,
        l: LabelId,
        v: Verdict,
        allow: &mut dyn FnMut() -> bool,
        out: &mut Vec<Change>,
    ) -> Option<i64> {
        let recovered = v.recovered;
        if let Some(v) = v.hit {
            let a = self.alerts.entry(l).or_insert_with(|| Alert::new(t));
            return hold(a, l, p, t, v, allow, out);
        }
        let a = self.alerts.get_mut(&l)?;
        let next = release(a, l, p, t, p.has_recover && !recovered, true, out);
        if next.is_some() || a.state != AlertState::Inactive {
            return next;
        }
        // Forget what can no longer matter: no cooldown to enforce, no flap history.
        let keep = a.resolved_at.is_some_and(|r| t - r < p.cooldown) || !a.flips.is_empty();
        if let Some((_, _, over)) = p.flapping {
            while a.flips.front().is_some_and(|f| *f <= t - over) {
                a.flips.pop_front();
            }
        }
        if !keep {
            self.alerts.remove(&l);
        }
        None
    }

    /// Whether an alert of this label set is pending or firing.
    pub fn is_active(&self, l: LabelId) -> bool {
        self.alerts
            .get(&l)
            .is_some_and(|a| a.state != AlertState::Inactive)
    }

    /// The same alerts with label set ids translated (restoring a snapshot).
    pub fn remap(self, f: &dyn Fn(LabelId) -> LabelId) -> Book {
        Book {
            alerts: self.alerts.into_iter().map(|(l, a)| (f(l), a)).collect(),
            started: self.started,
            seen: Vec::new(),
        }
    }

    /// Label sets firing now.
    pub fn firing(&self, out: &mut Vec<LabelId>) {
        out.extend(
            self.alerts
                .iter()
                .filter(|(_, a)| a.state == AlertState::Firing)
                .map(|(l, _)| *l),
        );
    }
}

/// One evaluation of a level, as an alert whose condition did not hold sees it.
struct Step<'a> {
    p: &'a Policy,
    t: i64,
    inp: &'a Inputs<'a>,
    no_data: (i64, NoDataAction),
}

impl Step<'_> {
    /// Alert `a` (`l`) did not hold at this evaluation: with data, its condition is false;
    /// without, the `no_data` policy decides. Returns whether the alert can be forgotten.
    fn unseen(&self, a: &mut Alert, l: LabelId, out: &mut Vec<Change>) -> bool {
        let (p, t, inp, no_data) = (self.p, self.t, self.inp, self.no_data);
        let has_data = inp.present.binary_search(&l).is_ok();
        let force = !has_data && no_data.1 == NoDataAction::Resolve;
        if !has_data {
            match no_data.1 {
                NoDataAction::Keep => return false,
                NoDataAction::Ok | NoDataAction::Resolve => {
                    if t - a.last_data < no_data.0 {
                        return false;
                    }
                }
                NoDataAction::Alert => {
                    if t - a.last_data >= no_data.0 && a.state != AlertState::Firing {
                        a.state = AlertState::Firing;
                        a.active_at = t;
                        a.fired_at = Some(t);
                        a.value = f64::NAN;
                        flip(a, p, t);
                        out.push(change(l, AlertState::Firing, a));
                    }
                    return false;
                }
            }
        }
        let watched = no_data.1 == NoDataAction::Alert;
        match a.state {
            AlertState::Inactive | AlertState::Resolved => {
                !watched && a.resolved_at.is_none_or(|r| t - r >= p.cooldown) && a.flips.is_empty()
            }
            AlertState::Pending => {
                release(a, l, p, t, false, true, out);
                !watched && a.flips.is_empty() && a.resolved_at.is_none()
            }
            AlertState::Firing => {
                // Hysteresis: with `recover when`, only the recovery condition resolves.
                let recovered = inp
                    .recovered
                    .binary_search_by_key(&l, |r| r.0)
                    .is_ok_and(|i| inp.recovered[i].1);
                let held = p.has_recover && has_data && !recovered;
                release(a, l, p, t, held, !force, out);
                false
            }
        }
    }
}

/// The condition holds for alert `a` (`l`) at `t` with value `v`: inactive -> pending ->
/// firing, as `for` and `cooldown` allow and `allow` (a throttle) permits the firing.
/// Returns when the alert must be looked at again without new data.
fn hold(
    a: &mut Alert,
    l: LabelId,
    p: &Policy,
    t: i64,
    v: f64,
    allow: &mut dyn FnMut() -> bool,
    out: &mut Vec<Change>,
) -> Option<i64> {
    a.last_data = t;
    a.value = v;
    a.keep_since = None;
    if a.state == AlertState::Inactive {
        if let Some(r) = a.resolved_at
            && t - r < p.cooldown
        {
            return Some(r + p.cooldown);
        }
        a.state = AlertState::Pending;
        a.active_at = t;
        if p.for_ > 0 {
            out.push(change(l, AlertState::Pending, a));
        }
    }
    if a.state == AlertState::Pending {
        if t - a.active_at < p.for_ {
            return Some(a.active_at + p.for_);
        }
        if !allow() {
            return None;
        }
        a.state = AlertState::Firing;
        a.fired_at = Some(t);
        flip(a, p, t);
        out.push(change(l, AlertState::Firing, a));
    }
    None
}

/// The condition does not hold for alert `a` (`l`) at `t`: a pending alert goes back to
/// inactive (reported only when `for` made it visible), a firing one resolves unless `held`
/// (`recover when` not yet true) or `keep_firing` (when `keep` applies) holds it. Returns
/// when the alert must be looked at again.
fn release(
    a: &mut Alert,
    l: LabelId,
    p: &Policy,
    t: i64,
    held: bool,
    keep: bool,
    out: &mut Vec<Change>,
) -> Option<i64> {
    match a.state {
        AlertState::Inactive | AlertState::Resolved => None,
        AlertState::Pending => {
            a.state = AlertState::Inactive;
            if p.for_ > 0 {
                out.push(change(l, AlertState::Inactive, a));
            }
            None
        }
        AlertState::Firing => {
            if held {
                return None;
            }
            if p.keep_firing > 0 && keep {
                let since = *a.keep_since.get_or_insert(t);
                if t - since < p.keep_firing {
                    return Some(since + p.keep_firing);
                }
            }
            a.state = AlertState::Inactive;
            a.resolved_at = Some(t);
            a.keep_since = None;
            flip(a, p, t);
            out.push(change(l, AlertState::Resolved, a));
            None
        }
    }
}

fn change(labels: LabelId, state: AlertState, a: &Alert) -> Change {
    Change {
        labels,
        state,
        value: a.value,
        flapping: a.flapping,
    }
}

/// Records a firing/resolved change and updates the flapping flag (hysteresis between the
/// low and high change ratios over the window).
fn flip(a: &mut Alert, p: &Policy, t: i64) {
    let Some((low, high, over)) = p.flapping else {
        return;
    };
    a.flips.push_back(t);
    while a.flips.front().is_some_and(|f| *f <= t - over) {
        a.flips.pop_front();
    }
    let possible = (over / p.interval.max(1)).max(1) as f64;
    let ratio = a.flips.len() as f64 / possible;
    if ratio >= high {
        a.flapping = true;
    } else if ratio <= low {
        a.flapping = false;
    }
}

/// Whose alerts a book holds: what every transition of one rule level carries besides the
/// change itself.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `package.name`.
    pub rule: &'a std::sync::Arc<str>,
    pub severity: Option<Severity>,
    /// The rule's static labels and, when it has several levels, this one's severity, as one
    /// interned set ([`Origin::extra`]).
    pub extra: LabelId,
}

impl Origin<'_> {
    /// What a level adds to its alerts' label sets, interned: the rule's static labels, then
    /// its severity when the rule has several levels (winning over a static `severity`).
    pub fn extra(
        labels: &mut Labels,
        static_labels: &[(String, String)],
        severity: Option<Severity>,
        levels: usize,
    ) -> LabelId {
        let mut pairs: Vec<(Sym, Sym)> = static_labels
            .iter()
            .map(|(k, v)| (labels.sym(k), labels.sym(v)))
            .collect();
        if let Some(s) = severity
            && levels > 1
        {
            pairs.push((labels.sym("severity"), labels.sym(s.word())));
        }
        labels.intern(pairs)
    }

    /// An alert's label set: its series or key labels, the rule's static labels, and its
    /// severity when the rule has several levels.
    pub fn labels(&self, labels: &Labels, id: LabelId) -> LabelSet {
        let mut m = labels.to_map(id);
        for (k, v) in labels.pairs(self.extra) {
            m.insert(labels.str(*k).to_string(), labels.str(*v).to_string());
        }
        m
    }

    /// The transition to report for change `c` at `t`.
    pub fn transition(
        &self,
        labels: &mut Labels,
        t: i64,
        c: &Change,
        event: Option<vigil_vocab::EventJson>,
    ) -> Transition {
        Transition {
            ts: t,
            rule: self.rule.clone(),
            severity: self.severity,
            labels: labels.shared_map(c.labels, self.extra),
            state: c.state,
            value: c.value,
            flapping: c.flapping,
            event,
        }
    }
}
