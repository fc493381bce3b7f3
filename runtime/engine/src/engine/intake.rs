//! What enters the engine: samples (stored if some rule reads them), staleness markers, and
//! events, processed at once or held until the watermark passes them (`lateness`), read from
//! JSON text directly where the direct reader can.

use super::{Buffered, Engine};
use crate::events::Cx;
use crate::labels::{LabelId, Sym};
use crate::metric::store::Append;
use crate::time::{align_up, in_range};
use std::sync::Arc;
use vigil_compiler::eval::Frame;
use vigil_ingest::remote_write::STALE_NAN;
use vigil_vocab::{EventJson, Transition};

/// What a keyed sample's series is ([`super::SeriesCache::keyed`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Known {
    /// Stored: its metric and label set.
    Stored(Sym, LabelId),
    /// Of a metric no rule reads.
    NoRule,
}

impl Engine {
    /// Ingests one sample (`ts` in ms). Returns what happened to it.
    pub fn ingest(&mut self, metric: &str, labels: &[(&str, &str)], ts: i64, value: f64) -> Append {
        self.ingest_pairs(metric, labels.iter().copied(), ts, value)
    }

    /// [`Engine::ingest`] with labels from any iterator (no intermediate list).
    pub fn ingest_pairs<'s, I>(&mut self, metric: &str, labels: I, ts: i64, value: f64) -> Append
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
        I::IntoIter: Clone,
    {
        self.ingest_named(metric, labels, ts, value).0
    }

