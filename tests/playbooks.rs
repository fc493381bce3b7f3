//! `vigil playbook run --dry-run`: every step and every rendered request shown, nothing sent
//! (a loopback receiver sees no request); without `--dry-run` it refuses.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_dry_run_shows_every_step_and_sends_nothing() {
    let rx = Receiver::start();
    let rules = format!(
        r#"package p

notifier sec = webhook(url = "http://{addr}/notify")

playbook isolate {{
  step notify sec "isolating {{{{ alert.host }}}}"
  step http post "http://{addr}/isolate/{{{{ host }}}}" body {{ user = alert.user, reason = "value {{{{ value }}}}" }} timeout 5s retries 2
  step approve by "oncall"
  wait 10m unless acknowledged
  step notify sec "only for warnings" if severity == warning
  rate_limit 3 per 1h
}}

rule suspicious {{
  severity critical
  when cpu > 90
  summary "cpu"
  playbook isolate
}}
"#,
        addr = rx.addr
    );
    let dir = setup(&rules, "");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "playbook",
            "run",
            "isolate",
            "--dry-run",
            "--format",
            "json",
            "--rules",
        ])
        .arg(dir.path().join("rules"))
        .args([
            "--alert",
            r#"{"labels": {"host": "web-1", "user": "mallory", "severity": "critical"}, "value": 97}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "{v}");
    assert_eq!(steps[4]["step"], "skipped", "{v}");
    assert_eq!(steps[0]["message"], "isolating web-1");
    assert_eq!(steps[1]["url"], format!("http://{}/isolate/web-1", rx.addr));
    assert_eq!(steps[1]["body"]["user"], "mallory");
    assert_eq!(steps[1]["body"]["reason"], "value 97");
    assert_eq!(steps[1]["retries"], 2);
    assert_eq!(steps[2]["by"], "oncall");
    assert_eq!(steps[3]["unless_acknowledged"], true);
    assert_eq!(v["rate_limit"][0], 3);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        rx.received().is_empty(),
        "a dry run sent {:?}",
        rx.received()
    );

    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["playbook", "run", "isolate", "--rules"])
        .arg(dir.path().join("rules"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A firing alert starts its rule's playbook in the daemon: the HTTP step reaches a loopback
/// receiver with its rendered body, the approval gate holds the next step until approved over
/// the API, a shell command not allow-listed is skipped, and every step is in the audit log.
#[test]
fn the_daemon_runs_a_playbook_with_an_approval_gate() {
    let rx = Receiver::start();
    let rules = format!(
        r#"package p

playbook isolate {{
  step http post "http://{addr}/isolate/{{{{ host }}}}" body {{ user = alert.user, reason = "cpu {{{{ value }}}}" }} timeout 5s retries 1
  step approve by "oncall"
  step http post "http://{addr}/ticket" body {{ host = alert.host }}
  wait 1s unless acknowledged
  step shell "rm -rf /tmp/nothing-here"
}}

rule suspicious {{
  severity critical
  when cpu > 90
  summary "cpu"
  playbook isolate
}}
"#,
        addr = rx.addr
    );
    let dir = setup(
        &rules,
        "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n[notify]\nallow_loopback = true\n",
    );
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "t")]);
    d.ingest(
        "{\"metric\":\"cpu\",\"labels\":{\"host\":\"web-1\",\"user\":\"mallory\"},\"value\":95}\n",
    );
    let got = rx.wait_for("the isolate request", |g| !g.is_empty());
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/isolate/web-1");
    assert_eq!(
        got[0].json(),
        serde_json::json!({"user": "mallory", "reason": "cpu 95"})
    );
    let runs = d.wait_for("/api/v1/playbooks", |v| {
        v["runs"][0]["state"] == "waiting_approval"
    });
    let id = runs["runs"][0]["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.received().len(), 1, "the gate holds the next step");
    // Approving needs the token and a name.
    let (s, _) = d.req(
        "POST",
        &format!("/api/v1/playbooks/{id}/approve"),
        &[],
        br#"{"by": "carol"}"#,
    );
    assert_eq!(s, 401);
    let (s, b) = d.req(
        "POST",
        &format!("/api/v1/playbooks/{id}/approve"),
        &[("Authorization", "Bearer t")],
        br#"{"by": "carol"}"#,
    );
    assert_eq!(s, 200, "{b}");
    let got = rx.wait_for("the ticket request", |g| g.len() >= 2);
    assert_eq!(got[1].path, "/ticket");
    assert_eq!(got[1].json(), serde_json::json!({"host": "web-1"}));
    let runs = d.wait_for("/api/v1/playbooks", |v| v["runs"][0]["state"] == "done");
    let log = runs["runs"][0]["log"].as_array().unwrap();
    let outcomes: Vec<&str> = log.iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes,
        ["done", "done", "done", "done", "skipped"],
        "{runs}"
    );
    assert!(log[1]["detail"].as_str().unwrap().contains("carol"));
    let (_, a) = d.get("/api/v1/audit?type=playbook");
    let events: Vec<&str> = a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(events.first(), Some(&"started"), "{a}");
    assert_eq!(events.last(), Some(&"done"), "{a}");
    assert_eq!(events.iter().filter(|e| **e == "step").count(), 5);
}

