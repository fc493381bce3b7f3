//! The series store: for every series some rule reads, its samples over the longest window
//! any of its readers needs. Series no selector matches are not stored at all, and each
//! selector takes at most `max_series` series (the per-rule cardinality limit): past it, new
//! series are refused and counted, never allowed to exhaust memory.
//!
//! Memory per series: 16 bytes per retained sample (`(i64 ms, f64)`) plus ~120 bytes of
//! bookkeeping; samples are kept for the readers' reach (window + offset + lookback) and at
//! most [`MAX_SAMPLES`] per series. A series read by long windows also keeps buckets
//! (`rollup.rs`), sealed at each evaluation; its raw samples then need to reach only as far
//! as its other readers and the samples not yet sealed.

use crate::labels::{LabelId, Labels, Sym};
use crate::metric::rollup::{Rollup, RollupSpec};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use vigil_compiler::ir::series::Selector;
use vigil_vocab::MatchOp;

/// Hard cap of samples per series, whatever the windows (a 1s scrape over 18h).
pub const MAX_SAMPLES: usize = vigil_compiler::ir::series::MAX_SERIES_SAMPLES;

pub type SeriesId = u32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub metric: Sym,
    pub labels: LabelId,
    /// `(ms, value)`, sorted by time, no duplicate times.
    #[serde(with = "crate::nan::samples")]
    pub samples: VecDeque<(i64, f64)>,
    /// Keep samples this far behind the newest one, ms.
    pub(crate) reach_ms: i64,
    /// The newest time of a sample dropped by retention (`i64::MIN` when none was).
    #[serde(default = "never")]
    pub(crate) pruned: i64,
    /// Samples ever dropped from the front: `base + i` numbers sample `i` for good.
    #[serde(default)]
    pub base: u64,
    /// Bumped when a sample is inserted or replaced anywhere but at the end (sample numbers
    /// after it shift).
    #[serde(default)]
    pub epoch: u32,
    /// A staleness marker newer than every sample (Prometheus's: the series ended here, so
    /// instant reads stop at once instead of after the lookback).
    #[serde(default)]
    pub stale: Option<i64>,
    /// Buckets for the long windows reading this series (boxed: most series have none, and
    /// inline they would make every series several cache lines that evaluation walks).
    #[serde(default)]
    pub rollup: Option<Box<Rollup>>,
}

fn never() -> i64 {
    i64::MIN
}

impl Series {
    #[cfg(test)]
    pub(crate) fn new(metric: Sym, labels: LabelId, reach_ms: i64) -> Series {
        Series::with_rollup(metric, labels, reach_ms, None)
    }

    fn with_rollup(
        metric: Sym,
        labels: LabelId,
        reach_ms: i64,
        rollup: Option<&RollupSpec>,
    ) -> Series {
        Series {
            rollup: rollup.map(|r| Box::new(Rollup::new(r))),
            metric,
            labels,
            samples: VecDeque::new(),
            reach_ms,
            pruned: i64::MIN,
            base: 0,
            epoch: 0,
            stale: None,
        }
    }

    /// Drops samples older than the reach behind the newest one (and past [`MAX_SAMPLES`]),
    /// keeping those its buckets have not folded yet;
    /// returns how many of them were still within the reach (cut by the cap: a window then
    /// sees only the newest samples, which the caller counts and reports).
    pub(crate) fn prune(&mut self) -> u64 {
        let Some(&(newest, _)) = self.samples.back() else {
            return 0;
        };
        let mut cut = 0;
        // Samples not yet folded into buckets are still needed.
        let sealed = self.rollup.as_ref().map_or(i64::MAX, |r| r.sealed);
        while let Some(&(f, _)) = self.samples.front() {
            let in_reach = f >= newest - self.reach_ms || f > sealed;
            if in_reach && self.samples.len() <= MAX_SAMPLES {
                break;
            }
            cut += u64::from(in_reach);
            self.samples.pop_front();
            self.base += 1;
            self.pruned = self.pruned.max(f);
        }
        cut
    }

