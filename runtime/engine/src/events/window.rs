//! Per-key event windows: the events of one group in `(t - w, t]`, kept so an aggregate is
//! exact (a count, sum or distinct count over precisely the window, as Sigma and EQL define
//! them), with the running totals needed to answer in constant time (min and max scan).

use super::FxMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use vigil_compiler::ir::events::EventFn;

/// Events one key keeps per aggregate at most; older ones are dropped early (counted) so a
/// single hot key cannot take unbounded memory.
pub const MAX_WINDOW_EVENTS: usize = 1 << 20;

/// One aggregate's window for one key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Window {
    /// `count()`: event times.
    Count(VecDeque<i64>),
    /// `sum/avg/min/max`: times and values, with a compensated running sum.
    Num {
        #[serde(with = "crate::nan::samples")]
        q: VecDeque<(i64, f64)>,
        #[serde(with = "crate::nan")]
        sum: f64,
        #[serde(with = "crate::nan")]
        comp: f64,
    },
    /// `distinct/share`: times and value hashes, with a count per value; `last` is the
    /// value of the newest event (what `share` answers for when no event is at hand).
    Values {
        q: VecDeque<(i64, u64)>,
        counts: FxMap<u64, u32>,
        last: u64,
    },
    /// `first_seen()`: the newest event's time and, if that event was its key's first in the
    /// window, its time again (`i64::MIN`: none). No event list: a key costs two numbers.
    Seen { last: i64, fresh: i64 },
}

impl Window {
    pub fn new(f: EventFn) -> Window {
        match f {
            EventFn::Count => Window::Count(VecDeque::new()),
            EventFn::Distinct | EventFn::Share => Window::Values {
                q: VecDeque::new(),
                counts: FxMap::default(),
                last: 0,
            },
            EventFn::FirstSeen => Window::Seen {
                last: i64::MIN,
                fresh: i64::MIN,
            },
            _ => Window::Num {
                q: VecDeque::new(),
                sum: 0.0,
                comp: 0.0,
            },
        }
    }

    /// `first_seen()`: whether an event at `t` would be its key's first in the window `w`
    /// (none in `(t - w, t)` before it).
    pub fn unseen(&self, t: i64, w: i64) -> bool {
        match self {
            Window::Seen { last, .. } => *last == i64::MIN || *last <= t.saturating_sub(w),
            _ => false,
        }
    }

    /// `first_seen()`: whether the event at `t` was its key's first in the window.
    pub fn fresh_at(&self, t: i64) -> bool {
        matches!(self, Window::Seen { fresh, .. } if *fresh == t)
    }

    /// Adds an event at `t` (a number for numeric aggregates, a value hash for value ones;
    /// for `first_seen`, 1 when the event is new). Returns whether an event had to be dropped
    /// for the cap.
    pub fn push(&mut self, t: i64, num: f64, value: u64) -> bool {
        let dropped = self.len() >= MAX_WINDOW_EVENTS;
        if dropped {
            self.pop_front();
        }
        match self {
            Window::Count(q) => q.push_back(t),
            Window::Num { q, sum, comp } => {
                q.push_back((t, num));
                add(sum, comp, num);
            }
            Window::Values { q, counts, last } => {
                q.push_back((t, value));
                *counts.entry(value).or_insert(0) += 1;
                *last = value;
            }
            Window::Seen { last, fresh } => {
                *last = t;
                *fresh = if num == 1.0 { t } else { i64::MIN };
            }
        }
        dropped
    }

    /// Drops events at or before `t - w` (the window is left-open).
    pub fn evict(&mut self, t: i64, w: i64) {
        let edge = t.saturating_sub(w);
        while self.oldest().is_some_and(|o| o <= edge) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        match self {
            Window::Count(q) => {
                q.pop_front();
            }
            Window::Num { q, sum, comp } => {
                if let Some((_, v)) = q.pop_front() {
                    add(sum, comp, -v);
                }
                if q.is_empty() {
                    (*sum, *comp) = (0.0, 0.0);
                }
            }
            Window::Values { q, counts, .. } => {
                if let Some((_, v)) = q.pop_front()
                    && let Some(c) = counts.get_mut(&v)
                {
                    *c -= 1;
                    if *c == 0 {
                        counts.remove(&v);
                    }
                }
            }
            Window::Seen { last, fresh } => (*last, *fresh) = (i64::MIN, i64::MIN),
        }
    }

