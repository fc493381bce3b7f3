//! `vigil run` end to end: the real binary on 127.0.0.1:0 with a temporary data directory,
//! driven over HTTP. Every wait is bounded; every daemon started is killed on drop.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FAST: &str = "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n";

const RULES: &str = r#"package demo

rule cpu_hot {
  severity critical
  when cpu > 90
}
rule slow {
  severity warning
  when backlog > 0 for 1h
}
rule total {
  severity info
  when sum(hit) by [] > 0
}
"#;

fn alerts_of(v: &serde_json::Value, rule: &str) -> Vec<serde_json::Value> {
    v["alerts"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["rule"] == rule).cloned().collect())
        .unwrap_or_default()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The wall clock, epoch ms (what the daemon dates samples without a time by).
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn ndjson_ingest_makes_an_alert_appear() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[]);
    assert_eq!(d.req("GET", "/healthz", &[], b"").0, 200);
    let body = "{\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":95}\n\
                {\"metric\":\"cpu\",\"labels\":{\"host\":\"b\"},\"value\":10}\n\
                not json {\n\
                {\"metric\":\"cpu\",\"value\":\"high\"}\n";
    let (status, answer) = {
        let (s, b) = d.req(
            "POST",
            "/api/v1/ingest",
            &[("Content-Encoding", "gzip")],
            &gzip(body.as_bytes()),
        );
        (s, serde_json::from_str::<serde_json::Value>(&b).unwrap())
    };
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["samples"], 2);
    let lines: Vec<u64> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4], "{answer}");
    let v = d.wait_for("/api/v1/alerts?state=firing", |v| {
        !alerts_of(v, "demo.cpu_hot").is_empty()
    });
    let a = &alerts_of(&v, "demo.cpu_hot")[0];
    assert_eq!(a["labels"]["host"], "a");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["value"], 95.0);
    assert!(a["active_since"].as_str().unwrap().ends_with('Z'), "{a}");
    assert_eq!(a["id"].as_str().unwrap().len(), 16);
    // Filters.
    let (_, none) = d.get("/api/v1/alerts?match=host%3Db");
    assert_eq!(none["alerts"].as_array().unwrap().len(), 0, "{none}");
    let (_, some) = d.get("/api/v1/alerts?match=host%3Da&severity=critical");
    assert_eq!(some["alerts"].as_array().unwrap().len(), 1, "{some}");
    let (s, _) = d.get("/api/v1/alerts?colour=red");
    assert_eq!(s, 400);
    // The console saw it, once.
    let printed = d.printed();
    let fired: Vec<&String> = printed
        .iter()
        .filter(|l| l.contains("demo.cpu_hot") && l.contains("\"firing\""))
        .collect();
    assert_eq!(fired.len(), 1, "{printed:?}");
    // Rules and metrics.
    let (_, rules) = d.get("/api/v1/rules");
    let ids: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["demo.cpu_hot", "demo.slow", "demo.total"]);
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_ingest_lines_total{source=\"http\",result=\"accepted\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("vigil_ingest_refused_total{reason=\"parse\"} 2"),
        "{m}"
    );
    // Every accepted request's time from arrival to decision, in buckets around 1 ms.
    let decided = m
        .lines()
        .find_map(|l| l.strip_prefix("vigil_decision_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(decided.is_some_and(|n| n >= 1), "{m}");
    assert!(
        m.contains("vigil_decision_seconds_bucket{le=\"0.001\"}"),
        "{m}"
    );
    assert!(m.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
}

/// `GET /api/v1/rules` says when each rule was last evaluated, how long it took and what
/// went wrong; `GET /api/v1/rules/{id}/history` gives its recent condition values per label
/// set, held or not (what the dashboard charts), and event rules' matches per minute.
#[test]
fn rules_show_their_evaluations_and_recent_values() {
    let rules = format!(
        "{RULES}rule login {{\n  severity info\n  on event where event.kind == \"login\"\n}}\n\
         rule by_user {{\n  severity info\n  on event where event.kind == \"login\"\n  when count() by event.user over 1h >= 5\n}}\n"
    );
    let dir = setup(
        &rules,
        &format!("{FAST}[limits]\nmax_series = 2\nmax_keys = 1\n"),
    );
    let d = Daemon::start(dir.path(), &[]);
    let body = "{\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":95}\n\
                {\"metric\":\"cpu\",\"labels\":{\"host\":\"b\"},\"value\":10}\n\
                {\"metric\":\"hit\",\"labels\":{\"n\":\"1\"},\"value\":1}\n\
                {\"metric\":\"hit\",\"labels\":{\"n\":\"2\"},\"value\":1}\n\
                {\"metric\":\"hit\",\"labels\":{\"n\":\"3\"},\"value\":1}\n\
                {\"event\":{\"kind\":\"login\",\"user\":\"a\"}}\n{\"event\":{\"kind\":\"login\",\"user\":\"b\"}}\n\
                {\"event\":{\"kind\":\"logout\"}}\n";
    let (status, answer) = d.ingest(body);
    assert_eq!(status, 200, "{answer}");
    let v = d.wait_for("/api/v1/rules", |v| {
        v["rules"].as_array().is_some_and(|rs| {
            rs.iter()
                .any(|r| r["id"] == "demo.cpu_hot" && r["state"] == "firing")
        })
    });
    let rule = |id: &str| -> serde_json::Value {
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    let hot = rule("demo.cpu_hot");
    assert_eq!(hot["health"], "ok", "{hot}");
    assert!(
        hot["last_evaluation"].as_str().unwrap().ends_with('Z'),
        "{hot}"
    );
    let took = hot["evaluation_seconds"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&took), "{hot}");
    // Every evaluation's time added up: at least the last one's.
    let all = hot["evaluation_seconds_total"].as_f64().unwrap();
    assert!(all >= took && all < 10.0, "{hot}");
    assert!(hot["count"].as_u64().unwrap() >= 1, "{hot}");
    assert_eq!(
        (hot["rows"].as_u64(), hot["hits"].as_u64()),
        (Some(2), Some(1)),
        "{hot}"
    );
    assert_eq!(rule("demo.slow")["state"], "inactive");
    let total = rule("demo.total");
    assert_eq!(total["health"], "err", "{total}");
    assert!(
        total["last_error"]
            .as_str()
            .unwrap()
            .contains("1 series refused"),
        "{total}"
    );
    // An event rule's new keys past `limits.max_keys` are named too (the second user's).
    let by_user = rule("demo.by_user");
    assert_eq!(by_user["health"], "err", "{by_user}");
    assert_eq!(
        by_user["last_error"], "1 events of new keys refused by the key limit (limits.max_keys)",
        "{by_user}"
    );
    assert_eq!(rule("demo.login")["health"], "ok");
    let login = rule("demo.login");
    assert_eq!(
        (login["kind"].as_str(), login["count"].as_u64()),
        (Some("event"), Some(2)),
        "{login}"
    );
    assert!(
        login["last_match"].as_str().unwrap().ends_with('Z'),
        "{login}"
    );
    assert!(login.get("evaluation_seconds").is_none(), "{login}");
    assert!(login.get("evaluation_seconds_total").is_none(), "{login}");

    let (s, chart) = d.get("/api/v1/rules/demo.cpu_hot/history");
    assert_eq!(s, 200, "{chart}");
    assert_eq!(chart["kind"], "metric");
    assert_eq!(chart["keep_seconds"], 10800.0);
    let series = chart["series"].as_array().unwrap();
    let hosts: Vec<&str> = series
        .iter()
        .map(|l| l["labels"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, vec!["a", "b"], "{chart}");
    let first = |i: usize| series[i]["points"][0].clone();
    assert_eq!(
        (first(0)[1].as_f64(), first(0)[2].as_bool()),
        (Some(95.0), Some(true))
    );
    assert_eq!(
        (first(1)[1].as_f64(), first(1)[2].as_bool()),
        (Some(10.0), Some(false))
    );
    let (_, events) = d.get("/api/v1/rules/demo.login/history");
    let matched: f64 = events["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .sum();
    assert_eq!(matched, 2.0, "{events}");
    // A time after every value: nothing; not a time, or no such rule: the reason.
    let (_, later) = d.get("/api/v1/rules/demo.cpu_hot/history?since=4102444800");
    assert_eq!(later["series"].as_array().map(Vec::len), Some(0), "{later}");
    let (s, bad) = d.get("/api/v1/rules/demo.cpu_hot/history?since=yesterday");
    assert_eq!(s, 400, "{bad}");
    let (s, none) = d.get("/api/v1/rules/demo.nope/history");
    assert_eq!(s, 404, "{none}");
}

#[test]
fn state_changing_routes_need_the_token() {
    let dir = setup(RULES, FAST);
    // Without a configured token, they are refused outright.
    let d = Daemon::start(dir.path(), &[]);
    let (s, b) = d.req("POST", "/api/v1/reload", &[], b"");
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("VIGIL_API_TOKEN"), "{b}");
    drop(d);
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "s3cret")]);
    d.ingest("{\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":99}\n");
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "demo.cpu_hot").is_empty()
    });
    let id = alerts_of(&v, "demo.cpu_hot")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ack = format!("/api/v1/alerts/{id}/ack");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic s3cret"),
        Some("Bearer s3cret2"),
    ] {
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        assert_eq!(d.req("POST", "/api/v1/reload", &h, b"").0, 401, "{auth:?}");
        assert_eq!(d.req("POST", &ack, &h, b"").0, 401, "{auth:?}");
    }
    let ok = [("Authorization", "Bearer s3cret")];
    let (s, b) = d.req("POST", "/api/v1/alerts/0000000000000000/ack", &ok, b"");
    assert_eq!(s, 404, "{b}");
    let (s, b) = d.req("POST", &ack, &ok, br#"{"by":"ann","comment":"looking"}"#);
    assert_eq!(s, 200, "{b}");
    let v = d.wait_for("/api/v1/alerts", |v| {
        alerts_of(v, "demo.cpu_hot")[0]["acknowledged"]["by"] == "ann"
    });
    assert_eq!(
        alerts_of(&v, "demo.cpu_hot")[0]["acknowledged"]["comment"],
        "looking"
    );
    let (s, b) = d.req("POST", "/api/v1/reload", &ok, b"");
    assert_eq!(s, 200, "{b}");
    // Reads need no token.
    assert_eq!(d.get("/api/v1/rules").0, 200);
}

