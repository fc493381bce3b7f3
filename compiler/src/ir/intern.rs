//! String interning: every string a rule compares for equality gets a small integer at compile
//! time; ingest looks an event's strings up once, so equality and `in [..]` compare integers.
//! Strings no rule mentions are all [`NO_SYM`](super::NO_SYM): the table never grows at run
//! time, whatever the events hold.

use super::{NO_SYM, Sym};
use std::hash::Hasher;

/// The interned strings of one rule set.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    strings: Vec<Box<str>>,
    /// Open addressing by [`Print`], at most half full (a power of two long, or empty).
    table: Vec<Entry>,
}

/// What a lookup compares before it compares text: the length, the first eight and the last
/// eight bytes. Strings of up to 16 bytes are equal exactly when their prints are, so most
/// event strings (names, types, addresses) are answered without a byte comparison or a
/// library call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Print {
    len: usize,
    head: u64,
    tail: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    print: Print,
    /// [`NO_SYM`]: a free entry.
    sym: Sym,
}

const FREE: Entry = Entry {
    print: Print {
        len: 0,
        head: 0,
        tail: 0,
    },
    sym: NO_SYM,
};

/// The eight bytes of `b` from `i`, little-endian (the caller knows they are there).
#[inline]
fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

impl Print {
    #[inline]
    fn of(s: &str) -> Print {
        let b = s.as_bytes();
        let len = b.len();
        let (head, tail) = if len >= 8 {
            (word(b, 0), word(b, len - 8))
        } else if len >= 4 {
            // Two overlapping four-byte loads: the shared bytes land on the same bits.
            let four =
                |i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
            (four(0) | four(len - 4) << (8 * (len - 4)), 0)
        } else {
            let h = b
                .iter()
                .enumerate()
                .fold(0, |h, (i, &c)| h | u64::from(c) << (8 * i));
            (h, 0)
        };
        Print { len, head, tail }
    }

    /// Where a probe starts: the print alone up to 16 bytes (it is the whole string), every
    /// word of longer ones (strings alike at both ends, as lists of paths are, still spread).
    #[inline]
    fn hash(&self, s: &str) -> u64 {
        let mut h = FxHasher::default();
        h.add(self.head);
        h.add(self.tail);
        h.add(self.len as u64);
        if self.len > 16 {
            // The middle's words, the last one overlapping the one before it (no short copy):
            // only the same string must give the same hash.
            let b = s.as_bytes();
            let mut i = 8;
            while i + 8 < self.len - 8 {
                h.add(word(b, i));
                i += 8;
            }
            h.add(word(b, self.len - 16));
        }
        h.finish()
    }
}

impl Interner {
    /// The id of `s`, assigned on first use (compile time only).
    pub fn intern(&mut self, s: &str) -> Sym {
        let found = self.lookup(s);
        if found != NO_SYM {
            return found;
        }
        let id = self.strings.len() as Sym;
        self.strings.push(s.into());
        if 2 * self.strings.len() > self.table.len() {
            self.rebuild();
        } else {
            self.place(id);
        }
        id
    }

    /// The id of `s` at ingest: [`NO_SYM`] when no rule mentions it.
    #[inline]
    pub fn lookup(&self, s: &str) -> Sym {
        if self.table.is_empty() {
            return NO_SYM;
        }
        let print = Print::of(s);
        let mask = self.table.len() - 1;
        let mut i = print.hash(s) as usize & mask;
        loop {
            let e = &self.table[i];
            if e.sym == NO_SYM {
                return NO_SYM;
            }
            if e.print == print && (print.len <= 16 || *self.strings[e.sym as usize] == *s) {
                return e.sym;
            }
            i = (i + 1) & mask;
        }
    }

    /// The table at twice the strings' count (rounded up to a power of two), refilled.
    fn rebuild(&mut self) {
        let size = (2 * self.strings.len()).next_power_of_two().max(8);
        self.table = vec![FREE; size];
        for id in 0..self.strings.len() {
            self.place(id as Sym);
        }
    }

    /// Puts string `id` (not yet in the table, which has room) in its first free entry.
    fn place(&mut self, id: Sym) {
        let s = &self.strings[id as usize];
        let print = Print::of(s);
        let mask = self.table.len() - 1;
        let mut i = print.hash(s) as usize & mask;
        while self.table[i].sym != NO_SYM {
            i = (i + 1) & mask;
        }
        self.table[i] = Entry { print, sym: id };
    }

    pub fn resolve(&self, id: Sym) -> Option<&str> {
        self.strings.get(id as usize).map(|s| &**s)
    }
    pub fn len(&self) -> usize {
        self.strings.len()
    }
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

/// The rustc hasher: a multiply-rotate per word, far cheaper than SipHash for short keys that
/// are not attacker-chosen lookups into an unbounded table (this one is fixed at compile time).
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_strings_share_one_id() {
        let mut i = Interner::default();
        let a = i.intern("login");
        assert_eq!(i.intern("login"), a);
        assert_eq!(i.lookup("login"), a);
        assert_eq!(i.lookup("logout"), NO_SYM);
        assert_eq!(i.len(), 1);
        assert_eq!(Interner::default().lookup(""), NO_SYM);
    }

    /// Strings alike in length and at both ends (paths in a list), and every length around
    /// the print's eight and sixteen bytes.
    #[test]
    fn strings_alike_at_both_ends_stay_apart() {
        let mut i = Interner::default();
        let paths: Vec<String> = (0..500)
            .map(|n| format!("C:\\Windows\\{n:04}\\system32\\x.exe"))
            .collect();
        let ids: Vec<Sym> = paths.iter().map(|p| i.intern(p)).collect();
        for (p, id) in paths.iter().zip(&ids) {
            assert_eq!(i.lookup(p), *id, "{p}");
        }
        assert_eq!(i.lookup("C:\\Windows\\9999\\system32\\x.exe"), NO_SYM);
        let mut j = Interner::default();
        let all: String = "abcdefghijklmnopqrstuvwxyz0123".into();
        for n in 0..=all.len() {
            j.intern(&all[..n]);
        }
        for n in 0..=all.len() {
            assert_eq!(j.lookup(&all[..n]), n as Sym);
            assert_eq!(j.lookup(&format!("{}!", &all[..n])), NO_SYM);
        }
    }

    proptest::proptest! {
        /// Lookup finds exactly the interned strings, and ids are given in first-use order.
        #[test]
        fn lookup_finds_what_was_interned(
            known in proptest::collection::vec("[a-c\\u{e9}]{0,20}", 0..60),
            probes in proptest::collection::vec("[a-c\\u{e9}]{0,20}", 0..60),
        ) {
            let mut i = Interner::default();
            let mut first: Vec<&str> = Vec::new();
            for s in &known {
                let id = i.intern(s);
                if !first.contains(&s.as_str()) {
                    first.push(s);
                }
                proptest::prop_assert_eq!(i.resolve(id), Some(s.as_str()));
            }
            proptest::prop_assert_eq!(i.len(), first.len());
            for s in known.iter().chain(&probes) {
                let want = first.iter().position(|f| f == s).map_or(NO_SYM, |p| p as Sym);
                proptest::prop_assert_eq!(i.lookup(s), want, "{:?}", s);
            }
        }
    }
}
