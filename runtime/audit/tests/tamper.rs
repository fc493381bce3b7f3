//! Tampering is found and named: a generated log with checkpoints, then one change (a flipped
//! byte, a deleted, duplicated or swapped entry, a recomputed chain) — `verify` reports it at
//! its position every time. A log cut at any byte (a torn append) verifies up to the last
//! complete entry, and reopening it records the recovery.

use proptest::prelude::*;
use std::path::Path;
use vigil_audit::verify::verify;
use vigil_audit::{AuditLog, Keys};

fn keys() -> Keys {
    Keys::from_seed_hex(&"07".repeat(32), None).unwrap()
}

/// A log of `n` entries, a checkpoint every `every`, and a final one.
fn build(dir: &Path, n: u64, every: u64) -> Keys {
    let k = keys();
    let mut log = AuditLog::open(dir, k.clone(), 1 << 20).unwrap();
    log.checkpoint_every = every;
    for i in 0..n {
        log.append(
            1_700_000_000_000 + i as i64,
            if i % 3 == 0 { "alert" } else { "notification" },
            serde_json::json!({"rule": format!("r{}", i % 7), "i": i, "text": "x y z"}),
        )
        .unwrap();
    }
    log.checkpoint(1_800_000_000_000).unwrap();
    log.flush().unwrap();
    k
}

fn segment(dir: &Path) -> std::path::PathBuf {
    vigil_audit::log::segments(dir).pop().unwrap()
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(segment(dir))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write(dir: &Path, lines: &[String]) {
    std::fs::write(segment(dir), lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_untouched_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = build(dir.path(), 100, 10);
    let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.entries, 100);
    assert_eq!(r.checkpoints_verified, r.checkpoints);
    assert!(r.checkpoints >= 10);
    // Another key does not vouch for it.
    let other = Keys::from_seed_hex(&"08".repeat(32), None).unwrap();
    let r = verify(dir.path(), Some(&other.public_hex()), None).unwrap();
    assert!(!r.ok());
}

#[test]
fn a_recomputed_chain_is_caught_by_the_signed_tree_head() {
    let dir = tempfile::tempdir().unwrap();
    let k = build(dir.path(), 30, 10);
    // Rewrite entry 15's data and recompute every hash after it, as someone without the
    // signing key could.
    let mut ls = lines(dir.path());
    let mut prev = [0u8; 32];
    for (i, l) in ls.iter_mut().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let mut e: vigil_audit::Entry = serde_json::from_value(v["entry"].clone()).unwrap();
        if i == 14 {
            e.data = serde_json::json!({"rule": "innocent"});
        }
        let bytes = e.canonical();
        let h = vigil_audit::chain_with(None, &prev, &bytes);
        prev = h;
        *l = format!(
            "{{\"entry\":{},\"hash\":\"{}\"}}",
            String::from_utf8(bytes).unwrap(),
            vigil_audit::merkle::hex(&h)
        );
    }
    write(dir.path(), &ls);
    let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
    let first = &r.problems[0];
    assert_eq!((first.kind, first.position), ("rewritten", 20), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_single_change_is_found_at_its_position(n in 5u64..60, pick in 0usize..1000, how in 0u8..5, byte in 0usize..200) {
        let dir = tempfile::tempdir().unwrap();
        let k = build(dir.path(), n, 7);
        let mut ls = lines(dir.path());
        let i = pick % (ls.len() - 1);
        let seq = i as u64 + 1;
        let (kind, at) = match how {
            0 => {
                // A flipped byte inside the entry (its text or hash).
                let mut b = ls[i].clone().into_bytes();
                let j = 9 + byte % (b.len() - 11);
                b[j] ^= 0x01;
                ls[i] = String::from_utf8_lossy(&b).into_owned();
                ("any", seq)
            }
            1 => { ls.remove(i); ("deleted", seq) }
            2 => { let d = ls[i].clone(); ls.insert(i + 1, d); ("inserted", seq) }
            3 => { ls.swap(i, i + 1); ("reordered", seq) }
            _ => { let d = ls.remove(i); ls.push(d); ("any", seq) }
        };
        write(dir.path(), &ls);
        let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
        prop_assert!(!r.ok(), "{how}: nothing found");
        let p = &r.problems[0];
        if kind != "any" {
            prop_assert_eq!(p.kind, kind, "{:?}", r.problems);
        }
        prop_assert!(p.position == at || p.position == at + 1, "{how}: {:?} for entry {at}", r.problems);
    }

    #[test]
    fn a_torn_append_verifies_up_to_the_last_complete_entry(n in 2u64..40, cut in 1usize..400) {
        let dir = tempfile::tempdir().unwrap();
        let k = keys();
        {
            let mut log = AuditLog::open(dir.path(), k.clone(), 1 << 20).unwrap();
            log.checkpoint_every = 1_000_000;
            for i in 0..n {
                log.append(i as i64, "alert", serde_json::json!({"i": i})).unwrap();
            }
            log.flush().unwrap();
        }
        let path = segment(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        let keep = len - (cut as u64 % (len / n)).max(1);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(keep).unwrap();
        drop(f);
        let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
        prop_assert!(r.ok(), "{:?}", r);
        prop_assert_eq!(r.entries, n - 1);
        prop_assert!(r.torn_bytes > 0);
        // Reopening cuts the torn line and records that it did.
        let mut log = AuditLog::open(dir.path(), k.clone(), 1 << 20).unwrap();
        log.checkpoint(0).unwrap();
        let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
        prop_assert!(r.ok(), "{:?}", r);
        prop_assert_eq!(r.entries, n);
        let last = vigil_audit::verify::read(dir.path()).unwrap().0.pop().unwrap().unwrap();
        prop_assert_eq!(last.entry.kind.as_str(), "recovery");
    }
}

#[test]
fn retention_deletes_old_segments_and_the_rest_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let mut log = AuditLog::open(dir.path(), k.clone(), 2_000).unwrap();
    log.checkpoint_every = 7;
    for i in 0..200i64 {
        log.append(i * 1000, "alert", serde_json::json!({"i": i}))
            .unwrap();
    }
    log.flush().unwrap();
    let before = vigil_audit::log::segments(dir.path()).len();
    assert!(before > 5, "{before} segments");
    let gone = log.retain(100_000, 300_000).unwrap();
    assert!(gone > 50 && gone < 100, "{gone} entries deleted");
    assert!(vigil_audit::log::segments(dir.path()).len() < before);
    for i in 200..220i64 {
        log.append(i * 1000, "alert", serde_json::json!({"i": i}))
            .unwrap();
    }
    log.checkpoint(400_000).unwrap();
    drop(log);
    let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.entries, 221 - gone, "{r:?}");
    assert!(
        r.checkpoints_removed > 0 && r.checkpoints_verified > 0,
        "{r:?}"
    );
    // Reopened, the chain and tree continue from the record.
    let mut log = AuditLog::open(dir.path(), k.clone(), 2_000).unwrap();
    log.append(500_000, "alert", serde_json::json!({"after": "reopen"}))
        .unwrap();
    log.checkpoint(500_001).unwrap();
    drop(log);
    let r = verify(dir.path(), Some(&k.public_hex()), None).unwrap();
    assert!(r.ok(), "{r:?}");
    // The record is signed: another key does not vouch for it.
    let other = Keys::from_seed_hex(&"09".repeat(32), None).unwrap();
    let r = verify(dir.path(), Some(&other.public_hex()), None).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.detail.contains("retention.json")),
        "{r:?}"
    );
}

