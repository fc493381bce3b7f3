//! The audit log end to end: `vigil run` records an alert's whole life (pending, firing, the
//! notification sent, the acknowledgement, the resolution) in order, with silences, reloads
//! and the applications' own events; `vigil audit verify` passes on it, after `kill -9` too,
//! and names the entry someone changed; `search` and `prove` answer from it.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const RULES: &str = r#"package a

notifier hook = webhook(url = "http://RECEIVER/hook")

route {
  group_wait 1s
  default -> hook
}

rule cpu_hot {
  severity critical
  when cpu > 90 for 2s
  summary "cpu {{ value }}"
}
"#;

const CONFIG: &str = "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n[notify]\nallow_loopback = true\n[audit]\ncheckpoint_interval = \"1s\"\n";

fn vigil(args: &[&str], data: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("vigil runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn search(data: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["audit", "search", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out) = vigil(&args, data);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(out.lines().next().unwrap_or("[]")).unwrap_or_default()
}

#[test]
fn an_alerts_whole_life_is_recorded_and_verifies() {
    let rx = Receiver::start();
    let dir = setup(&RULES.replace("RECEIVER", &rx.addr), CONFIG);
    let data = dir.path().join("data");
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "t")]);
    let sample =
        |v: f64| format!("{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"a\"}},\"value\":{v}}}\n");
    d.ingest(&sample(95.0));
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        d.ingest(&sample(95.0));
    }
    rx.wait_for("the notification", |g| !g.is_empty());
    let v = d.wait_for("/api/v1/alerts", |v| v["alerts"][0]["state"] == "firing");
    let id = v["alerts"][0]["id"].as_str().unwrap_or("").to_string();
    let (s, body) = d.req(
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        &[("Authorization", "Bearer t")],
        br#"{"by": "alice", "comment": "on it"}"#,
    );
    assert_eq!(s, 200, "{body}");
    let silence = r#"{"matchers":[{"name":"host","value":"b","isRegex":false}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"bob","comment":"maintenance"}"#;
    assert_eq!(
        d.req(
            "POST",
            "/api/v2/silences",
            &[("Authorization", "Bearer t")],
            silence.as_bytes()
        )
        .0,
        200
    );
    let (s, body) = d.req(
        "POST",
        "/api/v1/audit",
        &[],
        br#"{"project_name": "fx-desk", "project_market": "FX", "event_type": "trade_opened", "event_description": "EURUSD long", "symbol": "EURUSD", "price": 1.0842}"#,
    );
    assert_eq!(s, 200, "{body}");
    d.ingest(&sample(10.0));
    std::thread::sleep(Duration::from_secs(3));
    // The dashboard's view: search and verification over the API.
    let (_, v) = d.get("/api/v1/audit?type=app&project=fx-desk");
    assert_eq!(v["entries"][0]["data"]["event_type"], "trade_opened", "{v}");
    let (_, v) = d.get("/api/v1/audit/verify");
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["report"]["entries"].as_u64().unwrap() >= 6, "{v}");
    assert_eq!(d.terminate(), Some(0));

    let (code, out) = vigil(&["audit", "report", "--format", "json"], &data);
    assert_eq!(code, 0, "{out}");
    let r: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(r["alerts_fired"]["by_severity"]["critical"], 1, "{r}");
    assert_eq!(r["alerts_fired"]["by_rule"]["a.cpu_hot"], 1, "{r}");
    assert_eq!(r["time_to_acknowledge_seconds"]["count"], 1, "{r}");
    assert!(
        r["notifications"]["hook"]["sent"].as_u64().unwrap() >= 1,
        "{r}"
    );
    assert_eq!(r["silences"][0]["by"], "bob", "{r}");
    let (code, out) = vigil(
        &["audit", "dump", "--since", "1h", "--by", "project"],
        &data,
    );
    assert_eq!(code, 0, "{out}");
    let dump: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(dump["fx-desk"][0]["event"]["symbol"], "EURUSD", "{dump}");

    let alerts = search(&data, &["--type", "alert", "--rule", "a.cpu_hot"]);
    let states: Vec<&str> = alerts
        .iter()
        .map(|e| e["data"]["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["pending", "firing", "resolved"], "{alerts:#?}");
    let all = search(&data, &[]);
    let kinds: Vec<&str> = all
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k}: {kinds:?}"))
    };
    assert!(pos("alert") < pos("notification"), "{kinds:?}");
    assert!(pos("notification") < pos("ack"), "{kinds:?}");
    let app = search(&data, &["--project", "fx-desk"]);
    assert_eq!(app.len(), 1);
    assert_eq!(app[0]["data"]["symbol"], "EURUSD");
    assert_eq!(
        search(&data, &["--type", "silence"])[0]["data"]["silence"]["created_by"],
        "bob"
    );

    let (code, out) = vigil(&["audit", "verify"], &data);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok"), "{out}");
    let (code, proof) = vigil(&["audit", "prove", "2"], &data);
    assert_eq!(code, 0, "{proof}");
    assert!(proof.contains("audit_path"), "{proof}");

    // Someone edits the acknowledgement: verify names it.
    let seg = std::fs::read_dir(data.join("audit"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().contains("segment-"))
        .unwrap();
    let text = std::fs::read_to_string(&seg).unwrap();
    let ack_seq = all[pos("ack")]["seq"].as_u64().unwrap();
    std::fs::write(&seg, text.replace("\"alice\"", "\"mallory\"")).unwrap();
    let (code, out) = vigil(&["audit", "verify"], &data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("modified at entry {ack_seq}")),
        "{out}"
    );
}

#[test]
fn kill_9_leaves_a_log_that_verifies() {
    let rx = Receiver::start();
    let dir = setup(&RULES.replace("RECEIVER", &rx.addr), CONFIG);
    let data = dir.path().join("data");
    let d = Daemon::start(dir.path(), &[]);
    for i in 0..50 {
        let v = if i % 2 == 0 { 95.0 } else { 10.0 };
        d.ingest(&format!(
            "{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"h{i}\"}},\"value\":{v}}}\n"
        ));
    }
    std::thread::sleep(Duration::from_secs(3));
    d.kill9();
    let d = Daemon::start(dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.terminate(), Some(0));
    let (code, out) = vigil(&["audit", "verify"], &data);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn retention_deletes_old_entries_and_the_log_still_verifies() {
    let rx = Receiver::start();
    let config = CONFIG.to_string() + "retention = \"2s\"\nsegment_bytes = 2000\n";
    let dir = setup(&RULES.replace("RECEIVER", &rx.addr), &config);
    let data = dir.path().join("data");
    let d = Daemon::start(dir.path(), &[]);
    for i in 0..40 {
        let v = if i % 2 == 0 { 95.0 } else { 10.0 };
        d.ingest(&format!(
            "{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"h{i}\"}},\"value\":{v}}}\n"
        ));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.terminate(), Some(0));
    let before = search(&data, &[]).len();
    std::thread::sleep(Duration::from_secs(2));
    // Retention runs as the daemon starts.
    let d = Daemon::start(dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.terminate(), Some(0));
    let kept = search(&data, &[]);
    assert!(kept.len() < before, "{} of {before} kept", kept.len());
    assert!(kept.iter().any(|e| e["kind"] == "retention"), "{kept:#?}");
    let (code, out) = vigil(&["audit", "verify"], &data);
    assert_eq!(code, 0, "{out}");
}
