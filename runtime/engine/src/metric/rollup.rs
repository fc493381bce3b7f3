//! Long windows from per-series buckets (the geometry is `vigil_compiler::retention`'s): a
//! series read by a long window of a bucketable function keeps, besides its raw samples, one
//! bucket per grid step with the partial aggregates its readers need. A bucket is sealed from
//! the raw samples once no sample can land in it any more (its end is at or before an
//! evaluation already done), so out-of-order and replaced samples within the lateness are
//! folded in their final form. A [`Span`] slides over the buckets as [`super::incremental`]'s
//! accumulators slide over samples, and gives each function's value: exact (up to the rounding
//! of compensated sums) at any window length, in memory that grows with the window over the
//! grid step rather than with the sample rate.

use crate::metric::incremental::{REBUILD_EVERY, Sum, moments, push_max, push_min};
use crate::metric::window::{self, kahan};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use vigil_compiler::ir::series::{MAX_BUCKETS, WindowFn, gcd};

/// Which partial aggregates a series' buckets keep: the union over the windows reading it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cols {
    pub sum: bool,
    pub sq: bool,
    pub min: bool,
    pub max: bool,
    /// First and last sample (first, last, zscore, rate, increase, delta).
    pub ends: bool,
    pub resets: bool,
    pub changes: bool,
}

impl Cols {
    pub fn of(f: WindowFn) -> Cols {
        use WindowFn::*;
        Cols {
            sum: matches!(f, Avg | Sum | Stddev | Variance | Zscore),
            sq: matches!(f, Stddev | Variance | Zscore),
            min: f == Min,
            max: f == Max,
            ends: matches!(f, First | Last | Zscore | Rate | Increase | Delta),
            resets: matches!(f, Rate | Increase),
            changes: f == Changes,
        }
    }
    pub fn union(self, o: Cols) -> Cols {
        Cols {
            sum: self.sum | o.sum,
            sq: self.sq | o.sq,
            min: self.min | o.min,
            max: self.max | o.max,
            ends: self.ends | o.ends,
            resets: self.resets | o.resets,
            changes: self.changes | o.changes,
        }
    }
}

/// What buckets a selector's long windows need: the grid step, how far back, which partial
/// aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupSpec {
    pub width: i64,
    pub reach: i64,
    pub cols: Cols,
}

impl RollupSpec {
    pub fn merge(self, o: RollupSpec) -> RollupSpec {
        RollupSpec {
            width: gcd(self.width, o.width),
            reach: self.reach.max(o.reach),
            cols: self.cols.union(o.cols),
        }
    }
}

/// The buckets of one series. Bucket `k` holds the samples in `(k * width, (k + 1) * width]`
/// (windows are open at the start, as raw windows are). Columns a reader does not need stay
/// empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rollup {
    pub width: i64,
    /// Buckets are kept this far behind the sealed edge, ms.
    reach: i64,
    cols: Cols,
    /// The index of the first kept bucket.
    first: i64,
    /// Samples at or before this edge (a multiple of `width`) are folded; `i64::MIN` before the
    /// first seal.
    pub sealed: i64,
    /// Sums are kept of `v - k` (against cancellation in the sum of squares).
    k: f64,
    /// The last sample folded, for resets and changes across bucket edges.
    #[serde(with = "crate::nan")]
    prev: f64,
    has_prev: bool,
    /// Bumped when the kept buckets restart (after a gap longer than the reach), so spans
    /// rebuild.
    pub epoch: u32,
    n: VecDeque<u32>,
    #[serde(with = "crate::nan::floats")]
    sy: VecDeque<f64>,
    #[serde(with = "crate::nan::floats")]
    syy: VecDeque<f64>,
    #[serde(with = "crate::nan::floats")]
    min: VecDeque<f64>,
    #[serde(with = "crate::nan::floats")]
    max: VecDeque<f64>,
    #[serde(with = "crate::nan::samples")]
    head: VecDeque<(i64, f64)>,
    #[serde(with = "crate::nan::samples")]
    tail: VecDeque<(i64, f64)>,
    /// Per bucket: counter resets inside it, and the one at its first sample (against the
    /// sample before it, which a window starting here does not hold).
    #[serde(with = "crate::nan::floats")]
    resets: VecDeque<f64>,
    #[serde(with = "crate::nan::floats")]
    cross_reset: VecDeque<f64>,
    changes: VecDeque<u32>,
    cross_change: VecDeque<bool>,
    /// The samples of the bucket being folded (reused).
    #[serde(skip)]
    batch: Vec<(i64, f64)>,
}