#[test]
fn ingest_can_require_its_own_token() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[("VIGIL_INGEST_TOKEN", "feed")]);
    let line = b"{\"metric\":\"cpu\",\"value\":1}\n";
    assert_eq!(d.req("POST", "/api/v1/ingest", &[], line).0, 401);
    let (s, b) = d.req(
        "POST",
        "/api/v1/ingest",
        &[("Authorization", "Bearer feed")],
        line,
    );
    assert_eq!(s, 200, "{b}");
}

/// `kill -9` in the middle of a stream: every acknowledged sample is there after the
/// restart (each sample is its own series, and `sum(hit)` counts them), a pending `for 1h`
/// keeps its start time, nothing fires twice, and a torn log tail is cut off, not fatal.
#[test]
fn kill_9_loses_no_acknowledged_input() {
    let toml = format!("{FAST}checkpoint_every = \"1s\"\n");
    let dir = setup(RULES, &toml);
    let d = Daemon::start(dir.path(), &[]);
    let (s, b) = d.ingest("{\"metric\":\"backlog\",\"value\":3}\n");
    assert_eq!(s, 200, "{b}");
    let mut sent = 0;
    let mut batch = |d: &Daemon, n: usize| {
        let mut body = String::new();
        for _ in 0..n {
            body.push_str(&format!(
                "{{\"metric\":\"hit\",\"labels\":{{\"i\":\"{sent}\"}},\"value\":1}}\n"
            ));
            sent += 1;
        }
        let (s, b) = d.ingest(&body);
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["accepted"], n as u64);
    };
    for _ in 0..10 {
        batch(&d, 25);
    }
    let v = d.wait_for("/api/v1/alerts", |v| {
        alerts_of(v, "demo.slow").len() == 1 && !alerts_of(v, "demo.total").is_empty()
    });
    let pending = alerts_of(&v, "demo.slow")[0].clone();
    assert_eq!(pending["state"], "pending");
    // Past a checkpoint, then more input that only the log holds, remote_write's (logged in
    // binary) among it.
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..5 {
        batch(&d, 25);
    }
    // Two seconds ahead: a sample at or before an evaluation already made is refused as too
    // late (counted, not stored), and evaluations follow the wall clock each second, so a
    // time taken here could be passed by one before the request arrives.
    let now_ms = wall_ms() + 2000;
    let names: Vec<String> = (0..25).map(|i| format!("rw{i}")).collect();
    let labels: Vec<[(&str, &str); 2]> = (names.iter())
        .map(|n| [("__name__", "hit"), ("i", n.as_str())])
        .collect();
    let samples = [(now_ms, 1.0)];
    let series: Vec<WriteSeries> = labels.iter().map(|l| (&l[..], &samples[..])).collect();
    let (s, b) = remote_write(&d, &series);
    assert_eq!(s, 204, "{b}");
    for _ in 0..5 {
        batch(&d, 25);
    }
    let sent = sent + 25;
    // Every acknowledged sample was stored (none refused as too late; the gauge is sampled
    // on the 100 ms tick).
    std::thread::sleep(Duration::from_millis(300));
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_engine{counter=\"samples_too_late\"} 0"),
        "{m}"
    );
    d.kill9();
    // A crash in the middle of an append: half an entry at the end of the newest segment.
    // After the last entry (over the zeros of a prepared segment, or at the end of a grown
    // one), as the log itself finds it.
    let wal = dir.path().join("data/wal");
    let settings = vigil_daemon::wal::Settings {
        segment_bytes: 64 << 20,
        sync: false,
        preallocate: false,
    };
    let end = vigil_daemon::wal::Wal::open(&wal, Default::default(), settings, &mut |_| {})
        .unwrap()
        .0
        .position();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(wal.join(format!("{:016}.log", end.segment)))
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[200, 0, 0, 0, 1, 2, 3], end.offset).unwrap();
    drop(f);

    let d = Daemon::start(dir.path(), &[]);
    // (On a timeout this says what the restarted engine holds.)
    let deadline = Instant::now() + Duration::from_secs(60);
    let v = loop {
        let (_, v) = d.get("/api/v1/alerts");
        let total = alerts_of(&v, "demo.total");
        if total
            .first()
            .is_some_and(|a| a["value"] == serde_json::json!(sent as f64))
        {
            break v;
        }
        if Instant::now() > deadline {
            let (_, series) = d.get("/api/v1/series?metric=hit");
            let (_, m) = d.req("GET", "/metrics", &[], b"");
            let counters: Vec<&str> = (m.lines())
                .filter(|l| l.starts_with("vigil_engine") || l.starts_with("vigil_checkpoints"))
                .collect();
            panic!(
                "after the restart `total` never reached {sent}: {v}\nseries of hit: {}\n{counters:#?}",
                series["series"].as_array().map_or(0, Vec::len)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let again = alerts_of(&v, "demo.slow");
    assert_eq!(again.len(), 1, "{v}");
    assert_eq!(again[0]["state"], "pending");
    assert_eq!(again[0]["active_since"], pending["active_since"]);
    // The restart repeats nothing on the console.
    std::thread::sleep(Duration::from_millis(500));
    let printed = d.printed();
    assert!(
        printed.iter().all(|l| !l.contains("\"firing\"")),
        "fired again after the restart: {printed:?}"
    );
    assert_eq!(d.terminate(), Some(0), "SIGTERM exits 0");
    assert!(dir.path().join("data/checkpoint.json").exists());
}

#[test]
fn a_broken_reload_keeps_the_old_rules() {
    // The API's reload alone (the file watcher would reload too).
    let dir = setup(RULES, &format!("{FAST}watch_rules = false\n"));
    let env = [("VIGIL_API_TOKEN", "t")];
    let d = Daemon::start(dir.path(), &env);
    let auth = [("Authorization", "Bearer t")];
    std::fs::write(
        dir.path().join("rules/r.rules"),
        format!("{RULES}\nrule broken {{ when cpu > }}\n"),
    )
    .unwrap();
    let (s, b) = d.req("POST", "/api/v1/reload", &auth, b"");
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("r.rules"), "the diagnostics name the file: {b}");
    let (_, rules) = d.get("/api/v1/rules");
    assert_eq!(rules["rules"].as_array().unwrap().len(), 3, "{rules}");
    assert_eq!(rules["reload"]["ok"], false);
    assert_eq!(rules["reload"]["failures"], 1);
    // The old rules still run.
    d.ingest("{\"metric\":\"cpu\",\"labels\":{\"host\":\"z\"},\"value\":99}\n");
    d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "demo.cpu_hot").is_empty()
    });
    // Fixed: the new rule is there, and the firing alert kept its state.
    std::fs::write(
        dir.path().join("rules/r.rules"),
        format!("{RULES}\nrule mem_hot {{\n  severity info\n  when mem > 90\n}}\n"),
    )
    .unwrap();
    let (s, b) = d.req("POST", "/api/v1/reload", &auth, b"");
    assert_eq!(s, 200, "{b}");
    let (_, rules) = d.get("/api/v1/rules");
    assert_eq!(rules["rules"].as_array().unwrap().len(), 4, "{rules}");
    assert_eq!(rules["reload"]["ok"], true);
    let (_, v) = d.get("/api/v1/alerts?rule=demo.cpu_hot");
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_reloads_total{result=\"failed\"} 1"),
        "{m}"
    );
}

