//! String interning: every string a rule compares for equality gets a small integer at compile
//! time; ingest looks an event's strings up once, so equality and `in [..]` compare integers.
//! Strings no rule mentions are all [`NO_SYM`](super::NO_SYM): the table never grows at run
//! time, whatever the events hold.

use super::{NO_SYM, Sym};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The interned strings of one rule set.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Box<str>, Sym, BuildHasherDefault<FxHasher>>,
    strings: Vec<Box<str>>,
}

impl Interner {
    /// The id of `s`, assigned on first use (compile time only).
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as Sym;
        self.ids.insert(s.into(), id);
        self.strings.push(s.into());
        id
    }
    /// The id of `s` at ingest: [`NO_SYM`] when no rule mentions it.
    pub fn lookup(&self, s: &str) -> Sym {
        self.ids.get(s).copied().unwrap_or(NO_SYM)
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
    }
}
