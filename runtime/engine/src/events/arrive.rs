//! An event arriving at the rules its filter matched: single-event rules fire, aggregate
//! rules update the key's windows and evaluate its levels, sequences advance the key's
//! partial matches; every alert change is stepped through the level's book.

use super::keys::{hash_of, key_of, label_of};
use super::timers::{drop_key, sweep, tidy};
use super::window::Window;
use super::{Cx, Events, Form, KeyId, Keys, Parts, new_key, sequence};
use crate::alert::{Change, Origin, Verdict};
use crate::labels::LabelId;
use vigil_compiler::eval::{Frame, SlotVal};
use vigil_compiler::ir::events::{AggArg, EventFn};
use vigil_vocab::AlertState;
use vigil_vocab::EventJson;

/// An instantaneous alert to fire: a single event's level, or a completed sequence.
pub(super) struct Fire {
    pub level: usize,
    pub keys: Keys,
    pub label: LabelId,
    pub t: i64,
    pub value: f64,
    pub event: Option<EventJson>,
}

impl Events {
    /// One event at `t` for rule `ri`, whose filter held.
    pub(super) fn rule_event(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        frame: &mut Frame,
        t: i64,
        event: &mut dyn FnMut() -> EventJson,
    ) {
        let key = self.key(ri, false, frame);
        match self.rules[ri].form {
            Form::Single => self.single(ri, cx, frame, key, t, event),
            Form::Aggregate if self.rules[ri].instant => {
                self.instant_aggregate(ri, cx, frame, key, t, event)
            }
            Form::Aggregate => self.aggregate(ri, cx, frame, key, t),
            Form::Sequence => self.sequence(ri, cx, frame, key, t, event),
        }
    }

    /// A single-event rule: each level whose `when` holds fires on the event.
    fn single(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        frame: &mut Frame,
        key: KeyId,
        t: i64,
        event: &mut dyn FnMut() -> EventJson,
    ) {
        let rs = cx.rules;
        for li in 0..self.rules[ri].levels.len() {
            let lvl = &self.rules[ri].levels[li];
            if lvl.when.is_some_and(|p| !rs.eval_bool(p, frame)) {
                continue;
            }
            let value = lvl
                .value
                .and_then(|p| rs.eval_num(p, frame))
                .unwrap_or(f64::NAN);
            let throttle = self.throttle_key(ri, frame, key);
            let label = self.label(ri, frame, cx.labels, key);
            let fire = Fire {
                level: li,
                keys: Keys { key, throttle },
                label,
                t,
                value,
                event: Some(event()),
            };
            self.fire_instant(cx, ri, fire);
        }
    }

    /// An aggregate rule: the event enters the key's windows, then the key's levels are
    /// evaluated.
    fn aggregate(&mut self, ri: usize, cx: &mut Cx, frame: &mut Frame, key: KeyId, t: i64) {
        if !self.push_key(ri, cx, frame, key, t) {
            return;
        }
        let throttle = self.throttle_key(ri, frame, key);
        self.evaluate_key(ri, cx, frame, Keys { key, throttle }, t, true);
    }

    /// The event into key `key`'s windows; false when the key was refused (a new key when
    /// the rule is full takes the slow road: a sweep, or refusal).
    fn push_key(&mut self, ri: usize, cx: &mut Cx, frame: &Frame, key: KeyId, t: i64) -> bool {
        let rule = &self.rules[ri];
        if rule.state.len() >= self.max_keys
            && !rule.state.contains_key(&key)
            && !self.admit(ri, key)
        {
            return false;
        }
        self.push_windows(ri, cx, frame, key, t);
        true
    }

    /// A rule whose only aggregates are `first_seen()`: the event enters the key's windows,
    /// and the levels fire on it as a single event's do (the aggregates hold for it alone).
    fn instant_aggregate(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        frame: &mut Frame,
        key: KeyId,
        t: i64,
        event: &mut dyn FnMut() -> EventJson,
    ) {
        if !self.push_key(ri, cx, frame, key, t) {
            return;
        }
        let rule = &self.rules[ri];
        if let Some(ks) = rule.state.get(&key) {
            for (a, w) in rule.aggs.iter().zip(&ks.windows) {
                frame.set(a.slot, SlotVal::boolean(w.fresh_at(t)));
            }
        }
        self.single(ri, cx, frame, key, t, event);
        for a in &self.rules[ri].aggs {
            frame.set(a.slot, SlotVal::missing());
        }
    }