/// Bad input gets a clear 4xx and the daemon keeps serving.
#[test]
fn bad_input_is_refused_clearly() {
    let toml = format!(
        "{FAST}[limits]\nmax_body_bytes = 200000\nmax_decoded_bytes = 1000000\nmax_lines = 1000\n"
    );
    let dir = setup(RULES, &toml);
    let d = Daemon::start(dir.path(), &[]);
    let post =
        |headers: &[(&str, &str)], body: &[u8]| d.req("POST", "/api/v1/ingest", headers, body);
    // 10,000-deep JSON, wrong types, unknown fields, invalid UTF-8, far future: line by line.
    let deep = format!(
        "{{\"ts\":1,\"event\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let far = "{\"ts\":\"2999-01-01T00:00:00Z\",\"metric\":\"cpu\",\"value\":1}";
    let mut body = format!(
        "{deep}\n{{\"metric\":5,\"value\":1}}\n{far}\n{{\"metric\":\"cpu\",\"value\":1,\"colour\":\"red\"}}\n"
    )
    .into_bytes();
    body.extend_from_slice(b"{\"metric\":\"cpu\",\"labels\":{\"h\":\"\xff\"},\"value\":1}\n");
    let (s, b) = post(&[], &body);
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["accepted"], 1, "unknown fields are ignored: {v}");
    let refused: Vec<u64> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, vec![1, 2, 3, 5], "{v}");
    assert!(b.contains("ahead of the daemon's clock"), "{b}");
    assert!(b.contains("UTF-8"), "{b}");
    // Every line refused: 400. A key given twice is refused as a full parse would.
    assert_eq!(post(&[], b"nope {\n").0, 400);
    let (s, b) = post(&[], b"{\"event\":{\"user\":\"root\",\"user\":\"alice\"}}\n");
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("given twice"), "{b}");
    // A compression bomb stops at the decoded limit.
    let (s, b) = post(
        &[("Content-Encoding", "gzip")],
        &gzip(&vec![b'\n'; 8 << 20]),
    );
    assert_eq!(s, 413, "{b}");
    assert_eq!(post(&[("Content-Encoding", "gzip")], b"not gzip").0, 400);
    assert_eq!(post(&[("Content-Encoding", "br")], b"x").0, 415);
    // Too large as sent, too many lines.
    assert_eq!(post(&[], &vec![b' '; 300_000]).0, 413);
    let (s, b) = post(
        &[],
        "{\"metric\":\"cpu\",\"value\":1}\n".repeat(1001).as_bytes(),
    );
    assert_eq!(s, 413, "{b}");
    // Newlines and escapes in label values are data, not log lines or colours.
    let (s, b) = post(
        &[],
        b"{\"metric\":\"cpu\",\"labels\":{\"host\":\"a\\nvigil: forged\\u001b[31m\"},\"value\":99}\n",
    );
    assert_eq!(s, 200, "{b}");
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "demo.cpu_hot").is_empty()
    });
    assert_eq!(
        alerts_of(&v, "demo.cpu_hot")[0]["labels"]["host"],
        "a\nvigil: forged\u{1b}[31m"
    );
    assert_eq!(d.req("GET", "/nowhere", &[], b"").0, 404);
    assert_eq!(d.req("GET", "/healthz", &[], b"").0, 200);
}