/// One bucket's partial aggregates, as a window reads them.
#[derive(Debug, Clone, Copy)]
struct Part {
    n: u32,
    sy: f64,
    syy: f64,
    min: f64,
    max: f64,
    head: (i64, f64),
    tail: (i64, f64),
    resets: f64,
    cross_reset: f64,
    changes: u32,
    cross_change: bool,
}

impl Part {
    fn finite(&self) -> bool {
        self.sy.is_finite()
            && self.syy.is_finite()
            && self.resets.is_finite()
            && self.cross_reset.is_finite()
    }
}

impl Rollup {
    pub fn new(spec: &RollupSpec) -> Rollup {
        Rollup {
            width: spec.width.max(1),
            reach: spec.reach,
            cols: spec.cols,
            first: 0,
            sealed: i64::MIN,
            k: 0.0,
            prev: 0.0,
            has_prev: false,
            epoch: 0,
            n: VecDeque::new(),
            sy: VecDeque::new(),
            syy: VecDeque::new(),
            min: VecDeque::new(),
            max: VecDeque::new(),
            head: VecDeque::new(),
            tail: VecDeque::new(),
            resets: VecDeque::new(),
            cross_reset: VecDeque::new(),
            changes: VecDeque::new(),
            cross_change: VecDeque::new(),
            batch: Vec::new(),
        }
    }

    /// Whether these buckets (restored from a snapshot) serve readers that need this grid
    /// and these columns.
    pub fn serves(&self, spec: &RollupSpec) -> bool {
        self.width == spec.width && self.cols == spec.cols
    }

    /// The bucket holding time `t`.
    pub fn index(&self, t: i64) -> i64 {
        (t - 1).div_euclid(self.width)
    }

    /// One past the newest kept bucket.
    fn end(&self) -> i64 {
        self.first + self.n.len() as i64
    }

    /// Bytes held by the buckets (for `--stats`).
    pub fn bytes(&self) -> usize {
        self.n.capacity() * 4
            + (self.sy.capacity()
                + self.syy.capacity()
                + self.min.capacity()
                + self.max.capacity()
                + self.resets.capacity()
                + self.cross_reset.capacity())
                * 8
            + (self.head.capacity() + self.tail.capacity()) * 16
            + self.changes.capacity() * 4
            + self.cross_change.capacity()
    }

