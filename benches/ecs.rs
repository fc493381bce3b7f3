//! Real-shape events end to end (issue "Hot path"), in one run so the ratios are fair.
//! `benches/ecs_scenario.py` writes ECS-like and Falco-like events (nested objects, arrays of
//! strings, escaped Windows paths, 12-20 fields, ~300 bytes) and two packs of 100 rules:
//! rare (few events match) and heavy (1-2 matches per event). Measured, CPU time of:
//!   - the baseline: a naive loop reading the file's lines and parsing each into a
//!     `serde_json::Value`, nothing else (in this process);
//!   - `vigil replay --quiet` and `vigil eval --quiet` on each pack, JIT and interpreter
//!     (child processes; their CPU time from /proc, best of 3).
//!
//! Prints each as a ratio to the baseline (target: at most 0.5x). Then the same for the
//! friendly workload of `benches/events_scenario.py` with `benches/events.rules`.
//!
//!     cargo bench --bench ecs            # 500,000 events; ECS_EVENTS=N to change

#[path = "common/scenario.rs"]
mod scenario;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    let n: usize = std::env::var("ECS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let dir = std::env::temp_dir().join(format!("vigil-ecs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data = dir.join("ecs.jsonl");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let write = |script: &str, out: &Path| scenario::write(script, out, n);
    if !write("ecs_scenario.py", &data) {
        eprintln!("ecs bench: needs python3 to write its input; skipped");
        return;
    }
    let packs = ["rare", "heavy"].map(|p| (p, dir.join(format!("ecs_{p}.rules"))));
    compare(n, &data, &packs);
    // The friendly workload (flat events, 90 filters that rarely match and 10 aggregations and
    // sequences): same targets.
    let flat = dir.join("events.jsonl");
    let rules = dir.join("events.rules");
    if write("events_scenario.py", &flat)
        && std::fs::copy(root.join("benches/events.rules"), &rules).is_ok()
    {
        compare(n, &flat, &[("flat", rules)]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The baseline on `data`, then each pack through `vigil replay` and `vigil eval` on both
/// engines, as ratios to it.
fn compare(n: usize, data: &Path, packs: &[(&str, PathBuf)]) {
    let bytes = std::fs::metadata(data).map_or(0, |m| m.len());
    println!("{n} events, {} MB", bytes / 1_000_000);
    let baseline = best_of(3, || cpu_in_process(|| naive(data)));
    println!(
        "baseline (serde_json::Value per line): {:.3} s CPU, {:.2} M events/s",
        baseline,
        n as f64 / baseline / 1e6
    );
    for (pack, rules) in packs {
        for (cmd, engine) in [
            ("replay", "jit"),
            ("replay", "interp"),
            ("eval", "jit"),
            ("eval", "interp"),
        ] {
            let t = best_of(3, || child_cpu(cmd, engine, rules, data));
            println!(
                "{pack:>5} {cmd:<6} {engine:<6}: {:.3} s CPU = {:.2}x baseline, {:.2} M events/s",
                t,
                t / baseline,
                n as f64 / t / 1e6
            );
        }
    }
}

/// Reads the file line by line and parses each line into a `Value`, as a naive consumer.
fn naive(data: &Path) {
    let f = std::io::BufReader::new(std::fs::File::open(data).expect("data"));
    let mut n = 0usize;
    for line in f.lines() {
        let line = line.expect("line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        n += usize::from(v.is_object());
    }
    std::hint::black_box(n);
}

fn best_of(k: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..k).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn cpu_in_process(f: impl FnOnce()) -> f64 {
    let (u, s) = self_cpu();
    let t = Instant::now();
    f();
    let (u2, s2) = self_cpu();
    let cpu = (u2 - u) + (s2 - s);
    // /proc ticks are 10 ms: fall back to wall time for very short runs.
    if cpu > 0.05 {
        cpu
    } else {
        t.elapsed().as_secs_f64()
    }
}

/// This process's user and system CPU seconds, and its waited-for children's.
fn stat_fields() -> Vec<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = text.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 after the `)`.
    (11..15)
        .map(|i| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0)
        .collect()
}

fn self_cpu() -> (f64, f64) {
    let f = stat_fields();
    (f[0], f[1])
}

fn child_cpu(cmd: &str, engine: &str, rules: &Path, data: &Path) -> f64 {
    let before = stat_fields();
    let status = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([cmd, "--quiet", "--engine", engine, "--rules"])
        .arg(rules)
        .arg("--input")
        .arg(data)
        .status()
        .expect("vigil runs");
    assert!(status.success(), "vigil {cmd} failed");
    let after = stat_fields();
    (after[2] - before[2]) + (after[3] - before[3])
}