/// The data directory belongs to one daemon at a time.
#[test]
fn a_second_daemon_on_the_same_data_is_refused() {
    let dir = setup(RULES, FAST);
    let _d = Daemon::start(dir.path(), &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(dir.path().join("vigil.toml"))
        .arg("--rules")
        .arg(dir.path().join("rules"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another vigil daemon"), "{err}");
}

/// The README's main job: the quickstart plays its recording and alerts fire on the console
/// (here 600 times faster than recorded instead of 60).
#[test]
fn the_quickstart_demo_fires_alerts() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let shipped = std::fs::read_to_string(examples.join("quickstart/vigil.toml")).unwrap();
    assert!(shipped.contains("speed = 60"), "{shipped}");
    let toml = shipped
        .replace("speed = 60", "speed = 600")
        .replace("\"../", &format!("\"{}/", examples.display()));
    let dir = setup("", &toml);
    let d = Daemon::start_with(dir.path(), &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline
        && !(seen
            .iter()
            .any(|l: &String| l.contains("firing") && l.contains("quickstart.high_cpu"))
            && seen
                .iter()
                .any(|l| l.contains("firing") && l.contains("quickstart.failed_logins")))
    {
        if let Ok(l) = d.lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("firing") && l.contains("\"CPU at 88.8% on trade-2\"")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("firing") && l.contains("5 failed logins from 203.0.113.7")),
        "{seen:#?}"
    );
}

/// `docs/openapi.json` names exactly the daemon's routes (method and path), and each answers.
#[test]
fn the_openapi_file_matches_the_routes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/openapi.json")).unwrap())
            .unwrap();
    let mut documented = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let code = std::fs::read_to_string(root.join("runtime/daemon/src/api.rs")).unwrap();
    let route =
        regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*((?:\s*\.?(?:get|post|delete)\([^)]*\))+)"#)
            .unwrap();
    let method = regex::Regex::new(r"(get|post|delete)\(").unwrap();
    let mut served: Vec<String> = route
        .captures_iter(&code)
        .flat_map(|c| {
            method
                .captures_iter(&c[2])
                .map(|m| format!("{} {}", m[1].to_uppercase(), &c[1]))
                .collect::<Vec<_>>()
        })
        .collect();
    served.sort();
    assert_eq!(documented, served);
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[]);
    for op in &served {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("rules/{id}", "rules/demo.cpu_hot")
            .replace("{id}", "0000000000000000");
        let (status, body) = d.req(method, &path, &[], b"");
        // A 404 from the handler (no such silence) is an answer; the router's is not.
        assert!(!body.contains("no such route"), "{op}: {status} {body}");
        assert_ne!(status, 405, "{op}: {body}");
    }
}

/// Debian's Prometheus 2.42 scrapes itself and remote_writes to Vigil; a rule on its `up`
/// fires, and its samples are counted as remote_write input.
#[test]
fn prometheus_remote_writes_to_vigil() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let rules = "package peer\n\nrule prom_up {\n  severity info\n  when up == 1\n}\n";
    let dir = setup(
        rules,
        "interval = \"1s\"\nlateness = \"10s\"\ntick = \"100ms\"\n",
    );
    let d = Daemon::start(dir.path(), &[]);
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        d.addr
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _prom = Prometheus::start(&prometheus, dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(90);
    let fired = loop {
        let (_, v) = d.get("/api/v1/alerts?rule=peer.prom_up");
        if let Some(a) = v["alerts"].as_array().and_then(|a| a.first()).cloned() {
            break a;
        }
        assert!(Instant::now() < deadline, "no alert from remote_write: {v}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(fired["labels"]["job"], "self", "{fired}");
    assert_eq!(fired["labels"]["instance"], format!("127.0.0.1:{port}"));
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    let taken: u64 = m
        .lines()
        .find(|l| {
            l.starts_with("vigil_ingest_lines_total{source=\"remote_write\",result=\"accepted\"}")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        taken > 50,
        "Prometheus's own metrics arrive by the hundred: {taken}\n{m}"
    );
}

/// A remote_write body that is not one gets 400 (which Prometheus does not retry), and a
/// bomb 413, with the daemon still serving.
#[test]
fn bad_remote_write_bodies_are_refused() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[]);
    let (s, b) = d.req("POST", "/api/v1/write", &[], b"\x00\x01garbage");
    assert_eq!(s, 400, "{b}");
    // A snappy header claiming 2 GiB.
    let (s, b) = d.req("POST", "/api/v1/write", &[], b"\x80\x80\x80\x80\x08\x00");
    assert_eq!(s, 413, "{b}");
    assert_eq!(d.req("GET", "/healthz", &[], b"").0, 200);
}

/// One series of a remote_write body: its labels (`__name__` among them) and samples.
type WriteSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

/// Sends these series to `d` by remote_write: the status and the answer.
fn remote_write(d: &Daemon, series: &[WriteSeries]) -> (u16, String) {
    use vigil_ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest};
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| TimeSeries {
                labels: (labels.iter())
                    .map(|(n, v)| Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: (samples.iter())
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
            })
            .collect(),
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(&req))
        .unwrap();
    d.req("POST", "/api/v1/write", &[], &body)
}

/// remote_write's limits act per series and per sample: a series with too many labels is
/// refused whole, samples dated too far ahead are dropped from their series, the rest is
/// taken, and the answer is 400 (which Prometheus does not retry) naming what was not; so are
/// samples at or before an evaluation already made.
#[test]
fn remote_write_limits_name_what_they_refuse() {
    let dir = setup(RULES, &format!("{FAST}[limits]\nmax_labels = 2\n"));
    let d = Daemon::start(dir.path(), &[]);
    let now = wall_ms();
    let wide: &[(&str, &str)] = &[("__name__", "cpu"), ("a", "1"), ("b", "2"), ("c", "3")];
    let ok: &[(&str, &str)] = &[("__name__", "cpu"), ("host", "a")];
    let ahead = now + 3_600_000;
    let (s, b) = remote_write(
        &d,
        &[(wide, &[(now, 95.0)]), (ok, &[(now, 95.0), (ahead, 1.0)])],
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("1 samples taken, the others not"), "{b}");
    assert!(b.contains("series 1: 3 labels (at most 2"), "{b}");
    assert!(b.contains("series 2: 1 samples are more than"), "{b}");
    d.wait_for("/api/v1/alerts?state=firing", |v| {
        alerts_of(v, "demo.cpu_hot")
            .iter()
            .any(|a| a["labels"]["host"] == "a")
    });
    // Evaluations have passed this time: the sample is counted as late, and the client told.
    let (s, b) = remote_write(&d, &[(ok, &[(now - 30_000, 1.0)])]);
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("nothing taken: 1 samples are at or before an evaluation"),
        "{b}"
    );
    let (s, b) = remote_write(&d, &[(wide, &[(now, 1.0)])]);
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("nothing taken: series 1: 3 labels"), "{b}");
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_ingest_refused_total{reason=\"too_many_labels\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("vigil_ingest_refused_total{reason=\"future\"} 1"),
        "{m}"
    );
}

/// Samples of a series the series limit has no room for are named in the answers: ingest
/// counts them in `over_limit`, remote_write answers 400 saying so.
#[test]
fn the_series_limit_is_named_in_the_answers() {
    let dir = setup(RULES, &format!("{FAST}[limits]\nmax_series = 1\n"));
    let d = Daemon::start(dir.path(), &[]);
    let body = "{\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":95}\n\
                {\"metric\":\"cpu\",\"labels\":{\"host\":\"b\"},\"value\":95}\n";
    let (s, b) = d.req("POST", "/api/v1/ingest", &[], body.as_bytes());
    let answer: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        (&answer["samples"], &answer["over_limit"]),
        (&2.into(), &1.into()),
        "{answer}"
    );
    let now = wall_ms() + 2000;
    let a: &[(&str, &str)] = &[("__name__", "cpu"), ("host", "a")];
    let c: &[(&str, &str)] = &[("__name__", "cpu"), ("host", "c")];
    let (s, b) = remote_write(&d, &[(a, &[(now, 1.0)]), (c, &[(now, 1.0)])]);
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("1 samples taken, the others not: 1 samples are of new series no rule"),
        "{b}"
    );
    let (s, b) = remote_write(&d, &[(a, &[(now + 1, 2.0)])]);
    assert_eq!(s, 204, "{b}");
}

