//! Findings of the review of real rules (translated from public corpora) that `vigil check`
//! must report: each test reproduces one, with the code it now gets.

fn codes(src: &str) -> Vec<String> {
    let checked = vigil_compiler::check_source("review.rules", src, None);
    checked
        .diagnostics
        .iter()
        .map(|d| {
            let line = checked
                .sources
                .get(d.span.file)
                .line_col(d.span.start as usize)
                .0;
            format!("{}@{line}", d.code.as_str())
        })
        .collect()
}

fn help(src: &str) -> String {
    let checked = vigil_compiler::check_source("review.rules", src, None);
    checked
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}\n", d.message, d.help.clone().unwrap_or_default()))
        .collect()
}

fn rule(when: &str) -> String {
    format!("rule r {{\n  severity warning\n  summary \"s\"\n  when {when}\n}}\n")
}

#[test]
fn a_bare_number_against_a_series_read_in_milliseconds_is_a_unit_error() {
    let src = rule("ceph_osd_apply_latency_ms > 5000");
    assert_eq!(codes(&src), ["V0202@4"]);
    assert!(help(&src).contains("write 5000ms or 5s"), "{}", help(&src));
    let declared = format!(
        "metric apply_latency: duration(ms)\n{}",
        rule("avg(apply_latency, 5m) > 250")
    );
    assert_eq!(codes(&declared), ["V0202@5"]);
    // Written with a unit, it means what it says.
    assert!(codes(&rule("ceph_osd_apply_latency_ms > 5s")).is_empty());
    // Seconds are the unit of evaluation: a bare number against a `_seconds` series is PromQL's.
    assert!(codes(&rule("probe_duration_seconds > 1")).is_empty());
}

#[test]
fn a_ratio_compared_with_a_duration_is_a_unit_error() {
    let src = rule("rate(http_errors_total, 5m) / rate(http_requests_total, 5m) > 5s");
    assert_eq!(codes(&src), ["V0202@4"]);
}

#[test]
fn a_metric_declared_counter_may_be_rated() {
    let src = format!(
        "metric bytes_sent: counter\n{}",
        rule("rate(bytes_sent, 5m) > 100")
    );
    assert!(codes(&src).is_empty(), "{:?}", codes(&src));
    let gauge = format!(
        "metric bytes_sent: bytes\n{}",
        rule("rate(bytes_sent, 5m) > 100")
    );
    assert_eq!(codes(&gauge), ["V1016@5"]);
}

#[test]
fn two_rules_with_one_id_are_an_error() {
    let src = format!("{}{}", rule("up == 0"), rule("up == 1"));
    let checked = vigil_compiler::check_source("review.rules", &src, None);
    assert_eq!(codes(&src), ["V1010@6"]);
    assert_eq!(checked.errors(), 1);
}