    /// Folds the samples (sorted, all after the sealed edge) up to the edge at or before `upto`
    /// into buckets. Returns how many samples a bucket cap pushed out while a window could
    /// still read them.
    pub fn seal(&mut self, samples: impl Iterator<Item = (i64, f64)>, upto: i64) -> u64 {
        let edge = upto.div_euclid(self.width) * self.width;
        if edge <= self.sealed {
            return 0;
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let mut cur = i64::MIN;
        for (t, v) in samples {
            if t > edge {
                break;
            }
            let i = self.index(t);
            if i != cur && !batch.is_empty() {
                self.fold(cur, &batch);
                batch.clear();
            }
            cur = i;
            batch.push((t, v));
        }
        if !batch.is_empty() {
            self.fold(cur, &batch);
        }
        self.batch = batch;
        self.sealed = edge;
        self.prune()
    }

    /// Appends bucket `i` (empty buckets fill any gap; a gap past the reach starts afresh).
    fn fold(&mut self, i: i64, s: &[(i64, f64)]) {
        if self.n.is_empty() || i - self.end() > self.reach / self.width + 1 {
            if !self.n.is_empty() {
                self.epoch = self.epoch.wrapping_add(1);
            }
            self.clear();
            self.first = i;
            if self.sealed == i64::MIN {
                self.k = s.iter().map(|x| x.1).find(|v| v.is_finite()).unwrap_or(0.0);
            }
        }
        while self.end() < i {
            self.push(Part::EMPTY);
        }
        let mut p = Part::EMPTY;
        p.n = s.len() as u32;
        p.head = s[0];
        p.tail = s[s.len() - 1];
        let c = self.cols;
        let (mut sy, mut cy, mut syy, mut cyy) = (0.0, 0.0, 0.0, 0.0);
        let mut prev = if self.has_prev { Some(self.prev) } else { None };
        for (j, &(_, v)) in s.iter().enumerate() {
            if c.sum {
                let y = v - self.k;
                (sy, cy) = kahan(y, sy, cy);
                if c.sq {
                    (syy, cyy) = kahan(y * y, syy, cyy);
                }
            }
            if c.min && (v < p.min || p.min.is_nan()) {
                p.min = v;
            }
            if c.max && (v > p.max || p.max.is_nan()) {
                p.max = v;
            }
            if let Some(a) = prev {
                let reset = if v < a { a } else { 0.0 };
                let changed = a != v && !(a.is_nan() && v.is_nan());
                if j == 0 {
                    p.cross_reset = reset;
                    p.cross_change = changed;
                } else {
                    p.resets += reset;
                    p.changes += u32::from(changed);
                }
            }
            prev = Some(v);
        }
        // `kahan` zeroes the compensation once a sum is infinite.
        p.sy = sy + cy;
        p.syy = syy + cyy;
        self.prev = p.tail.1;
        self.has_prev = true;
        self.push(p);
    }

    fn clear(&mut self) {
        self.n.clear();
        self.sy.clear();
        self.syy.clear();
        self.min.clear();
        self.max.clear();
        self.head.clear();
        self.tail.clear();
        self.resets.clear();
        self.cross_reset.clear();
        self.changes.clear();
        self.cross_change.clear();
    }

    fn push(&mut self, p: Part) {
        let c = self.cols;
        self.n.push_back(p.n);
        if c.sum {
            self.sy.push_back(p.sy);
        }
        if c.sq {
            self.syy.push_back(p.syy);
        }
        if c.min {
            self.min.push_back(p.min);
        }
        if c.max {
            self.max.push_back(p.max);
        }
        if c.ends {
            self.head.push_back(p.head);
            self.tail.push_back(p.tail);
        }
        if c.resets {
            self.resets.push_back(p.resets);
            self.cross_reset.push_back(p.cross_reset);
        }
        if c.changes {
            self.changes.push_back(p.changes);
            self.cross_change.push_back(p.cross_change);
        }
    }

    /// Drops buckets behind the reach, and past [`MAX_BUCKETS`]; returns the samples the cap
    /// dropped while still in reach.
    fn prune(&mut self) -> u64 {
        let keep_from = self.index(self.sealed) - self.reach / self.width;
        let mut cut = 0;
        while !self.n.is_empty() && (self.first < keep_from || self.n.len() > MAX_BUCKETS) {
            if self.first >= keep_from {
                cut += u64::from(self.n[0]);
            }
            self.n.pop_front();
            for col in [
                &mut self.sy,
                &mut self.syy,
                &mut self.min,
                &mut self.max,
                &mut self.resets,
                &mut self.cross_reset,
            ] {
                col.pop_front();
            }
            self.head.pop_front();
            self.tail.pop_front();
            self.changes.pop_front();
            self.cross_change.pop_front();
            self.first += 1;
        }
        cut
    }

    /// Bucket `i`, if kept and not empty.
    fn part(&self, i: i64) -> Option<Part> {
        if i < self.first {
            return None;
        }
        let j = (i - self.first) as usize;
        let n = *self.n.get(j)?;
        if n == 0 {
            return None;
        }
        let c = self.cols;
        let f = |col: &VecDeque<f64>, on: bool, d: f64| if on { col[j] } else { d };
        Some(Part {
            n,
            sy: f(&self.sy, c.sum, 0.0),
            syy: f(&self.syy, c.sq, 0.0),
            min: f(&self.min, c.min, f64::NAN),
            max: f(&self.max, c.max, f64::NAN),
            head: if c.ends { self.head[j] } else { (0, f64::NAN) },
            tail: if c.ends { self.tail[j] } else { (0, f64::NAN) },
            resets: f(&self.resets, c.resets, 0.0),
            cross_reset: f(&self.cross_reset, c.resets, 0.0),
            changes: if c.changes { self.changes[j] } else { 0 },
            cross_change: c.changes && self.cross_change[j],
        })
    }
}

impl Part {
    const EMPTY: Part = Part {
        n: 0,
        sy: 0.0,
        syy: 0.0,
        min: f64::NAN,
        max: f64::NAN,
        head: (0, f64::NAN),
        tail: (0, f64::NAN),
        resets: 0.0,
        cross_reset: 0.0,
        changes: 0,
        cross_change: false,
    };
}

/// A window's running aggregates over a series' buckets `[a, b)`, slid as evaluations move.
#[derive(Debug, Clone, Default)]
pub struct Span {
    valid: bool,
    epoch: u32,
    a: i64,
    b: i64,
    slides: u32,
    n: u64,
    sy: Sum,
    syy: Sum,
    resets: Sum,
    cross_resets: Sum,
    changes: i64,
    cross_changes: i64,
    /// Buckets in the window with a non-finite partial sum: values are then summed afresh.
    nonfinite: u32,
    mins: VecDeque<(i64, f64)>,
    maxs: VecDeque<(i64, f64)>,
    /// The first and last non-empty bucket in the window (`i64::MIN`: none).
    first_ne: i64,
    last_ne: i64,
}

/// What a window's functions read: its totals.
struct Totals {
    n: f64,
    sy: f64,
    syy: f64,
    min: f64,
    max: f64,
    head: (i64, f64),
    tail: (i64, f64),
    resets: f64,
    changes: f64,
}

impl Span {
    /// Moves the window to the samples in `(lo, hi]`; false when the bucket grid does not
    /// serve it (the caller reads raw samples instead).
    pub fn slide(&mut self, r: &Rollup, lo: i64, hi: i64) -> bool {
        if lo % r.width != 0 || hi % r.width != 0 || hi > r.sealed {
            return false;
        }
        let (a, b) = (lo / r.width, hi / r.width);
        if self.valid && (a, b, r.epoch) == (self.a, self.b, self.epoch) {
            return true;
        }
        self.slides += 1;
        if !self.valid
            || r.epoch != self.epoch
            || a < self.a
            || b < self.b
            || (self.first_ne != i64::MIN && self.first_ne < r.first)
            || b - self.b >= b - a
            || self.slides >= REBUILD_EVERY
        {
            self.rebuild(r, a, b);
            return true;
        }
        for i in self.b..b {
            self.add(r, i, 1);
        }
        for i in self.a..a {
            self.add(r, i, -1);
        }
        while self.mins.front().is_some_and(|f| f.0 < a) {
            self.mins.pop_front();
        }
        while self.maxs.front().is_some_and(|f| f.0 < a) {
            self.maxs.pop_front();
        }
        if self.first_ne < a {
            self.first_ne = (a.max(self.first_ne)..b)
                .find(|&i| r.part(i).is_some())
                .unwrap_or(i64::MIN);
        }
        if self.first_ne == i64::MIN {
            self.last_ne = i64::MIN;
        }
        self.a = a;
        self.b = b;
        true
    }

