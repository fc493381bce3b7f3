//! Processor hints for the engine's hot loops. A hint changes no result, only when memory
//! arrives: the metric evaluator asks for the sample a series' window drops a few series
//! before it slides that window, so the load overlaps other work instead of stalling it
//! (measured in `docs/performance.md`).
//!
//! The intrinsic is `unsafe` only because it is tied to a processor feature (SSE, which every
//! x86_64 processor has); a prefetch never faults and reads nothing the program sees. This
//! crate keeps that one call out of the crates that forbid `unsafe`.

#![deny(unsafe_code)]

/// Asks the processor to bring the cache line holding `x` closer (into every level), without
/// waiting for it. A no-op on processors other than x86_64.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch neither faults nor changes
    // memory; `x` is a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

#[cfg(test)]
mod tests {
    use super::prefetch;

    /// A hint leaves what it points at as it was, whatever the type and alignment.
    #[test]
    fn a_prefetch_changes_nothing() {
        let v: Vec<(i64, f64)> = (0..1000).map(|i| (i, i as f64 * 0.5)).collect();
        for x in &v {
            prefetch(x);
        }
        let bytes = [1u8, 2, 3];
        prefetch(&bytes[1]);
        assert_eq!(bytes, [1, 2, 3]);
        assert!(
            v.iter()
                .enumerate()
                .all(|(i, x)| *x == (i as i64, i as f64 * 0.5))
        );
    }
}
