//! How much of a series the engine keeps, shared by the checker (which warns when a window
//! cannot be served exactly) and the engine (which keeps it).
//!
//! Raw samples are capped per series so one series cannot exhaust memory. Long windows of the
//! functions that can be computed from partial aggregates (sum, count, min, max, first, last,
//! sum of squares, counter resets, changes) are served instead from per-series buckets one
//! grid step wide, where the grid is the greatest common divisor of the evaluation interval,
//! the range and the offset: every window any evaluation asks for then starts and ends on a
//! bucket edge, so the result is exact at any length, and memory grows with the window over
//! the interval, not with the sample rate.

/// The most raw samples one series keeps: a window spanning more sees only the newest
/// (`vigil check` warns, V1031; `vigil replay` counts what it cut).
pub const MAX_SERIES_SAMPLES: usize = 65_536;

/// The most buckets one series keeps: 90 days at one evaluation every 15 seconds.
pub const MAX_BUCKETS: usize = 524_288;

/// Windows at least this long (ms) are served from buckets when their function allows it;
/// shorter ones slide over raw samples, which fit the cap at any usual sample rate.
pub const BUCKETS_FROM_MS: i64 = 6 * 3_600_000;

/// Window functions (by their language name) whose value over a window is exact from the
/// buckets' partial aggregates. `quantile`, `ewma`, `slope`/`deriv`, `predict`, `irate` and
/// `change` need raw samples.
pub fn bucketable(func: &str) -> bool {
    matches!(
        func,
        "avg"
            | "sum"
            | "min"
            | "max"
            | "count"
            | "first"
            | "last"
            | "stddev"
            | "variance"
            | "zscore"
            | "rate"
            | "increase"
            | "delta"
            | "changes"
    )
}

/// The bucket width (ms) under which every window `(t - offset - range, t - offset]` at
/// evaluation times `t` that are multiples of `interval` starts and ends on a bucket edge.
pub fn bucket_ms(interval_ms: i64, range_ms: i64, offset_ms: i64) -> i64 {
    gcd(gcd(interval_ms.max(1), range_ms.max(1)), offset_ms.abs())
}

/// Greatest common divisor (of grid steps, ms).
pub fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// How a window over a series is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Raw samples (a short window, or a function that needs them).
    Raw,
    /// Buckets of `width` ms, `count` of them: exact at any length.
    Buckets { width: i64, count: usize },
    /// A long window whose grid needs more than [`MAX_BUCKETS`] buckets: raw samples, cut at
    /// the cap.
    TooManyBuckets { width: i64, count: usize },
}

impl Keep {
    /// How the engine keeps the window of `func` over `range_ms` (offset `offset_ms`),
    /// evaluated every `interval_ms`.
    pub fn of(func: &str, interval_ms: i64, range_ms: i64, offset_ms: i64) -> Keep {
        Keep::grid(bucketable(func), interval_ms, range_ms, offset_ms)
    }

    /// [`Keep::of`] for a function already known to be bucketable or not.
    pub fn grid(bucketable: bool, interval_ms: i64, range_ms: i64, offset_ms: i64) -> Keep {
        if !bucketable || range_ms < BUCKETS_FROM_MS {
            return Keep::Raw;
        }
        let width = bucket_ms(interval_ms, range_ms, offset_ms);
        let count = usize::try_from(range_ms / width).unwrap_or(usize::MAX);
        if count > MAX_BUCKETS {
            Keep::TooManyBuckets { width, count }
        } else {
            Keep::Buckets { width, count }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_land_on_bucket_edges() {
        let (interval, range, offset) = (90_000, 30 * 86_400_000, 3_600_000);
        let w = bucket_ms(interval, range, offset);
        for k in 0..1000i64 {
            let end = k * interval - offset;
            assert_eq!(end % w, 0);
            assert_eq!((end - range) % w, 0);
        }
    }

    #[test]
    fn thirty_days_at_fifteen_seconds_fit_and_ninety_do_at_fifteen() {
        let day = 86_400_000;
        assert_eq!(
            Keep::of("avg", 15_000, 30 * day, 0),
            Keep::Buckets {
                width: 15_000,
                count: 172_800
            }
        );
        assert!(matches!(
            Keep::of("max", 15_000, 90 * day, 0),
            Keep::Buckets { .. }
        ));
        assert!(matches!(
            Keep::of("avg", 7_000, 90 * day, 0),
            Keep::TooManyBuckets { width: 1_000, .. }
        ));
        assert_eq!(Keep::of("quantile", 15_000, 30 * day, 0), Keep::Raw);
        assert_eq!(Keep::of("avg", 15_000, 3_600_000, 0), Keep::Raw);
    }
}
