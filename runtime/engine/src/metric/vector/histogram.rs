//! Histogram quantiles and fractions from cumulative buckets, as PromQL computes them.

/// PromQL's `bucketQuantile` over `(upper bound, cumulative count)` pairs.
pub fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if !prepare(b) {
        return f64::NAN;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * total;
    let i = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[i].0, b[i].1);
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The fraction of observations at or below `v`, interpolating linearly inside a bucket.
pub fn bucket_fraction(v: f64, b: &mut Vec<(f64, f64)>) -> f64 {
    if !prepare(b) {
        return f64::NAN;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let i = b.partition_point(|x| x.0 < v);
    if i >= b.len() - 1 && v >= b[b.len() - 2].0 {
        return b[b.len() - 2].1 / total;
    }
    let (start, below) = if i == 0 {
        (0.0f64.min(b[0].0), 0.0)
    } else {
        b[i - 1]
    };
    let (end, upto) = b[i];
    let inside = if end > start {
        (v - start) / (end - start)
    } else {
        1.0
    };
    (below + (upto - below) * inside.clamp(0.0, 1.0)) / total
}

/// Sorts, merges equal bounds and makes counts monotonic; false when unusable.
fn prepare(b: &mut Vec<(f64, f64)>) -> bool {
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|x| x.0 != f64::INFINITY) {
        return false;
    }
    b.dedup_by(|x, y| {
        if x.0 == y.0 {
            y.1 += x.1;
            true
        } else {
            false
        }
    });
    let mut max = f64::NEG_INFINITY;
    for x in b.iter_mut() {
        if x.1 < max {
            x.1 = max;
        }
        max = x.1;
    }
    b.len() >= 2
}