/// Influx line protocol at `/write` and `/api/v2/write`: fields become samples, tags labels,
/// `precision` is honoured, a line without a time takes the arrival time, a partial write
/// keeps the good lines and answers 400 naming the bad ones.
#[test]
fn influx_lines_are_taken() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[]);
    let now_s = wall_ms() / 1000;
    let body = format!("cpu,host=inf1 value=97 {now_s}\ncpu,host=inf2 value=98,idle=2i\n");
    let (s, b) = d.req("POST", "/write?db=x&precision=s", &[], body.as_bytes());
    assert_eq!(s, 204, "{b}");
    let v = d.wait_for("/api/v1/alerts?rule=demo.cpu_hot", |v| {
        v["alerts"].as_array().is_some_and(|a| a.len() == 2)
    });
    let hosts: Vec<&str> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, vec!["inf1", "inf2"]);
    let (s, b) = d.req(
        "POST",
        "/api/v2/write?org=o&bucket=b",
        &[],
        b"cpu,host=inf3 value=99\nthis is not influx\n",
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("line 2"), "{b}");
    d.wait_for("/api/v1/alerts?match=host%3Dinf3", |v| {
        v["alerts"].as_array().is_some_and(|a| a.len() == 1)
    });
    let (s, _) = d.req("POST", "/write?precision=h", &[], b"cpu value=1\n");
    assert_eq!(s, 400);
}

/// Scraping a real exporter (Prometheus's own `/metrics`): its samples carry `job` and
/// `instance`, `up` is 1 while it answers and 0 once it is gone, when its series go stale.
#[test]
fn scraping_a_real_exporter() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let port = free_port();
    // `no_data after 0s -> ok`: a series that ends resolves, as in Prometheus (Vigil's default
    // keeps the state; docs/language.md).
    let rules = "package peer\n\nrule target_up {\n  severity info\n  when up == 1\n}\n\
                 rule target_down {\n  severity warning\n  when up == 0\n}\n\
                 rule has_build_info {\n  severity info\n  when prometheus_build_info == 1\n  \
                 no_data after 0s -> ok\n}\n";
    let toml = format!(
        "interval = \"1s\"\nlateness = \"2s\"\ntick = \"100ms\"\n\n[[scrape]]\njob = \"prom\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval = \"1s\"\ntimeout = \"900ms\"\n"
    );
    let dir = setup(rules, &toml);
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  scrape_interval: 1m\n",
    )
    .unwrap();
    let prom = Prometheus::start(&prometheus, dir.path(), port);
    let d = Daemon::start(dir.path(), &[]);
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "peer.target_up").is_empty()
            && !alerts_of(v, "peer.has_build_info").is_empty()
    });
    let up = &alerts_of(&v, "peer.target_up")[0];
    assert_eq!(up["labels"]["job"], "prom");
    assert_eq!(up["labels"]["instance"], format!("127.0.0.1:{port}"));
    let info = &alerts_of(&v, "peer.has_build_info")[0];
    assert!(
        info["labels"]["version"]
            .as_str()
            .unwrap()
            .starts_with("2."),
        "{info}"
    );
    drop(prom);
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "peer.target_down").is_empty()
            && alerts_of(v, "peer.has_build_info").is_empty()
    });
    assert!(alerts_of(&v, "peer.target_up").is_empty(), "{v}");
}

/// The built-in host collector and probes: this machine's memory as a series, a TCP probe of a
/// listening port succeeding and one of a closed port failing.
#[test]
fn host_collector_and_probes() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = free_port();
    let rules = "package peer\n\nrule probe_ok {\n  severity info\n  when probe_success == 1\n}\n\
                 rule probe_down {\n  severity warning\n  when probe_success == 0\n}\n\
                 rule host_seen {\n  severity info\n  when memory_usage > 0\n}\n";
    let toml = format!(
        "{FAST}\n[host]\ninterval = \"1s\"\n\n[[probe]]\nname = \"db\"\ntcp = \"127.0.0.1:{open_port}\"\ninterval = \"1s\"\n\n[[probe]]\nname = \"cache\"\ntcp = \"127.0.0.1:{closed_port}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n"
    );
    let dir = setup(rules, &toml);
    let d = Daemon::start(dir.path(), &[]);
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "peer.probe_ok").is_empty()
            && !alerts_of(v, "peer.probe_down").is_empty()
            && !alerts_of(v, "peer.host_seen").is_empty()
    });
    assert_eq!(alerts_of(&v, "peer.probe_ok")[0]["labels"]["probe"], "db");
    assert_eq!(
        alerts_of(&v, "peer.probe_down")[0]["labels"]["probe"],
        "cache"
    );
    let host = alerts_of(&v, "peer.host_seen")[0]["labels"]["host"].clone();
    assert!(host.as_str().is_some_and(|h| !h.is_empty()), "{v}");
    drop(open);
}