    fn rebuild(&mut self, r: &Rollup, a: i64, b: i64) {
        let (mut mins, mut maxs) = (
            std::mem::take(&mut self.mins),
            std::mem::take(&mut self.maxs),
        );
        mins.clear();
        maxs.clear();
        *self = Span {
            mins,
            maxs,
            first_ne: i64::MIN,
            last_ne: i64::MIN,
            ..Span::default()
        };
        for i in a.max(r.first)..b.min(r.end()) {
            self.add(r, i, 1);
        }
        self.valid = true;
        self.epoch = r.epoch;
        self.a = a;
        self.b = b;
    }

    fn add(&mut self, r: &Rollup, i: i64, sign: i64) {
        let Some(p) = r.part(i) else {
            return;
        };
        if sign > 0 {
            self.n += u64::from(p.n);
            if self.first_ne == i64::MIN {
                self.first_ne = i;
            }
            self.last_ne = i;
            if r.cols.min {
                push_min(&mut self.mins, i, p.min);
            }
            if r.cols.max {
                push_max(&mut self.maxs, i, p.max);
            }
        } else {
            self.n = self.n.saturating_sub(u64::from(p.n));
        }
        if !p.finite() {
            self.nonfinite = if sign > 0 {
                self.nonfinite + 1
            } else {
                self.nonfinite.saturating_sub(1)
            };
            return;
        }
        let s = sign as f64;
        self.sy.add(s * p.sy);
        self.syy.add(s * p.syy);
        self.resets.add(s * p.resets);
        self.cross_resets.add(s * p.cross_reset);
        self.changes += sign * i64::from(p.changes);
        self.cross_changes += sign * i64::from(p.cross_change);
    }

