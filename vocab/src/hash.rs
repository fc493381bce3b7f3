//! A stable 64-bit hash (FNV-1a) for identities that must not change between runs and
//! versions: alert ids and fingerprints, notification ids, jitter seeds.

/// FNV-1a over `parts`, each followed by 0xff (which UTF-8 text never contains), so
/// `["ab", "c"]` and `["a", "bc"]` differ.
pub fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn parts_are_separated() {
        let a: [&[u8]; 2] = [b"ab", b"c"];
        let b: [&[u8]; 2] = [b"a", b"bc"];
        assert_ne!(fnv1a(a), fnv1a(b));
        assert_eq!(fnv1a(a), fnv1a(a));
    }
}