    /// Samples at or before this time may have been dropped by retention.
    pub fn pruned_up_to(&self) -> i64 {
        self.pruned
    }
    /// The number of samples at or before `t` (the index of the first one after it). Evaluation reads near the newest samples, so
    /// this gallops from the back (1, 2, 4, ... steps) before a binary search in the bracket.
    pub fn after(&self, t: i64) -> usize {
        let s = &self.samples;
        let n = s.len();
        let (mut hi, mut step) = (n, 1);
        while hi > 0 && s[hi - 1].0 > t {
            let lo = hi.saturating_sub(step);
            if s[lo].0 <= t {
                // The answer is in (lo, hi).
                let mut a = lo + 1;
                let mut b = hi;
                while a < b {
                    let m = (a + b) / 2;
                    if s[m].0 <= t {
                        a = m + 1;
                    } else {
                        b = m;
                    }
                }
                return a;
            }
            hi = lo;
            step *= 2;
        }
        hi
    }
    /// Samples in `(from, to]`.
    pub fn range(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        let b = self.after(to);
        let a = self.after(from).min(b);
        self.samples.range(a..b).copied()
    }
    /// The latest sample at or before `t`.
    pub fn at_or_before(&self, t: i64) -> Option<(i64, f64)> {
        self.after(t).checked_sub(1).map(|i| self.samples[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evaluation walks every selected series once per rule: a series record that grows past
    /// two cache lines (as it did with its buckets inline, 528 bytes) costs replay time.
    #[test]
    fn a_series_record_stays_small() {
        assert!(
            std::mem::size_of::<Series>() <= 128,
            "{}",
            std::mem::size_of::<Series>()
        );
    }

    #[test]
    fn galloping_search_agrees_with_binary_search() {
        let mut s = Series::new(0, 0, 0);
        for n in 0..40i64 {
            for t in -5..(n * 10 + 15) {
                let want = s.samples.partition_point(|x| x.0 <= t);
                assert_eq!(s.after(t), want, "n {n} t {t}");
            }
            s.samples.push_back((n * 10, n as f64));
        }
    }
}

#[derive(Debug, Clone)]
enum Test {
    Eq(Sym),
    Ne(Sym),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

/// A selector of some rule, with the series it has accepted.
#[derive(Debug, Clone)]
pub struct SelectorState {
    pub metric: Sym,
    matchers: Vec<(Sym, Test)>,
    pub series: Vec<SeriesId>,
    pub reach_ms: i64,
    pub scale: f64,
    /// New series refused because this selector was full.
    pub refused: u64,
    /// The rule that owns the selector, for diagnostics.
    pub rule: String,
    /// The buckets its long windows read (merged over them).
    pub rollup: Option<RollupSpec>,
}

impl SelectorState {
    /// The selector as written (metric, matchers, scale), without its owner.
    pub fn text(&self) -> &str {
        self.rule.split_once('\u{0}').map_or("", |x| x.1)
    }
}

/// Why a sample was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    Stored,
    /// No rule reads this series.
    Unread,
    /// Every selector that would read it is at its cardinality limit.
    Refused,
    /// Older than an evaluation already done (past the allowed lateness).
    TooLate,
    /// A time outside ±[`MAX_TIME`] (about ±3000 years around 1970).
    OutOfRange,
}

pub use crate::time::MAX_TIME;

#[derive(Debug, Default)]
pub struct Store {
    pub series: Vec<Series>,
    index: HashMap<(Sym, LabelId), SeriesId, foldhash::fast::RandomState>,
    pub selectors: Vec<SelectorState>,
    by_metric: HashMap<Sym, Vec<usize>, foldhash::fast::RandomState>,
    /// Samples of series no rule reads, counted.
    pub unread: u64,
    /// Samples dropped while a window could still read them (more than [`MAX_SAMPLES`] in
    /// one series' reach): windows then see only the newest.
    pub truncated: u64,
    pub max_series: usize,
    /// Series that keep buckets (sealed at every evaluation).
    rolled: Vec<SeriesId>,
}

impl Store {
    pub fn new(max_series: usize) -> Store {
        Store {
            max_series,
            ..Store::default()
        }
    }

    /// Registers a selector (deduplicated by its text and owner); returns its index.
    pub fn selector(
        &mut self,
        labels: &mut Labels,
        sel: &Selector,
        reach_s: f64,
        rule: &str,
    ) -> Result<usize, regex::Error> {
        let metric = labels.sym(&sel.metric);
        let mut matchers = Vec::new();
        for (name, op, value) in &sel.matchers {
            let n = labels.sym(name);
            let anchored = || regex::Regex::new(&format!("^(?:{value})$"));
            matchers.push((
                n,
                match op {
                    MatchOp::Eq => Test::Eq(labels.sym(value)),
                    MatchOp::Ne => Test::Ne(labels.sym(value)),
                    MatchOp::Re => Test::Re(anchored()?),
                    MatchOp::NotRe => Test::NotRe(anchored()?),
                },
            ));
        }
        let reach_ms = (reach_s * 1000.0).ceil() as i64;
        let key_text = format!("{sel:?}");
        let owner = format!("{rule}\u{0}{key_text}");
        if let Some(i) = self.selectors.iter().position(|s| s.rule == owner) {
            let s = &mut self.selectors[i];
            s.reach_ms = s.reach_ms.max(reach_ms);
            return Ok(i);
        }
        self.selectors.push(SelectorState {
            metric,
            matchers,
            series: Vec::new(),
            reach_ms,
            scale: sel.scale,
            refused: 0,
            rule: owner,
            rollup: None,
        });
        let i = self.selectors.len() - 1;
        self.by_metric.entry(metric).or_default().push(i);
        Ok(i)
    }

    fn push(&mut self, s: Series) {
        if s.rollup.is_some() {
            self.rolled.push(self.series.len() as SeriesId);
        }
        self.series.push(s);
    }

    /// Asks selector `i` to keep buckets for a long window as well.
    pub fn rollup(&mut self, i: usize, spec: RollupSpec) {
        let s = &mut self.selectors[i];
        s.rollup = Some(s.rollup.map_or(spec, |r| r.merge(spec)));
    }

    /// Folds every bucketed series' samples up to `t` (an evaluation time: no sample at or
    /// before it can arrive any more) into its buckets.
    pub fn seal(&mut self, t: i64) {
        for &id in &self.rolled {
            let s = &mut self.series[id as usize];
            let Some(r) = &mut s.rollup else { continue };
            let from = s.samples.partition_point(|x| x.0 <= r.sealed);
            self.truncated += r.seal(s.samples.range(from..).copied(), t);
        }
    }

    /// Whether label set `set` passes selector `s`'s matchers (its metric aside).
    pub(crate) fn matches(labels: &Labels, set: LabelId, s: &SelectorState) -> bool {
        s.matchers.iter().all(|(name, t)| {
            let v = labels.get(set, *name);
            let text = || labels.str(v);
            match t {
                Test::Eq(x) => v == *x || (text().is_empty() && labels.str(*x).is_empty()),
                Test::Ne(x) => v != *x,
                Test::Re(re) => re.is_match(if v == crate::labels::ABSENT {
                    ""
                } else {
                    text()
                }),
                Test::NotRe(re) => !re.is_match(if v == crate::labels::ABSENT {
                    ""
                } else {
                    text()
                }),
            }
        })
    }

    /// Offers new series `id` to the selectors of its metric: each that matches takes it while
    /// under the cardinality limit (else counts a refusal). Returns whether any matched, the
    /// longest reach of those that took it (`None`: none did), and the buckets they need.
    fn attach(
        &mut self,
        labels: &Labels,
        metric: Sym,
        set: LabelId,
        id: SeriesId,
    ) -> (bool, Option<i64>, Option<RollupSpec>) {
        let (mut matched, mut reach, mut rollup) = (false, None, None::<RollupSpec>);
        let Some(readers) = self.by_metric.get(&metric) else {
            return (false, None, None);
        };
        for &r in readers {
            let s = &mut self.selectors[r];
            if !Self::matches(labels, set, s) {
                continue;
            }
            matched = true;
            if s.series.len() >= self.max_series {
                s.refused += 1;
                continue;
            }
            s.series.push(id);
            reach = Some(reach.unwrap_or(0).max(s.reach_ms));
            if let Some(r) = s.rollup {
                rollup = Some(rollup.map_or(r, |x| x.merge(r)));
            }
        }
        (matched, reach, rollup)
    }

    /// Appends one sample. `evaluated` is the last evaluation time already done: samples at
    /// or before it are too late to change anything and are refused.
    pub fn append(
        &mut self,
        labels: &Labels,
        metric: Sym,
        set: LabelId,
        t: i64,
        v: f64,
        evaluated: Option<i64>,
    ) -> Append {
        if evaluated.is_some_and(|e| t <= e) {
            return Append::TooLate;
        }
        let id = match self.index.get(&(metric, set)) {
            Some(&id) => id,
            None => {
                let id = self.series.len() as SeriesId;
                let (matched, reach, rollup) = self.attach(labels, metric, set, id);
                if reach.is_none() {
                    if matched {
                        return Append::Refused;
                    }
                    self.unread += 1;
                    return Append::Unread;
                }
                self.push(Series::with_rollup(
                    metric,
                    set,
                    reach.unwrap_or(0),
                    rollup.as_ref(),
                ));
                self.index.insert((metric, set), id);
                id
            }
        };
        let scale = self
            .by_metric
            .get(&metric)
            .and_then(|r| r.first())
            .map_or(1.0, |&r| self.selectors[r].scale);
        let s = &mut self.series[id as usize];
        if s.stale.is_some_and(|m| t > m) {
            s.stale = None;
        }
        let v = v * scale;
        match s.samples.back() {
            Some(&(last, _)) if t < last => {
                let i = s.samples.partition_point(|x| x.0 < t);
                if s.samples[i].0 == t {
                    s.samples[i].1 = v;
                } else {
                    s.samples.insert(i, (t, v));
                }
                s.epoch = s.epoch.wrapping_add(1);
            }
            Some(&(last, _)) if t == last => {
                if let Some(b) = s.samples.back_mut() {
                    b.1 = v;
                }
                s.epoch = s.epoch.wrapping_add(1);
            }
            _ => s.samples.push_back((t, v)),
        }
        self.truncated += s.prune();
        Append::Stored
    }

    /// Marks a stored series stale at `t` (ignored when it has a sample at or after `t`).
    pub fn mark_stale(&mut self, metric: Sym, set: LabelId, t: i64) {
        if let Some(&id) = self.index.get(&(metric, set)) {
            let s = &mut self.series[id as usize];
            if s.samples.back().is_none_or(|b| b.0 < t) {
                s.stale = Some(t);
            }
        }
    }

    /// Series of a metric a rule's selector has accepted.
    pub fn selected(&self, selector: usize) -> &[SeriesId] {
        &self.selectors[selector].series
    }

    /// Appends a computed sample (a recorded series) without a reader check.
    pub fn record(
        &mut self,
        labels: &Labels,
        metric: Sym,
        set: LabelId,
        t: i64,
        v: f64,
        reach_ms: i64,
    ) {
        let id = match self.index.get(&(metric, set)) {
            Some(&id) => id,
            None => {
                let id = self.series.len() as SeriesId;
                let (_, _, rollup) = self.attach(labels, metric, set, id);
                self.push(Series::with_rollup(metric, set, reach_ms, rollup.as_ref()));
                self.index.insert((metric, set), id);
                id
            }
        };
        let s = &mut self.series[id as usize];
        s.samples.push_back((t, v));
        self.truncated += s.prune();
    }

    /// Adds a restored series (from a snapshot) to the index and to the selectors it matches.
    pub fn restore(&mut self, labels: &Labels, series: Series) {
        let id = self.series.len() as SeriesId;
        if self.index.contains_key(&(series.metric, series.labels)) {
            return;
        }
        let (_, reach, spec) = self.attach(labels, series.metric, series.labels, id);
        self.index.insert((series.metric, series.labels), id);
        // Buckets kept for other readers (another rule set) start afresh from the raw samples.
        let rollup = match (series.rollup, spec) {
            (Some(r), Some(spec)) if r.serves(&spec) => Some(r),
            (_, spec) => spec.as_ref().map(|r| Box::new(Rollup::new(r))),
        };
        self.push(Series {
            reach_ms: reach.unwrap_or(0).max(series.reach_ms),
            rollup,
            ..series
        });
    }

    /// Bytes held by samples and series records (an estimate for `--stats`).
    pub fn bytes(&self) -> usize {
        self.series
            .iter()
            .map(|s| {
                s.samples.capacity() * 16
                    + std::mem::size_of::<Series>()
                    + 48
                    + s.rollup.as_deref().map_or(0, Rollup::bytes)
            })
            .sum()
    }
}