    /// The window's totals: from the running sums, or summed afresh when a bucket holds a
    /// non-finite value (sums that met one cannot subtract it).
    fn totals(&self, r: &Rollup) -> Option<Totals> {
        if self.n == 0 || self.first_ne == i64::MIN {
            return None;
        }
        let first = r.part(self.first_ne)?;
        let last = r.part(self.last_ne)?;
        let mut t = Totals {
            n: self.n as f64,
            sy: self.sy.get(),
            syy: self.syy.get(),
            min: self.mins.front().map_or(f64::NAN, |x| x.1),
            max: self.maxs.front().map_or(f64::NAN, |x| x.1),
            head: first.head,
            tail: last.tail,
            resets: self.resets.get() + self.cross_resets.get() - first.cross_reset,
            changes: (self.changes + self.cross_changes - i64::from(first.cross_change)) as f64,
        };
        if self.nonfinite > 0 {
            let (mut sy, mut syy, mut resets, mut changes) = (0.0, 0.0, 0.0, 0.0);
            for i in self.first_ne..=self.last_ne {
                if let Some(p) = r.part(i) {
                    sy += p.sy;
                    syy += p.syy;
                    resets += p.resets;
                    changes += f64::from(p.changes);
                    if i != self.first_ne {
                        resets += p.cross_reset;
                        changes += f64::from(u8::from(p.cross_change));
                    }
                }
            }
            (t.sy, t.syy, t.resets, t.changes) = (sy, syy, resets, changes);
        }
        Some(t)
    }

