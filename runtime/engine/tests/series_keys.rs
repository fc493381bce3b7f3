//! Reading samples by series key (`LineSource::with_series_keys`, what `vigil replay` does)
//! changes nothing: the same alerts, counters and bad lines as reading every line in full,
//! on lines of known and new series, series no rule reads, lines whose labels are refused,
//! and lines of other shapes.

use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_engine::feed::Merge;
use vigil_engine::{Config, Engine};
use vigil_ingest::{Format, LineSource};

const RULES: &str = r#"
package p
rule hot {
  severity warning
  when avg(cpu, 5m) > 50 for 2m
}
rule errors {
  severity high
  when sum(errs) by [svc] > 3
}
"#;

fn engine() -> Engine {
    let checked = vigil_compiler::check_source("p.rules", RULES, None);
    assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
    let rules = RuleSet::from_checked(&checked, Backend::Interp).expect("compiles");
    Engine::new(rules, Config::default()).expect("runs")
}

fn input() -> String {
    let mut text = String::new();
    for i in 0..60i64 {
        let ts = i * 15_000;
        for h in 0..3 {
            let v = (i * 7 + h * 13) % 100;
            text.push_str(&format!(
                "{{\"ts\": {ts}, \"metric\": \"cpu\", \"labels\": {{\"host\": \"h{h}\"}}, \"value\": {v}}}\n"
            ));
        }
        // The same series written with other spacing: another text, read in full once.
        text.push_str(&format!(
            "{{\"ts\":{ts},\"metric\":\"errs\",\"labels\":{{\"svc\":\"a\"}},\"value\":{}}}\n",
            i % 5
        ));
        text.push_str(&format!(
            "{{\"ts\": {ts}, \"metric\":\"errs\", \"labels\": {{\"svc\":\"a\"}}, \"value\": {}.5}}\n",
            i % 3
        ));
        // On every step, so their texts repeat: a metric no rule reads, a refused labels
        // object (an hour ahead: fed, it would move the clock), a refused metric name, a
        // repeated label, a series with staleness markers, members in another order.
        text.push_str(&format!(
            "{{\"ts\": {ts}, \"metric\": \"mem\", \"labels\": {{\"host\": \"h0\"}}, \"value\": 1}}\n\
             {{\"ts\": {ahead}, \"metric\": \"cpu\", \"labels\": {{\"host\": [1]}}, \"value\": 99}}\n\
             {{\"ts\": {ts}, \"metric\": \"c pu\", \"labels\": {{\"host\": \"h0\"}}, \"value\": 99}}\n\
             {{\"ts\": {ts}, \"metric\": \"cpu\", \"labels\": {{\"host\": \"x\", \"host\": \"y\"}}, \"value\": 99}}\n\
             {{\"ts\": {ts}, \"metric\": \"cpu\", \"labels\": {{\"host\": \"h9\"}}, \"value\": {}}}\n\
             {{\"metric\": \"cpu\", \"ts\": {ts}, \"labels\": {{\"host\": \"h8\"}}, \"value\": 70}}\n",
            if i % 10 == 9 { "\"stale\"".to_string() } else { "80".to_string() },
            ahead = ts + 3_600_000,
        ));
    }
    text
}

/// The alerts (as JSON), the engine's counters and the bad lines of one replay.
fn replay(keys: bool) -> (Vec<String>, String, Vec<String>) {
    let text = input();
    let mut source = LineSource::new("in.jsonl", text.as_bytes(), Format::Json, true);
    if keys {
        source = source.with_series_keys();
    }
    let mut feed = Merge::new(vec![source]);
    let mut e = engine();
    let mut alerts = Vec::new();
    feed.run(&mut e, &mut |out| {
        alerts.extend(
            out.drain(..)
                .map(|t| serde_json::to_string(&t).expect("json")),
        );
    });
    let bad = feed.sources[0]
        .take_bad()
        .iter()
        .map(|b| b.to_string())
        .collect();
    (alerts, format!("{:?}", e.counters), bad)
}

/// [`replay`] by series key, the engine saved and restored into a new one every `every`
/// records (the new engine knows no keys: each series' labels are read again from its line).
fn replay_restored(every: usize) -> Vec<String> {
    let text = input();
    let source =
        LineSource::new("in.jsonl", text.as_bytes(), Format::Json, true).with_series_keys();
    let mut feed = Merge::new(vec![source]);
    let mut e = engine();
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    let mut n = 0;
    while let Some((i, ts)) = feed.earliest() {
        e.advance(ts.saturating_sub(1), &mut out);
        feed.ingest(&mut e, i, &mut out);
        n += 1;
        if n % every == 0 {
            let snap = e.snapshot();
            e = engine();
            e.restore(snap);
        }
        alerts.extend(
            out.drain(..)
                .map(|t| serde_json::to_string(&t).expect("json")),
        );
    }
    if let Some(t) = feed.last {
        e.finish(t, &mut out);
    }
    alerts.extend(
        out.drain(..)
            .map(|t| serde_json::to_string(&t).expect("json")),
    );
    alerts
}

#[test]
fn keys_are_read_again_after_a_restore() {
    assert_eq!(replay_restored(97), replay(false).0);
}

#[test]
fn reading_by_series_key_changes_nothing() {
    let (alerts, counters, bad) = replay(true);
    let (want_alerts, want_counters, want_bad) = replay(false);
    assert!(alerts.len() > 5, "{alerts:?}");
    assert_eq!(bad.len(), 120, "{bad:?}");
    assert_eq!(alerts, want_alerts);
    assert_eq!(counters, want_counters);
    assert_eq!(bad, want_bad);
}
