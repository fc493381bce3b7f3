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
//! [`REBUILD_EVERY`] slides, so rounding drift stays bounded. Regression sums keep times as
//! integer milliseconds (exact), and move their time origin to the window's start every
//! [`RECENTER_EVERY`] slides in O(1), so times never grow far from it.

use crate::metric::store::Series;
use crate::metric::window;
use std::collections::VecDeque;
use vigil_compiler::ir::series::WindowFn;

/// Slides between full rebuilds.
pub const REBUILD_EVERY: u32 = 256;
/// Windows of at most this many samples find their extremes by reading them: a few
/// comparisons cost less than a deque's data-dependent pops, which the processor cannot
/// predict. Longer windows keep monotonic deques (O(1) amortised whatever the length).
pub const SCAN_MAX: u64 = 12;
/// Regression sums move their time origin to the window's start this often (the products of
/// times and values lose digits as times grow away from the origin).
pub const RECENTER_EVERY: u32 = 32;

/// Count, sum, avg, variance, stddev and zscore of `n` values summed as `v - k` (`sy`, and
/// `syy` of squares), the newest being `last`: the formulas both sliding forms (these
/// accumulators and `rollup`'s spans) share. NaN when a sum is not finite; `None` for other
/// functions.
#[inline]
pub(crate) fn moments(
    f: WindowFn,
    n: f64,
    (sy, syy, k): (f64, f64, f64),
    last: f64,
) -> Option<f64> {
    let mean_y = sy / n;
    let var = || {
        if sy.is_finite() && syy.is_finite() {
            ((syy - sy * mean_y) / n).max(0.0)
        } else {
            f64::NAN
        }
    };
    Some(match f {
        WindowFn::Count => n,
        WindowFn::Sum => sy + n * k,
        WindowFn::Avg => mean_y + k,
        WindowFn::Variance => var(),
        WindowFn::Stddev => var().sqrt(),
        WindowFn::Zscore => {
            let sd = var().sqrt();
            if sd == 0.0 {
                0.0
            } else {
                (last - (mean_y + k)) / sd
            }
        }
        _ => return None,
    })
}

/// Keeps a deque of window minima candidates: a value that can never be the minimum again
/// (a smaller one came later) is dropped. Of equal values the earliest is the minimum, as
/// PromQL's `min_over_time` keeps it (`0` before `-0` gives `0`). A NaN is never the minimum
/// while other values exist (PromQL skips NaN unless all are).
pub(crate) fn push_min(q: &mut VecDeque<(i64, f64)>, at: i64, v: f64) {
    while q.back().is_some_and(|b| v < b.1 || b.1.is_nan()) {
        q.pop_back();
    }
    q.push_back((at, v));
}

/// [`push_min`] for maxima.
pub(crate) fn push_max(q: &mut VecDeque<(i64, f64)>, at: i64, v: f64) {
    while q.back().is_some_and(|b| v > b.1 || b.1.is_nan()) {
        q.pop_back();
    }
    q.push_back((at, v));
}

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

/// `x` as the nearest `f64`, through `i64` when it fits: the same rounding, without the
/// library call a 128-bit conversion is (kept out of line, or the compiler makes the call
/// anyway, ahead of the test).
#[inline]
fn to_f64(x: i128) -> f64 {
    #[cold]
    #[inline(never)]
    fn wide(x: i128) -> f64 {
        x as f64
    }
    match i64::try_from(x) {
        Ok(v) => v as f64,
        Err(_) => wide(x),
    }
}

/// Compensated sum that also subtracts: each step's rounding error (Knuth's branch-free
/// TwoSum) is accumulated separately.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sum {
    s: f64,
    c: f64,
}

impl Sum {
    #[inline]
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.s + x;
        let bp = t - self.s;
        self.c += (self.s - (t - bp)) + (x - bp);
        self.s = t;
    }
    #[inline]
    pub(crate) fn get(&self) -> f64 {
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
    /// Values are accumulated as `v - k`, times as `x = t - t0` in integer milliseconds, so
    /// the sums of times and of their squares are exact.
    k: f64,
    t0: i64,
    sy: Sum,
    syy: Sum,
    sx: i128,
    sxx: i128,
    /// Sum of `x * (v - k)`, `x` in milliseconds.
    sxy: Sum,
    nonfinite: u32,
    /// Extremes read from the samples on every slide (the window held at most [`SCAN_MAX`]
    /// samples at the last rebuild), instead of kept in the deques.
    scan: bool,
    least: f64,
    most: f64,
    mins: VecDeque<(i64, f64)>,
    maxs: VecDeque<(i64, f64)>,
    track: Tracks,
}

