//! Incremental window aggregates: one accumulator per (window function, series) that slides
//! with the evaluation time, so each evaluation adds the samples that entered the window and
//! removes those that left it instead of rereading the window. O(1) amortised per sample for
//! count/sum/avg/stddev/variance/zscore (compensated running sums, shifted by a reference value
//! against cancellation), slope/predict (running regression sums) and min/max (monotonic
//! deques). Functions that need the whole window (quantile, rate's reset scan over a few
//! samples, ewma) read it directly (`window::apply`).
//!
//! An accumulator rebuilds from the store when the window moves backwards, when samples it
//! would have to remove were already pruned, when it meets a non-finite value, and every
//! [`REBUILD_EVERY`] slides, so rounding drift stays bounded.

use crate::store::Series;
use std::collections::VecDeque;
use vigil_compiler::ir::series::WindowFn;

/// Slides between full rebuilds.
pub const REBUILD_EVERY: u32 = 256;

/// Whether a window function has an incremental form.
pub fn supported(f: WindowFn) -> bool {
    matches!(
        f,
        WindowFn::Avg
            | WindowFn::Sum
            | WindowFn::Count
            | WindowFn::Stddev
            | WindowFn::Variance
            | WindowFn::Zscore
            | WindowFn::Slope
            | WindowFn::Predict
            | WindowFn::Min
            | WindowFn::Max
    )
}

/// Neumaier-compensated sum that also subtracts.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    s: f64,
    c: f64,
}

impl Sum {
    #[inline]
    fn add(&mut self, x: f64) {
        let t = self.s + x;
        if self.s.abs() >= x.abs() {
            self.c += (self.s - t) + x;
        } else {
            self.c += (x - t) + self.s;
        }
        self.s = t;
    }
    #[inline]
    fn get(&self) -> f64 {
        self.s + self.c
    }
}

#[derive(Debug, Clone, Default)]
pub struct Acc {
    valid: bool,
    /// The accumulated window is `(lo, hi]`, ms, holding samples numbered `start..end`
    /// (see `Series::base`) of series epoch `epoch`.
    lo: i64,
    hi: i64,
    start: u64,
    end: u64,
    epoch: u32,
    slides: u32,
    n: f64,
    /// Values are accumulated as `v - k`, times as `(t - t0) / 1000`.
    k: f64,
    t0: i64,
    sy: Sum,
    syy: Sum,
    sx: Sum,
    sxx: Sum,
    sxy: Sum,
    nonfinite: u32,
    mins: VecDeque<(i64, f64)>,
    maxs: VecDeque<(i64, f64)>,
    track_minmax: bool,
    track_regression: bool,
}

impl Acc {
    pub fn new(f: WindowFn) -> Acc {
        Acc {
            track_minmax: matches!(f, WindowFn::Min | WindowFn::Max),
            track_regression: matches!(f, WindowFn::Slope | WindowFn::Predict),
            ..Acc::default()
        }
    }

    #[inline]
    fn add(&mut self, t: i64, v: f64, sign: f64) {
        if !v.is_finite() {
            self.nonfinite = if sign > 0.0 {
                self.nonfinite + 1
            } else {
                self.nonfinite.saturating_sub(1)
            };
            self.n += sign;
            return;
        }
        let y = v - self.k;
        self.n += sign;
        self.sy.add(sign * y);
        self.syy.add(sign * y * y);
        if self.track_regression {
            let x = (t - self.t0) as f64 / 1000.0;
            self.sx.add(sign * x);
            self.sxx.add(sign * x * x);
            self.sxy.add(sign * x * y);
        }
    }

    fn push_minmax(&mut self, t: i64, v: f64) {
        while self.mins.back().is_some_and(|b| !(b.1 < v)) {
            self.mins.pop_back();
        }
        self.mins.push_back((t, v));
        while self.maxs.back().is_some_and(|b| !(b.1 > v)) {
            self.maxs.pop_back();
        }
        self.maxs.push_back((t, v));
    }

