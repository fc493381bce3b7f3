//! Names seen in one object or label set, so a repeat is refused: a list while there are
//! few, a hash set past [`FEW`] (std's seeded hasher: the names are the sender's), so a line
//! of a hundred thousand names is checked in linear time, not compared pair by pair.

use std::collections::HashSet;
use std::hash::Hash;

/// Past this many names a set is used.
pub(crate) const FEW: usize = 16;

pub(crate) struct Seen<T> {
    few: Vec<T>,
    many: HashSet<T>,
}

impl<T: Eq + Hash> Seen<T> {
    pub(crate) fn new() -> Seen<T> {
        Seen {
            few: Vec::new(),
            many: HashSet::new(),
        }
    }

    /// Adds `name`; gives it back when it was seen already.
    pub(crate) fn repeat(&mut self, name: T) -> Option<T> {
        if self.many.is_empty() {
            if self.few.contains(&name) {
                return Some(name);
            }
            if self.few.len() < FEW {
                self.few.push(name);
                return None;
            }
            self.many.extend(self.few.drain(..));
        }
        if self.many.contains(&name) {
            return Some(name);
        }
        self.many.insert(name);
        None
    }
}
