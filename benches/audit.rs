//! The audit log's speed (`cargo bench --bench audit`), in one run so the ratios are fair:
//!   (a) appends per second with checkpoints on (every 10,000 entries, each synced and
//!       signed), entries shaped like the daemon's alert changes;
//!   (b) the baseline: the same entries serialised with serde_json and written to a buffered
//!       file (no hashing, no chain, no checkpoints);
//!   (c) `verify` of a 1,000,000-entry log (every chain hash, position and checkpoint).
//! Targets: (a) at least 100,000 entries/s; (c) under 2 s.

use std::io::Write;
use std::time::Instant;
use vigil_audit::{AuditLog, Keys};

const N: u64 = 1_000_000;

fn data(i: u64) -> serde_json::Value {
    serde_json::json!({
        "rule": format!("trading.rule_{}", i % 50),
        "state": if i.is_multiple_of(2) { "firing" } else { "resolved" },
        "severity": "warning",
        "labels": {"host": format!("host-{}", i % 1000), "desk": "fx"},
        "value": (i % 977) as f64 * 1.5,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = Keys::from_seed_hex(&"11".repeat(32), None).expect("a key");
    let t = Instant::now();
    {
        let mut log =
            AuditLog::open(&dir.path().join("log"), keys.clone(), 64 << 20).expect("opens");
        log.checkpoint_every = 10_000;
        for i in 0..N {
            log.append(1_700_000_000_000 + i as i64, "alert", data(i))
                .expect("appends");
        }
        log.checkpoint(1_800_000_000_000).expect("checkpoints");
    }
    let append = t.elapsed().as_secs_f64();

    let t = Instant::now();
    {
        let f = std::fs::File::create(dir.path().join("plain.jsonl")).expect("creates");
        let mut w = std::io::BufWriter::new(f);
        for i in 0..N {
            let e = serde_json::json!({"seq": i + 1, "ts": 1_700_000_000_000 + i as i64, "kind": "alert", "data": data(i)});
            serde_json::to_writer(&mut w, &e).expect("writes");
            w.write_all(b"\n").expect("writes");
        }
        w.flush().expect("flushes");
        w.get_ref().sync_all().expect("syncs");
    }
    let plain = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let r = vigil_audit::verify::verify(&dir.path().join("log"), Some(&keys.public_hex()), None)
        .expect("reads");
    let verify = t.elapsed().as_secs_f64();
    assert!(r.ok() && r.entries == N, "{r:?}");

    println!(
        "audit log: {N} entries, checkpoints every 10,000 ({} signed)",
        r.checkpoints
    );
    println!(
        "  (a) appended:              {:>7.2} s  {:>9.0} entries/s (target 100,000)",
        append,
        N as f64 / append
    );
    println!(
        "  (b) plain JSON lines:      {:>7.2} s  {:>9.0} entries/s; (a) takes {:.2}x (b)'s time",
        plain,
        N as f64 / plain,
        append / plain
    );
    println!(
        "  (c) verified:              {:>7.2} s  (target under 2 s)",
        verify
    );
}