    /// Empties the window, keeping its buffers.
    pub fn clear(&mut self) {
        match self {
            Window::Count(q) => q.clear(),
            Window::Num { q, sum, comp } => {
                q.clear();
                (*sum, *comp) = (0.0, 0.0);
            }
            Window::Values { q, counts, last } => {
                q.clear();
                counts.clear();
                *last = 0;
            }
            Window::Seen { last, fresh } => (*last, *fresh) = (i64::MIN, i64::MIN),
        }
    }

    pub fn oldest(&self) -> Option<i64> {
        match self {
            Window::Count(q) => q.front().copied(),
            Window::Num { q, .. } => q.front().map(|e| e.0),
            Window::Values { q, .. } => q.front().map(|e| e.0),
            Window::Seen { last, .. } => Some(*last).filter(|&l| l != i64::MIN),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Window::Count(q) => q.len(),
            Window::Num { q, .. } => q.len(),
            Window::Values { q, .. } => q.len(),
            Window::Seen { last, .. } => usize::from(*last != i64::MIN),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The aggregate's value; `current` is the value hash `share` asks about (the event at
    /// hand, else the newest). `None` is missing (an average of nothing).
    pub fn value(&self, f: EventFn, current: Option<u64>) -> Option<f64> {
        match (self, f) {
            (w, EventFn::Count) => Some(w.len() as f64),
            (Window::Num { q, sum, comp }, _) if !q.is_empty() => match f {
                EventFn::Sum => Some(*sum + *comp),
                EventFn::Avg => Some((*sum + *comp) / q.len() as f64),
                EventFn::Min => q.iter().map(|e| e.1).reduce(nan_min),
                EventFn::Max => q.iter().map(|e| e.1).reduce(nan_max),
                _ => None,
            },
            (Window::Num { .. }, EventFn::Sum) => Some(0.0),
            (Window::Values { q, counts, last }, _) => match f {
                EventFn::Distinct => Some(counts.len() as f64),
                EventFn::Share if !q.is_empty() => {
                    let v = current.unwrap_or(*last);
                    Some(counts.get(&v).copied().unwrap_or(0) as f64 / q.len() as f64)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Bytes held (for the memory report).
    pub fn bytes(&self) -> usize {
        match self {
            Window::Count(q) => q.capacity() * 8,
            Window::Num { q, .. } => q.capacity() * 16,
            Window::Values { q, counts, .. } => q.capacity() * 16 + counts.capacity() * 16,
            Window::Seen { .. } => 16,
        }
    }
}

/// Neumaier's compensated addition: exact enough that a window's sum does not drift as
/// values enter and leave.
fn add(sum: &mut f64, comp: &mut f64, v: f64) {
    let t = *sum + v;
    if sum.abs() >= v.abs() {
        *comp += (*sum - t) + v;
    } else {
        *comp += (v - t) + *sum;
    }
    *sum = t;
}

/// NaN wins (a NaN in the window makes min and max NaN, as arithmetic would).
fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_left_open_and_exact() {
        let mut w = Window::new(EventFn::Count);
        for t in [0, 10, 20, 30] {
            w.push(t, 0.0, 0);
        }
        w.evict(30, 20);
        // (10, 30]: 20 and 30.
        assert_eq!(w.value(EventFn::Count, None), Some(2.0));
        let mut s = Window::new(EventFn::Sum);
        for (t, v) in [(0, 1e16), (1, 1.0), (2, -1e16), (3, 2.0)] {
            s.push(t, v, 0);
        }
        assert_eq!(s.value(EventFn::Sum, None), Some(3.0));
        s.evict(3, 2);
        assert_eq!(s.value(EventFn::Sum, None), Some(-1e16 + 2.0));
        assert_eq!(s.value(EventFn::Min, None), Some(-1e16));
        s.evict(100, 1);
        assert_eq!(s.value(EventFn::Avg, None), None);
        assert_eq!(s.value(EventFn::Sum, None), Some(0.0));
    }

    #[test]
    fn distinct_and_share_count_values() {
        let mut w = Window::new(EventFn::Distinct);
        for (t, v) in [(1, 7), (2, 7), (3, 8), (4, 9)] {
            w.push(t, 0.0, v);
        }
        assert_eq!(w.value(EventFn::Distinct, None), Some(3.0));
        assert_eq!(w.value(EventFn::Share, Some(7)), Some(0.5));
        assert_eq!(w.value(EventFn::Share, None), Some(0.25));
        w.evict(2, 10);
        assert_eq!(w.value(EventFn::Distinct, None), Some(3.0));
        w.evict(12, 10);
        assert_eq!(w.value(EventFn::Distinct, None), Some(2.0));
        assert_eq!(w.value(EventFn::Share, Some(7)), Some(0.0));
    }
}
