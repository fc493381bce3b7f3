//! The series store: for every series some rule reads, its samples over the longest window
//! any of its readers needs. Series no selector matches are not stored at all, and each
//! selector takes at most `max_series` series (the per-rule cardinality limit): past it, new
//! series are refused and counted, never allowed to exhaust memory.
//!
//! Memory per series: 16 bytes per retained sample (`(i64 ms, f64)`) plus ~120 bytes of
//! bookkeeping; samples are kept for the readers' reach (window + offset + lookback) and at
//! most [`MAX_SAMPLES`] per series.

use crate::labels::{LabelId, Labels, Sym};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use vigil_compiler::ir::series::Selector;
use vigil_compiler::syntax::ast::MatchOp;

/// Hard cap of samples per series, whatever the windows (a 1s scrape over 18h).
pub const MAX_SAMPLES: usize = 65_536;

pub type SeriesId = u32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub metric: Sym,
    pub labels: LabelId,
    /// `(ms, value)`, sorted by time, no duplicate times.
    pub samples: VecDeque<(i64, f64)>,
    /// Keep samples this far behind the newest one, ms.
    reach_ms: i64,
}

impl Series {
    /// Samples in `(from, to]`, as two slices (the ring's halves).
    pub fn range(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        let a = self.samples.partition_point(|s| s.0 <= from);
        let b = self.samples.partition_point(|s| s.0 <= to);
        self.samples.range(a..b.max(a)).copied()
    }
    /// The latest sample at or before `t`.
    pub fn at_or_before(&self, t: i64) -> Option<(i64, f64)> {
        let b = self.samples.partition_point(|s| s.0 <= t);
        b.checked_sub(1).map(|i| self.samples[i])
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
}

#[derive(Debug, Default)]
pub struct Store {
    pub series: Vec<Series>,
    index: HashMap<(Sym, LabelId), SeriesId>,
    pub selectors: Vec<SelectorState>,
    by_metric: HashMap<Sym, Vec<usize>>,
    /// Samples of series no rule reads, counted.
    pub unread: u64,
    pub max_series: usize,
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
        });
        let i = self.selectors.len() - 1;
        self.by_metric.entry(metric).or_default().push(i);
        Ok(i)
    }

    fn matches(labels: &Labels, set: LabelId, s: &SelectorState) -> bool {
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
                let Some(readers) = self.by_metric.get(&metric) else {
                    self.unread += 1;
                    return Append::Unread;
                };
                let mut taken = false;
                let mut matched = false;
                let mut reach = 0;
                let id = self.series.len() as SeriesId;
                for &r in readers {
                    let s = &self.selectors[r];
                    if !Self::matches(labels, set, s) {
                        continue;
                    }
                    matched = true;
                    let s = &mut self.selectors[r];
                    if s.series.len() >= self.max_series {
                        s.refused += 1;
                        continue;
                    }
                    s.series.push(id);
                    reach = reach.max(s.reach_ms);
                    taken = true;
                }
                if !taken {
                    if matched {
                        return Append::Refused;
                    }
                    self.unread += 1;
                    return Append::Unread;
                }
                self.series.push(Series {
                    metric,
                    labels: set,
                    samples: VecDeque::new(),
                    reach_ms: reach,
                });
                self.index.insert((metric, set), id);
                id
            }
        };
        let scale = self.by_metric[&metric]
            .first()
            .map_or(1.0, |&r| self.selectors[r].scale);
        let s = &mut self.series[id as usize];
        let v = v * scale;
        match s.samples.back() {
            Some(&(last, _)) if t < last => {
                let i = s.samples.partition_point(|x| x.0 < t);
                if s.samples[i].0 == t {
                    s.samples[i].1 = v;
                } else {
                    s.samples.insert(i, (t, v));
                }
            }
            Some(&(last, _)) if t == last => {
                if let Some(b) = s.samples.back_mut() {
                    b.1 = v;
                }
            }
            _ => s.samples.push_back((t, v)),
        }
        let newest = s.samples.back().map_or(t, |x| x.0);
        while let Some(&(f, _)) = s.samples.front() {
            if f < newest - s.reach_ms || s.samples.len() > MAX_SAMPLES {
                s.samples.pop_front();
            } else {
                break;
            }
        }
        Append::Stored
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
                self.series.push(Series {
                    metric,
                    labels: set,
                    samples: VecDeque::new(),
                    reach_ms,
                });
                self.index.insert((metric, set), id);
                if let Some(readers) = self.by_metric.get(&metric) {
                    for &r in readers {
                        if !Self::matches(labels, set, &self.selectors[r]) {
                            continue;
                        }
                        if self.selectors[r].series.len() < self.max_series {
                            self.selectors[r].series.push(id);
                        } else {
                            self.selectors[r].refused += 1;
                        }
                    }
                }
                id
            }
        };
        let s = &mut self.series[id as usize];
        s.samples.push_back((t, v));
        while s.samples.front().is_some_and(|f| f.0 < t - s.reach_ms) {
            s.samples.pop_front();
        }
    }

    /// Bytes held by samples and series records (an estimate for `--stats`).
    pub fn bytes(&self) -> usize {
        self.series
            .iter()
            .map(|s| s.samples.capacity() * 16 + std::mem::size_of::<Series>() + 48)
            .sum()
    }
}
