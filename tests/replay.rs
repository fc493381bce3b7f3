//! The metric engine's semantics, end to end from rule text to the alert timeline: the state
//! machine (`for`, `keep_firing`, `recover when`, levels, `no_data`, flapping, `cooldown`),
//! composites, records, `delay`, units, limits and lateness. Every case runs on both backends
//! and the timelines must be identical.

use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_engine::{Config, Engine};

const MIN: i64 = 60_000;

/// `(metric, labels, minute, value)`.
type Sample<'a> = (&'a str, &'a [(&'a str, &'a str)], i64, f64);

fn engine(src: &str, backend: Backend, config: Config) -> Engine {
    let checked = vigil_compiler::check_source("t.rules", src, None);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let rules = RuleSet::from_checked(&checked, backend).expect("lowers");
    Engine::new(rules, config).expect("runs")
}

/// Runs samples minute by minute up to `until` minutes; returns `"<min> <rule> <state> <labels>"`.
fn run_with(src: &str, samples: &[Sample], until: i64, config: Config) -> Vec<String> {
    let mut lines = Vec::new();
    for backend in [Backend::Interp, Backend::Jit] {
        let mut e = engine(src, backend, config.clone());
        e.start_at(0);
        let mut out = Vec::new();
        for m in 0..=until {
            for (metric, labels, at, v) in samples {
                if *at == m {
                    e.ingest(metric, labels, m * MIN, *v);
                }
            }
            e.advance(m * MIN, &mut out);
        }
        let got: Vec<String> = out
            .iter()
            .map(|t| {
                let labels: Vec<String> =
                    t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let flap = if t.flapping { " flapping" } else { "" };
                format!(
                    "{} {} {} {{{}}}{flap}",
                    t.ts / MIN,
                    t.rule.rsplit('.').next().unwrap_or(""),
                    t.state,
                    labels.join(",")
                )
            })
            .collect();
        lines.push(got);
    }
    assert_eq!(lines[0], lines[1], "interpreter and JIT timelines differ");
    lines.remove(0)
}

fn minute_config() -> Config {
    Config {
        interval: MIN,
        ..Config::default()
    }
}

fn run(src: &str, samples: &[Sample], until: i64) -> Vec<String> {
    run_with(src, samples, until, minute_config())
}

/// One series `name{host="a"}` with a value per minute from 0.
fn series<'a>(name: &'a str, labels: &'a [(&'a str, &'a str)], vals: &[f64]) -> Vec<Sample<'a>> {
    vals.iter()
        .enumerate()
        .map(|(i, v)| (name, labels, i as i64, *v))
        .collect()
}

const A: &[(&str, &str)] = &[("host", "a")];
const B: &[(&str, &str)] = &[("host", "b")];

#[test]
fn for_holds_pending_then_fires_and_resolves() {
    let src = "package t\nrule hot { severity warning\n when cpu > 80 for 2m\n summary \"x\" }\n";
    let s = series("cpu", A, &[50.0, 90.0, 90.0, 90.0, 50.0, 90.0, 50.0]);
    assert_eq!(
        run(src, &s, 6),
        [
            "1 hot pending {host=a}",
            "3 hot firing {host=a}",
            "4 hot resolved {host=a}",
            "5 hot pending {host=a}",
            "6 hot inactive {host=a}",
        ]
    );
}

#[test]
fn keep_firing_holds_through_short_dips() {
    let src = "package t\nrule hot { severity warning\n when cpu > 80\n keep_firing 2m\n summary \"x\" }\n";
    let s = series("cpu", A, &[90.0, 50.0, 90.0, 50.0, 50.0, 50.0]);
    assert_eq!(
        run(src, &s, 5),
        ["0 hot firing {host=a}", "5 hot resolved {host=a}"]
    );
}

#[test]
fn recover_when_gives_hysteresis() {
    let src = "package t\nrule hot { severity warning\n when cpu > 90\n recover when cpu < 70\n summary \"x\" }\n";
    let s = series("cpu", A, &[95.0, 80.0, 85.0, 65.0, 80.0]);
    assert_eq!(
        run(src, &s, 4),
        ["0 hot firing {host=a}", "3 hot resolved {host=a}"]
    );
}