/// Which sums and deques an accumulator keeps, from the functions it serves.
#[derive(Debug, Clone, Copy, Default)]
struct Tracks {
    min: bool,
    max: bool,
    sum: bool,
    sq: bool,
    regression: bool,
}

impl Tracks {
    fn minmax(self) -> bool {
        self.min || self.max
    }
}

impl Acc {
    pub fn new(f: WindowFn) -> Acc {
        Acc::for_funcs(&[f])
    }

    /// One accumulator serving several functions over the same window (`avg` and `min` of
    /// the same series over 5m slide together).
    pub fn for_funcs(funcs: &[WindowFn]) -> Acc {
        use WindowFn::*;
        let mut t = Tracks::default();
        for &f in funcs {
            t.min |= f == Min;
            t.max |= f == Max;
            t.regression |= matches!(f, Slope | Predict);
            t.sq |= matches!(f, Stddev | Variance | Zscore | Slope | Predict);
            t.sum |= !matches!(f, Min | Max | Count);
        }
        Acc {
            track: t,
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
        if self.track.sum {
            self.sy.add(sign * y);
        }
        if self.track.sq {
            self.syy.add(sign * y * y);
        }
        if self.track.regression {
            let x = i128::from(t - self.t0);
            if sign > 0.0 {
                self.sx += x;
                self.sxx += x * x;
            } else {
                self.sx -= x;
                self.sxx -= x * x;
            }
            self.sxy.add(sign * (t - self.t0) as f64 * y);
        }
    }

    /// Moves the time origin to `t1` without touching the samples: the time sums shift
    /// exactly (integers), and `x * y`'s sum by `d * sy`, added as exact products.
    fn recenter(&mut self, t1: i64) {
        let d = t1 - self.t0;
        if d == 0 {
            return;
        }
        let (di, n) = (i128::from(d), i128::from(self.n as i64));
        self.sxx += n * di * di - 2 * di * self.sx;
        self.sx -= n * di;
        let df = d as f64;
        for part in [self.sy.s, self.sy.c] {
            let p = df * part;
            let e = df.mul_add(part, -p);
            self.sxy.add(-p);
            self.sxy.add(-e);
        }
        self.t0 = t1;
    }

    fn push_minmax(&mut self, t: i64, v: f64) {
        if self.track.min {
            push_min(&mut self.mins, t, v);
        }
        if self.track.max {
            push_max(&mut self.maxs, t, v);
        }
    }

    fn rebuild(&mut self, s: &Series, lo: i64, hi: i64) {
        let track = self.track;
        let (mut mins, mut maxs) = (
            std::mem::take(&mut self.mins),
            std::mem::take(&mut self.maxs),
        );
        mins.clear();
        maxs.clear();
        *self = Acc {
            track,
            mins,
            maxs,
            ..Acc::default()
        };
        let b = s.after(hi);
        let a = s.after(lo).min(b);
        if let Some(&(t, v)) = s.samples.get(a).filter(|_| a < b) {
            self.k = if v.is_finite() { v } else { 0.0 };
            self.t0 = t;
        }
        self.scan = track.minmax() && (b - a) as u64 <= SCAN_MAX;
        let deques = track.minmax() && !self.scan;
        for &(t, v) in s.samples.range(a..b) {
            self.add(t, v, 1.0);
            if deques {
                self.push_minmax(t, v);
            }
        }
        self.valid = true;
        self.lo = lo;
        self.hi = hi;
        self.start = s.base + a as u64;
        self.end = s.base + b as u64;
        self.epoch = s.epoch;
        if self.scan {
            self.extremes(s);
        }
    }

    /// The window's extremes read from its samples, as a fresh window finds them.
    fn extremes(&mut self, s: &Series) {
        let (a, b) = ((self.start - s.base) as usize, (self.end - s.base) as usize);
        (self.least, self.most) = window::extremes(s.samples.range(a..b).map(|x| x.1));
    }

    /// Asks the processor for the sample this window's next slide removes. That sample is as
    /// old as the window is long, so it has usually left the cache; asked for a few series
    /// ahead, its load overlaps their work.
    #[inline]
    pub fn prefetch(&self, s: &Series) {
        if let Some(x) = s.samples.get(self.start.wrapping_sub(s.base) as usize) {
            vigil_hint::prefetch(x);
        }
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
        // Already there (another function over the same window slid it this evaluation).
        if self.valid && lo == self.lo && hi == self.hi && self.epoch == s.epoch {
            return;
        }
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
        if self.track.regression && self.slides.is_multiple_of(RECENTER_EVERY) {
            self.recenter(lo);
        }
        let len = s.samples.len() as u64;
        let deques = self.track.minmax() && !self.scan;
        let mut end = self.end;
        while end - s.base < len {
            let (t, v) = s.samples[(end - s.base) as usize];
            if t > hi {
                break;
            }
            self.add(t, v, 1.0);
            if deques {
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
        if deques {
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
        // A window grown past reading its extremes cheaply keeps deques from here on.
        if self.nonfinite > 0 || (self.scan && end - start > SCAN_MAX) {
            self.rebuild(s, lo, hi);
        } else if self.scan {
            self.extremes(s);
        }
    }

    /// The function's value over the accumulated window (`last` is its latest sample, `end` its
    /// end); `None` on an empty window or too few samples.
    pub fn value(&self, f: WindowFn, arg: f64, last: f64, end: i64) -> Option<f64> {
        let n = self.n;
        if n <= 0.0 {
            return None;
        }
        // Extremes first: they read no sums.
        match f {
            WindowFn::Min if self.scan => return Some(self.least),
            WindowFn::Max if self.scan => return Some(self.most),
            WindowFn::Min => return self.mins.front().map(|m| m.1),
            WindowFn::Max => return self.maxs.front().map(|m| m.1),
            _ => {}
        }
        let (sy, syy) = (self.sy.get(), self.syy.get());
        if let Some(v) = moments(f, n, (sy, syy, self.k), last) {
            return Some(v);
        }
        Some(match f {
            WindowFn::Slope | WindowFn::Predict => {
                if n < 2.0 {
                    return None;
                }
                // Seconds, as the functions are defined; `n * sxx - sx^2` is exact in integers.
                let sx = to_f64(self.sx) / 1000.0;
                let cov = self.sxy.get() / 1000.0 - sx * sy / n;
                // `n` counts samples: exact as an `i64` (a float-to-`i128` cast is a library call).
                let count = i128::from(self.n as i64);
                let varx = to_f64(count * self.sxx - self.sx * self.sx) / (n * 1e6);
                // A constant series has slope 0 (PromQL's), not 0/0.
                let flat = moments(WindowFn::Variance, n, (sy, syy, self.k), last) == Some(0.0);
                let slope = if flat { 0.0 } else { cov / varx };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut through `i64` rounds as the 128-bit conversion does, on both sides of
    /// `i64`'s range and at halfway points.
    #[test]
    fn conversion_through_i64_rounds_alike() {
        let mut st = 0x9E37_79B9_7F4A_7C15u64;
        let edges = [
            0i128,
            1,
            -1,
            (1 << 53) + 1,
            -(1 << 53) - 1,
            (1 << 54) + 2,
            (1 << 54) + 6,
        ];
        let wide = [
            i128::from(i64::MAX),
            i128::from(i64::MIN),
            i128::from(i64::MAX) + 1,
            i128::MAX,
            i128::MIN,
        ];
        for x in edges.into_iter().chain(wide) {
            assert_eq!(to_f64(x).to_bits(), (x as f64).to_bits(), "{x}");
        }
        for _ in 0..100_000 {
            let x =
                (i128::from(rng(&mut st)) << 64 | i128::from(rng(&mut st))) >> (rng(&mut st) % 127);
            assert_eq!(to_f64(x).to_bits(), (x as f64).to_bits(), "{x}");
        }
    }

    fn rng(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// Sliding accumulators agree with computing each window afresh, while samples arrive,
    /// retention prunes the front, and values repeat (ties for min/max).
    #[test]
    fn sliding_agrees_with_fresh_windows() {
        let funcs = [
            WindowFn::Avg,
            WindowFn::Sum,
            WindowFn::Count,
            WindowFn::Stddev,
            WindowFn::Variance,
            WindowFn::Zscore,
            WindowFn::Slope,
            WindowFn::Predict,
            WindowFn::Min,
            WindowFn::Max,
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for case in 0..300 {
            let range = 60_000 * (1 + (rng(&mut seed) % 20) as i64);
            let reach = range + 60_000 * (rng(&mut seed) % 5) as i64;
            let mut s = Series::new(0, 0, reach);
            let mut accs: Vec<Acc> = funcs.iter().map(|f| Acc::new(*f)).collect();
            // One accumulator serving every function must give the same values.
            let mut shared = Acc::for_funcs(&funcs);
            let big = case % 3 == 0;
            let mut t = 0i64;
            let mut scratch = Vec::new();
            for step in 0..400 {
                // 0-3 samples per minute at irregular times.
                for _ in 0..(rng(&mut seed) % 4) {
                    t += 1 + (rng(&mut seed) % 30_000) as i64;
                    // Equal values (7, and zeros of both signs) test which of them an
                    // extreme is: the earliest, as PromQL's.
                    let v = if rng(&mut seed).is_multiple_of(5) {
                        7.0
                    } else if !big && rng(&mut seed).is_multiple_of(7) {
                        if rng(&mut seed).is_multiple_of(2) {
                            0.0
                        } else {
                            -0.0
                        }
                    } else {
                        (rng(&mut seed) % 10_000) as f64 / 100.0 + if big { 1e6 } else { 0.0 }
                    };
                    s.samples.push_back((t, v));
                    let _ = s.prune();
                }
                let end = step * 60_000;
                let window: Vec<(i64, f64)> = s.range(end - range, end).collect();
                shared.slide(&s, end - range, end);
                for (f, acc) in funcs.iter().zip(&mut accs) {
                    // Asked for whatever state the accumulator is in (samples it would drop
                    // already pruned, none yet): a hint, it changes nothing below.
                    acc.prefetch(&s);
                    acc.slide(&s, end - range, end);
                    let last = acc.last(&s).unwrap_or(f64::NAN);
                    let got = acc.value(*f, 1800.0, last, end);
                    let last_shared = shared.last(&s).unwrap_or(f64::NAN);
                    let got_shared = shared.value(*f, 1800.0, last_shared, end);
                    match (got, got_shared) {
                        (Some(a), Some(b)) => {
                            let scale = window.iter().map(|x| x.1.abs()).fold(1.0, f64::max);
                            assert!(
                                (a - b).abs() <= 1e-6 * scale.max(a.abs()),
                                "{f:?}: {a} vs shared {b}"
                            );
                        }
                        (a, b) => assert_eq!(a.is_some(), b.is_some(), "{f:?}"),
                    }
                    let want = window::apply(*f, 1800.0, &window, end, range, &mut scratch);
                    match (got, want) {
                        (None, None) => {}
                        // Extremes are read, not computed: exactly the fresh value, the
                        // sign of a zero included (whether read from a deque or a scan).
                        (Some(g), Some(w)) if matches!(f, WindowFn::Min | WindowFn::Max) => {
                            assert_eq!(
                                g.to_bits(),
                                w.to_bits(),
                                "case {case} step {step} {f:?}: sliding {g}, fresh {w} over {} samples",
                                window.len()
                            );
                        }
                        (Some(g), Some(w)) => {
                            let scale = window.iter().map(|x| x.1.abs()).fold(1.0, f64::max);
                            let tol = match f {
                                // Variance-based results lose digits to the data's magnitude.
                                WindowFn::Stddev | WindowFn::Variance | WindowFn::Zscore => {
                                    1e-6 * scale.max(w.abs())
                                }
                                // Extrapolation amplifies the last bits of the slope.
                                WindowFn::Slope | WindowFn::Predict => 1e-6 * scale.max(w.abs()),
                                _ => 1e-9 * scale,
                            };
                            assert!(
                                (g - w).abs() <= tol,
                                "case {case} step {step} {f:?}: sliding {g}, fresh {w} over {} samples",
                                window.len()
                            );
                        }
                        (g, w) => panic!("case {case} step {step} {f:?}: {g:?} vs {w:?}"),
                    }
                }
            }
        }
    }
}