/// `vigil alerts` and `vigil ack` against a running daemon.
#[test]
fn the_cli_clients_talk_to_the_daemon() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "tok")]);
    d.ingest("{\"metric\":\"cpu\",\"labels\":{\"host\":\"cli\"},\"value\":96}\n");
    d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "demo.cpu_hot").is_empty()
    });
    let server = format!("http://{}", d.addr);
    let vigil = |args: &[&str], token: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.args(args)
            .env_remove("VIGIL_API_TOKEN")
            .env_remove("VIGIL_SERVER");
        if let Some(t) = token {
            c.env("VIGIL_API_TOKEN", t);
        }
        c.output().unwrap()
    };
    let out = vigil(&["alerts", "--server", &server, "--state", "firing"], None);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{table}");
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID  "), "{table}");
    let row = lines.next().unwrap();
    assert!(
        row.contains("firing") && row.contains("demo.cpu_hot") && row.contains("host=\"cli\""),
        "{table}"
    );
    let id = row.split_whitespace().next().unwrap().to_string();
    let out = vigil(&["alerts", "--server", &server, "--format", "json"], None);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    // Without the token: refused, exit 1, the daemon's reason shown.
    let out = vigil(&["ack", &id, "--server", &server], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let out = vigil(
        &["ack", &id, "--server", &server, "--by", "ann"],
        Some("tok"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, v) = d.get("/api/v1/alerts");
    assert_eq!(
        alerts_of(&v, "demo.cpu_hot")[0]["acknowledged"]["by"],
        "ann"
    );
    // No daemon there: exit 2.
    let out = vigil(
        &[
            "alerts",
            "--server",
            &format!("http://127.0.0.1:{}", free_port()),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

const AUDIT_RULES: &str = r#"package apps

rule app_error {
  severity warning
  on event where event.event_type == "error"
  keep_firing 10m
}
rule falco_shell {
  severity high
  on event where event.rule == "Terminal shell in container"
  keep_firing 10m
}
"#;

/// Applications' audit events (`POST /api/v1/audit`, through the shipped Python client) and
/// Falco's JSON alerts (`POST /api/v1/falco`) feed event rules; the client never fails its
/// application when the daemon is down.
#[test]
fn audit_events_and_falco_alerts_feed_event_rules() {
    // Sources' clocks differ (Falco stamps to the nanosecond what the client stamps later):
    // a lateness lets events arrive out of order; without it the earlier one is late.
    let dir = setup(
        AUDIT_RULES,
        "interval = \"1s\"\nlateness = \"3s\"\ntick = \"100ms\"\n",
    );
    let d = Daemon::start(dir.path(), &[]);
    // Refusals: required fields, not an object.
    let (s, b) = d.req(
        "POST",
        "/api/v1/audit",
        &[],
        b"{\"event_type\":\"boot\"}\n[1]\n{\"project_name\":\"p\",\"event_type\":\"boot\",\"timestamp\":\"yesterday\"}\n",
    );
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("project_name") && b.contains("\"line\":2"),
        "{b}"
    );
    // One pretty-printed object, and an array of objects.
    let (s, b) = d.req(
        "POST",
        "/api/v1/audit",
        &[],
        b"{\n  \"project_name\": \"p\",\n  \"event_type\": \"boot\"\n}\n",
    );
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("\"accepted\":1"), "{b}");
    let (s, b) = d.req(
        "POST",
        "/api/v1/audit",
        &[],
        br#"[{"project_name":"p","event_type":"boot"},{"event_type":"x"}]"#,
    );
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains("\"accepted\":1") && b.contains("\"line\":2"),
        "{b}"
    );
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/clients");
    let script = "import sys, time\nfrom vigil_audit import AuditClient\n\
                  c = AuditClient(sys.argv[1], project_name='orders', project_market='XNYS')\n\
                  t = time.time()\nc.event('boot', 'started')\n\
                  c.event('error', 'order rejected', symbol='AAPL', price=191.2)\n\
                  assert time.time() - t < 0.1\nc.close()\nprint(c.sent, c.dropped)\n";
    let py = |server: &str| {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(server)
            .env("PYTHONPATH", &client)
            .output()
    };
    let Ok(out) = py(&format!("http://{}", d.addr)) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is missing"
        );
        eprintln!("note: python3 is not installed; skipping the client");
        return;
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2 0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "apps.app_error").is_empty()
    });
    assert_eq!(alerts_of(&v, "apps.app_error").len(), 1, "{v}");
    let printed = d.printed();
    assert!(
        printed
            .iter()
            .any(|l| l.contains("apps.app_error") && l.contains("\"symbol\":\"AAPL\"")),
        "the alert carries its event: {printed:?}"
    );
    // Falco, as http_output posts it.
    let now = wall_ms() as u64 / 1000;
    let alert = format!(
        "{{\"output\":\"A shell was spawned\",\"priority\":\"Notice\",\"rule\":\"Terminal shell in container\",\"time\":\"{}\",\"output_fields\":{{\"container.id\":\"abc\",\"proc.cmdline\":\"bash\"}},\"source\":\"syscall\",\"tags\":[\"container\",\"shell\"],\"hostname\":\"node1\"}}",
        vigil_time(now)
    );
    let (s, b) = d.req("POST", "/api/v1/falco", &[], alert.as_bytes());
    assert_eq!(s, 200, "{b}");
    d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "apps.falco_shell").is_empty()
    });
    drop(d);
    // The daemon is gone: the client neither blocks nor raises; it counts what it dropped.
    let out = py(&format!("http://127.0.0.1:{}", free_port())).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 2",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Epoch seconds as RFC 3339 with nanoseconds, as Falco writes its `time`.
