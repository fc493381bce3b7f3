//! Trend tests and anomaly scores. Each is a pure function of a window's samples; formulas are
//! in docs/language.md ("Trend and anomaly") and each is checked against values computed
//! independently with NumPy (tests/fixtures/stats.json, from tests/fixtures/stats.py).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Fewer samples than this make no trend verdict (three points on a line are not a trend).
pub const TREND_MIN_SAMPLES: usize = 5;

/// Slope t-test: `(slope per second, one-sided p for slope > 0, one-sided p for slope < 0,
/// two-sided p)`. Needs [`TREND_MIN_SAMPLES`]; a perfect fit with a non-zero slope has p = 0.
pub fn slope_test(s: &[(i64, f64)]) -> Option<(f64, f64, f64, f64)> {
    let n = s.len();
    if n < TREND_MIN_SAMPLES {
        return None;
    }
    let t0 = s[0].0;
    let xs: Vec<f64> = s.iter().map(|p| (p.0 - t0) as f64 / 1e3).collect();
    let nf = n as f64;
    let mx = xs.iter().sum::<f64>() / nf;
    let my = s.iter().map(|p| p.1).sum::<f64>() / nf;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, p) in xs.iter().zip(s) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (p.1 - my);
    }
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let icept = my - slope * mx;
    let sse: f64 = xs
        .iter()
        .zip(s)
        .map(|(x, p)| {
            let r = p.1 - (icept + slope * x);
            r * r
        })
        .sum();
    let df = nf - 2.0;
    let se = (sse / df / sxx).sqrt();
    if !slope.is_finite() || !se.is_finite() {
        return None;
    }
    if se == 0.0 {
        let (up, down) = if slope > 0.0 {
            (0.0, 1.0)
        } else if slope < 0.0 {
            (1.0, 0.0)
        } else {
            (1.0, 1.0)
        };
        return Some((slope, up, down, up.min(down) * 2.0f64.min(1.0)));
    }
    let t = slope / se;
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let up = 1.0 - dist.cdf(t);
    let down = dist.cdf(t);
    Some((slope, up, down, (2.0 * up.min(down)).min(1.0)))
}

/// Mann-Kendall: `(S, z, two-sided p)` with the tie-corrected variance and continuity
/// correction. Needs 3 values.
pub fn mann_kendall(v: &[f64]) -> Option<(f64, f64, f64)> {
    let n = v.len();
    if n < 3 {
        return None;
    }
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += (v[j] - v[i]).signum() * f64::from(u8::from(v[j] != v[i]));
        }
    }
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    if var <= 0.0 {
        return Some((s, 0.0, 1.0));
    }
    let z = if s > 0.0 {
        (s - 1.0) / var.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var.sqrt()
    } else {
        0.0
    };
    let norm = Normal::new(0.0, 1.0).ok()?;
    let p = 2.0 * (1.0 - norm.cdf(z.abs()));
    Some((s, z, p))
}

/// Mann-Kendall as `(p for an increasing trend, p for a decreasing one, two-sided p)`, with
/// the same minimum sample count as the regression test.
pub fn mann_kendall_test(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.len() < TREND_MIN_SAMPLES {
        return None;
    }
    let (_, z, two) = mann_kendall(v)?;
    let norm = Normal::new(0.0, 1.0).ok()?;
    Some((1.0 - norm.cdf(z), norm.cdf(z), two))
}

/// `(last - mean) / stddev` (population), 0 when the window is flat.
pub fn zscore(v: &[f64]) -> Option<f64> {
    let last = *v.last()?;
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    Some(if sd == 0.0 { 0.0 } else { (last - mean) / sd })
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Robust score `(x - median) / (1.4826 * MAD)` of `x` against a baseline; 0 when the MAD is 0
/// and x is the median, else ±infinity.
pub fn robust(x: f64, baseline: &mut [f64]) -> Option<f64> {
    if baseline.is_empty() {
        return None;
    }
    let med = median(baseline);
    let mut dev: Vec<f64> = baseline.iter().map(|b| (b - med).abs()).collect();
    let mad = 1.4826 * median(&mut dev);
    let d = x - med;
    Some(if mad == 0.0 {
        if d == 0.0 {
            0.0
        } else {
            d.signum() * f64::INFINITY
        }
    } else {
        d / mad
    })
}

/// EWMA band score: the last value against the exponentially weighted mean and variance of
/// the values before it, `alpha = 2 / (n + 1)` for a window of `n` values.
/// `m_k = m + a (x_k - m)`, `v_k = (1 - a) (v + a (x_k - m)^2)`, starting at `m = x_0, v = 0`.
pub fn ewma_score(v: &[f64]) -> Option<f64> {
    if v.len() < 3 {
        return None;
    }
    let a = 2.0 / (v.len() as f64 + 1.0);
    let (mut m, mut var) = (v[0], 0.0);
    for &x in &v[1..v.len() - 1] {
        let d = x - m;
        m += a * d;
        var = (1.0 - a) * (var + a * d * d);
    }
    let last = v[v.len() - 1];
    let sd = var.sqrt();
    Some(if sd == 0.0 {
        if last == m {
            0.0
        } else {
            (last - m).signum() * f64::INFINITY
        }
    } else {
        (last - m) / sd
    })
}

/// Holt-Winters smoothing parameters (additive), fixed so results are reproducible.
pub const HW_ALPHA: f64 = 0.5;
pub const HW_BETA: f64 = 0.1;
pub const HW_GAMMA: f64 = 0.3;

/// Additive Holt-Winters over all values but the last, with season length `period` values
/// (`period` < 2: Holt's linear method, no season). Returns the one-step forecast for the last
/// value and the population deviation of the one-step residuals. Needs two full seasons (or 3
/// values without a season).
pub fn holt_winters(v: &[f64], period: usize) -> Option<(f64, f64)> {
    let hist = &v[..v.len().checked_sub(1)?];
    let seasonal = period >= 2;
    let p = if seasonal { period } else { 1 };
    if hist.len() < if seasonal { 2 * p } else { 3 } {
        return None;
    }
    let (mut level, mut trend, mut season) = if seasonal {
        let m1 = hist[..p].iter().sum::<f64>() / p as f64;
        let m2 = hist[p..2 * p].iter().sum::<f64>() / p as f64;
        let season: Vec<f64> = hist[..p].iter().map(|x| x - m1).collect();
        (m1, (m2 - m1) / p as f64, season)
    } else {
        (hist[0], hist[1] - hist[0], vec![0.0])
    };
    let start = if seasonal { p } else { 1 };
    let mut residuals = Vec::with_capacity(hist.len());
    for (i, &x) in hist.iter().enumerate().skip(start) {
        let si = i % p;
        let forecast = level + trend + season[si];
        residuals.push(x - forecast);
        let prev = level;
        level = HW_ALPHA * (x - season[si]) + (1.0 - HW_ALPHA) * (level + trend);
        trend = HW_BETA * (level - prev) + (1.0 - HW_BETA) * trend;
        if seasonal {
            season[si] = HW_GAMMA * (x - level) + (1.0 - HW_GAMMA) * season[si];
        }
    }
    let n = residuals.len() as f64;
    let mean = residuals.iter().sum::<f64>() / n;
    let sd = (residuals
        .iter()
        .map(|r| (r - mean) * (r - mean))
        .sum::<f64>()
        / n)
        .sqrt();
    let forecast = level + trend + season[hist.len() % p];
    Some((forecast, sd))
}