    /// [`Engine::ingest_pairs`], with what the sample's series is when that holds for every
    /// sample of it: stored (its metric and label set), or of a metric no rule reads.
    fn ingest_named<'s, I>(
        &mut self,
        metric: &str,
        labels: I,
        ts: i64,
        value: f64,
    ) -> (Append, Option<Known>)
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
        I::IntoIter: Clone,
    {
        self.counters.samples += 1;
        // A metric no rule reads costs one lookup, never a hash of its labels.
        let Some(m) = self.labels.lookup(metric) else {
            self.counters.unread += 1;
            return (Append::Unread, Some(Known::NoRule));
        };
        let labels = labels.into_iter();
        let key = self.series_key(m, labels.clone());
        let (r, set) = if let Some(&set) = self.series_cache.map.get(&key) {
            (self.ingest_interned(m, set, ts, value), set)
        } else {
            let mark = self.labels.mark();
            let set = self.labels.intern_strs(labels);
            let r = self.ingest_interned(m, set, ts, value);
            self.remember(key, set, mark, r == Append::Stored);
            (r, set)
        };
        (r, (r == Append::Stored).then_some(Known::Stored(m, set)))
    }

    /// A sample named by its series key ([`vigil_ingest::Record::Keyed`]): a known key skips
    /// the labels; an unknown one (first met, or forgotten on restore) has them read from
    /// `line`, whose series text the reader accepted before, and is remembered once a sample of
    /// it is stored. `Err` only if the line cannot be read as a sample after all.
    pub fn ingest_keyed(
        &mut self,
        key: vigil_ingest::series_keys::SeriesKey,
        line: &str,
        ts: i64,
        value: f64,
    ) -> Result<Append, String> {
        match self.series_cache.keyed.get(&key) {
            Some(&Known::Stored(m, set)) => {
                self.counters.samples += 1;
                return Ok(self.ingest_interned(m, set, ts, value));
            }
            Some(Known::NoRule) => {
                self.counters.samples += 1;
                self.counters.unread += 1;
                return Ok(Append::Unread);
            }
            None => {}
        }
        let records = vigil_ingest::parse_line(line, vigil_ingest::Format::Json)?;
        let Some(vigil_ingest::Record::Sample { metric, labels, .. }) = records.first() else {
            return Err("not a sample line".into());
        };
        let pairs = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let (r, known) = self.ingest_named(metric, pairs, ts, value);
        if let Some(known) = known {
            let cache = &mut self.series_cache.keyed;
            if cache.len() >= super::SeriesCache::MAX {
                cache.clear();
            }
            cache.insert(key, known);
        }
        Ok(r)
    }

    /// A label set just interned for a series not in the cache: cached when a sample of it
    /// was stored, else given back (nothing keeps a refused sample's labels: millions of
    /// refused series cost nothing).
    fn remember(&mut self, key: (u64, u64), set: LabelId, mark: (usize, usize), stored: bool) {
        if stored {
            let cache = &mut self.series_cache.map;
            if cache.len() >= super::SeriesCache::MAX {
                cache.clear();
            }
            cache.insert(key, set);
        } else {
            self.labels.rollback(mark);
        }
    }

    /// A 128-bit hash of a sample's metric (interned) and label pairs in arrival order (two seeded
    /// 64-bit hashes): a collision is as unlikely as a random 128-bit clash.
    fn series_key<'s>(
        &self,
        metric: Sym,
        labels: impl Iterator<Item = (&'s str, &'s str)>,
    ) -> (u64, u64) {
        use std::hash::{BuildHasher, Hash, Hasher};
        let c = &self.series_cache;
        let (mut a, mut b) = (c.a.build_hasher(), c.b.build_hasher());
        metric.hash(&mut a);
        metric.hash(&mut b);
        for (k, v) in labels {
            (k, v).hash(&mut a);
            (k, v).hash(&mut b);
        }
        (a.finish(), b.finish())
    }

    /// Samples of one series in the order sent (remote_write): its labels are hashed and
    /// interned once, not per sample. A point with [`STALE_NAN`]'s bits is a staleness
    /// marker. Each point is stored or refused as [`Engine::ingest_pairs`] would.
    pub fn ingest_series<'s, I>(&mut self, metric: &str, labels: I, points: &[(i64, f64)])
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
        I::IntoIter: Clone,
    {
        // Staleness markers are not samples (as for `ingest_stale`).
        let n = points.iter().filter(|p| p.1.to_bits() != STALE_NAN).count() as u64;
        self.counters.samples += n;
        let Some(m) = self.labels.lookup(metric) else {
            self.counters.unread += n;
            return;
        };
        let labels = labels.into_iter();
        let key = self.series_key(m, labels.clone());
        let cached = self.series_cache.map.get(&key).copied();
        let mark = self.labels.mark();
        let set = cached.unwrap_or_else(|| self.labels.intern_strs(labels));
        let mut stored = false;
        for &(ts, value) in points {
            if value.to_bits() == STALE_NAN {
                self.store.mark_stale(m, set, ts);
            } else {
                stored |= self.ingest_interned(m, set, ts, value) == Append::Stored;
            }
        }
        if cached.is_none() {
            self.remember(key, set, mark, stored);
        }
    }

    /// A staleness marker for a series at `ts` (the series ended; instant reads stop).
    pub fn ingest_stale<'s>(
        &mut self,
        metric: &str,
        labels: impl IntoIterator<Item = (&'s str, &'s str)>,
        ts: i64,
    ) {
        let Some(m) = self.labels.lookup(metric) else {
            return;
        };
        let mark = self.labels.mark();
        let set = self.labels.intern_strs(labels);
        if self.labels.mark().1 > mark.1 {
            // A label set never seen has no series to end.
            self.labels.rollback(mark);
            return;
        }
        self.store.mark_stale(m, set, ts);
    }

    fn ingest_interned(&mut self, metric: Sym, set: LabelId, ts: i64, value: f64) -> Append {
        if !in_range(ts) {
            self.counters.out_of_range += 1;
            return Append::OutOfRange;
        }
        if self.next.is_none() {
            self.next = Some(align_up(ts, self.step));
        }
        let r = self
            .store
            .append(&self.labels, metric, set, ts, value, self.evaluated);
        match r {
            Append::Stored => {
                self.counters.stored += 1;
                self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
            }
            Append::Unread => self.counters.unread += 1,
            Append::Refused => self.counters.refused += 1,
            Append::TooLate => self.counters.too_late += 1,
            Append::OutOfRange => {}
        }
        r
    }

    /// Starts evaluating at the first interval multiple at or after `t` (when no sample has
    /// fixed the start yet).
    pub fn start_at(&mut self, t: i64) {
        if self.next.is_none() && in_range(t) {
            self.next = Some(align_up(t, self.step));
        }
    }

    /// Ingests one event at `ts` (ms). Without `lateness` it is processed at once (after
    /// the event timers due before it); with `lateness` it waits until the watermark passes
    /// it, so events shuffled within `lateness` are processed in time order. Events older
    /// than the watermark are dropped and counted.
    pub fn ingest_event(&mut self, ts: i64, event: &serde_json::Value, out: &mut Vec<Transition>) {
        if !in_range(ts) {
            self.counters.out_of_range += 1;
            return;
        }
        self.start_at(ts);
        if self.config.lateness == 0 {
            let mut cx = Cx {
                rules: &self.rules,
                labels: &mut self.labels,
                out,
            };
            self.events.run_timers(&mut cx, ts - 1);
            let mut frame = self
                .event_frame
                .take()
                .unwrap_or_else(|| Frame::new(self.rules.ir()))
                .recycle();
            frame.fill_json(self.rules.ir(), event);
            let mut raw = || EventJson::from_value(event);
            self.event_at(&mut frame, ts, &mut raw, out);
            self.event_frame = Some(frame.recycle());
            return;
        }
        if self.events.watermark.is_some_and(|w| ts < w) {
            self.events.counters.events += 1;
            self.events.counters.too_late += 1;
            return;
        }
        self.arrivals += 1;
        self.buffered.push(std::cmp::Reverse(Buffered {
            ts,
            seq: self.arrivals,
            event: Arc::new(event.clone()),
        }));
    }

    /// [`Engine::ingest_event`] for an event object given as JSON text: the fields the rules
    /// read are taken straight from the text (the event is parsed in full only for alerts
    /// that carry it). Text that is not a JSON object is dropped and counted.
    pub fn ingest_event_text(&mut self, ts: i64, text: &str, out: &mut Vec<Transition>) {
        if self.event_from_text(ts, text, 0, "", out) {
            return;
        }
        self.events.counters.slow_path += 1;
        match vigil_ingest::strict::parse(text) {
            Ok(v) if v.is_object() => self.ingest_event(ts, &v, out),
            _ => self.events.counters.malformed += 1,
        }
    }

    /// [`Engine::ingest_event_text`] for a whole input line `{"ts": .., "event": {...}}` whose
    /// event object starts at `start` (as `ingest` found it): only the closing `}` may follow
    /// the object, else the line is read with serde like any other.
    pub fn ingest_event_line(
        &mut self,
        ts: i64,
        line: &str,
        start: usize,
        out: &mut Vec<Transition>,
    ) -> Result<(), String> {
        if self.event_from_text(ts, line, start, "}", out) {
            return Ok(());
        }
        self.events.counters.slow_path += 1;
        // A line without its own `ts` was given the arrival time: serde reads it with that.
        let mut cx = vigil_ingest::Context {
            time: Some(ts),
            raw_events: false,
            checked: false,
            series_keys: None,
        };
        let (mut records, mut spare) = (std::collections::VecDeque::new(), Vec::new());
        let parsed = vigil_ingest::parse_line_into(
            line,
            vigil_ingest::Format::Json,
            &mut cx,
            &mut records,
            &mut spare,
        );
        match parsed {
            Ok(()) => {
                for r in records {
                    if let vigil_ingest::Record::Event { ts, event } = r {
                        self.ingest_event(ts, &event, out);
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.events.counters.malformed += 1;
                Err(e)
            }
        }
    }

    /// The direct reader: the object at `start` of `text`, followed by `tail` (and white
    /// space) only. False when the caller must use serde (nothing was processed).
    fn event_from_text(
        &mut self,
        ts: i64,
        text: &str,
        start: usize,
        tail: &str,
        out: &mut Vec<Transition>,
    ) -> bool {
        if self.config.lateness != 0 || !in_range(ts) {
            return false;
        }
        let Some(object) = text.get(start..) else {
            return false;
        };
        // Escaped strings are decoded here: the arena lives for this event.
        let mut bump = std::mem::take(&mut self.unescaped);
        bump.reset();
        // A stored frame is all missing (recycled below), as the direct reader needs.
        let mut frame: Frame<'_> = self
            .event_frame
            .take()
            .unwrap_or_else(|| Frame::new(self.rules.ir()));
        let read = self
            .raw
            .fill_object(self.rules.ir(), object, &bump, &mut frame)
            .filter(|&end| vigil_ingest::fast_json::trim_ws(&object[end..]) == tail);
        if let Some(end) = read {
            let object = &object[..end];
            self.start_at(ts);
            let mut cx = Cx {
                rules: &self.rules,
                labels: &mut self.labels,
                out,
            };
            self.events.run_timers(&mut cx, ts - 1);
            // Alerts share the event's text: one copy per event, however many rules fire,
            // into the last event's buffer when its alerts are gone.
            let mut spare = self.spare_event.take();
            let mut shared: Option<EventJson> = None;
            let mut text = || {
                shared
                    .get_or_insert_with(|| EventJson::refill(&mut spare, object))
                    .clone()
            };
            self.event_at(&mut frame, ts, &mut text, out);
            self.spare_event = spare;
        }
        self.event_frame = Some(frame.recycle());
        self.unescaped = bump;
        read.is_some()
    }

    pub(super) fn event_at(
        &mut self,
        frame: &mut Frame,
        ts: i64,
        raw: &mut dyn FnMut() -> EventJson,
        out: &mut Vec<Transition>,
    ) {
        if self.events.is_empty() {
            self.events.counters.events += 1;
            return;
        }
        let mut cx = Cx {
            rules: &self.rules,
            labels: &mut self.labels,
            out,
        };
        self.events.event(&mut cx, frame, ts, raw);
        self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
    }
}
