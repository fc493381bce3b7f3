//! `vigil eval` end to end: rule packs from `rules/`, events as JSON lines, every engine and
//! index setting giving the same matches; bad lines reported by number and skipped.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn eval(extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(root())
        .args([
            "eval",
            "--rules",
            "rules/",
            "--input",
            "tests/eval/events.jsonl",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("vigil runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const EXPECTED: &str = r#"{"line":1,"rules":["security.brute_force","security.password_spray","security.guessed_password","security.login_storm"]}
{"line":2,"rules":["security.impossible_travel","security.guessed_password"]}
{"line":3,"rules":["security.shell_in_container"]}
{"line":5,"rules":["security.write_below_etc"]}
{"line":9,"rules":["security.shell_in_container"]}
"#;

#[test]
fn every_engine_matches_the_same_events() {
    for args in [
        &[][..],
        &["--engine", "interp"][..],
        &["--engine", "jit", "--no-index"][..],
        &["--engine", "interp", "--no-index"][..],
    ] {
        let (code, out, err) = eval(args);
        assert_eq!(out, EXPECTED, "{args:?}\n{err}");
        // Two bad lines: reported with their numbers, skipped, and the exit code says so.
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("events.jsonl:7: skipped"), "{err}");
        assert!(
            err.contains("events.jsonl:8: skipped: not an event object"),
            "{err}"
        );
    }
}

#[test]
fn stats_report_throughput() {
    let (_, out, err) = eval(&["--stats", "--quiet"]);
    assert_eq!(out, "");
    assert!(err.contains("engine: Jit"), "{err}");
    assert!(
        err.contains("events: 7 (2 bad lines skipped), 5 matched"),
        "{err}"
    );
    assert!(err.contains("events/s"), "{err}");
}

#[test]
fn rules_with_errors_are_not_evaluated() {
    let dir = std::env::temp_dir().join(format!("vigil-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.rules");
    std::fs::write(&bad, "rule r {\n  on event where event.x == nope(1)\n}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["eval", "--rules"])
        .arg(&bad)
        .args(["--input", "-"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("V0"), "{err}");
    assert!(err.contains("nothing was evaluated"), "{err}");
}
