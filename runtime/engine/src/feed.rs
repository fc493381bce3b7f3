//! Feeding an engine: inputs merged by time, and the clock moved to just before each record,
//! so `vigil replay`, `vigil test` and the daemon's backfill drive the engine alike (and every
//! evaluation runs once all the data it may read has arrived).

use crate::Engine;
use std::collections::VecDeque;
use std::io::BufRead;
use vigil_ingest::{LineSource, Record};
use vigil_vocab::Transition;

/// Records in time order (each source's own order; several are merged by [`Merge`]).
pub trait Source {
    /// The time of the next record; `None` at the end.
    fn peek(&mut self) -> Option<i64>;
    /// The next record (after [`Source::peek`] said there is one).
    fn pop(&mut self) -> Option<Record>;
    /// A record handed back once fed, for its buffers.
    fn recycle(&mut self, _r: Record) {}
    /// The record last taken could not be read (an event line the engine's reader refused):
    /// reported like a line the source itself refused.
    fn refused(&mut self, _message: String) {}
    /// Where the record last taken was read (a line number), to refuse it later.
    fn place(&self) -> Option<usize> {
        None
    }
    /// A record taken earlier, read at `place`, was refused.
    fn refused_at(&mut self, _place: usize, _message: String) {}
}

impl<R: BufRead> Source for LineSource<R> {
    fn peek(&mut self) -> Option<i64> {
        LineSource::peek(self)
    }
    fn pop(&mut self) -> Option<Record> {
        LineSource::pop(self)
    }
    fn recycle(&mut self, r: Record) {
        LineSource::recycle(self, r)
    }
    fn refused(&mut self, message: String) {
        LineSource::refuse_current(self, message)
    }
    fn place(&self) -> Option<usize> {
        Some(self.line_no())
    }
    fn refused_at(&mut self, place: usize, message: String) {
        self.refuse_line(place, message)
    }
}

/// Records held in memory (a test's inputs), sorted stably by time.
#[derive(Debug, Default)]
pub struct Sorted(VecDeque<Record>);

impl Sorted {
    pub fn new(mut records: Vec<Record>) -> Sorted {
        records.sort_by_key(Record::ts);
        Sorted(records.into())
    }
    /// The time of the last record.
    pub fn last_time(&self) -> Option<i64> {
        self.0.back().map(Record::ts)
    }
}

impl Source for Sorted {
    fn peek(&mut self) -> Option<i64> {
        self.0.front().map(Record::ts)
    }
    fn pop(&mut self) -> Option<Record> {
        self.0.pop_front()
    }
}

/// Several sources merged by time: the earliest next record first, ties to the source given
/// first (so equal times keep the order the inputs were named in).
///
/// With [`Merge::max_jump`], a record further than that ahead of the newest time fed waits
/// for the next record: if the stream jumped too (the next record is also that far ahead),
/// both are fed; if the next record is back on the old timeline, the lone record is refused
/// as a mistyped time, so one event dated 9999 cannot end every alert and make all later
/// data too late.
pub struct Merge<S> {
    pub sources: Vec<S>,
    /// The newest time fed so far.
    pub last: Option<i64>,
    /// How far ahead of the newest time a record may be without confirmation, ms.
    pub max_jump: Option<i64>,
    /// A record held for confirmation: its source, where it was read, the record.
    held: Option<(usize, Option<usize>, Record)>,
}

/// [`Merge::earliest`]'s index for the held record.
const HELD: usize = usize::MAX;

impl<S: Source> Merge<S> {
    pub fn new(sources: Vec<S>) -> Merge<S> {
        Merge {
            sources,
            last: None,
            max_jump: None,
            held: None,
        }
    }

    fn scan(&mut self) -> Option<(usize, i64)> {
        let mut next: Option<(usize, i64)> = None;
        for (i, src) in self.sources.iter_mut().enumerate() {
            if let Some(ts) = src.peek()
                && next.is_none_or(|(_, best)| ts < best)
            {
                next = Some((i, ts));
            }
        }
        next
    }

    /// Whether `ts` is further ahead of the newest time fed than a jump may be.
    fn ahead(&self, ts: i64) -> bool {
        match (self.last, self.max_jump) {
            (Some(last), Some(jump)) => ts > last.saturating_add(jump),
            _ => false,
        }
    }

