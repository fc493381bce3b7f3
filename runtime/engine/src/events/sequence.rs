//! Sequence matching per key, as EQL defines it: ordered steps within a span (`within`, EQL's
//! `maxspan`, inclusive), `repeat N` (EQL `runs`), `until` (drops the key's partial matches),
//! `missing` steps (no such event between their neighbours; trailing ones are decided when the
//! event-time watermark passes the span) and `any order` (Sigma's `temporal`).
//!
//! Per-step `key`s (EQL's per-step `by`) partition a key's partial matches: each stage keeps
//! one partial match per join value (`start pid=1` and `start pid=2` wait side by side for a
//! `child` with `ppid` 1 or 2). When a second one with the same join value reaches a stage, the
//! one that started later wins (it has more time left to complete). A stage holds at most
//! [`MAX_JOINS`] join values (the oldest start is dropped past it), so memory per key is
//! bounded by stages times that; the number of keys is bounded by the engine.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use vigil_compiler::ir::events::SequencePlan;

/// The compiled shape of a sequence.
#[derive(Debug, Clone)]
pub struct Spec {
    pub any_order: bool,
    /// ms, inclusive (`last - first <= within`).
    pub within: i64,
    /// Ordered: normal steps expanded by `repeat`, each with the missing steps that must not
    /// occur just before it.
    stages: Vec<Stage>,
    /// Missing steps after the last normal one (or all of them, in any order).
    trailing: Vec<usize>,
    /// Any order: `(step, repeat)` of the normal steps.
    normal: Vec<(usize, u32)>,
    /// Steps that join on their own key.
    keyed: Vec<bool>,
}

#[derive(Debug, Clone)]
struct Stage {
    step: usize,
    forbid: Vec<usize>,
}

/// One partial match: when it started and the per-step join value it committed to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Partial {
    pub start: i64,
    pub join: Option<u64>,
}

/// Join values one stage of one key holds at once.
pub const MAX_JOINS: usize = 64;

/// A key's matching state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Ordered: `waiting[i]` has matched stages `0..i` and waits for stage `i`, one partial
    /// per join value.
    waiting: Vec<Vec<Partial>>,
    /// Complete but for trailing missing steps: `(deadline, start)`.
    closing: Vec<(i64, Partial)>,
    /// Any order: times each normal step matched within the span.
    seen: Vec<VecDeque<i64>>,
    /// Any order with missing steps: the span end of a complete set.
    deadline: Option<i64>,
}

/// What one event is for a key's sequence.
pub struct Hits<'a> {
    pub steps: &'a [bool],
    /// Per step: the value of its `key` field (steps without a key: `None`).
    pub joins: &'a [Option<u64>],
    pub until: bool,
}

