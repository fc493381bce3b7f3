//! `throttle N per W by KEYS`: at most N alerts per key in any window of W; the rest are
//! suppressed (counted), so one noisy source cannot flood the notifiers.

use super::FxMap;
use super::KeyId;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throttle {
    pub count: u32,
    /// ms; the window is `(t - per, t]`.
    pub per: i64,
    sent: FxMap<KeyId, VecDeque<i64>>,
    /// Map size after the last sweep of idle keys.
    swept: usize,
    pub suppressed: u64,
}

impl Throttle {
    pub fn new(count: u32, per: i64) -> Throttle {
        Throttle {
            count: count.max(1),
            per,
            ..Throttle::default()
        }
    }

    /// Whether an alert for `key` at `t` may go out (and if so, counts it).
    pub fn allow(&mut self, key: KeyId, t: i64) -> bool {
        if self.sent.len() > 2 * self.swept.max(1024) {
            let per = self.per;
            self.sent
                .retain(|_, q| q.back().is_some_and(|&last| t - last < per));
            self.swept = self.sent.len();
        }
        let q = self.sent.entry(key).or_default();
        while q.front().is_some_and(|&s| t - s >= self.per) {
            q.pop_front();
        }
        if q.len() >= self.count as usize {
            self.suppressed += 1;
            return false;
        }
        q.push_back(t);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_per_window_per_key() {
        let mut t = Throttle::new(2, 60_000);
        let got: Vec<bool> = [0, 10, 20, 59_999, 60_000, 60_010]
            .iter()
            .map(|&ts| t.allow(1, ts))
            .collect();
        assert_eq!(got, [true, true, false, false, true, true]);
        assert!(t.allow(2, 20), "keys are independent");
        assert_eq!(t.suppressed, 2);
    }
}