    /// The source whose next record is earliest, and that record's time.
    pub fn earliest(&mut self) -> Option<(usize, i64)> {
        loop {
            let next = self.scan();
            if let Some((_, _, h)) = &self.held {
                let ht = h.ts();
                let confirmed = !self.ahead(ht) || next.is_some_and(|(_, ts)| self.ahead(ts));
                if confirmed {
                    return match next {
                        Some((i, ts)) if ts < ht => Some((i, ts)),
                        _ => Some((HELD, ht)),
                    };
                }
                self.refuse_held(ht);
            }
            match next {
                Some((i, ts)) if self.ahead(ts) && self.held.is_none() => {
                    let r = self.sources[i].pop();
                    let place = self.sources[i].place();
                    self.held = r.map(|r| (i, place, r));
                }
                other => return other,
            }
        }
    }

    fn refuse_held(&mut self, ht: i64) {
        let Some((i, place, r)) = self.held.take() else {
            return;
        };
        let ahead = ht.saturating_sub(self.last.unwrap_or(ht)) / 1000;
        let ahead = if ahead >= 86_400 {
            format!("{} days", ahead / 86_400)
        } else {
            format!("{ahead}s")
        };
        let message = format!(
            "its time is {ahead} ahead of the data before it, and the data after it does not \
             follow (a mistyped time?); raise --max-jump if the data really jumps"
        );
        match place {
            Some(p) => self.sources[i].refused_at(p, message),
            None => self.sources[i].refused(message),
        }
        self.sources[i].recycle(r);
    }

    /// Ingests source `i`'s next record (the caller has moved the clock to just before its
    /// time, see [`Engine::advance`]); returns what it was, for counting.
    pub fn ingest(&mut self, engine: &mut Engine, i: usize, out: &mut Vec<Transition>) -> Fed {
        let (i, place, r) = if i == HELD {
            match self.held.take() {
                Some(h) => h,
                None => return Fed::Nothing,
            }
        } else {
            match self.sources.get_mut(i).and_then(Source::pop) {
                Some(r) => (i, None, r),
                None => return Fed::Nothing,
            }
        };
        let fed = engine.ingest_record(&r, out);
        if let Fed::Malformed(why) = &fed {
            match place {
                Some(p) => self.sources[i].refused_at(p, why.clone()),
                None => self.sources[i].refused(why.clone()),
            }
        }
        self.last = Some(self.last.map_or(r.ts(), |l| l.max(r.ts())));
        self.sources[i].recycle(r);
        fed
    }

    /// Feeds everything, handing each batch of transitions to `sink`, and runs the clock to
    /// the last record's time at the end (every evaluation up to it, whatever the lateness).
    pub fn run(&mut self, engine: &mut Engine, sink: &mut dyn FnMut(&mut Vec<Transition>)) {
        let mut out = Vec::new();
        while let Some((i, ts)) = self.earliest() {
            engine.advance(ts.saturating_sub(1), &mut out);
            self.ingest(engine, i, &mut out);
            sink(&mut out);
        }
        if let Some(t) = self.last {
            engine.finish(t, &mut out);
        }
        sink(&mut out);
    }
}

/// What a fed record was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    Nothing,
    Sample,
    /// A series' samples (remote_write), this many.
    Samples(u64),
    Event,
    /// An event line that is not a valid JSON event, and why; nothing of it was processed.
    Malformed(String),
}

impl Engine {
    /// Ingests one record at its own time (samples stored, events processed or held for the
    /// watermark). The clock is the caller's: move it to just before the record first.
    pub fn ingest_record(&mut self, r: &Record, out: &mut Vec<Transition>) -> Fed {
        match r {
            Record::Sample {
                metric,
                labels,
                ts,
                value,
            } => {
                let pairs = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                self.ingest_pairs(metric, pairs, *ts, *value);
                Fed::Sample
            }
            Record::Stale { metric, labels, ts } => {
                let pairs = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                self.ingest_stale(metric, pairs, *ts);
                Fed::Sample
            }
            Record::Series {
                metric,
                labels,
                points,
            } => {
                let pairs = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                self.ingest_series(metric, pairs, points);
                Fed::Samples(points.len() as u64)
            }
            Record::Event { ts, event } => {
                self.ingest_event(*ts, event, out);
                Fed::Event
            }
            Record::Keyed {
                key,
                ts,
                value,
                line,
            } => match self.ingest_keyed(*key, line, *ts, *value) {
                Ok(_) => Fed::Sample,
                Err(why) => Fed::Malformed(why),
            },
            Record::Raw { ts, line, start } => match self.ingest_event_line(*ts, line, *start, out)
            {
                Ok(()) => Fed::Event,
                Err(why) => Fed::Malformed(why),
            },
        }
    }
}