#[test]
fn proofs_check_offline_against_signed_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let k = build(dir.path(), 50, 10);
    // Inclusion of entry 17 in the newest checkpoint.
    let p = vigil_audit::verify::prove(dir.path(), 17).unwrap();
    let cp: vigil_audit::Checkpoint = serde_json::from_value(p["checkpoint"].clone()).unwrap();
    assert!(cp.verify_signature(&k.public_hex()));
    let h = |v: &serde_json::Value| vigil_audit::merkle::unhex(v.as_str().unwrap()).unwrap();
    let path: Vec<_> = p["audit_path"].as_array().unwrap().iter().map(h).collect();
    assert!(vigil_audit::merkle::verify_inclusion(
        p["leaf_index"].as_u64().unwrap() as usize,
        cp.size as usize,
        &h(&p["leaf_hash"]),
        &path,
        &vigil_audit::merkle::unhex(&cp.root).unwrap(),
    ));
    // The checkpoint of 20 entries is a prefix of the one of 50.
    let c = vigil_audit::verify::consistency(dir.path(), 20, 50).unwrap();
    let first: vigil_audit::Checkpoint = serde_json::from_value(c["first"].clone()).unwrap();
    let second: vigil_audit::Checkpoint = serde_json::from_value(c["second"].clone()).unwrap();
    let proof: Vec<_> = c["proof"].as_array().unwrap().iter().map(h).collect();
    assert!(vigil_audit::merkle::verify_consistency(
        20,
        50,
        &vigil_audit::merkle::unhex(&first.root).unwrap(),
        &vigil_audit::merkle::unhex(&second.root).unwrap(),
        &proof,
    ));
}
