//! Time without events: timers fired as the event-time watermark passes them (per-window
//! expiry queues, and a heap for `for`, `keep_firing` and sequence deadlines), and sweeps
//! that free keys whose state has lapsed.

use super::arrive::Fire;
use super::window::Window;
use super::{Cx, Events, Form, KeyId, KeyState, Keys, Parts, Rule, sequence};
use crate::alert::{Change, Origin};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use vigil_vocab::AlertState;

impl Events {
    /// Queues the key's next timer, if it needs one earlier than the one queued.
    pub(super) fn reschedule(&mut self, ri: usize, key: KeyId, t: i64) {
        let rule = &mut self.rules[ri];
        let Some(ks) = rule.state.get_mut(&key) else {
            return;
        };
        if parts!(rule).schedule(ks, ri, key, t, None, &mut self.timers) {
            drop_key(rule, key);
        }
    }

    /// Runs every timer due at or before `until` (the watermark passed them), in time order.
    pub fn run_timers(&mut self, cx: &mut Cx, until: i64) {
        loop {
            if self.next_timer().is_none_or(|t| t > until) {
                return;
            }
            let Some((t, ri, qi)) = self.earliest_timer() else {
                break;
            };
            if t > until {
                break;
            }
            let key = if qi == usize::MAX {
                let Some(Reverse((_, _, key))) = self.timers.pop() else {
                    break;
                };
                match self.rules[ri].state.get(&key) {
                    Some(ks) if ks.due == t => key,
                    _ => continue,
                }
            } else {
                let Some((_, key)) = self.rules[ri].expiry[qi].1.pop_front() else {
                    break;
                };
                self.fifo_min = self.queue_front();
                if !self.rules[ri].state.contains_key(&key) {
                    continue;
                }
                key
            };
            self.wake(ri, key, t, cx);
        }
    }

    /// The earliest of the heap and the expiry queues: `(time, rule, queue)`, the queue
    /// `usize::MAX` for the heap.
    fn earliest_timer(&self) -> Option<(i64, usize, usize)> {
        let mut best: Option<(i64, usize, usize)> = self
            .timers
            .peek()
            .map(|Reverse((t, r, _))| (*t, *r as usize, usize::MAX));
        for &ri in &self.timed {
            for (qi, (_, q)) in self.rules[ri].expiry.iter().enumerate() {
                if let Some(&(t, _)) = q.front()
                    && best.is_none_or(|b| t < b.0)
                {
                    best = Some((t, ri, qi));
                }
            }
        }
        best
    }

    /// A key's state at time `t` without an event: resolves instantaneous alerts whose
    /// `keep_firing` ran out, re-evaluates aggregates, completes or expires sequences.
    fn wake(&mut self, ri: usize, key: KeyId, t: i64, cx: &mut Cx) {
        self.counters.timers += 1;
        let rule = &mut self.rules[ri];
        let Some(ks) = rule.state.get_mut(&key) else {
            return;
        };
        let label = ks.label.unwrap_or(self.empty);
        for li in 0..super::MAX_LEVELS {
            let u = ks.instant.get(li);
            if u > 0 && u <= t {
                ks.instant.set(li, 0);
                rule.dirty = true;
                let c = Change {
                    labels: label,
                    state: AlertState::Resolved,
                    value: f64::NAN,
                    flapping: false,
                };
                let origin = Origin {
                    rule: &rule.id,
                    severity: rule.levels[li].severity,
                    extra: rule.extras[li],
                };
                cx.out.push(origin.transition(cx.labels, u, &c, None));
            }
        }
        match rule.form {
            Form::Single => self.reschedule(ri, key, t),
            Form::Aggregate => {
                let mut blank = std::mem::take(&mut self.blank);
                let keys = Keys { key, throttle: key };
                self.evaluate_key(ri, cx, &mut blank, keys, t, false);
                self.blank = blank;
            }
            Form::Sequence => {
                self.fired.clear();
                let mut fired = std::mem::take(&mut self.fired);
                if let (Some((spec, ..)), Some(st)) = (&rule.seq, ks.seq.as_deref_mut()) {
                    spec.expire(st, t, &mut fired);
                }
                // Deadlines are set only once the key has its label set.
                if let Some(label) = ks.label {
                    for &f in &fired {
                        let fire = Fire {
                            level: 0,
                            keys: Keys { key, throttle: key },
                            label,
                            t: f,
                            value: f64::NAN,
                            event: None,
                        };
                        self.fire_instant(cx, ri, fire);
                    }
                }
                self.fired = fired;
                self.reschedule(ri, key, t);
            }
        }
    }

