//! `vigil replay` end to end: the same recording as JSON lines (epoch ms and RFC 3339 times),
//! Prometheus text exposition and Influx line protocol gives the same timeline on both
//! engines; bad lines are reported by number and skipped; bad arguments and bad rules fail
//! cleanly.

use std::path::PathBuf;
use std::process::Command;

fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .arg("replay")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("vigil runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const EXPECTED: &str = r#"{"ts":1795428240000,"rule":"api.slow","state":"pending","labels":{"host":"a"},"value":0.255}
{"ts":1795428300000,"rule":"api.slow","state":"firing","labels":{"host":"a"},"value":0.3}
{"ts":1795428330000,"rule":"api.errors","state":"firing","labels":{"host":"a","team":"api"},"value":0.17500000000000002}
{"ts":1795428390000,"rule":"api.slow","state":"resolved","labels":{"host":"a"},"value":0.255}
"#;

#[test]
fn every_format_and_engine_gives_the_same_timeline() {
    // scrapes.prom: /metrics pages without timestamps, each after a `# time:` line.
    for input in ["data.jsonl", "data.prom", "data.lp", "scrapes.prom"] {
        for engine in ["jit", "interp"] {
            let path = format!("tests/replay/{input}");
            let (code, out, err) = replay(&[
                "--rules",
                "tests/replay/api.rules",
                "--input",
                &path,
                "--interval",
                "30s",
                "--engine",
                engine,
            ]);
            assert_eq!(code, 0, "{input} {engine}: {err}");
            assert_eq!(out, EXPECTED, "{input} on {engine}");
        }
    }
}

#[test]
fn several_inputs_are_merged_by_time() {
    let (code, out, err) = replay(&[
        "--rules",
        "tests/replay/api.rules",
        "--input",
        "tests/replay/data.prom",
        "tests/replay/data.lp",
        "--interval",
        "30s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, EXPECTED);
}

#[test]
fn bad_lines_are_reported_skipped_and_counted() {
    let (code, out, err) = replay(&[
        "--rules",
        "tests/replay/api.rules",
        "--input",
        "tests/replay/bad.jsonl",
        "--interval",
        "30s",
        "--stats",
    ]);
    assert_eq!(code, 1, "bad lines make the exit code 1");
    assert_eq!(out, EXPECTED, "the good lines are all replayed");
    assert!(
        err.contains("tests/replay/bad.jsonl:9: a sample needs a numeric `value`; line skipped"),
        "{err}"
    );
    assert!(
        err.contains("tests/replay/bad.jsonl:10: invalid JSON"),
        "{err}"
    );
    assert!(
        err.contains("tests/replay/bad.jsonl:11: missing `ts` (epoch milliseconds or RFC 3339)"),
        "{err}"
    );
    assert!(err.contains("3 bad lines"), "{err}");
    assert!(err.contains("evaluation latency per tick: p50"), "{err}");
    // Each metric rule's evaluation time, costliest first: its share, rows, time per row.
    let costs: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("costliest metric rules"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(costs.len(), 2, "{err}");
    let mut ids: Vec<&str> = costs
        .iter()
        .filter_map(|l| l.trim().split(':').next())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["api.errors", "api.slow"], "{err}");
    let shares: u32 = costs
        .iter()
        .filter_map(|l| l.split(": ").nth(1)?.split('%').next()?.parse::<u32>().ok())
        .sum();
    assert!((99..=101).contains(&shares), "shares add up to 100%: {err}");
    assert!(
        costs
            .iter()
            .all(|l| l.ends_with("ns/row") || l.ends_with("no rows")),
        "{err}"
    );
}

#[test]
fn the_interval_defaults_to_15s_and_must_be_a_duration() {
    let (code, out, _) = replay(&[
        "--rules",
        "tests/replay/api.rules",
        "--input",
        "tests/replay/data.jsonl",
    ]);
    assert_eq!(code, 0);
    // Evaluated every 15s by default: the same alerts appear.
    assert!(out.contains(r#""state":"pending""#), "{out}");
    let (code, _, err) = replay(&[
        "--rules",
        "tests/replay/api.rules",
        "--input",
        "tests/replay/data.jsonl",
        "--interval",
        "soon",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--interval `soon` is not a duration"), "{err}");
}

#[test]
fn rules_with_errors_are_not_replayed() {
    let dir = std::env::temp_dir().join(format!("vigil-replay-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("bad.rules");
    std::fs::write(
        &rules,
        "package x\nrule r { severity warning\n when cpu > 80%% }\n",
    )
    .unwrap();
    let (code, out, err) = replay(&[
        "--rules",
        rules.to_str().unwrap(),
        "--input",
        "tests/replay/data.jsonl",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("nothing was evaluated"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_quickstart_replays() {
    let (code, out, err) = replay(&[
        "--rules",
        "examples/quickstart.rules",
        "--input",
        "examples/metrics.jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].contains(r#""rule":"quickstart.high_cpu","state":"firing","labels":{"env":"prod","host":"trade-2"}"#), "{out}");
}

#[test]
fn lateness_admits_out_of_order_samples() {
    // The same recording with samples up to 30s out of order.
    let args = |extra: &'static [&'static str]| {
        let mut v = vec![
            "--rules",
            "tests/replay/api.rules",
            "--input",
            "tests/replay/shuffled.jsonl",
            "--interval",
            "30s",
        ];
        v.extend_from_slice(extra);
        v
    };
    let (code, out, err) = replay(&args(&["--lateness", "30s"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, EXPECTED);
    let (code, out, err) = replay(&args(&[]));
    assert_eq!(code, 0);
    assert_ne!(out, EXPECTED);
    assert!(
        err.contains("samples arrived after their evaluation and were dropped"),
        "{err}"
    );
}
