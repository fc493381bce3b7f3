//! Sample lines of series already read. A series' metric and labels are the same text on
//! every line of it (between the line's time and its value), so once that text has been read
//! in full and accepted, later lines skip it: the record names the series by a 128-bit hash
//! of the text ([`crate::Record::Keyed`]), and the engine, which keeps what each key stands
//! for, reads the labels again only for a key it does not know.

use foldhash::fast::FixedState;
use std::collections::HashSet;
use std::hash::BuildHasher;

/// Two seeded 64-bit hashes of a series' text: a collision is as unlikely as a random 128-bit
/// clash.
pub type SeriesKey = (u64, u64);

/// The keys of series texts read in full and accepted (at most [`SeriesKeys::MAX`]: emptied
/// when full, after which each series is read in full once more).
#[derive(Debug, Clone, Default)]
pub struct SeriesKeys {
    known: HashSet<SeriesKey, FixedState>,
}

impl SeriesKeys {
    pub const MAX: usize = 1 << 20;

    /// The key of a series' text (what a sample line holds between its time and its value).
    pub fn key(text: &str) -> SeriesKey {
        let half = |seed| FixedState::with_seed(seed).hash_one(text);
        (half(0x5EED_1001), half(0x5EED_1002))
    }

    /// Whether `key`'s text was read in full and accepted.
    pub fn knows(&self, key: SeriesKey) -> bool {
        self.known.contains(&key)
    }

    /// Notes that `key`'s text was read in full and accepted.
    pub fn learn(&mut self, key: SeriesKey) {
        if self.known.len() >= Self::MAX {
            self.known.clear();
        }
        self.known.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_of_the_text() {
        let a = SeriesKeys::key(r#""metric":"cpu","labels":{"a":"b"}"#);
        assert_eq!(a, SeriesKeys::key(r#""metric":"cpu","labels":{"a":"b"}"#));
        assert_ne!(a, SeriesKeys::key(r#""metric":"cpu","labels":{"a": "b"}"#));
        let mut k = SeriesKeys::default();
        assert!(!k.knows(a));
        k.learn(a);
        assert!(k.knows(a));
    }
}