#[test]
fn levels_have_their_own_for_and_recovery() {
    let src = "package t\nrule lat {\n  warning when cpu > 80 for 1m recover when cpu < 60\n  critical when cpu > 95 for 1m\n  summary \"x\"\n}\n";
    let s = series("cpu", A, &[85.0, 97.0, 97.0, 70.0, 50.0]);
    assert_eq!(
        run(src, &s, 4),
        [
            "0 lat pending {host=a,severity=warning}",
            "1 lat firing {host=a,severity=warning}",
            "1 lat pending {host=a,severity=critical}",
            "2 lat firing {host=a,severity=critical}",
            "3 lat resolved {host=a,severity=critical}",
            "4 lat resolved {host=a,severity=warning}",
        ]
    );
}

#[test]
fn missing_data_keeps_the_state_by_default() {
    let src = "package t\nrule hot { severity warning\n when cpu > 80\n summary \"x\" }\n";
    // The series stops after minute 1: the lookback (5m) runs out at minute 6.
    let s = series("cpu", A, &[90.0, 90.0]);
    assert_eq!(run(src, &s, 12), ["0 hot firing {host=a}"]);
}

#[test]
fn no_data_policies() {
    let s = series("cpu", A, &[90.0, 90.0]);
    let with = |policy: &str| {
        format!(
            "package t\nrule hot {{ severity warning\n when cpu > 80\n no_data after {policy}\n summary \"x\" }}\n"
        )
    };
    // Data is gone from minute 6 (lookback 5m after the sample at minute 1).
    assert_eq!(
        run(&with("3m -> resolve"), &s, 12),
        ["0 hot firing {host=a}", "8 hot resolved {host=a}"]
    );
    assert_eq!(
        run(&with("0s -> ok"), &s, 12),
        ["0 hot firing {host=a}", "6 hot resolved {host=a}"]
    );
    // `alert`: a series that stops reporting fires even if it was fine.
    let fine = series("cpu", A, &[10.0, 10.0]);
    assert_eq!(
        run(&with("2m -> alert"), &fine, 12),
        ["7 hot firing {host=a}"]
    );
    // And a rule whose series never reported at all fires for the empty label set.
    assert_eq!(run(&with("2m -> alert"), &[], 4), ["2 hot firing {}"]);
}

#[test]
fn flapping_is_flagged_while_the_rate_of_changes_is_high() {
    let src = "package t\nrule hot { severity warning\n when cpu > 80\n flapping damp 0.25..0.5 over 6m\n summary \"x\" }\n";
    let s = series(
        "cpu",
        A,
        &[
            90.0, 10.0, 90.0, 10.0, 90.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 90.0,
        ],
    );
    assert_eq!(
        run(src, &s, 11),
        [
            "0 hot firing {host=a}",
            "1 hot resolved {host=a}",
            "2 hot firing {host=a} flapping",
            "3 hot resolved {host=a} flapping",
            "4 hot firing {host=a} flapping",
            "5 hot resolved {host=a} flapping",
            "11 hot firing {host=a}",
        ]
    );
}

#[test]
fn cooldown_spaces_firings() {
    let src =
        "package t\nrule hot { severity warning\n when cpu > 80\n cooldown 4m\n summary \"x\" }\n";
    let s = series("cpu", A, &[90.0, 10.0, 90.0, 90.0, 90.0, 90.0, 90.0]);
    assert_eq!(
        run(src, &s, 6),
        [
            "0 hot firing {host=a}",
            "1 hot resolved {host=a}",
            "5 hot firing {host=a}"
        ]
    );
}