    fn rebuild(&mut self, s: &Series, lo: i64, hi: i64) {
        let (mm, rg) = (self.track_minmax, self.track_regression);
        *self = Acc {
            track_minmax: mm,
            track_regression: rg,
            ..Acc::default()
        };
        let b = s.after(hi);
        let a = s.after(lo).min(b);
        if let Some(&(t, v)) = s.samples.get(a).filter(|_| a < b) {
            self.k = if v.is_finite() { v } else { 0.0 };
            self.t0 = t;
        }
        for &(t, v) in s.samples.range(a..b) {
            self.add(t, v, 1.0);
            if mm {
                self.push_minmax(t, v);
            }
        }
        self.valid = true;
        self.lo = lo;
        self.hi = hi;
        self.start = s.base + a as u64;
        self.end = s.base + b as u64;
        self.epoch = s.epoch;
    }

    /// The latest sample in the window.
    pub fn last(&self, s: &Series) -> Option<f64> {
        if self.end > self.start && self.end > s.base {
            s.samples.get((self.end - 1 - s.base) as usize).map(|x| x.1)
        } else {
            None
        }
    }

    /// Moves the accumulated window to `(lo, hi]`: adds the samples after the old end up to
    /// `hi`, removes those from the old start up to `lo`, walking sample numbers (no search).
    pub fn slide(&mut self, s: &Series, lo: i64, hi: i64) {
        self.slides += 1;
        if !self.valid
            || lo < self.lo
            || hi < self.hi
            || self.epoch != s.epoch
            || self.start < s.base
            || self.nonfinite > 0
            || self.slides >= REBUILD_EVERY
            || self.n == 0.0
        {
            self.rebuild(s, lo, hi);
            return;
        }
        let len = s.samples.len() as u64;
        let mut end = self.end;
        while end - s.base < len {
            let (t, v) = s.samples[(end - s.base) as usize];
            if t > hi {
                break;
            }
            self.add(t, v, 1.0);
            if self.track_minmax {
                self.push_minmax(t, v);
            }
            end += 1;
        }
        let mut start = self.start;
        while start < end {
            let (t, v) = s.samples[(start - s.base) as usize];
            if t > lo {
                break;
            }
            self.add(t, v, -1.0);
            start += 1;
        }
        if self.track_minmax {
            while self.mins.front().is_some_and(|f| f.0 <= lo) {
                self.mins.pop_front();
            }
            while self.maxs.front().is_some_and(|f| f.0 <= lo) {
                self.maxs.pop_front();
            }
        }
        self.lo = lo;
        self.hi = hi;
        self.start = start;
        self.end = end;
        if self.nonfinite > 0 {
            self.rebuild(s, lo, hi);
        }
    }

    /// The function's value over the accumulated window (`last` is its latest sample, `end` its
    /// end); `None` on an empty window or too few samples.
    pub fn value(&self, f: WindowFn, arg: f64, last: f64, end: i64) -> Option<f64> {
        let n = self.n;
        if n <= 0.0 {
            return None;
        }
        let mean_y = self.sy.get() / n;
        let var = || ((self.syy.get() - self.sy.get() * mean_y) / n).max(0.0);
        Some(match f {
            WindowFn::Count => n,
            WindowFn::Sum => self.sy.get() + n * self.k,
            WindowFn::Avg => mean_y + self.k,
            WindowFn::Variance => var(),
            WindowFn::Stddev => var().sqrt(),
            WindowFn::Zscore => {
                let sd = var().sqrt();
                if sd == 0.0 {
                    0.0
                } else {
                    (last - (mean_y + self.k)) / sd
                }
            }
            WindowFn::Min => self.mins.front()?.1,
            WindowFn::Max => self.maxs.front()?.1,
            WindowFn::Slope | WindowFn::Predict => {
                if n < 2.0 {
                    return None;
                }
                let (sx, sy) = (self.sx.get(), self.sy.get());
                let cov = self.sxy.get() - sx * sy / n;
                let varx = self.sxx.get() - sx * sx / n;
                let slope = if var() == 0.0 { 0.0 } else { cov / varx };
                if f == WindowFn::Slope {
                    slope
                } else {
                    let icept = sy / n - slope * sx / n + self.k;
                    let at = (end - self.t0) as f64 / 1000.0 + arg;
                    icept + slope * at
                }
            }
            _ => return None,
        })
    }

    /// Whether the window holds non-finite values (the caller computes afresh).
    pub fn needs_fresh(&self) -> bool {
        self.nonfinite > 0
    }
}
