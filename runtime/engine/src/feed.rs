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
pub struct Merge<S> {
    pub sources: Vec<S>,
    /// The newest time fed so far.
    pub last: Option<i64>,
}

impl<S: Source> Merge<S> {
    pub fn new(sources: Vec<S>) -> Merge<S> {
        Merge {
            sources,
            last: None,
        }
    }

    /// The source whose next record is earliest, and that record's time.
    pub fn earliest(&mut self) -> Option<(usize, i64)> {
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

    /// Ingests source `i`'s next record (the caller has moved the clock to just before its
    /// time, see [`Engine::advance`]); returns what it was, for counting.
    pub fn ingest(&mut self, engine: &mut Engine, i: usize, out: &mut Vec<Transition>) -> Fed {
        let Some(r) = self.sources.get_mut(i).and_then(Source::pop) else {
            return Fed::Nothing;
        };
        let fed = engine.ingest_record(&r, out);
        if let Fed::Malformed(why) = &fed {
            self.sources[i].refused(why.clone());
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
            Record::Event { ts, event } => {
                self.ingest_event(*ts, event, out);
                Fed::Event
            }
            Record::Raw { ts, line, start } => match self.ingest_event_line(*ts, line, *start, out)
            {
                Ok(()) => Fed::Event,
                Err(why) => Fed::Malformed(why),
            },
        }
    }
}