    /// The earliest time at the front of the expiry queues (`i64::MAX` when all are empty).
    pub(super) fn queue_front(&self) -> i64 {
        self.timed
            .iter()
            .flat_map(|&r| self.rules[r].expiry.iter().filter_map(|(_, q)| q.front()))
            .map(|e| e.0)
            .min()
            .unwrap_or(i64::MAX)
    }
}

/// Queues key `key`'s next timer (window and span expiry is queued per event in `expiry`,
/// except for monotone rules, which need it only while a key is watched; the heap holds the
/// rest), if it needs one earlier than the one queued. Returns whether the key is idle (holds
/// nothing and needs nothing: the caller drops it).
impl Parts<'_> {
    pub(super) fn schedule(
        &self,
        ks: &mut KeyState,
        ri: usize,
        key: KeyId,
        t: i64,
        extra: Option<i64>,
        timers: &mut BinaryHeap<Reverse<(i64, u32, KeyId)>>,
    ) -> bool {
        let rule = self;
        let seq = rule
            .seq
            .as_ref()
            .zip(ks.seq.as_deref())
            .and_then(|((s, ..), st)| s.next_deadline(st));
        let instant = ks.instant.iter().filter(|&u| u > 0);
        let active = ks
            .label
            .is_some_and(|l| rule.books.iter().any(|b| b.is_active(l)));
        let watched = active || ks.volatile;
        let windows = rule
            .aggs
            .iter()
            .zip(&ks.windows)
            .filter(|_| rule.mono && watched)
            .filter_map(|(a, w)| w.oldest().map(|o| o + a.window));
        let next = seq
            .into_iter()
            .chain(instant)
            .chain(extra)
            .chain(windows)
            .min();
        if next.is_none()
            && ks.windows.iter().all(Window::is_empty)
            && ks.seq.as_deref().is_none_or(sequence::Spec::is_empty)
            && !active
        {
            return true;
        }
        if let Some(n) = next {
            let n = n.max(t + 1);
            if ks.due <= t || n < ks.due {
                ks.due = n;
                timers.push(Reverse((n, ri as u32, key)));
            }
        } else if ks.due <= t {
            ks.due = i64::MAX;
        }
        false
    }
}

/// Drops what has expired from every key of a rule at time `t` (a monotone rule's inactive
/// keys and lapsed partial sequences get no expiry timers), and the keys left with nothing.
/// All at once: for a rule at its key limit, which needs the room now.
pub(super) fn sweep(rule: &mut Rule, t: i64) {
    let (state, _, mut lapse) = Lapse::of(rule, t);
    state.retain(|_, ks| !lapse.drops(ks));
    rule.swept = rule.state.len();
}

/// Keys looked at per call while a sweep is under way: a sweep of `n` entries ends within
/// `n / 4` events of the rule, which make at most that many keys, so the map cannot double
/// while one is under way.
const SWEEP_STEP: usize = 4;

/// The sweeps that keep a growing rule's memory bounded (once its key count doubled since the
/// last one, or dropped keys left as many stale entries as there are keys), a few keys per
/// event of the rule: the same work as sweeping every key at once, without one event paying
/// for all of it (milliseconds for tens of thousands of keys).
pub(super) fn tidy(rule: &mut Rule, t: i64) {
    if rule.sweep_left == 0 {
        let n = rule.state.len();
        if n <= 2 * rule.swept.max(1024) && rule.order.len() <= 2 * n.max(1024) {
            return;
        }
        rule.sweep_left = rule.order.len();
    }
    let (state, (order, sweep_left), mut lapse) = Lapse::of(rule, t);
    for _ in 0..SWEEP_STEP {
        if *sweep_left == 0 {
            break;
        }
        let Some((key, born)) = order.pop_front() else {
            *sweep_left = 0;
            break;
        };
        *sweep_left -= 1;
        let Some(ks) = state.get_mut(&key).filter(|ks| ks.born == born) else {
            continue;
        };
        if lapse.drops(ks) {
            state.remove(&key);
        } else {
            order.push_back((key, born));
        }
    }
    if rule.sweep_left == 0 {
        rule.swept = rule.state.len();
    }
}

/// What deciding whether a key has lapsed at `t` reads from its rule (borrowed beside the
/// rule's keys, which the sweeps change).
struct Lapse<'r> {
    aggs: &'r [super::Agg],
    books: &'r [crate::alert::Book],
    seq: Option<&'r sequence::Spec>,
    horizon: i64,
    t: i64,
    pool: &'r mut Vec<Vec<Window>>,
    seq_pool: &'r mut super::SeqPool,
    due: Vec<i64>,
}

/// A rule's key queue and the count left in the sweep under way.
type Queue<'r> = (
    &'r mut std::collections::VecDeque<(KeyId, u64)>,
    &'r mut usize,
);

