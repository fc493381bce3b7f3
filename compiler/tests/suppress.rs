//! `# vigil: allow(..)` comments: what each placement covers, and what is reported about them.

mod common;
use common::codes;

/// Two gauges read with `rate` (V1016 each), on lines 5 and 10.
fn two_rules(before_first: &str, first_line_tail: &str) -> String {
    format!(
        "metric temperature: number\nmetric pressure: number\n{before_first}\nrule a {{\n  when rate(temperature, 5m) > 0.1{first_line_tail}\n  severity warning\n  summary \"x\"\n}}\nrule b {{\n  when rate(pressure, 5m) > 0.1\n  severity warning\n  summary \"x\"\n}}\n"
    )
}

#[test]
fn without_comments_both_findings_show() {
    assert_eq!(codes(&two_rules("", "")), ["V1016@5", "V1016@10"]);
}

#[test]
fn a_trailing_comment_covers_its_line() {
    let src = two_rules("", " # vigil: allow(V1016)");
    assert_eq!(codes(&src), ["V1016@10"]);
}

#[test]
fn a_comment_before_a_declaration_covers_the_declaration() {
    let src = two_rules("# vigil: allow(rate-on-non-counter)", "");
    assert_eq!(codes(&src), ["V1016@10"]);
}

#[test]
fn a_file_comment_covers_the_file() {
    let src = two_rules("// vigil: allow-file(V1016)", "");
    assert_eq!(codes(&src), Vec::<String>::new());
}

#[test]
fn a_comment_inside_a_block_covers_the_next_line() {
    let src = "metric temperature: number\nrule a {\n  severity warning\n  # vigil: allow(V1016)\n  when rate(temperature, 5m) > 0.1\n  summary \"x\"\n}\n";
    assert_eq!(codes(src), Vec::<String>::new());
    let src = "metric temperature: number\nrule a {\n  # vigil: allow(V1016)\n  severity warning\n  when rate(temperature, 5m) > 0.1\n  summary \"x\"\n}\n";
    assert_eq!(codes(src), ["V1028@3", "V1016@5"]);
}

#[test]
fn errors_cannot_be_allowed_and_unknown_codes_are_reported() {
    let src = "rule a {\n  severity warning\n  when frob(1) > 1 # vigil: allow(V0114, V9999)\n}\n";
    let found = codes(src);
    assert!(found.contains(&"V0114@3".to_string()), "{found:?}");
    assert_eq!(
        found.iter().filter(|c| *c == "V1029@3").count(),
        2,
        "{found:?}"
    );
}

#[test]
fn a_suppression_that_suppresses_nothing_is_reported() {
    let src = two_rules("# vigil: allow(V1016, V1018)", "");
    assert_eq!(codes(&src), ["V1028@3", "V1016@10"]);
}

#[test]
fn suppressed_warnings_do_not_count() {
    let src = two_rules("// vigil: allow-file(V1016)", "");
    let checked = vigil_compiler::check_source("allow.rules", &src, None);
    assert_eq!(checked.warnings(), 0);
}