fn vigil_time(secs: u64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{secs}"),
            "+%Y-%m-%dT%H:%M:%S.123456789Z",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const SYSLOG_RULES: &str = r#"package sys

rule ssh_failed {
  severity warning
  on event where event.app == "sshd" and event.message contains "Failed password"
  keep_firing 10m
}
rule cef_scan {
  severity high
  on event where event.cef.name == "Port scan" and event.cef.ext.src == "10.0.0.5"
  keep_firing 10m
}
rule tcp_line {
  severity info
  on event where event.message contains "over tcp"
  keep_firing 10m
}
"#;

/// `logger` (util-linux) sends RFC 5424 over UDP, RFC 3164 over TCP (octet counting and
/// lines) and a CEF payload; event rules match each.
#[test]
fn syslog_from_logger() {
    let Some(logger) = peer("logger", "bsdutils") else {
        return;
    };
    let (udp, tcp) = (free_port(), free_port());
    let toml = format!(
        "interval = \"1s\"\nlateness = \"2s\"\ntick = \"100ms\"\n\n[[syslog]]\nlisten = \"127.0.0.1:{udp}\"\nprotocol = \"udp\"\n\n[[syslog]]\nlisten = \"127.0.0.1:{tcp}\"\nprotocol = \"tcp\"\n"
    );
    let dir = setup(SYSLOG_RULES, &toml);
    let d = Daemon::start(dir.path(), &[]);
    let send = |args: &[&str]| {
        let out = Command::new(&logger).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (udp, tcp) = (udp.to_string(), tcp.to_string());
    send(&[
        "-n",
        "127.0.0.1",
        "-P",
        &udp,
        "-d",
        "--rfc5424",
        "-t",
        "sshd",
        "Failed password for bob from 10.0.0.1",
    ]);
    send(&[
        "-n",
        "127.0.0.1",
        "-P",
        &udp,
        "-d",
        "--rfc3164",
        "-t",
        "ids",
        "CEF:0|Acme|IDS|1.0|100|Port scan|8|src=10.0.0.5 dst=10.0.0.9 msg=many ports",
    ]);
    send(&[
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-T",
        "--rfc3164",
        "-t",
        "app",
        "hello over tcp",
    ]);
    send(&[
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-T",
        "--octet-count",
        "--rfc5424",
        "-t",
        "app",
        "counted over tcp",
    ]);
    let v = d.wait_for("/api/v1/alerts", |v| {
        !alerts_of(v, "sys.ssh_failed").is_empty()
            && !alerts_of(v, "sys.cef_scan").is_empty()
            && !alerts_of(v, "sys.tcp_line").is_empty()
    });
    assert_eq!(alerts_of(&v, "sys.ssh_failed").len(), 1, "{v}");
    let printed = d.printed();
    let tcp_lines = printed
        .iter()
        .filter(|l| l.contains("sys.tcp_line"))
        .count();
    assert!(tcp_lines >= 1, "{printed:?}");
    assert!(
        printed
            .iter()
            .any(|l| l.contains("sys.ssh_failed") && l.contains("\"facility\":1")),
        "logger's default facility is user (1): {printed:?}"
    );
}

/// `GET /api/v1/series`: the newest sample of each series held, in JSON and in the exposition
/// format, which a real Prometheus scrapes (federation).
#[test]
fn series_are_served_and_prometheus_federates_them() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[]);
    d.ingest(
        "{\"metric\":\"cpu\",\"labels\":{\"host\":\"f1\",\"note\":\"a \\\"q\\\"\"},\"value\":42.5}\n{\"metric\":\"cpu\",\"labels\":{\"host\":\"f2\"},\"value\":7}\n{\"metric\":\"unread\",\"value\":1}\n",
    );
    let (_, v) = d.get("/api/v1/series?metric=cpu&match=host%3Df1");
    let list = v["series"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["value"], 42.5);
    assert_eq!(list[0]["labels"]["note"], "a \"q\"");
    let (_, all) = d.get("/api/v1/series");
    assert_eq!(
        all["series"].as_array().unwrap().len(),
        2,
        "series no rule reads are not held: {all}"
    );
    let (s, text) = d.req("GET", "/api/v1/series?format=prometheus", &[], b"");
    assert_eq!(s, 200);
    assert!(
        text.contains("cpu{host=\"f1\",note=\"a \\\"q\\\"\"} 42.5 "),
        "{text}"
    );
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vigil\n    honor_labels: true\n    metrics_path: /api/v1/series\n    params:\n      format: [prometheus]\n    static_configs:\n      - targets: ['{}']\n",
            d.addr
        ),
    )
    .unwrap();
    let prom = Prometheus::start(&prometheus, dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        if TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "Prometheus did not start");
            std::thread::sleep(Duration::from_millis(250));
            continue;
        }
        let (_, b) = http(
            &format!("127.0.0.1:{port}"),
            "GET",
            "/api/v1/query?query=cpu%7Bhost%3D%22f1%22%7D",
            &[],
            b"",
        );
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&b)
            && let Some(r) = v["data"]["result"].as_array().and_then(|r| r.first())
        {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had cpu{{host=\"f1\"}}: {b}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(prom);
    assert_eq!(got["value"][1], "42.5", "{got}");
    assert_eq!(got["metric"]["note"], "a \"q\"", "{got}");
}

/// A followed file: what was there before the first start is skipped, lines appended are
/// read, a rotation is followed (the old file's last lines first), the position survives a
/// restart (what was written meanwhile is read); standard input is read to its end.
#[test]
fn files_are_followed_through_rotation_and_restarts() {
    let dir = setup(RULES, "");
    let log = dir.path().join("app.jsonl");
    std::fs::write(
        &log,
        "{\"metric\":\"hit\",\"labels\":{\"i\":\"before-start\"},\"value\":1}\n",
    )
    .unwrap();
    let toml = format!("{FAST}\n[[file]]\npath = \"app.jsonl\"\n");
    std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
    let append = |i: usize| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .unwrap();
        writeln!(
            f,
            "{{\"metric\":\"hit\",\"labels\":{{\"i\":\"{i}\"}},\"value\":1}}"
        )
        .unwrap();
    };
    let total = |d: &Daemon, n: f64| {
        d.wait_for("/api/v1/alerts?rule=demo.total", move |v| {
            v["alerts"][0]["value"].as_f64() == Some(n)
        });
    };
    let d = Daemon::start(dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..3 {
        append(i);
    }
    // What was there before the first start is not read; what came after is.
    total(&d, 3.0);
    // Rotation: the old file gets one more line, then is renamed; the new one starts.
    append(3);
    std::fs::rename(&log, dir.path().join("app.jsonl.1")).unwrap();
    append(4);
    total(&d, 5.0);
    drop(d);
    // Written while stopped: read at the restart, from where it stopped.
    append(5);
    append(6);
    let d = Daemon::start(dir.path(), &[]);
    total(&d, 7.0);
    drop(d);
    // Standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--stdin",
            "--format",
            "json",
        ])
        .arg("--config")
        .arg(dir.path().join("vigil.toml"))
        .arg("--rules")
        .arg(dir.path().join("rules"))
        .arg("--data-dir")
        .arg(dir.path().join("data2"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    for i in 0..4 {
        writeln!(
            input,
            "{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"in{i}\"}},\"value\":99}}"
        )
        .unwrap();
    }
    drop(input);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, b) = http(&addr, "GET", "/api/v1/alerts?rule=demo.cpu_hot", &[], b"");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        if v["alerts"].as_array().is_some_and(|a| a.len() == 4) {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Editing a rules file reloads it (debounced); a broken edit keeps the old rules.
/// A list read from a file (a threat feed kept outside the rules, here in its own folder)
/// follows the file: a new version, written aside and renamed over it as feed downloaders do,
/// is matched against without recompiling the rules (their counts and pending alerts carry
/// on), and a malformed or missing one is refused with the reason while the previous contents
/// keep matching.
#[test]
fn a_list_file_is_followed_and_a_bad_one_keeps_the_previous_contents() {
    let dir = setup(
        "package demo\n\nlist blocked: cidr = file(\"../feeds/blocked.txt\")\n\n\
         rule bad_peer {\n  severity high\n  \
         on event where event.type == \"connect\" and event.src_ip in cidr blocked\n}\n",
        FAST,
    );
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    let feed = feeds.join("blocked.txt");
    std::fs::write(&feed, "# feed v1\n203.0.113.0/24\n").unwrap();
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "t0ken")]);
    let matches = |d: &Daemon| -> u64 {
        let (_, v) = d.get("/api/v1/rules");
        v["rules"][0]["count"].as_u64().unwrap()
    };
    let connect =
        |ip: &str| format!("{{\"event\":{{\"type\":\"connect\",\"src_ip\":\"{ip}\"}}}}\n");
    let (s, a) = d.ingest(&(connect("203.0.113.9") + &connect("198.51.100.7")));
    assert_eq!((s, a["events"].as_u64()), (200, Some(2)), "{a}");
    assert_eq!(matches(&d), 1);
    let (_, v) = d.get("/api/v1/rules");
    assert_eq!(v["lists"][0]["name"], "demo.blocked", "{v}");
    assert_eq!(v["lists"][0]["entries"], 1, "{v}");
    // Version 2 adds a network: written aside, renamed over the feed.
    std::thread::sleep(Duration::from_millis(300));
    let tmp = feeds.join(".blocked.txt.tmp");
    std::fs::write(&tmp, "# feed v2\n203.0.113.0/24\n198.51.100.0/24\n").unwrap();
    std::fs::rename(&tmp, &feed).unwrap();
    d.wait_for("/api/v1/rules", |v| v["lists"][0]["entries"] == 2);
    d.ingest(&connect("198.51.100.7"));
    assert_eq!(matches(&d), 2, "v2 matches; the rule was not recompiled");
    let (_, v) = d.get("/api/v1/rules");
    assert_eq!(v["lists"][0]["last_read"]["ok"], true, "{v}");
    assert!(
        v["reload"]["at"].is_null(),
        "the rules were not reloaded: {v}"
    );
    // A malformed version: refused, named, counted; v2 keeps matching.
    std::fs::write(&feed, "203.0.113.0/24\n198.51.100.0/33\n").unwrap();
    let v = d.wait_for("/api/v1/rules", |v| {
        v["lists"][0]["last_read"]["failures"] == 1
    });
    let why = v["lists"][0]["last_read"]["error"].as_str().unwrap();
    assert!(
        why.contains("198.51.100.0/33") && why.contains("line 2"),
        "{why}"
    );
    d.ingest(&connect("198.51.100.8"));
    assert_eq!(matches(&d), 3);
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_list_reloads_total{result=\"failed\"} 1")
            && m.contains("vigil_list_reloads_total{result=\"ok\"} 1")
            && !m.contains("vigil_reloads_total{"),
        "{m}"
    );
    // A missing feed is refused the same way.
    std::fs::remove_file(&feed).unwrap();
    let v = d.wait_for("/api/v1/rules", |v| {
        v["lists"][0]["last_read"]["failures"] == 2
    });
    let why = v["lists"][0]["last_read"]["error"].as_str().unwrap();
    assert!(why.contains("V0120"), "{why}");
    assert_eq!(v["lists"][0]["entries"], 2, "{v}");
    // The feed restored; then a full reload builds the list from the file like the rest.
    std::fs::write(&feed, "198.51.100.0/24\n").unwrap();
    d.wait_for("/api/v1/rules", |v| v["lists"][0]["entries"] == 1);
    let (s, _) = d.req(
        "POST",
        "/api/v1/reload",
        &[("Authorization", "Bearer t0ken")],
        b"",
    );
    assert_eq!(s, 200);
    let (_, v) = d.get("/api/v1/rules");
    assert_eq!(v["lists"][0]["entries"], 1, "{v}");
    assert!(
        v["lists"][0]["last_read"].is_null(),
        "read with the rules: {v}"
    );
    d.ingest(&(connect("198.51.100.9") + &connect("203.0.113.9")));
    assert_eq!(matches(&d), 1, "a full reload starts the counts again");
}

