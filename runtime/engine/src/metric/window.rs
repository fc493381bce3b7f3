//! Window functions over one series' samples in `(end - range, end]`, with PromQL's
//! definitions where PromQL has the function (`rate` extrapolation and counter resets,
//! `deriv`/`predict_linear` regression, population `stddev`, `quantile` at rank q(n-1)).
//! An empty window (or too few samples for the function) has no value: the series yields no
//! row, as in Prometheus.

use vigil_compiler::ir::series::WindowFn;

/// Compensated (Kahan) summation step: returns the new sum and compensation.
#[inline]
pub(crate) fn kahan(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

pub fn sum(s: &[(i64, f64)]) -> f64 {
    let (mut acc, mut c) = (0.0, 0.0);
    for &(_, v) in s {
        (acc, c) = kahan(v, acc, c);
    }
    acc + c
}

pub fn mean(s: &[(i64, f64)]) -> f64 {
    // Incremental mean, as Prometheus's avg_over_time (no overflow on large values).
    let (mut mean, mut c, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in s {
        n += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan(v / n - mean / n, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// Population variance (Welford, compensated).
pub fn variance(s: &[(i64, f64)]) -> f64 {
    let (mut n, mut mean, mut cm, mut aux, mut ca) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in s {
        n += 1.0;
        let delta = v - (mean + cm);
        (mean, cm) = kahan(delta / n, mean, cm);
        (aux, ca) = kahan(delta * (v - (mean + cm)), aux, ca);
    }
    (aux + ca) / n
}

/// `quantile` at rank q(n-1), linear interpolation (PromQL's `quantile`).
pub fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0);
    let hi = (lo + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lo as usize] * (1.0 - w) + vals[hi as usize] * w
}

/// Least squares `(slope per second, intercept at `at`)`, PromQL's `linearRegression`.
pub fn regression(s: &[(i64, f64)], at: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init = s[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in s.iter().enumerate() {
        if const_y && i > 0 && v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (t - at) as f64 / 1e3;
        (sx, cx) = kahan(x, sx, cx);
        (sy, cy) = kahan(v, sy, cy);
        (sxy, cxy) = kahan(x * v, sxy, cxy);
        (sx2, cx2) = kahan(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// PromQL's `extrapolatedRate` for `rate`, `increase` and `delta`.
fn extrapolated(
    s: &[(i64, f64)],
    end: i64,
    range: i64,
    counter: bool,
    per_second: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = 0.0;
        for &(_, v) in s {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    Some(extrapolate(
        result,
        (first, last, s.len()),
        end,
        range,
        counter,
        per_second,
    ))
}

/// The rest of `extrapolatedRate` once the raw increase (`last - first`, plus the counter
/// resets) is known: `n` samples from `first` to `last` (at least two). Shared with the
/// bucketed windows, which know the same four things without the samples.
pub fn extrapolate(
    mut result: f64,
    (first, last, n): ((i64, f64), (i64, f64), usize),
    end: i64,
    range: i64,
    counter: bool,
    per_second: bool,
) -> f64 {
    let start = end - range;
    let mut to_start = (first.0 - start) as f64 / 1000.0;
    let to_end = (end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_step = sampled / (n - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_step * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_step / 2.0
    };
    result *= interval / sampled;
    if per_second {
        result /= range as f64 / 1000.0;
    }
    result
}

/// The smallest and largest of `values`, PromQL's way: of equal values the earliest (`0`
/// before `-0` gives `0`), NaN skipped unless all are. Fresh windows and the sliding
/// accumulators' short windows both read their extremes here.
pub(crate) fn extremes(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::NAN, f64::NAN), |(lo, hi), v| {
            (
                if v < lo || lo.is_nan() { v } else { lo },
                if v > hi || hi.is_nan() { v } else { hi },
            )
        })
}

/// One window function. `end` is the window's end (evaluation time minus offset), `range`
/// its length, both ms; `arg` the function's parameter (q, ahead seconds, alpha).
pub fn apply(
    func: WindowFn,
    arg: f64,
    s: &[(i64, f64)],
    end: i64,
    range: i64,
    scratch: &mut Vec<f64>,
) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let last = s[s.len() - 1];
    Some(match func {
        WindowFn::Avg => mean(s),
        WindowFn::Sum => sum(s),
        WindowFn::Min => extremes(s.iter().map(|x| x.1)).0,
        WindowFn::Max => extremes(s.iter().map(|x| x.1)).1,
        WindowFn::Count => s.len() as f64,
        WindowFn::Last => last.1,
        WindowFn::First => s[0].1,
        WindowFn::Rate => return extrapolated(s, end, range, true, true),
        WindowFn::Increase => return extrapolated(s, end, range, true, false),
        WindowFn::Delta => return extrapolated(s, end, range, false, false),
        WindowFn::Irate => return irate(s),
        WindowFn::Stddev => variance(s).sqrt(),
        WindowFn::Variance => variance(s),
        WindowFn::Changes => changes(s),
        WindowFn::Slope => {
            if s.len() < 2 {
                return None;
            }
            regression(s, s[0].0).0
        }
        WindowFn::Predict => {
            if s.len() < 2 {
                return None;
            }
            let (slope, intercept) = regression(s, end);
            slope * arg + intercept
        }
        WindowFn::Quantile => {
            scratch.clear();
            scratch.extend(s.iter().map(|x| x.1));
            quantile(arg, scratch)
        }
        WindowFn::Ewma => {
            let mut e = s[0].1;
            for &(_, v) in &s[1..] {
                e = arg * v + (1.0 - arg) * e;
            }
            e
        }
        WindowFn::Zscore => {
            let sd = variance(s).sqrt();
            let d = last.1 - mean(s);
            if sd == 0.0 { 0.0 } else { d / sd }
        }
        // Computed by the vector evaluator (it needs the value one window ago).
        WindowFn::Change => last.1,
    })
}

/// PromQL's `irate`: the rate between the last two samples (a counter reset counts from 0).
fn irate(s: &[(i64, f64)]) -> Option<f64> {
    let [.., prev, last] = *s else {
        return None;
    };
    let dt = (last.0 - prev.0) as f64 / 1000.0;
    if dt == 0.0 {
        return None;
    }
    let d = if last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    Some(d / dt)
}

/// How many times the value changed (NaN to NaN is no change).
fn changes(s: &[(i64, f64)]) -> f64 {
    let mut n = 0.0;
    for w in s.windows(2) {
        let (a, b) = (w[0].1, w[1].1);
        if a != b && !(a.is_nan() && b.is_nan()) {
            n += 1.0;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[f64]) -> Vec<(i64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &x)| (i as i64 * 60_000, x))
            .collect()
    }

    #[test]
    fn rate_handles_counter_resets_like_prometheus() {
        // 0,10,20,5,15 at 1m: increase 20 + 15 = 35 over 4m sampled; window 5m ending at 4m.
        let s = pts(&[0.0, 10.0, 20.0, 5.0, 15.0]);
        let r = extrapolated(&s, 240_000, 300_000, true, false).unwrap();
        // to_start = 60s >= 1.1*60s? no (60 < 66): extrapolate to start, but to_zero = 0.
        assert_eq!(r, 35.0);
    }

    #[test]
    fn quantile_interpolates_at_rank() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
    }

    #[test]
    fn regression_matches_a_line() {
        let s: Vec<(i64, f64)> = (0..10).map(|i| (i * 1000, 3.0 + 2.0 * i as f64)).collect();
        let (slope, icept) = regression(&s, 9000);
        assert!((slope - 2.0).abs() < 1e-12);
        assert!((icept - 21.0).abs() < 1e-9);
    }

    #[test]
    fn stddev_is_the_population_deviation() {
        let s = pts(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(variance(&s).sqrt(), 2.0);
    }
}