    /// The function's value over the window ending at `end`, `range` long.
    pub fn value(&self, r: &Rollup, f: WindowFn, end: i64, range: i64) -> Option<f64> {
        let t = self.totals(r)?;
        if let Some(v) = moments(f, t.n, (t.sy, t.syy, r.k), t.tail.1) {
            return Some(v);
        }
        let n_samples = t.n as usize;
        Some(match f {
            WindowFn::Min => t.min,
            WindowFn::Max => t.max,
            WindowFn::First => t.head.1,
            WindowFn::Last => t.tail.1,
            WindowFn::Changes => t.changes,
            WindowFn::Rate | WindowFn::Increase | WindowFn::Delta => {
                if n_samples < 2 {
                    return None;
                }
                let counter = f != WindowFn::Delta;
                let raw = t.tail.1 - t.head.1 + if counter { t.resets } else { 0.0 };
                window::extrapolate(
                    raw,
                    (t.head, t.tail, n_samples),
                    end,
                    range,
                    counter,
                    f == WindowFn::Rate,
                )
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    const FUNCS: [WindowFn; 14] = [
        WindowFn::Avg,
        WindowFn::Sum,
        WindowFn::Min,
        WindowFn::Max,
        WindowFn::Count,
        WindowFn::First,
        WindowFn::Last,
        WindowFn::Stddev,
        WindowFn::Variance,
        WindowFn::Zscore,
        WindowFn::Rate,
        WindowFn::Increase,
        WindowFn::Delta,
        WindowFn::Changes,
    ];

    /// Windows from buckets agree with the same windows over every raw sample, while samples
    /// arrive at irregular times (gaps, bursts, counter resets, repeated values, a NaN and an
    /// infinity now and then), for every bucketable function.
    #[test]
    fn buckets_agree_with_raw_windows() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for case in 0..200 {
            let width = 1_000 * (1 + (rng(&mut seed) % 60) as i64);
            let range = width * (2 + (rng(&mut seed) % 50) as i64);
            let step = width * (1 + (rng(&mut seed) % 3) as i64);
            let cols = FUNCS
                .iter()
                .fold(Cols::default(), |c, f| c.union(Cols::of(*f)));
            let mut r = Rollup::new(&RollupSpec {
                width,
                reach: range,
                cols,
            });
            let mut span = Span::default();
            let mut raw: Vec<(i64, f64)> = Vec::new();
            let (mut t, mut counter) = (0i64, 0.0f64);
            let odd = case % 4 == 0;
            let mut scratch = Vec::new();
            for k in 1..300i64 {
                let end = k * step;
                // Samples after the last evaluation up to this one (earlier ones would be too
                // late), then seal as the engine does.
                t = t.max(end - step);
                loop {
                    let gap = if rng(&mut seed).is_multiple_of(40) {
                        range
                    } else {
                        1 + (rng(&mut seed) % (width as u64 * 2)) as i64
                    };
                    if t + gap > end {
                        break;
                    }
                    t += gap;
                    counter = if rng(&mut seed).is_multiple_of(25) {
                        0.0
                    } else {
                        counter + (rng(&mut seed) % 100) as f64
                    };
                    let v = match rng(&mut seed) % 200 {
                        0 if odd => f64::NAN,
                        1 if odd => f64::INFINITY,
                        2..=40 => 5.0,
                        _ => counter,
                    };
                    raw.push((t, v));
                }
                let pending: Vec<(i64, f64)> =
                    raw.iter().copied().filter(|x| x.0 > r.sealed).collect();
                r.seal(pending.into_iter(), end);
                assert!(span.slide(&r, end - range, end));
                let window: Vec<(i64, f64)> = raw
                    .iter()
                    .copied()
                    .filter(|x| x.0 > end - range && x.0 <= end)
                    .collect();
                for f in FUNCS {
                    let want = if window.is_empty() {
                        None
                    } else {
                        window::apply(f, 0.0, &window, end, range, &mut scratch)
                    };
                    let got = span.value(&r, f, end, range);
                    match (got, want) {
                        (None, None) => {}
                        (Some(g), Some(w)) if g.is_nan() && w.is_nan() => {}
                        (Some(g), Some(w)) if g.is_infinite() || w.is_infinite() => {
                            assert_eq!(g, w, "case {case} step {k} {f:?}");
                        }
                        (Some(g), Some(w)) => {
                            let scale = window
                                .iter()
                                .map(|x| x.1.abs())
                                .filter(|x| x.is_finite())
                                .fold(1.0, f64::max);
                            let tol = match f {
                                WindowFn::Stddev | WindowFn::Variance | WindowFn::Zscore => {
                                    1e-6 * scale.max(w.abs())
                                }
                                _ => 1e-9 * scale.max(w.abs()),
                            };
                            assert!(
                                (g - w).abs() <= tol,
                                "case {case} step {k} {f:?}: buckets {g}, raw {w} over {} samples {window:?}",
                                window.len()
                            );
                        }
                        (g, w) => panic!(
                            "case {case} step {k} {f:?}: buckets {g:?}, raw {w:?} {window:?}"
                        ),
                    }
                }
            }
        }
    }
}
