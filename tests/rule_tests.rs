//! Rule tests (`test` blocks) end to end: every test in `rules/`, `examples/` and
//! `tests/events/` (Sigma correlation and EQL sequence semantics, event aggregates) passes on
//! both backends with identical alert timelines; `vigil test` reports failures with what was
//! expected and what the engine had, and exits 1.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use vigil_compiler::eval::{Engine, RuleSet};
use vigil_engine::testing;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs every test block under `path` on one backend: `(name, failures, timeline)`.
fn run(path: &str, engine: Engine) -> Vec<(String, Vec<String>, Vec<vigil_engine::Transition>)> {
    let checked = vigil_compiler::check_paths(&[root().join(path)], Some(&root().join("rules")))
        .expect("rules load");
    assert_eq!(checked.errors(), 0, "{path}: {:?}", checked.diagnostics);
    let cases = vigil_compiler::lower::tests(&checked).expect("tests lower");
    assert!(!cases.is_empty(), "{path} has tests");
    let rules = Arc::new(RuleSet::from_checked(&checked, engine).expect("rules compile"));
    assert_eq!(rules.engine(), engine, "{:?}", rules.fallback);
    let interval = rules.ir().interval.map_or(60_000, |s| (s * 1000.0) as i64);
    cases
        .iter()
        .map(|c| {
            let o = testing::run(&rules, c, interval);
            (o.name, o.failures, o.timeline)
        })
        .collect()
}

fn all_pass_on_both_backends(path: &str) {
    let interp = run(path, Engine::Interp);
    let jit = run(path, Engine::Jit);
    for ((name, fails, a), (_, jit_fails, b)) in interp.iter().zip(&jit) {
        assert!(
            fails.is_empty(),
            "{path}: `{name}` fails on the interpreter: {fails:#?}"
        );
        assert!(
            jit_fails.is_empty(),
            "{path}: `{name}` fails on the JIT: {jit_fails:#?}"
        );
        assert_eq!(
            key(a),
            key(b),
            "{path}: `{name}`: the backends' timelines differ"
        );
    }
}

/// A timeline as comparable data (values by their bits: NaN equals NaN).
fn key(t: &[vigil_engine::Transition]) -> Vec<String> {
    t.iter()
        .map(|x| {
            format!(
                "{} {} {} {:?} {:x} {:?}",
                x.ts,
                x.rule,
                x.state,
                x.labels,
                x.value.to_bits(),
                x.event
            )
        })
        .collect()
}

#[test]
fn shipped_rule_tests_pass_on_both_backends() {
    all_pass_on_both_backends("rules");
}

#[test]
fn sigma_correlation_cases_pass_on_both_backends() {
    all_pass_on_both_backends("tests/events/sigma.rules");
}

#[test]
fn eql_sequence_cases_pass_on_both_backends() {
    all_pass_on_both_backends("tests/events/eql.rules");
}

#[test]
fn eql_per_step_keys_partition_partial_matches_on_both_backends() {
    all_pass_on_both_backends("tests/events/eql_partitions.rules");
}

#[test]
fn notification_expectations_pass_on_both_backends() {
    all_pass_on_both_backends("tests/routing/notifications.rules");
    all_pass_on_both_backends("tests/routing/inhibit_unless.rules");
}

#[test]
fn playbook_expectations_pass_on_both_backends() {
    all_pass_on_both_backends("tests/routing/playbooks.rules");
}

#[test]
fn calendar_seasons_pass_on_both_backends() {
    all_pass_on_both_backends("tests/calendars/season.rules");
}

#[test]
fn event_aggregate_cases_pass_on_both_backends() {
    all_pass_on_both_backends("tests/events/aggregates.rules");
}

#[test]
fn records_with_labels_and_repeated_names_pass_on_both_backends() {
    all_pass_on_both_backends("tests/records/records.rules");
    all_pass_on_both_backends("tests/records/aggregates.rules");
    all_pass_on_both_backends("tests/records/defaults.rules");
    all_pass_on_both_backends("tests/records/metric_names.rules");
    all_pass_on_both_backends("tests/records/value_filters.rules");
    all_pass_on_both_backends("tests/records/alerts.rules");
    all_pass_on_both_backends("tests/events/fields.rules");
    all_pass_on_both_backends("tests/events/keywords.rules");
    all_pass_on_both_backends("tests/events/open_sequences.rules");
    all_pass_on_both_backends("tests/events/first_seen.rules");
}

#[test]
fn failures_say_what_was_expected_and_what_the_engine_had() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(root())
        .args([
            "test",
            "tests/rule_tests/failing.rules",
            "--engine",
            "interp",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("vigil runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ok   passes ("), "{stdout}");
    assert!(stdout.contains("FAIL wrong time ("), "{stdout}");
    assert!(
        stdout.contains(
            "expected brute_force firing at 10s with {src_ip=\"1.1.1.1\"}; at 10s brute_force had no alerts"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("unexpected alert: failing.brute_force firing at 20s {src_ip=\"2.2.2.2\"}"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "expected no brute_force firing, but at 20s it was firing {src_ip=\"1.1.1.1\"}"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "expected notification sec at 40s, but sec got: sec at 50s (firing: brute_force{src_ip=\"1.1.1.1\"})"
        ),
        "{stdout}"
    );
    assert_eq!(lines.last(), Some(&"1 passed, 4 failed"), "{stdout}");
}

#[test]
fn a_passing_run_exits_0_and_counts() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(root())
        .args(["test", "tests/events/eql.rules"])
        .output()
        .expect("vigil runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok   ")).count(), 7);
    assert_eq!(stdout.lines().last(), Some("7 passed, 0 failed"));
}

#[test]
fn broken_rules_run_no_test() {
    let dir = std::env::temp_dir().join(format!("vigil-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.rules");
    std::fs::write(
        &f,
        "rule r {\n  when cpu > 5 for 1kg\n}\ntest \"t\" {\n  expect r firing at 1m\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["test"])
        .arg(&f)
        .env("NO_COLOR", "1")
        .output()
        .expect("vigil runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no test was run"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
