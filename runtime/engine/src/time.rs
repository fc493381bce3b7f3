//! Engine time: epoch milliseconds within a range far from overflow, and the conversion from
//! the seconds rules are written in.

/// The largest timestamp magnitude accepted, ms (about ±3000 years around 1970): far from
/// overflow in any time arithmetic.
pub const MAX_TIME: i64 = 1 << 46;

/// Whether a time is within ±[`MAX_TIME`].
pub fn in_range(ts: i64) -> bool {
    ts.unsigned_abs() <= MAX_TIME as u64
}

/// Seconds to ms, bounded by [`MAX_TIME`] (NaN is 0).
pub fn ms(s: f64) -> i64 {
    let max = MAX_TIME as f64;
    let v = (s * 1000.0).round();
    if v.is_nan() {
        0
    } else {
        v.clamp(-max, max) as i64
    }
}

/// The first multiple of `step` at or after `t`.
pub fn align_up(t: i64, step: i64) -> i64 {
    let r = t.rem_euclid(step);
    if r == 0 { t } else { t + (step - r) }
}