impl<'r> Lapse<'r> {
    /// Splits `rule` into its keys, its sweep queue, and what lapsing reads.
    fn of(
        rule: &'r mut Rule,
        t: i64,
    ) -> (
        &'r mut super::keymap::KeyMap<KeyState>,
        Queue<'r>,
        Lapse<'r>,
    ) {
        let horizon = rule.horizon();
        let Rule {
            state,
            aggs,
            books,
            seq,
            pool,
            seq_pool,
            order,
            sweep_left,
            ..
        } = rule;
        let lapse = Lapse {
            aggs,
            books,
            seq: seq.as_ref().map(|s| &s.0),
            horizon,
            t,
            pool,
            seq_pool,
            due: Vec::new(),
        };
        (state, (order, sweep_left), lapse)
    }

    /// Drops what has expired from a key; true when nothing is left of it (its windows go to
    /// the pool: the caller drops the key).
    fn drops(&mut self, ks: &mut KeyState) -> bool {
        let t = self.t;
        let quiet = ks.due == i64::MAX
            && ks.instant.iter().all(|u| u == 0)
            && !ks
                .label
                .is_some_and(|l| self.books.iter().any(|b| b.is_active(l)));
        if quiet && ks.last.saturating_add(self.horizon) < t {
            // Everything it held has expired: drop it without reading its windows.
            reuse(self.pool, self.seq_pool, ks);
            return true;
        }
        for (a, w) in self.aggs.iter().zip(ks.windows.iter_mut()) {
            w.evict(t, a.window);
        }
        if let (Some(spec), Some(st)) = (self.seq, ks.seq.as_deref_mut()) {
            // Deadlines before `t` ran as timers already; this only drops lapsed matches.
            self.due.clear();
            spec.expire(st, t, &mut self.due);
        }
        let idle = quiet
            && ks.windows.iter().all(Window::is_empty)
            && ks.seq.as_deref().is_none_or(sequence::Spec::is_empty);
        if idle {
            reuse(self.pool, self.seq_pool, ks);
        }
        idle
    }
}

/// Drops a key, keeping its windows and sequence state for the next new key.
pub(super) fn drop_key(rule: &mut Rule, key: KeyId) {
    if let Some(mut ks) = rule.state.remove(&key) {
        reuse(&mut rule.pool, &mut rule.seq_pool, &mut ks);
    }
}

/// Pooled windows (per key) and sequence states kept, at most, each.
const POOL_MAX: usize = 4096;
/// A key's buffers larger than this are freed, not pooled (a hot key's would stay large).
const POOLED_BYTES: usize = 4096;

/// Takes a dropped key's windows and sequence state, emptied (with their buffers), for reuse,
/// within [`POOL_MAX`] and [`POOLED_BYTES`].
fn reuse(pool: &mut Vec<Vec<Window>>, seq_pool: &mut super::SeqPool, ks: &mut KeyState) {
    let mut windows = std::mem::take(&mut ks.windows);
    if !windows.is_empty()
        && pool.len() < POOL_MAX
        && windows.iter().map(Window::bytes).sum::<usize>() <= POOLED_BYTES
    {
        windows.iter_mut().for_each(Window::clear);
        pool.push(windows);
    }
    if let Some(mut st) = ks.seq.take()
        && seq_pool.len() < POOL_MAX
        && st.bytes() <= POOLED_BYTES
    {
        st.clear();
        seq_pool.push(st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_compiler::ir::events::EventFn;

    /// A dropped key's windows and sequence state go to the pools empty: the next key starts
    /// from nothing, not from the partial matches, closing steps and deadline of the last.
    #[test]
    fn a_dropped_key_is_pooled_empty() {
        let st: sequence::State = serde_json::from_str(
            r#"{"waiting":[[{"start":1,"join":null}],[]],"closing":[[9,{"start":2,"join":7}]],
                "seen":[[3]],"deadline":5}"#,
        )
        .unwrap();
        assert!(!sequence::Spec::is_empty(&st));
        let mut window = Window::new(EventFn::Count);
        window.push(1, 0.0, 0);
        let mut ks = KeyState {
            seq: Some(Box::new(st)),
            windows: vec![window],
            ..KeyState::new()
        };
        let (mut pool, mut seqs) = (Vec::new(), Vec::new());
        reuse(&mut pool, &mut seqs, &mut ks);
        assert!(ks.seq.is_none() && ks.windows.is_empty());
        assert_eq!((pool.len(), seqs.len()), (1, 1));
        assert!(sequence::Spec::is_empty(&seqs[0]));
        assert_eq!(sequence::Spec::partials(&seqs[0]), 0);
        assert!(pool[0].iter().all(Window::is_empty));
    }
}