    /// Adds the event to key `key`'s windows (creating the key), and queues the times it
    /// leaves them (or sweeps, for monotone rules).
    fn push_windows(&mut self, ri: usize, cx: &mut Cx, frame: &Frame, key: KeyId, t: i64) {
        let mut overflow = 0;
        let mut volatile = false;
        let Events {
            rules,
            keys: known,
            empty,
            counters,
            fifo_min,
            hasher,
            ..
        } = self;
        let rule = &mut rules[ri];
        let (order, births) = (&mut rule.order, &mut rule.births);
        let ks = rule
            .state
            .get_or_insert_with(key, || new_key(order, births, key));
        ks.last = t;
        if !rule.mono && ks.label.is_none() {
            // Its condition may turn true as events leave: label it now, while the event is
            // at hand.
            ks.label = Some(label_of(known, *empty, &rule.keys, frame, cx.labels, key));
        }
        if ks.windows.len() != rule.aggs.len() {
            ks.windows = rule
                .pool
                .pop()
                .unwrap_or_else(|| rule.aggs.iter().map(|a| Window::new(a.func)).collect());
        }
        for (a, w) in rule.aggs.iter().zip(ks.windows.iter_mut()) {
            w.evict(t, a.window);
            if a.func == EventFn::FirstSeen {
                // A fresh start learns for one window before it calls anything new.
                let learning = *rule.learn_until.get_or_insert(t + a.window) > t;
                let new = !learning && w.unseen(t, a.window);
                w.push(t, f64::from(u8::from(new)), 0);
                continue;
            }
            let (num, hash) = match &a.arg {
                None => (0.0, 0),
                Some(AggArg::Program(p)) => match cx.rules.eval_num(*p, frame) {
                    Some(v) => {
                        volatile |= a.func == EventFn::Sum && (v < 0.0 || v.is_nan());
                        (v, 0)
                    }
                    None => continue,
                },
                Some(AggArg::Field(s)) => match hash_of(hasher, &frame.slots()[*s as usize]) {
                    Some(h) => (0.0, h),
                    None => continue,
                },
            };
            overflow += u64::from(w.push(t, num, hash));
        }
        counters.window_overflow += overflow;
        if volatile && !ks.volatile {
            ks.volatile = true;
            if ks.label.is_none() {
                ks.label = Some(label_of(known, *empty, &rule.keys, frame, cx.labels, key));
            }
        }
        if !rule.mono {
            for (w, q) in rule.expiry.iter_mut() {
                if q.back() != Some(&(t + *w, key)) {
                    q.push_back((t + *w, key));
                    *fifo_min = (*fifo_min).min(t + *w);
                }
            }
        } else {
            tidy(rule, t);
        }
    }

    /// A sequence rule: the event may advance, complete or end the key's partial matches.
    fn sequence(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        frame: &mut Frame,
        key: KeyId,
        t: i64,
        event: &mut dyn FnMut() -> EventJson,
    ) {
        let Some(until) = self.sequence_hits(ri, cx, frame) else {
            return;
        };
        let exists = self.rules[ri].state.contains_key(&key);
        if !exists && (until || !self.steps.iter().any(|&b| b) || !self.admit(ri, key)) {
            return;
        }
        self.fired.clear();
        let rule = &mut self.rules[ri];
        let (Some((spec, ..)), Some(ks)) = (rule.seq.as_ref(), rule.state.get_mut(&key)) else {
            return;
        };
        let hits = sequence::Hits {
            steps: &self.steps,
            joins: &self.joins,
            until,
        };
        let pool = &mut rule.seq_pool;
        let st = ks.seq.get_or_insert_with(|| pool.pop().unwrap_or_default());
        spec.event(st, t, &hits, &mut self.fired);
        ks.last = t;
        // Lapsed partial matches need no timer (the key's next event drops them, and
        // deadlines are on the heap); idle keys go in sweeps.
        let deadline = ks
            .seq
            .as_deref()
            .and_then(|s| spec.next_deadline(s))
            .is_some();
        tidy(rule, t);
        let fired = std::mem::take(&mut self.fired);
        if !fired.is_empty() || deadline {
            // Completions (now, or when a deadline passes) need the key's labels.
            self.ensure_label(ri, frame, cx.labels, key);
        }
        if !fired.is_empty() {
            let throttle = self.throttle_key(ri, frame, key);
            let label = self.label(ri, frame, cx.labels, key);
            let ev = event();
            for &f in &fired {
                let fire = Fire {
                    level: 0,
                    keys: Keys { key, throttle },
                    label,
                    t: f,
                    value: f64::NAN,
                    event: Some(ev.clone()),
                };
                self.fire_instant(cx, ri, fire);
            }
        }
        self.fired = fired;
        self.reschedule(ri, key, t);
    }