impl Spec {
    pub fn new(plan: &SequencePlan, within_ms: i64) -> Spec {
        let mut stages = Vec::new();
        let mut pending_missing = Vec::new();
        let mut normal = Vec::new();
        for (i, s) in plan.steps.iter().enumerate() {
            if s.missing {
                pending_missing.push(i);
                continue;
            }
            normal.push((i, s.repeat.max(1)));
            for r in 0..s.repeat.max(1) {
                stages.push(Stage {
                    step: i,
                    forbid: if r == 0 {
                        std::mem::take(&mut pending_missing)
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        let mut trailing = pending_missing;
        if plan.any_order {
            trailing = plan
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.missing)
                .map(|(i, _)| i)
                .collect();
        }
        Spec {
            any_order: plan.any_order,
            within: within_ms,
            stages,
            trailing,
            normal,
            keyed: plan.steps.iter().map(|s| s.key.is_some()).collect(),
        }
    }

    /// Feeds one event at `t`; pushes the times at which the sequence completed into `fired`.
    pub fn event(&self, st: &mut State, t: i64, h: &Hits, fired: &mut Vec<i64>) {
        if h.until {
            *st = State::default();
            return;
        }
        if self.any_order {
            self.any_order_event(st, t, h, fired);
            return;
        }
        let n = self.stages.len();
        if st.waiting.len() != n {
            st.waiting = vec![Vec::new(); n];
        }
        for w in st.waiting.iter_mut() {
            w.retain(|p| t - p.start <= self.within);
        }
        // A missing step's event kills the partial matches waiting past it.
        for (i, stage) in self.stages.iter().enumerate() {
            st.waiting[i].retain(|p| !stage.forbid.iter().any(|&m| self.hit(h, m, p.join)));
        }
        st.closing
            .retain(|(_, p)| !self.trailing.iter().any(|&m| self.hit(h, m, p.join)));
        let mut completed = false;
        // Last stage first, so one event advances a partial by one stage at most.
        for i in (0..n).rev() {
            let step = self.stages[i].step;
            if !h.steps[step] {
                continue;
            }
            let jv = h.joins[step];
            if self.keyed[step] && jv.is_none() {
                continue;
            }
            // Where a partial that passes stage `i` goes: the next stage, or completion.
            let (before, after) = st.waiting.split_at_mut(i + 1);
            let mut pass = |p: Partial| match after.first_mut() {
                Some(next) => hold(next, p),
                None if self.trailing.is_empty() => completed = true,
                None => st.closing.push((p.start + self.within, p)),
            };
            if i == 0 {
                pass(Partial { start: t, join: jv });
            } else {
                // Every partition this event belongs to moves on (an event without a join
                // value belongs to all of them); stage `i` is before the one it moves to.
                before[i].retain(|p| {
                    let fits = jv.is_none() || p.join.is_none() || p.join == jv;
                    if fits {
                        pass(Partial {
                            start: p.start,
                            join: p.join.or(jv),
                        });
                    }
                    !fits
                });
            }
        }
        if completed {
            fired.push(t);
        }
    }

    fn any_order_event(&self, st: &mut State, t: i64, h: &Hits, fired: &mut Vec<i64>) {
        if st.seen.len() != self.normal.len() {
            st.seen = vec![VecDeque::new(); self.normal.len()];
        }
        if self.trailing.iter().any(|&m| self.hit(h, m, None)) {
            *st = State::default();
            return;
        }
        for (j, &(step, _)) in self.normal.iter().enumerate() {
            let q = &mut st.seen[j];
            while q.front().is_some_and(|&s| t - s > self.within) {
                q.pop_front();
            }
            if h.steps[step] && (!self.keyed[step] || h.joins[step].is_some()) {
                q.push_back(t);
                // Only the newest `repeat` matches matter.
                if q.len() > self.normal[j].1 as usize {
                    q.pop_front();
                }
            }
        }
        let complete = self
            .normal
            .iter()
            .zip(&st.seen)
            .all(|(&(_, r), q)| q.len() >= r as usize);
        if !complete {
            return;
        }
        if self.trailing.is_empty() {
            fired.push(t);
            *st = State::default();
        } else if st.deadline.is_none() {
            let first = st.seen.iter().filter_map(|q| q.front()).min().copied();
            st.deadline = first.map(|f| f + self.within);
        }
    }

    fn hit(&self, h: &Hits, step: usize, join: Option<u64>) -> bool {
        h.steps[step] && (!self.keyed[step] || join.is_none() || h.joins[step] == join)
    }

    /// The watermark passed `now`: completes sequences whose trailing missing steps stayed
    /// missing through their span (`fired` gets the span ends) and drops expired partials.
    pub fn expire(&self, st: &mut State, now: i64, fired: &mut Vec<i64>) {
        st.closing.retain(|&(d, _)| {
            if d < now {
                fired.push(d);
                false
            } else {
                true
            }
        });
        if let Some(d) = st.deadline
            && d < now
        {
            fired.push(d);
            *st = State::default();
        }
        for w in st.waiting.iter_mut() {
            w.retain(|p| now - p.start <= self.within);
        }
        for q in st.seen.iter_mut() {
            while q.front().is_some_and(|&s| now - s > self.within) {
                q.pop_front();
            }
        }
    }

    /// When this key must be looked at to complete a sequence (trailing `missing` steps, an
    /// `any order` set with missing steps); partial matches that merely lapse are dropped
    /// when the key is next looked at.
    pub fn next_deadline(&self, st: &State) -> Option<i64> {
        let closing = st.closing.iter().map(|&(d, _)| d + 1);
        closing.chain(st.deadline.map(|d| d + 1)).min()
    }

    pub fn is_empty(st: &State) -> bool {
        st.waiting.iter().all(Vec::is_empty)
            && st.closing.is_empty()
            && st.seen.iter().all(VecDeque::is_empty)
            && st.deadline.is_none()
    }

    /// Partial matches held (for the memory report and the cap).
    pub fn partials(st: &State) -> usize {
        st.waiting.iter().map(Vec::len).sum::<usize>() + st.closing.len()
    }
}

impl State {
    /// Empty again, keeping its buffers (for another key's use).
    pub fn clear(&mut self) {
        self.waiting.iter_mut().for_each(Vec::clear);
        self.closing.clear();
        self.seen.iter_mut().for_each(VecDeque::clear);
        self.deadline = None;
    }

    /// Bytes its buffers hold.
    pub fn bytes(&self) -> usize {
        let partial = std::mem::size_of::<Partial>();
        self.waiting
            .iter()
            .map(|w| w.capacity() * partial)
            .sum::<usize>()
            + self.closing.capacity() * std::mem::size_of::<(i64, Partial)>()
            + (self.seen.iter())
                .map(|s| s.capacity() * std::mem::size_of::<i64>())
                .sum::<usize>()
    }
}

/// Puts `p` in a stage: it replaces an older partial with its join value, or takes a new
/// place (the oldest start is dropped past [`MAX_JOINS`]).
fn hold(stage: &mut Vec<Partial>, p: Partial) {
    if let Some(q) = stage.iter_mut().find(|q| q.join == p.join) {
        if q.start <= p.start {
            *q = p;
        }
        return;
    }
    if stage.len() >= MAX_JOINS
        && let Some(oldest) = (0..stage.len()).min_by_key(|&i| stage[i].start)
    {
        stage.swap_remove(oldest);
    }
    stage.push(p);
}