#[test]
fn composites_join_rule_states_on_shared_labels() {
    let src = "package t
rule high_cpu { severity warning\n when cpu > 80\n summary \"x\" }
rule high_mem { severity warning\n when mem > 80\n summary \"x\" }
rule both { severity critical\n when high_cpu and high_mem\n summary \"x\" }
rule either_but_not_mem { severity info\n when high_cpu and not high_mem\n summary \"x\" }
";
    let mut s = series("cpu", A, &[90.0, 90.0, 90.0]);
    s.extend(series("cpu", B, &[90.0, 90.0, 10.0]));
    s.extend(series("mem", A, &[10.0, 90.0, 90.0]));
    s.extend(series("mem", B, &[10.0, 10.0, 10.0]));
    let got = run(src, &s, 2);
    assert!(
        got.contains(&"1 both firing {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        !got.iter().any(|l| l.contains("both firing {host=b}")),
        "{got:#?}"
    );
    assert!(
        got.contains(&"0 either_but_not_mem firing {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"1 either_but_not_mem resolved {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"2 either_but_not_mem resolved {host=b}".to_string()),
        "{got:#?}"
    );
}

#[test]
fn score_and_at_least_count_firing_rules() {
    let src = "package t
rule high_cpu { severity warning\n when cpu > 80\n summary \"x\" }
rule high_mem { severity warning\n when mem > 80\n summary \"x\" }
rule risk { severity high\n when score(0.7 * high_cpu + 0.4 * high_mem) >= 1\n summary \"x\" }
rule two { severity high\n when at_least(2, [high_cpu, high_mem])\n summary \"x\" }
";
    let mut s = series("cpu", A, &[90.0, 90.0, 10.0]);
    s.extend(series("mem", A, &[10.0, 90.0, 90.0]));
    let got = run(src, &s, 2);
    assert!(
        got.contains(&"1 risk firing {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"2 risk resolved {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"1 two firing {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        !got.iter()
            .any(|l| l.starts_with("0 risk") || l.starts_with("0 two"))
    );
}

#[test]
fn records_are_computed_once_and_readable_over_windows() {
    let src = "package t
record job:cpu = avg(cpu) by [job]
rule job_hot { severity warning\n when job:cpu > 50\n summary \"x\" }
rule job_hot_long { severity warning\n when avg(job:cpu, 3m) > 50\n summary \"x\" }
";
    let ja: &[(&str, &str)] = &[("host", "a"), ("job", "api")];
    let jb: &[(&str, &str)] = &[("host", "b"), ("job", "api")];
    let mut s = series("cpu", ja, &[40.0, 80.0, 80.0, 80.0, 80.0]);
    s.extend(series("cpu", jb, &[40.0, 40.0, 40.0, 40.0, 40.0]));
    assert_eq!(
        run(src, &s, 4),
        [
            "1 job_hot firing {job=api}",
            "2 job_hot_long firing {job=api}"
        ]
    );
}

#[test]
fn delay_evaluates_against_older_data() {
    let src =
        "package t\nrule hot { severity warning\n when cpu > 80\n delay 2m\n summary \"x\" }\n";
    let s = series("cpu", A, &[10.0, 90.0, 90.0, 90.0]);
    assert_eq!(run(src, &s, 4), ["3 hot firing {host=a}"]);
}

#[test]
fn millisecond_series_are_compared_in_seconds() {
    let src =
        "package t\nrule slow { severity warning\n when api_latency_ms > 250ms\n summary \"x\" }\n";
    let s = series("api_latency_ms", A, &[200.0, 300.0]);
    assert_eq!(run(src, &s, 1), ["1 slow firing {host=a}"]);
}

#[test]
fn time_and_offsets() {
    let src = "package t\nrule expiring { severity warning\n when last(cert_expiry_timestamp) - time() < 7d\n summary \"x\" }\n";
    let day = 86_400.0;
    let s = series("cert_expiry_timestamp", A, &[10.0 * day, 10.0 * day]);
    assert_eq!(run(src, &s, 1), Vec::<String>::new());
    let s = series("cert_expiry_timestamp", A, &[5.0 * day]);
    assert_eq!(run(src, &s, 0), ["0 expiring firing {host=a}"]);
}

#[test]
fn trend_and_anomaly_conditions_fire() {
    let src = "package t
rule creeping { severity warning\n when trend(lat, 10m) is increasing with p < 0.01\n summary \"x\" }
rule spike { severity warning\n when zscore(lat, 10m) > 2.5\n summary \"x\" }
rule odd { severity warning\n when anomaly(lat, 10m, method robust)\n summary \"x\" }
";
    let flat: Vec<f64> = (0..10).map(|i| 100.0 + f64::from(i % 3)).collect();
    let mut vals = flat.clone();
    vals.push(180.0);
    let got = run(src, &series("lat", A, &vals), 10);
    assert!(
        got.contains(&"10 spike firing {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"10 odd firing {host=a}".to_string()),
        "{got:#?}"
    );
    assert!(!got.iter().any(|l| l.contains("creeping")), "{got:#?}");
    let ramp: Vec<f64> = (0..12)
        .map(|i| 100.0 + 5.0 * f64::from(i) + f64::from(i % 2))
        .collect();
    let got = run(src, &series("lat", A, &ramp), 11);
    assert!(
        got.iter().any(|l| l.contains("creeping firing")),
        "{got:#?}"
    );
}

#[test]
fn the_cardinality_limit_refuses_new_series_and_counts_them() {
    let src = "package t\nrule hot { severity warning\n when cpu > 80\n summary \"x\" }\n";
    let mut e = engine(
        src,
        Backend::Interp,
        Config {
            interval: MIN,
            max_series: 2,
            ..Config::default()
        },
    );
    for h in ["a", "b", "c", "d"] {
        e.ingest("cpu", &[("host", h)], 0, 90.0);
    }
    let mut out = Vec::new();
    e.advance(0, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(e.counters.refused, 2);
    assert_eq!(e.refusals(), vec![("t.hot".to_string(), 2)]);
    // Series no rule reads are not stored at all.
    e.ingest("other", &[("host", "a")], 1, 1.0);
    assert_eq!(e.counters.unread, 1);
    // Refused series leave nothing behind: not even their label strings.
    let before = e.labels.len();
    for i in 0..50_000 {
        let h = format!("host-{i}");
        e.ingest("cpu", &[("host", &h), ("pod", &h)], 60_000 + i, 90.0);
    }
    assert_eq!(e.counters.refused, 50_002);
    assert_eq!(e.labels.len(), before, "refused series were interned");
    assert!(e.labels.lookup("host-7").is_none());
}

#[test]
fn late_samples_within_the_lateness_count_and_later_ones_are_dropped() {
    let src = "package t\nrule hot { severity warning\n when cpu > 80\n summary \"x\" }\n";
    let mut e = engine(
        src,
        Backend::Interp,
        Config {
            interval: MIN,
            lateness: 30_000,
            ..Config::default()
        },
    );
    let mut out = Vec::new();
    e.ingest("cpu", A, 0, 10.0);
    e.advance(50_000, &mut out); // minute 0 is evaluated (50s - 30s >= 0)
    e.ingest("cpu", A, 60_000 + 5_000, 10.0);
    e.ingest("cpu", A, 60_000, 90.0); // out of order, but minute 1 is not evaluated yet
    e.advance(90_000, &mut out);
    // The evaluation at 1:00 reads the sample at 1:00 that arrived after the one at 1:05.
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].ts, out[0].state.word()), (60_000, "firing"));
    e.ingest("cpu", A, 30_000, 95.0); // minute 1 already evaluated: too late
    assert_eq!(e.counters.too_late, 1);
}

#[test]
fn a_snapshot_restores_mid_replay_with_the_same_timeline() {
    let src = "package t
rule hot { severity warning\n when avg(cpu, 3m) > 70 for 2m\n keep_firing 1m\n summary \"x\" }
rule spike { severity warning\n when zscore(cpu, 10m) > 1.5\n summary \"x\" }
rule both { severity critical\n when hot and spike\n summary \"x\" }
";
    let vals_a: Vec<f64> = (0..30)
        .map(|i| {
            if (8..20).contains(&i) {
                95.0
            } else {
                20.0 + f64::from(i % 4)
            }
        })
        .collect();
    let vals_b: Vec<f64> = (0..30)
        .map(|i| if i == 13 { f64::NAN } else { 50.0 })
        .collect();
    let mut samples = series("cpu", A, &vals_a);
    samples.extend(series("cpu", B, &vals_b));
    let feed = |e: &mut Engine, from: i64, to: i64, out: &mut Vec<vigil_engine::Transition>| {
        for m in from..to {
            for (metric, labels, at, v) in &samples {
                if *at == m {
                    e.ingest(metric, labels, m * MIN, *v);
                }
            }
            e.advance(m * MIN, out);
        }
    };
    let mut whole = engine(src, Backend::Jit, minute_config());
    let mut expected = Vec::new();
    feed(&mut whole, 0, 30, &mut expected);
    assert!(expected.len() >= 4, "{expected:#?}");

    let mut first = engine(src, Backend::Jit, minute_config());
    let mut got = Vec::new();
    feed(&mut first, 0, 12, &mut got);
    let json = serde_json::to_string(&first.snapshot()).expect("serialises");
    // A reload moves the state instead of copying it: the same snapshot.
    let taken = serde_json::to_string(&first.take_snapshot()).expect("serialises");
    assert_eq!(taken, json);
    drop(first);
    let mut second = engine(src, Backend::Interp, minute_config());
    second.restore(serde_json::from_str(&json).expect("deserialises"));
    feed(&mut second, 12, 30, &mut got);
    assert_eq!(got, expected);
}

#[test]
fn a_gap_of_years_in_the_input_costs_one_evaluation() {
    let src = "package t\nrule hot { severity warning\n when avg(cpu, 5m) > 80\n summary \"x\" }\n";
    let mut e = engine(
        src,
        Backend::Interp,
        Config {
            interval: 15_000,
            ..Config::default()
        },
    );
    let mut out = Vec::new();
    let year = 365 * 86_400_000i64;
    for (t, v) in [
        (0i64, 99.0),
        (60_000, 99.0),
        (1000 * year, 99.0),
        (1000 * year + 300_000, 10.0),
    ] {
        e.advance(t - 1, &mut out);
        e.ingest("cpu", A, t, v);
    }
    e.advance(1000 * year + 300_000, &mut out);
    let got: Vec<(i64, &str)> = out.iter().map(|t| (t.ts, t.state.word())).collect();
    // Firing is kept through the gap (no data: `keep`), resolved once data says so.
    assert_eq!(got, [(0, "firing"), (1000 * year + 300_000, "resolved")]);
    assert!(
        e.counters.evaluations < 200,
        "{} evaluations",
        e.counters.evaluations
    );
    assert!(e.counters.skipped > 1_000_000_000);
}

#[test]
fn a_rule_with_its_own_interval_is_evaluated_at_its_multiples() {
    // The default is 45s; the rule says 1m: it runs at every minute, not every 3 minutes.
    let src =
        "package t\nrule hot { severity warning\n interval 1m\n when cpu > 80\n summary \"x\" }\n";
    let s = series("cpu", A, &[10.0, 90.0, 10.0, 90.0]);
    let got = run_with(
        src,
        &s,
        3,
        Config {
            interval: 45_000,
            ..Config::default()
        },
    );
    assert_eq!(
        got,
        [
            "1 hot firing {host=a}",
            "2 hot resolved {host=a}",
            "3 hot firing {host=a}"
        ]
    );
}

fn every_15s() -> Config {
    Config {
        interval: 15_000,
        ..Config::default()
    }
}

/// `(hour, state, value)` of each change.
fn by_hour(out: &[vigil_engine::Transition]) -> Vec<(i64, &'static str, f64)> {
    out.iter()
        .map(|x| (x.ts / 3_600_000, x.state.word(), x.value))
        .collect()
}

/// A 30-day window over 15-second samples: 172,800 samples, past the raw cap of 65,536 per
/// series. Day `d` holds the value `d`, so the window ending at day 31 averages days 1..30:
/// exactly 15.5, and only when every sample is counted (the newest 65,536 alone average about
/// 25). The rule fires at that one hourly evaluation and resolves at the next, on both backends,
/// and the value it reports is the exact mean (also across a snapshot taken at day 20).
#[test]
fn a_thirty_day_window_over_fifteen_second_data_is_exact() {
    let src = "package t\nrule month { severity warning\n interval 1h\n when avg(x, 30d) == 15.5 and count(x, 30d) == 172800 and max(x, 30d) == 30 and min(x, 30d) == 1\n summary \"x\" }\n";
    const DAY: i64 = 86_400_000;
    let mut timelines = Vec::new();
    for backend in [Backend::Interp, Backend::Jit] {
        let mut e = engine(src, backend, every_15s());
        let mut out = Vec::new();
        let mut t = 15_000;
        while t <= 31 * DAY {
            e.advance(t - 1, &mut out);
            e.ingest("x", A, t, ((t - 1) / DAY) as f64);
            if backend == Backend::Jit && t == 20 * DAY {
                // The buckets survive a snapshot (JSON) into a fresh engine.
                let json = serde_json::to_string(&e.snapshot()).expect("serialises");
                e = engine(src, backend, every_15s());
                e.restore(serde_json::from_str(&json).expect("deserialises"));
            }
            t += 15_000;
        }
        e.advance(31 * DAY + 2 * 3_600_000, &mut out);
        let got = by_hour(&out);
        assert_eq!(got[0], (31 * 24, "firing", 15.5));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].0, 31 * 24 + 1);
        // Nothing had to be cut: the raw samples the buckets folded were dropped by design.
        assert_eq!(e.store.truncated, 0);
        timelines.push(got);
    }
    assert_eq!(timelines[0], timelines[1]);
}

/// A long window under a rule's `delay` and with `ago`: the bucket grid takes both into account
/// (off the grid, the window would read only the newest raw samples). `count` passes 100,000
/// samples (past the raw cap) at the first hourly evaluation where `t - 90s - 30m` holds that
/// many 15-second samples: 418h, with 100,194.
#[test]
fn a_long_window_with_delay_and_ago_stays_on_the_bucket_grid() {
    let src = "package t\nrule many { severity warning\n interval 1h\n delay 90s\n when count(x, 30d, ago 30m) > 100000\n summary \"x\" }\n";
    for backend in [Backend::Interp, Backend::Jit] {
        let mut e = engine(src, backend, every_15s());
        let mut out = Vec::new();
        let mut t = 15_000;
        while t <= 420 * 3_600_000 {
            e.advance(t - 1, &mut out);
            e.ingest("x", A, t, 1.0);
            t += 15_000;
        }
        let got = by_hour(&out);
        assert_eq!(got.first(), Some(&(418, "firing", 100_194.0)), "{got:?}");
    }
}

/// Buckets are sealed only once no sample can land in them: samples arriving out of order
/// within the lateness are folded in their final order. A bucketed `max`/`min` over 7h must
/// equal the raw-sample `quantile(1)`/`quantile(0)` over the same window at every evaluation.
#[test]
fn buckets_fold_late_samples_in_their_final_order() {
    let src = "package t\nrule differ { severity warning\n interval 1m\n when max(x, 7h) != quantile(1, x, 7h) or min(x, 7h) != quantile(0, x, 7h)\n summary \"x\" }\n";
    for backend in [Backend::Interp, Backend::Jit] {
        let mut e = engine(
            src,
            backend,
            Config {
                interval: 60_000,
                lateness: 60_000,
                ..Config::default()
            },
        );
        let mut out = Vec::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Blocks of three 10-second samples, delivered in a shuffled order.
        for block in 0..(2 * 8640 / 3) {
            let base = block * 30_000 + 10_000;
            let mut ts = [base, base + 10_000, base + 20_000];
            let r = next();
            ts.swap(0, (r % 3) as usize);
            ts.swap(1, 1 + ((r >> 8) % 2) as usize);
            for t in ts {
                e.advance(t - 1, &mut out);
                e.ingest("x", A, t, (next() % 1000) as f64);
            }
        }
        e.finish(2 * 86_400_000, &mut out);
        assert!(out.is_empty(), "{:?}", &out[..out.len().min(3)]);
        assert!(e.counters.too_late == 0);
    }
}
