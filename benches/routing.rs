//! Routing under load (`cargo bench --bench routing`), in one run so the ratios are fair:
//! 10,000 firing alerts across 1,000 groups (`group_by [service]`) through a route tree with
//! a `continue` branch, an inhibition and 50 silences, by
//!   (a) the routing core the daemon and `vigil test` run: every alert set, then the flush
//!       that sends each group's first notification (dedup, muting, the notification log);
//!   (b) the same, then the webhook payloads (Alertmanager's version 4 JSON) rendered;
//!   (c) a change round: 10% of the alerts resolve and the next flush reports them;
//!   (d) the baseline: hand-written grouping of the same alerts by `service` into a hash map
//!       of vectors and one serde JSON body per group (no routing, muting or log);
//! and the memory routing holds (resident bytes per alert, and the saved state's size).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use vigil_alerting::{Alert, Alerting, Matcher, Settings, Silence};
use vigil_vocab::MatchOp;
use vigil_vocab::notify::{InhibitPlan, Routing};
use vigil_vocab::route::{Cond, Route};

const ALERTS: usize = 10_000;
const GROUPS: usize = 1_000;
const RUNS: usize = 5;

fn eq(label: &str, value: &str) -> Cond {
    Cond::Match {
        label: label.into(),
        op: MatchOp::Eq,
        value: value.into(),
        re: None,
    }
}

fn routing() -> Routing {
    let mut tree = Route {
        notifiers: vec!["hook".into()],
        group_by: Some(vec!["service".into()]),
        group_wait: Some(30.0),
        group_interval: Some(300.0),
        repeat: Some(14_400.0),
        routes: vec![
            Route {
                cond: Some(eq("severity", "critical")),
                notifiers: vec!["pager".into()],
                cont: true,
                ..Route::default()
            },
            Route {
                cond: Some(Cond::Or(vec![eq("team", "db"), eq("team", "infra")])),
                notifiers: vec!["ops".into()],
                ..Route::default()
            },
        ],
        ..Route::default()
    };
    tree.inherit(&Route::default());
    Routing {
        tree,
        inhibits: vec![InhibitPlan {
            target: eq("severity", "warning"),
            source: eq("severity", "critical"),
            equal: vec!["host".into()],
            unless: false,
        }],
        ..Routing::default()
    }
}

fn alerts() -> Vec<Alert> {
    (0..ALERTS)
        .map(|i| {
            let labels: BTreeMap<String, String> = [
                ("alertname", format!("alert_{}", i % 20)),
                ("service", format!("svc-{}", i % GROUPS)),
                ("host", format!("host-{i}")),
                (
                    "severity",
                    if i % 10 == 0 { "critical" } else { "warning" }.to_string(),
                ),
                ("team", ["db", "infra", "web", "trading"][i % 4].to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            Alert {
                labels,
                annotations: [("summary".to_string(), format!("alert {i} is firing"))].into(),
                starts_at: 0,
                ends_at: None,
                updated_at: 0,
                generator_url: String::new(),
                flapping: false,
                external: false,
            }
        })
        .collect()
}

fn silences(al: &mut Alerting) {
    for i in 0..50 {
        let s = Silence {
            id: format!("s{i}"),
            matchers: vec![Matcher {
                name: "host".into(),
                value: format!("host-{}", i * 97),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: 0,
            ends_at: 86_400_000,
            created_by: "bench".into(),
            comment: String::new(),
            updated_at: 0,
            hid_since: None,
            reminded: Vec::new(),
        };
        al.set_silence(s, 0).expect("a valid silence");
    }
}

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let input = alerts();
    let rules = Arc::new(routing());
    // Memory: resident bytes routing holds for the alerts (measured first, in a fresh heap).
    let before = rss();
    let mut al = Alerting::new(rules.clone(), Settings::default());
    for a in &input {
        al.put(a.clone(), 0);
    }
    let _ = al.tick(30_000);
    let after = rss();
    let state = serde_json::to_vec(al.state()).expect("serialisable").len();
    drop(al);
    let (mut routed, mut rendered, mut change, mut base) = (vec![], vec![], vec![], vec![]);
    let (mut sent, mut resolved_sent) = (0, 0);
    for _ in 0..RUNS {
        // (a) every alert set, then the first flush.
        let t = Instant::now();
        let mut al = Alerting::new(rules.clone(), Settings::default());
        silences(&mut al);
        for a in &input {
            al.put(a.clone(), 0);
        }
        let notes = al.tick(30_000);
        routed.push(t.elapsed().as_secs_f64());
        sent = notes.len();
        // (b) their webhook payloads.
        let t = Instant::now();
        let bytes: usize = notes
            .iter()
            .map(|n| vigil_notify::payload::webhook(n, "", 0).to_string().len())
            .sum();
        rendered.push(routed.last().unwrap() + t.elapsed().as_secs_f64());
        assert!(bytes > 0);
        // (c) 10% resolve; the next flush reports them.
        let t = Instant::now();
        for a in input.iter().step_by(10) {
            let mut r = a.clone();
            r.ends_at = Some(60_000);
            r.updated_at = 60_000;
            al.put(r, 60_000);
        }
        resolved_sent = al.tick(330_000).len();
        change.push(t.elapsed().as_secs_f64());
        // (d) the hand-written baseline: group, then one JSON body per group.
        let t = Instant::now();
        let mut groups: HashMap<&str, Vec<Alert>> = HashMap::new();
        for a in &input {
            groups
                .entry(a.labels["service"].as_str())
                .or_default()
                .push(a.clone());
        }
        let bytes: usize = groups
            .values()
            .map(|g| {
                serde_json::json!({ "alerts": g.iter().map(|a| &a.labels).collect::<Vec<_>>() })
                    .to_string()
                    .len()
            })
            .sum();
        base.push(t.elapsed().as_secs_f64());
        assert!(bytes > 0);
    }
    let (a, b, c, d) = (
        median(routed),
        median(rendered),
        median(change),
        median(base),
    );
    println!("routing: {ALERTS} firing alerts across {GROUPS} groups, median of {RUNS} runs");
    println!(
        "  (a) routed and flushed:      {:>8.1} ms  {:>9.0} alerts/s  {sent} notifications ({:.0}/s)",
        a * 1e3,
        ALERTS as f64 / a,
        sent as f64 / a
    );
    println!(
        "  (b) and rendered as webhooks: {:>7.1} ms  {:>9.0} notifications/s",
        b * 1e3,
        sent as f64 / b
    );
    println!(
        "  (c) 10% resolved, next flush: {:>7.1} ms  {resolved_sent} notifications",
        c * 1e3
    );
    println!("  (d) hand-written grouping:   {:>8.1} ms", d * 1e3);
    println!(
        "  ratio (b)/(d): {:.2}x the hand-written baseline's time",
        b / d
    );
    println!(
        "  memory: {} resident bytes per alert; saved state {} bytes ({} per alert)",
        after.saturating_sub(before) / ALERTS as u64,
        state,
        state / ALERTS
    );
}