    /// Which steps the event satisfies (into `steps`, with each step's join key in `joins`),
    /// and whether it is an `until` event; `None` when the rule is not a sequence.
    fn sequence_hits(&mut self, ri: usize, cx: &Cx, frame: &Frame) -> Option<bool> {
        let (_, progs, keyslots, until) = self.rules[ri].seq.as_ref()?;
        self.steps.clear();
        self.joins.clear();
        for (p, k) in progs.iter().zip(keyslots) {
            self.steps.push(cx.rules.eval_bool(*p, frame));
            self.joins
                .push(k.and_then(|s| hash_of(&self.hasher, &frame.slots()[s as usize])));
        }
        Some(until.is_some_and(|u| cx.rules.eval_bool(u, frame)))
    }

    /// Makes room for `key` in rule `ri`: false (counted) when the rule is at its key limit.
    fn admit(&mut self, ri: usize, key: KeyId) -> bool {
        let rule = &mut self.rules[ri];
        if rule.state.contains_key(&key) {
            return true;
        }
        if rule.state.len() >= self.max_keys {
            // Full: drop what has expired first (at most once per window of time, so a rule
            // full of live keys does not sweep on every event).
            if let Some(t) = self.watermark
                && t >= rule.last_full_sweep.saturating_add(rule.horizon())
            {
                rule.last_full_sweep = t;
                sweep(rule, t);
            }
            if rule.state.len() >= self.max_keys {
                rule.refused += 1;
                self.counters.refused += 1;
                return false;
            }
        }
        let ks = new_key(&mut rule.order, &mut rule.births, key);
        rule.state.insert(key, ks);
        true
    }

    /// Sets a key's aggregates into `frame`, evaluates every level and steps its alerts.
    /// `with_event`: an event of the key is at hand (else a timer woke the key).
    pub(super) fn evaluate_key(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        frame: &mut Frame,
        keys: Keys,
        t: i64,
        with_event: bool,
    ) {
        let key = keys.key;
        let Some(label) = self.verdicts_of(ri, cx, frame, key, t, with_event) else {
            return;
        };
        let verdicts = std::mem::take(&mut self.verdicts);
        let next = match label {
            Some(label) => self.step_levels(ri, cx, keys, label, t, &verdicts),
            None => None,
        };
        self.verdicts = verdicts;
        let rule = &mut self.rules[ri];
        let Some(ks) = rule.state.get_mut(&key) else {
            return;
        };
        if parts!(rule).schedule(ks, ri, key, t, next, &mut self.timers) {
            drop_key(rule, key);
        }
    }