/// A list file whose entries are compiled into a rule (spread into another list) reloads
/// the rules when it changes.
#[test]
fn a_list_compiled_into_the_rules_reloads_them() {
    let dir = setup(
        "package demo\n\nlist admins = file(\"../admins.txt\")\n\
         list everyone = [...admins, \"guest\"]\n\n\
         rule known_user {\n  severity info\n  \
         on event where event.user in everyone\n}\n",
        FAST,
    );
    std::fs::write(dir.path().join("admins.txt"), "root\n").unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let user = |u: &str| format!("{{\"event\":{{\"user\":\"{u}\"}}}}\n");
    d.ingest(&(user("root") + &user("alice")));
    let count = |d: &Daemon| {
        d.get("/api/v1/rules").1["rules"][0]["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(&d), 1);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.path().join("admins.txt"), "root\nalice\n").unwrap();
    d.wait_for("/api/v1/rules", |v| v["reload"]["at"].is_string());
    d.ingest(&user("alice"));
    assert_eq!(
        count(&d),
        1,
        "counts start again at a reload; alice matches"
    );
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(m.contains("vigil_reloads_total{result=\"ok\"} 1"), "{m}");
}

#[test]
fn a_changed_rules_file_is_reloaded() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start(dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        dir.path().join("rules/r.rules"),
        format!("{RULES}\nrule broken {{ when cpu > }}\n"),
    )
    .unwrap();
    let v = d.wait_for("/api/v1/rules", |v| v["reload"]["failures"] == 1);
    assert_eq!(v["rules"].as_array().unwrap().len(), 3, "{v}");
    std::fs::write(
        dir.path().join("rules/r.rules"),
        format!("{RULES}\nrule mem_hot {{\n  severity info\n  when mem > 90\n}}\n"),
    )
    .unwrap();
    // (The reload's status is written just after the new rules are swapped in.)
    d.wait_for("/api/v1/rules", |v| {
        v["rules"].as_array().is_some_and(|r| r.len() == 4) && v["reload"]["ok"] == true
    });
}

/// Limits: labels per sample (a refused line), records per second per source (429 with
/// `Retry-After`, nothing of the request taken, counted).
#[test]
fn labels_and_rates_are_limited() {
    let dir = setup(
        RULES,
        &format!("{FAST}[limits]\nmax_labels = 3\nmax_records_per_second = 10\n"),
    );
    let d = Daemon::start(dir.path(), &[]);
    let (s, v) = d.ingest(
        "{\"metric\":\"cpu\",\"labels\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"},\"value\":1}\n{\"metric\":\"cpu\",\"labels\":{\"a\":\"1\"},\"value\":1}\n",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["refused"][0]["line"], 1, "{v}");
    assert!(
        v["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("4 labels"),
        "{v}"
    );
    let body = "{\"metric\":\"cpu\",\"value\":1}\n".repeat(9);
    assert_eq!(d.ingest(&body).0, 200, "a second's worth at once");
    let (s, b) = d.req("POST", "/api/v1/ingest", &[], body.as_bytes());
    assert_eq!(s, 429, "{b}");
    assert!(b.contains("max_records_per_second"), "{b}");
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_ingest_refused_total{reason=\"rate_limited\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("vigil_ingest_refused_total{reason=\"too_many_labels\"} 1"),
        "{m}"
    );
    // Other sources have their own buckets.
    let (s, b) = d.req("POST", "/write", &[], b"cpu value=1\n");
    assert_eq!(s, 204, "{b}");
}

/// `log_format = "json"`: every stderr line is a JSON object; outside text inside stays data.
#[test]
fn logs_can_be_json_lines() {
    let port = free_port();
    let dir = setup(
        RULES,
        &format!("{FAST}log_format = \"json\"\n[[syslog]]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(dir.path().join("vigil.toml"))
        .arg("--rules")
        .arg(dir.path().join("rules"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening on "), "{first}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() >= 2, "{err}");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["fields"]["message"].is_string(), "{l}");
    }
    assert!(err.contains("syslog over udp"), "{err}");
}

/// A stdout nobody reads (a full pipe) blocks only the console's thread: the engine goes on
/// deciding and answering, and the alert changes that did not fit are counted as dropped.
#[test]
fn a_console_nobody_reads_does_not_stop_the_engine() {
    let dir = setup(RULES, FAST);
    let d = Daemon::start_unread(dir.path());
    // 20,000 hot series: 20,000 firing lines, far more than a pipe and the console's queue hold.
    for r in 0..20 {
        let body: String = (0..1000)
            .map(|i| {
                format!(
                    "{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"h{}\"}},\"value\":95}}\n",
                    r * 1000 + i
                )
            })
            .collect();
        assert_eq!(d.ingest(&body).0, 200);
    }
    // The engine evaluates and answers queries (it would be stuck printing otherwise).
    d.wait_for("/api/v1/alerts?rule=demo.cpu_hot", |v| {
        v["alerts"].as_array().is_some_and(|a| a.len() == 20_000)
    });
    let (status, m) = d.req("GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let dropped = m
        .lines()
        .find_map(|l| l.strip_prefix("vigil_console_dropped_total "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(dropped.is_some_and(|n| n > 0), "{dropped:?}");
    assert_eq!(d.ingest("{\"metric\":\"cpu\",\"value\":1}\n").0, 200);
}

/// A window that reads raw samples and reaches past a series' 65,536 of them sees only the
/// newest: the samples dropped while still in its reach are counted on `/metrics`.
#[test]
fn samples_a_window_lost_to_the_cap_are_counted() {
    let rules =
        "package long\n\nrule tail {\n  severity info\n  when quantile(0.9, lat, 1h) > 1000\n}\n";
    let toml = format!("{FAST}max_future = \"1h\"\n");
    let dir = setup(rules, &toml);
    let d = Daemon::start(dir.path(), &[]);
    // 70,000 samples 1 ms apart, a minute ahead of the clock: all within the window's hour.
    let start = wall_ms() + 60_000;
    for chunk in 0..7 {
        let body: String = (0..10_000)
            .map(|i| {
                let ts = start + chunk * 10_000 + i;
                format!("{{\"ts\":{ts},\"metric\":\"lat\",\"value\":{i}}}\n")
            })
            .collect();
        let (s, b) = d.ingest(&body);
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["accepted"], 10_000, "{b}");
    }
    let want = format!(
        "vigil_engine{{counter=\"samples_truncated\"}} {}",
        70_000 - 65_536
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, m) = d.req("GET", "/metrics", &[], b"");
        if m.contains(&want) {
            break;
        }
        assert!(Instant::now() < deadline, "no `{want}` in {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
