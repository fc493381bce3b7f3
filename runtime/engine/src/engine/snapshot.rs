//! The engine's state as data: what the daemon persists and restores across restarts and
//! rule reloads.

use super::{Buffered, Engine};
use crate::alert::Book;
use crate::labels::{LabelId, Labels};
use std::collections::HashMap;
use std::sync::Arc;

/// The engine's state as plain data: what the daemon persists and restores. Label sets are
/// numbered in the snapshot's own `labels` table; restoring maps them into the new engine's
/// (which may have compiled other rules in the meantime: state of rules that no longer exist
/// is dropped, new rules start empty).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub labels: Labels,
    pub series: Vec<crate::metric::store::Series>,
    /// `(rule id, level index, alerts)`.
    pub alerts: Vec<(String, usize, Book)>,
    /// `(rule id, label sets with data or firing)`, what composites read.
    pub states: Vec<(String, Vec<(LabelId, f64)>)>,
    pub next: Option<i64>,
    pub evaluated: Option<i64>,
    #[serde(default)]
    pub newest: Option<i64>,
    /// Event rules: windows, partial sequences, instantaneous alerts, throttles.
    #[serde(default)]
    pub events: crate::events::EventSnapshot,
    /// Events accepted but still waiting for the watermark (`lateness`), in order; shared
    /// with the engine's queue, as copying every waiting event was most of a snapshot's time.
    #[serde(default)]
    pub buffered: Vec<(i64, Arc<serde_json::Value>)>,
}

impl Engine {
    /// The state to persist.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(
            self.labels.clone(),
            self.store.series.clone(),
            self.events.snapshot(),
        )
    }

    /// The state to hand to the engine that replaces this one (a reload): the large parts
    /// (label sets, series, event rules' keys) move instead of being copied, so the swap
    /// neither copies them nor frees the copies. Leaves this engine without that state: it is
    /// only to be dropped.
    pub fn take_snapshot(&mut self) -> Snapshot {
        let labels = std::mem::take(&mut self.labels);
        let series = std::mem::take(&mut self.store.series);
        let events = self.events.take_snapshot();
        self.snapshot_with(labels, series, events)
    }

    fn snapshot_with(
        &self,
        labels: Labels,
        series: Vec<crate::metric::store::Series>,
        events: crate::events::EventSnapshot,
    ) -> Snapshot {
        let ids: Vec<&str> = self
            .rules
            .ir()
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        Snapshot {
            labels,
            series,
            alerts: self
                .metric
                .iter()
                .flat_map(|r| {
                    r.books
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (r.id.to_string(), i, b.clone()))
                })
                .collect(),
            states: self
                .firing
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(i, v)| (ids[i].to_string(), v.clone()))
                .collect(),
            next: self.next,
            evaluated: self.evaluated,
            newest: self.newest,
            events,
            buffered: {
                let mut b: Vec<&Buffered> = self.buffered.iter().map(|r| &r.0).collect();
                b.sort();
                b.into_iter().map(|b| (b.ts, b.event.clone())).collect()
            },
        }
    }

    /// Restores persisted state into a freshly built engine (before any sample).
    pub fn restore(&mut self, mut snap: Snapshot) {
        self.series_cache.map.clear();
        self.series_cache.keyed.clear();
        snap.labels.reindex();
        let (syms, sets) = self.labels.import(&snap.labels);
        let set = |l: LabelId| sets.get(l as usize).copied().unwrap_or(self.empty);
        for mut s in snap.series {
            s.metric = syms.get(s.metric as usize).copied().unwrap_or(0);
            s.labels = set(s.labels);
            self.store.restore(&self.labels, s);
        }
        for (rule, level, book) in snap.alerts {
            if let Some(r) = self.metric.iter_mut().find(|r| *r.id == *rule)
                && let Some(b) = r.books.get_mut(level)
            {
                *b = book.remap(&set);
            }
        }
        let ids: HashMap<&str, usize> = self
            .rules
            .ir()
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        for (rule, st) in snap.states {
            if let Some(&i) = ids.get(rule.as_str()) {
                self.firing[i] = st.into_iter().map(|(l, v)| (set(l), v)).collect();
            }
        }
        self.events.restore(snap.events, &set);
        for (ts, event) in snap.buffered {
            self.arrivals += 1;
            self.buffered.push(std::cmp::Reverse(Buffered {
                ts,
                seq: self.arrivals,
                event,
            }));
        }
        self.next = snap.next;
        self.evaluated = snap.evaluated;
        self.newest = snap.newest;
        self.first = snap.evaluated;
    }
}