    /// Each level's verdict for key `key` at `t` into `self.verdicts` (its aggregates, evicted
    /// to `t`, are set into `frame` for the level programs, then cleared), and the key's label
    /// set: a key without one (a monotone rule's quiet key) gets it only when some level holds
    /// while its event is at hand. `None` when the key is gone.
    fn verdicts_of(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        frame: &mut Frame,
        key: KeyId,
        t: i64,
        with_event: bool,
    ) -> Option<Option<LabelId>> {
        self.verdicts.clear();
        let rule = &mut self.rules[ri];
        let ks = rule.state.get_mut(&key)?;
        for (a, w) in rule.aggs.iter().zip(ks.windows.iter_mut()) {
            w.evict(t, a.window);
            let current = match (&a.arg, with_event) {
                (Some(AggArg::Field(s)), true) => {
                    hash_of(&self.hasher, &frame.slots()[*s as usize])
                }
                _ => None,
            };
            if a.func == EventFn::FirstSeen {
                // True for the new event itself only, never at a timer.
                frame.set(a.slot, SlotVal::boolean(with_event && w.fresh_at(t)));
                continue;
            }
            let v = w.value(a.func, current);
            frame.set(a.slot, v.map_or(SlotVal::missing(), SlotVal::number));
        }
        let rs = cx.rules;
        for lvl in &rule.levels {
            let holds = lvl.when.is_none_or(|p| rs.eval_bool(p, frame));
            let hit = holds.then(|| {
                lvl.value
                    .and_then(|p| rs.eval_num(p, frame))
                    .unwrap_or(f64::NAN)
            });
            let recovered = lvl.recover.is_some_and(|p| rs.eval_bool(p, frame));
            self.verdicts.push(Verdict { hit, recovered });
        }
        for a in &rule.aggs {
            frame.set(a.slot, SlotVal::missing());
        }
        let label = match ks.label {
            Some(l) => Some(l),
            None if with_event && self.verdicts.iter().any(|v| v.hit.is_some()) => {
                let l = if key == 0 {
                    self.empty
                } else if let Some(&l) = self.keys.get(&key) {
                    l
                } else {
                    let l = key_of(&rule.keys, frame, cx.labels);
                    self.keys.insert(key, l);
                    l
                };
                ks.label = Some(l);
                Some(l)
            }
            _ => None,
        };
        Some(label)
    }

    /// Steps every level's book for the key's alert (`label`) with its verdict, reporting the
    /// changes; returns when the key must be looked at again without events.
    fn step_levels(
        &mut self,
        ri: usize,
        cx: &mut Cx,
        keys: Keys,
        label: LabelId,
        t: i64,
        verdicts: &[Verdict],
    ) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut changes = std::mem::take(&mut self.changes);
        changes.clear();
        let rule = &mut self.rules[ri];
        let throttle = &mut rule.throttle;
        let counters = &mut self.counters;
        for (li, lvl) in rule.levels.iter().enumerate() {
            let mut allow = || match throttle.as_mut() {
                Some(th) => {
                    let ok = th.allow(keys.throttle, t);
                    counters.throttled += u64::from(!ok);
                    ok
                }
                None => true,
            };
            let before = changes.len();
            if let Some(n) = rule.books[li].step_one(
                &lvl.policy,
                t,
                label,
                verdicts[li],
                &mut allow,
                &mut changes,
            ) {
                next = Some(next.map_or(n, |x: i64| x.min(n)));
            }
            for c in &changes[before..] {
                rule.dirty = true;
                let origin = Origin {
                    rule: &rule.id,
                    severity: lvl.severity,
                    extra: rule.extras[li],
                };
                cx.out.push(origin.transition(cx.labels, t, c, None));
            }
        }
        self.changes = changes;
        next
    }

    /// Fires an instantaneous alert (a single event, a completed sequence).
    pub(super) fn fire_instant(&mut self, cx: &mut Cx, ri: usize, f: Fire) {
        let keep = self.rules[ri].keep_firing;
        let li = f.level;
        if keep > 0 {
            if !self.admit(ri, f.keys.key) {
                return;
            }
            let Some(ks) = self.rules[ri].state.get_mut(&f.keys.key) else {
                return;
            };
            if ks.instant.get(li) > f.t {
                // Still firing: the new event only extends it.
                ks.instant.set(li, f.t + keep);
                return;
            }
        }
        let rule = &mut self.rules[ri];
        if let Some(th) = rule.throttle.as_mut()
            && !th.allow(f.keys.throttle, f.t)
        {
            self.counters.throttled += 1;
            return;
        }
        let c = Change {
            labels: f.label,
            state: AlertState::Firing,
            value: f.value,
            flapping: false,
        };
        cx.out
            .push(rule.origin(li).transition(cx.labels, f.t, &c, f.event));
        if keep > 0 {
            rule.dirty = true;
            if let Some(ks) = rule.state.get_mut(&f.keys.key) {
                ks.instant.set(li, f.t + keep);
                ks.label = Some(f.label);
            }
            self.reschedule(ri, f.keys.key, f.t);
        }
    }
}
