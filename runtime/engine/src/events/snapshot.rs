//! The event side's state as data: windows, partial sequences, books, throttles and expiry
//! queues per rule, restored into freshly built rules (by rule id) after a restart or reload.

use super::{Events, KeyId, KeyState, throttle};
use crate::alert::Book;
use crate::labels::LabelId;
use std::cmp::Reverse;

/// The event side's state as plain data (see [`crate::engine::Snapshot`]); label sets are
/// numbered in the snapshot's table.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EventSnapshot {
    pub watermark: Option<i64>,
    pub rules: Vec<RuleSnapshot>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuleSnapshot {
    pub id: String,
    pub books: Vec<Book>,
    /// Keys as two u64 halves (JSON has no 128-bit integers).
    pub keys: Vec<([u64; 2], KeyState)>,
    pub throttle: Option<throttle::Throttle>,
    pub expiry: Vec<ExpirySnapshot>,
    /// `first_seen()`'s learning period (see `Rule::learn_until`).
    #[serde(default)]
    pub learn_until: Option<i64>,
}

impl Events {
    pub fn snapshot(&self) -> EventSnapshot {
        self.snapshot_with(|r| {
            r.state
                .iter()
                .map(|(k, v)| (halves(*k), v.clone()))
                .collect()
        })
    }

    /// [`Events::snapshot`] with the keys' state moved out rather than copied (see
    /// `Engine::take_snapshot`): the rules are left without keys.
    pub fn take_snapshot(&mut self) -> EventSnapshot {
        let taken: Vec<Vec<_>> = self
            .rules
            .iter_mut()
            .map(|r| r.state.take_all().map(|(k, v)| (halves(k), v)).collect())
            .collect();
        let mut taken = taken.into_iter();
        self.snapshot_with(|_| taken.next().unwrap_or_default())
    }

    /// The snapshot, each rule's keys given by `keys` (called once per rule, in order).
    fn snapshot_with(
        &self,
        mut keys: impl FnMut(&super::Rule) -> Vec<([u64; 2], KeyState)>,
    ) -> EventSnapshot {
        let mut rules = Vec::new();
        for r in &self.rules {
            let mut keys = keys(r);
            keys.sort_by_key(|k| k.0);
            rules.push(RuleSnapshot {
                id: r.id.to_string(),
                books: r.books.clone(),
                keys,
                throttle: r.throttle.clone(),
                learn_until: r.learn_until,
                expiry: r
                    .expiry
                    .iter()
                    .map(|(w, q)| (*w, q.iter().map(|&(t, k)| (t, halves(k))).collect()))
                    .collect(),
            });
        }
        EventSnapshot {
            watermark: self.watermark,
            rules,
        }
    }

    /// Restores a snapshot into freshly built event rules (rules that no longer exist are
    /// dropped, new ones start empty); `set` maps the snapshot's label sets to ours.
    pub fn restore(&mut self, snap: EventSnapshot, set: &dyn Fn(LabelId) -> LabelId) {
        self.watermark = snap.watermark;
        self.keys.clear();
        self.timers.clear();
        for rs in snap.rules {
            let Some(ri) = self.rules.iter().position(|r| *r.id == *rs.id) else {
                continue;
            };
            let r = &mut self.rules[ri];
            r.learn_until = rs.learn_until;
            if rs.books.len() == r.books.len() {
                r.books = rs.books.into_iter().map(|b| b.remap(set)).collect();
            }
            if let (Some(mine), Some(mut th)) = (r.throttle.as_mut(), rs.throttle) {
                th.count = mine.count;
                th.per = mine.per;
                *mine = th;
            }
            for (w, q) in rs.expiry {
                if let Some((_, mine)) = r.expiry.iter_mut().find(|(x, _)| *x == w) {
                    *mine = q.into_iter().map(|(t, k)| (t, whole(k))).collect();
                }
            }
            for (k, mut ks) in rs.keys {
                let k = whole(k);
                ks.label = ks.label.map(set);
                if ks.windows.len() != r.aggs.len() {
                    continue;
                }
                if ks.due != i64::MAX {
                    self.timers.push(Reverse((ks.due, ri as u32, k)));
                }
                ks.windows.shrink_to_fit();
                r.order.push_back((k, ks.born));
                r.state.insert(k, ks);
                r.dirty = true;
            }
        }
        self.fifo_min = self.queue_front();
    }
}

/// One expiry queue: its window and `(time, key halves)`.
pub type ExpirySnapshot = (i64, Vec<(i64, [u64; 2])>);

pub(super) fn halves(k: KeyId) -> [u64; 2] {
    [(k >> 64) as u64, k as u64]
}

pub(super) fn whole(h: [u64; 2]) -> KeyId {
    (u128::from(h[0]) << 64) | u128::from(h[1])
}
