//! RFC 6962 (and RFC 9162) Merkle trees over the log's entries: the tree head a checkpoint
//! signs, and the inclusion proof that shows one entry is in it, checkable offline.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || entry)`.
pub fn leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n > 1`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The Merkle tree hash of leaves already hashed (`MTH`); the empty tree is `SHA-256("")`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `m` in the tree of `leaves` (`PATH(m, D[n])`), bottom first.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || m >= n {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = inclusion_proof(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_proof(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Checks an inclusion proof (RFC 9162, 2.1.3.2): leaf `index` of a tree of `size` leaves
/// with this `leaf` hash has root `root`.
pub fn verify_inclusion(
    index: usize,
    size: usize,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut l) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if l == 0 {
            return false;
        }
        if f % 2 == 1 || f == l {
            r = node(p, &r);
            if f % 2 == 0 {
                while f % 2 == 0 && f != 0 {
                    f >>= 1;
                    l >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        l >>= 1;
    }
    l == 0 && r == *root
}

/// The consistency proof between the tree of the first `m` leaves and the tree of all of
/// them (`PROOF(m, D[n])`, RFC 6962 2.1.2): shows the smaller tree is a prefix of the larger.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !whole {
                out.push(root(d));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            sub(m, &d[..k], whole, out);
            out.push(root(&d[k..]));
        } else {
            sub(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    if m > 0 && m <= leaves.len() {
        sub(m, leaves, true, &mut out);
    }
    out
}

/// Checks a consistency proof (RFC 9162, 2.1.4.2): the tree of `first` leaves with root
/// `first_root` is a prefix of the tree of `second` leaves with root `second_root`.
pub fn verify_consistency(
    first: usize,
    second: usize,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some(c0) = path.first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*c0, *c0);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

/// Lowercase hex.
pub fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from 64 hex digits.
pub fn unhex(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(std::str::from_utf8(&b[2 * i..2 * i + 2]).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_proofs_hold_for_every_prefix_and_fail_when_changed() {
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf(&i.to_le_bytes())).collect();
        for n in 1..=leaves.len() {
            let big = root(&leaves[..n]);
            for m in 1..=n {
                let small = root(&leaves[..m]);
                let p = consistency_proof(m, &leaves[..n]);
                assert!(verify_consistency(m, n, &small, &big, &p), "{m} of {n}");
                if m < n {
                    let mut other = leaves[..n].to_vec();
                    other[m - 1] = leaf(b"changed");
                    assert!(
                        !verify_consistency(m, n, &root(&other[..m]), &big, &p),
                        "{m} of {n} with a changed leaf"
                    );
                    assert!(!verify_consistency(m, n, &small, &root(&other), &p));
                }
            }
        }
    }

    /// The test vectors of Certificate Transparency's reference implementation (the inputs
    /// and tree heads its Merkle tests use).
    #[test]
    fn rfc6962_tree_heads() {
        let inputs = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let leaves: Vec<Hash> = inputs
            .iter()
            .map(|h| {
                let bytes: Vec<u8> = (0..h.len() / 2)
                    .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                leaf(&bytes)
            })
            .collect();
        let heads = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, want) in heads.iter().enumerate() {
            assert_eq!(hex(&root(&leaves[..=n])), *want, "tree of {}", n + 1);
        }
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for size in 1..=8 {
            let r = root(&leaves[..size]);
            for m in 0..size {
                let p = inclusion_proof(m, &leaves[..size]);
                assert!(
                    verify_inclusion(m, size, &leaves[m], &p, &r),
                    "{m} of {size}"
                );
                if size > 1 {
                    let other = &leaves[(m + 1) % size];
                    assert!(!verify_inclusion(m, size, other, &p, &r), "{m} of {size}");
                }
            }
        }
    }
}
