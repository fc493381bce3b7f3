//! Findings of the review of real rules (translated from public corpora) that `vigil check`
//! must report: each test reproduces one, with the code it now gets.

mod common;
use common::codes;

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

fn event_rule(cond: &str) -> String {
    format!("rule r {{\n  severity warning\n  on event where event.type == \"x\" and {cond}\n}}\n")
}

#[test]
fn chains_up_to_the_depth_limit_check_and_longer_ones_are_refused() {
    let chain = |n: usize| {
        (0..n)
            .map(|i| format!("event.a == {i}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let ok = event_rule(&format!("({})", chain(250)));
    assert!(
        codes(&ok).iter().all(|c| !c.starts_with("V0")),
        "{:?}",
        codes(&ok)
    );
    for n in [300, 5_000] {
        assert_eq!(
            codes(&event_rule(&format!("({})", chain(n)))),
            ["V0002@3"],
            "{n}"
        );
    }
    let plus = format!(
        "rule r {{\n  severity warning\n  when {} > 1\n}}\n",
        vec!["up"; 5_000].join(" + ")
    );
    assert_eq!(codes(&plus), ["V0002@3"]);
    let indexed = event_rule(&format!("event.a{} == 1", "[0]".repeat(10_000)));
    assert_eq!(codes(&indexed), ["V0002@3"]);
}

#[test]
fn prefix_operators_quantifiers_and_brackets_are_bounded_before_parsing() {
    for cond in [
        format!("{}event.a == 1", "not ".repeat(10_000)),
        format!("event.n > {}1", "-".repeat(10_000)),
        format!("{}x == 1", "any x in event.a where ".repeat(5_000)),
        // A `#` or `"` inside a regex does not hide the brackets after it.
        format!(
            "event.a matches /#\"/ and event.b == {}1{}",
            "(".repeat(100),
            ")".repeat(100)
        ),
    ] {
        assert_eq!(codes(&event_rule(&cond)), ["V0002@3"], "{cond:.40}");
    }
}

#[test]
fn consts_and_lists_that_name_themselves_are_cycles() {
    assert_eq!(codes("const x = x + 1\n"), ["V0107@1"]);
    assert_eq!(codes("const a = b\nconst b = a\n"), ["V0107@1", "V0107@2"]);
    let list = "list a = [...a, \"x\"]\nrule r {\n  severity warning\n  on event where event.type in a\n}\n";
    assert_eq!(codes(list), ["V0107@1"]);
}

#[test]
fn test_inputs_are_bounded() {
    let rule = "rule r {\n  severity warning\n  on event where event.type == \"x\"\n}\n";
    let series = format!("{rule}test \"t\" {{\n  series up every 1m = \"0+1x1000000000\"\n}}\n");
    assert_eq!(codes(&series), ["V0226@6"]);
    let events =
        format!("{rule}test \"t\" {{\n  events every 1ms x99999999999 {{ type = \"x\" }}\n}}\n");
    assert_eq!(codes(&events), ["V0237@6"]);
}

#[test]
fn intervals_and_durations_are_bounded() {
    let with =
        |clause: &str| format!("rule r {{\n  severity warning\n  when up == 0\n  {clause}\n}}\n");
    assert_eq!(codes(&with("interval 0s")), ["V0238@4"]);
    assert_eq!(codes(&with("interval 10ms")), ["V0238@4"]);
    assert_eq!(codes(&with("keep_firing 99999999999w")), ["V0238@4"]);
    assert!(codes(&with("interval 1s")).is_empty());
    assert_eq!(codes("interval 0s\n"), ["V0238@1"]);
}

#[test]
fn expect_no_is_a_whole_word() {
    let rules = "rule high_cpu {\n  severity warning\n  when up == 0\n}\nrule node_down {\n  severity warning\n  when up == 0\n}\n";
    let test = |line: &str| {
        format!("{rules}test \"t\" {{\n  series up every 1m = \"0 0\"\n  {line}\n}}\n")
    };
    // `nohigh_cpu` is a rule name (unknown here), not `no high_cpu`.
    let unknown = codes(&test("expect nohigh_cpu firing at 1m"));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(unknown[0].ends_with("@11"), "{unknown:?}");
    assert!(codes(&test("expect node_down firing at 1m")).is_empty());
    assert!(codes(&test("expect no high_cpu pending at 1m")).is_empty());
}

#[test]
fn equality_against_an_array_field_asks_for_contains() {
    let schema = "schema proc { name: string, tags: [string] }\n";
    let rule = |cond: &str| {
        format!(
            "{schema}rule r {{\n  severity warning\n  on event where event.type == \"proc\" and {cond}\n}}\n"
        )
    };
    for cond in [
        "event.tags == \"a\"",
        "event.tags in [\"a\"]",
        "event.tags in nocase [\"a\"]",
    ] {
        let src = rule(cond);
        assert_eq!(codes(&src), ["V0201@4"], "{cond}");
        assert!(
            help(&src).contains("did you mean `contains"),
            "{}",
            help(&src)
        );
    }
    assert!(codes(&rule("event.tags contains \"a\"")).is_empty());
}

#[test]
fn a_throttle_of_zero_is_refused_not_read_as_one() {
    let rule = |n: &str| {
        format!(
            "rule r {{\n  severity warning\n  on event where event.type == \"x\"\n  throttle {n} per 1m\n}}\n"
        )
    };
    assert_eq!(codes(&rule("0")), ["V0239@4"]);
    assert_eq!(codes(&rule("1.5")), ["V0239@4"]);
    assert!(codes(&rule("2")).is_empty());
}

#[test]
fn pasted_promql_is_answered_with_how_vigil_writes_it() {
    let rule = |when: &str| format!("rule r {{\n  severity warning\n  when {when}\n}}\n");
    for (src, says) in [
        (rule("rate(http_requests_total[5m]) > 1"), "`rate(x, 5m)`"),
        (rule("sum by (job) (rate(x_total, 5m)) > 1"), "`sum(x) by [job]`"),
        (rule("sum(x) by (job) > 1"), "square brackets"),
        (rule("x / on(job) y > 1"), "after the right operand"),
        (
            "rule r {\n  severity warning\n  on event where event.type == \"x\" for 5m\n}\n".to_string(),
            "count() by event.x over 5m",
        ),
        (
            "rule r {\n  severity warning\n  when up == 0\n  summary \"down {{ $labels.instance }}\"\n}\n".to_string(),
            "`{{ instance }}`",
        ),
    ] {
        assert!(help(&src).contains(says), "{src}\n{}", help(&src));
    }
}

#[test]
fn a_placeholder_no_rule_mentions_is_a_warning() {
    let rule = |summary: &str| {
        format!(
            "rule low_memory {{\n  severity warning\n  when memory_usage{{host=~\".+\"}} > 90\n  summary \"{summary}\"\n}}\n"
        )
    };
    assert_eq!(codes(&rule("on {{ hostname }}")), ["V1030@4"]);
    assert!(
        help(&rule("on {{ hots }}")).contains("did you mean `host`?"),
        "{}",
        help(&rule("on {{ hots }}"))
    );
    for fine in ["on {{ host }}", "on {{ instance }} of {{ job }}"] {
        assert!(codes(&rule(fine)).is_empty(), "{fine}");
    }
    // A label a test gives the series is known too.
    let tested = format!(
        "{}test \"t\" {{\n  series memory_usage{{host=\"a\", dc=\"x\"}} every 1m = \"95\"\n}}\n",
        rule("in {{ dc }}")
    );
    assert!(codes(&tested).is_empty(), "{:?}", codes(&tested));
}

#[test]
fn promql_nan_and_inf_are_not_silently_metrics_and_flap_ranges_are_explained() {
    let rule = |when: &str| format!("rule r {{\n  severity warning\n  when {when}\n}}\n");
    for w in ["up > NaN", "up < Inf"] {
        assert_eq!(codes(&rule(w)), ["V0101@3"], "{w}");
        assert!(
            help(&rule(w)).contains("no NaN or Inf literals"),
            "{}",
            help(&rule(w))
        );
    }
    let flap =
        "rule r {\n  severity warning\n  when up > 1\n  flapping damp 0.9..0.1 over 10m\n}\n";
    assert!(
        help(flap).contains("flap thresholds 0.9..0.1"),
        "{}",
        help(flap)
    );
    assert!(!help(flap).contains("quantile"), "{}", help(flap));
}

#[test]
fn counting_the_series_that_pass_a_comparison_is_expressible() {
    let rule = |when: &str| format!("rule r {{\n  severity warning\n  when {when}\n}}\n");
    for w in [
        "count(m > 50) by [job] > 1",
        "sum(50 < m) by [job] > 100",
        "count(cpu_percent >= 80%) by [] > 2",
    ] {
        assert!(codes(&rule(w)).is_empty(), "{w}: {:?}", codes(&rule(w)));
    }
}

#[test]
fn many_to_one_matching_is_declared_with_group_left_or_group_right() {
    let decls =
        "metric conns: number labels [host, port]\nmetric capacity: number labels [host, rack]\n";
    // The "many" side keeps its labels: a template may name `port`, and `rack` once copied.
    let ok = format!(
        "{decls}rule r {{\n  severity warning\n  summary \"{{{{ host }}}} {{{{ port }}}} {{{{ rack }}}}\"\n  when conns > capacity on [host] group_left [rack]\n}}\n"
    );
    assert!(codes(&ok).is_empty(), "{:?}", codes(&ok));
    // One-to-one keeps only the matched labels: `port` is gone.
    let one = format!(
        "{decls}rule r {{\n  severity warning\n  summary \"{{{{ port }}}}\"\n  when conns > capacity on [host]\n}}\n"
    );
    assert_eq!(codes(&one), ["V0208@5"]);
    // A copied label the "one" side cannot have.
    let missing = format!(
        "{decls}{}",
        rule("conns > capacity on [host] group_left [zone]")
    );
    assert_eq!(codes(&missing), ["V0209@6"]);
    // Set operators take no group modifier; a label matched and copied is ambiguous.
    let set = format!(
        "{decls}{}",
        rule("(conns > 1) and (capacity > 1) on [host] group_left")
    );
    assert_eq!(codes(&set), ["V0240@6"]);
    let both = format!(
        "{decls}{}",
        rule("conns > capacity on [host] group_left [host]")
    );
    assert_eq!(codes(&both), ["V0240@6"]);
    // Matching after a number belongs to that comparison: refused, with the parenthesised form.
    let loose = format!("{decls}{}", rule("conns > 1 and capacity > 1 on [host]"));
    assert_eq!(codes(&loose), ["V0240@6"]);
    assert!(help(&loose).contains("parenthesise"), "{}", help(&loose));
}

/// Long windows: bucketable functions are exact at any length (no warning) while their grid
/// fits; a function that needs raw samples, or a grid too fine for the bucket cap, warns.
#[test]
fn long_windows_warn_only_where_buckets_cannot_serve_them() {
    let at = |interval: &str, when: &str| {
        let src = format!(
            "rule r {{\n  severity warning\n  summary \"s\"\n  interval {interval}\n  when {when}\n}}\n"
        );
        (codes(&src), help(&src))
    };
    for when in [
        "avg(cpu, 30d) > 1",
        "max(cpu, 90d) > 1",
        "rate(reqs_total, 30d) > 1",
        "changes(cpu, 30d) > 1",
    ] {
        assert!(
            at("15s", when).0.is_empty(),
            "{when}: {:?}",
            at("15s", when)
        );
    }
    let (c, h) = at("15s", "quantile(0.9, cpu, 30d) > 1");
    assert_eq!(c, ["V1031@5"]);
    assert!(h.contains("172800 at one per 15s"), "{h}");
    // 90 days on a 7-second grid (gcd 1s) is 7,776,000 buckets.
    let (c, h) = at("7s", "avg(cpu, 90d) > 1");
    assert_eq!(c, ["V1031@5"]);
    assert!(h.contains("7776000 buckets of 1000ms"), "{h}");
    // An `ago` off the interval makes the grid as fine.
    let (c, h) = at("15s", "avg(cpu, 90d, ago 7s) > 1");
    assert_eq!(c, ["V1031@5"]);
    assert!(h.contains("7776000 buckets of 1000ms"), "{h}");
    // So does a `delay` (the engine evaluates at `t - delay`).
    let src = "rule r {\n  severity warning\n  summary \"s\"\n  interval 15s\n  delay 7s\n  when avg(cpu, 90d) > 1\n}\n";
    assert_eq!(codes(src), ["V1031@6"]);
    assert!(codes(&rule("avg(cpu, 90d, ago 1h) > 1")).is_empty());
}

#[test]
fn annotations_are_templates_under_their_own_names() {
    let ok = "rule r {\n  severity warning\n  when cpu{host=\"a\"} > 90\n  summary \"s\"\n  annotations { runbook_url = \"https://rb/{{ host }}\", team = \"infra\" }\n}\n";
    assert!(codes(ok).is_empty(), "{:?}", codes(ok));
    let bad = "rule r {\n  severity warning\n  when sum(cpu) by [host] > 90\n  summary \"s\"\n  annotations {\n    summary = \"x\"\n    a = \"{{ pod }}\"\n    a = \"y\"\n    b = 3\n  }\n}\n";
    assert_eq!(codes(bad), ["V0225@6", "V0208@7", "V0225@8", "V0201@9"]);
}

#[test]
fn event_templates_may_index_arrays() {
    let ok = "rule r {\n  severity warning\n  on event where event.type == \"execve\"\n  summary \"parent {{ event.proc.aname[2] }}\"\n}\n";
    assert!(codes(ok).is_empty(), "{:?}", codes(ok));
    let bad = "rule r {\n  severity warning\n  on event where event.type == \"execve\"\n  summary \"{{ event.proc.aname[x] }} {{ rule[1] }}\"\n}\n";
    assert_eq!(codes(bad), ["V0217@4", "V0217@4"]);
}

#[test]
fn backquoted_field_segments_are_one_name() {
    let ok = "rule r {\n  severity warning\n  on event where event.type == \"web\" and event.`cs-uri-query` contains \"cmd\"\n    and event.annotations.`authorization.k8s.io/decision` == \"allow\"\n  summary \"s\"\n}\n";
    assert!(codes(ok).is_empty(), "{:?}", codes(ok));
    // Without backquotes the `-` is a subtraction of strings.
    let bad = "rule r {\n  severity warning\n  on event where event.type == \"web\" and event.cs-uri == \"x\"\n  summary \"s\"\n}\n";
    assert!(!codes(bad).is_empty());
}

#[test]
fn package_defaults_are_checked_like_clauses() {
    let ok = "defaults {\n  no_data after 0s -> ok\n  keep_firing 5m\n}\n";
    assert!(codes(ok).is_empty(), "{:?}", codes(ok));
    let bad = "defaults {\n  no_data after 0s -> ok\n  no_data after 5 -> keep\n}\n";
    assert_eq!(codes(bad), ["V0225@3", "V0215@3"]);
}