/// `kill -9` during an HTTP step: after the restart the run resumes after it, and that step
/// is not sent again (it is not idempotent); `vigil playbook list` shows the run. A second
/// alert past the rate limit starts no run.
#[test]
fn a_run_resumes_after_kill_9_without_repeating_a_step() {
    let rx = Receiver::start();
    rx.answer(Answer::Hang(Duration::from_secs(20)));
    let rules = format!(
        r#"package p

playbook respond {{
  step http post "http://{addr}/first" body {{ host = alert.host }} timeout 30s
  step http post "http://{addr}/after" body {{ host = alert.host }}
  rate_limit 1 per 1h
}}

rule suspicious {{
  severity critical
  when cpu > 90
  summary "cpu"
  playbook respond
}}
"#,
        addr = rx.addr
    );
    let dir = setup(
        &rules,
        "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n[notify]\nallow_loopback = true\n",
    );
    let d = Daemon::start(dir.path(), &[]);
    d.ingest("{\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":95}\n");
    rx.wait_for("the first step", |g| !g.is_empty());
    d.kill9();
    let d = Daemon::start(dir.path(), &[]);
    let got = rx.wait_for("the step after", |g| g.iter().any(|r| r.path == "/after"));
    assert_eq!(
        got.iter().filter(|r| r.path == "/first").count(),
        1,
        "{got:#?}"
    );
    let runs = d.wait_for("/api/v1/playbooks", |v| v["runs"][0]["state"] == "done");
    assert_eq!(
        runs["runs"][0]["log"][0]["outcome"], "interrupted",
        "{runs}"
    );
    // Another host fires: the playbook's rate limit (1 per hour) holds it back.
    d.ingest("{\"metric\":\"cpu\",\"labels\":{\"host\":\"b\"},\"value\":95}\n");
    let runs = d.wait_for("/api/v1/playbooks", |v| {
        v["runs"].as_array().is_some_and(|r| r.len() == 2)
    });
    assert_eq!(runs["runs"][0]["state"], "rate_limited", "{runs}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["playbook", "list", "--server"])
        .arg(format!("http://{}", d.addr))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("respond") && text.contains("rate_limited"),
        "{text}"
    );
}

/// The shipped containment playbook (`rules/security/response.rules`), its endpoints
/// overridden as a user would: a shell in a container isolates it, collects evidence, tells
/// security and opens a ticket, four requests with the alert's container.
#[test]
fn the_shipped_containment_playbook_runs_against_overridden_endpoints() {
    let rx = Receiver::start();
    let dir = setup(
        &format!(
            "package security\n\noverride const security.response_url = \"http://{0}/soar\"\noverride const security.ticket_url = \"http://{0}/tickets\"\n",
            rx.addr
        ),
        "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n[notify]\nallow_loopback = true\n",
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["containers.rules", "response.rules"] {
        std::fs::copy(
            root.join("rules/security").join(f),
            dir.path().join("rules").join(f),
        )
        .unwrap();
    }
    let d = Daemon::start(dir.path(), &[]);
    let (s, b) = d.ingest(
        "{\"event\":{\"type\":\"spawn\",\"container\":{\"id\":\"c9\",\"image\":\"nginx:1\"},\"proc\":{\"name\":\"sh\"}}}\n",
    );
    assert_eq!(s, 200, "{b}");
    let got = rx.wait_for("the four requests", |g| g.len() >= 4);
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/soar/isolate",
            "/soar/evidence",
            "/soar/notify",
            "/tickets"
        ]
    );
    assert_eq!(got[0].json()["container"], "c9");
    assert_eq!(got[0].json()["rule"], "security.shell_in_container");
    assert_eq!(got[2].json()["summary"], "shell sh in container nginx:1");
    assert_eq!(
        got[3].json()["title"],
        "container c9 isolated after shell_in_container"
    );
    assert_eq!(got[3].json()["severity"], "critical");
    d.wait_for("/api/v1/playbooks", |v| v["runs"][0]["state"] == "done");
}
