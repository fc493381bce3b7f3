//! Routing and notifiers end to end: `vigil run` with routes and notifiers in its rules,
//! real receivers on loopback (an HTTP receiver asserting exact payloads, aiosmtpd for
//! email), the outbox across `kill -9`, and Alertmanager's own clients and server as peers
//! (Prometheus 2.42 sending its alerts, amtool managing silences, Alertmanager 0.25 given the
//! same alerts as Vigil).

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const FAST: &str = "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n[notify]\nallow_loopback = true\nbackoff_base = \"100ms\"\nbackoff_cap = \"1s\"\n";

fn rules(receiver: &str, route: &str) -> String {
    format!(
        r#"package n

notifier hook = webhook(url = "http://{receiver}/hook")

route {{
  group_by [alertname]  group_wait 1s  group_interval 2s  repeat 1h
{route}
  default -> hook
}}

rule cpu_hot {{
  severity critical
  when cpu > 90
  summary "cpu {{{{ value }}}} on {{{{ host }}}}"
}}
"#
    )
}

fn sample(host: &str, v: f64) -> String {
    format!("{{\"metric\":\"cpu\",\"labels\":{{\"host\":\"{host}\"}},\"value\":{v}}}\n")
}

/// The alerts of a webhook payload as `host status` pairs.
fn hosts(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} {}",
                a["labels"]["host"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn firing_and_resolved_reach_a_webhook_as_alertmanager_sends_them() {
    let rx = Receiver::start();
    let dir = setup(&rules(&rx.addr, ""), FAST);
    let d = Daemon::start(dir.path(), &[]);
    let (s, _) = d.ingest(&(sample("a", 95.0) + &sample("b", 97.0)));
    assert_eq!(s, 200);
    let got = rx.wait_for("the firing notification", |g| !g.is_empty());
    let first = got[0].json();
    assert_eq!(got[0].path, "/hook");
    assert_eq!(first["version"], "4");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["receiver"], "hook");
    assert_eq!(first["groupLabels"]["alertname"], "cpu_hot");
    assert_eq!(first["commonLabels"]["severity"], "critical");
    assert_eq!(first["commonLabels"]["rule"], "n.cpu_hot");
    assert_eq!(
        hosts(&first),
        ["a firing", "b firing"],
        "one group, both alerts"
    );
    let a = &first["alerts"][0];
    assert_eq!(a["annotations"]["summary"], "cpu 95 on a");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    assert!(
        got[0]
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );

    // One host recovers: the next flush says so; the other keeps firing.
    d.ingest(&(sample("a", 10.0) + &sample("b", 97.0)));
    let got = rx.wait_for("the resolved notification", |g| g.len() >= 2);
    assert_eq!(hosts(&got[1].json()), ["a resolved", "b firing"]);
    // Nothing changes: nothing more is sent before `repeat`.
    std::thread::sleep(Duration::from_secs(5));
    d.ingest(&sample("b", 97.0));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.received().len(), 2, "{:#?}", rx.received());
    let (_, n) = d.get("/api/v1/notifications");
    assert_eq!(n["recent"][0]["result"], "sent", "{n}");
}

#[test]
fn a_receiver_down_then_back_gets_every_notification_once() {
    let rx = Receiver::start();
    for _ in 0..3 {
        rx.answer(Answer::Status(503, vec![]));
    }
    rx.answer(Answer::Status(
        429,
        vec![("Retry-After".into(), "1".into())],
    ));
    let dir = setup(&rules(&rx.addr, ""), FAST);
    let d = Daemon::start(dir.path(), &[]);
    d.ingest(&sample("a", 95.0));
    let got = rx.wait_for("a delivery after the failures", |g| {
        g.iter().any(|r| r.status == 200)
    });
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 503, 429, 200]);
    // The same notification each time.
    let bodies: std::collections::HashSet<&str> = got.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies.len(), 1);
    // Retry-After was honoured: a second at least between the 429 and the retry.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.received().len(), 5, "delivered once");
    let (_, m) = d.req("GET", "/metrics", &[], b"");
    assert!(
        m.contains("vigil_notifications_total{notifier=\"hook\",result=\"sent\"} 1"),
        "{m}"
    );
}

#[test]
fn refused_notifications_become_dead_letters() {
    let rx = Receiver::start();
    rx.answer(Answer::Status(400, vec![]));
    let rules = format!(
        r#"package n

notifier hook  = webhook(url = "http://{}/hook")
notifier meta  = webhook(url = "http://169.254.169.254/latest/meta-data")
notifier moved = webhook(url = "http://{}/moved")

route {{
  group_wait 1s
  match alertname == "cpu_hot" -> hook, meta, moved
}}

rule cpu_hot {{
  severity critical
  when cpu > 90
}}
"#,
        rx.addr, rx.addr
    );
    rx.answer(Answer::Status(
        302,
        vec![("Location".into(), "http://169.254.169.254/".into())],
    ));
    let dir = setup(&rules, FAST);
    let d = Daemon::start(dir.path(), &[]);
    d.ingest(&sample("a", 95.0));
    let dead = d.wait_for("/api/v1/notifications?failed=true", |v| {
        v["failed"].as_array().is_some_and(|f| f.len() == 3)
    });
    let why = |n: &str| -> String {
        dead["failed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["notifier"] == n)
            .map(|f| f["error"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert!(why("hook").contains("400"), "{dead}");
    assert!(why("meta").contains("link-local"), "{dead}");
    assert!(why("moved").contains("redirect"), "{dead}");
    // Not retried: the receiver saw one request each, and no request followed the redirect.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rx.received().len(), 2, "{:#?}", rx.received());
    // The CLI lists them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["notifications", "--failed", "--server"])
        .arg(format!("http://{}", d.addr))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("meta") && text.contains("link-local"),
        "{text}"
    );
}

#[test]
fn loopback_is_refused_unless_allowed() {
    let rx = Receiver::start();
    let dir = setup(
        &rules(&rx.addr, ""),
        "interval = \"1s\"\nlateness = \"0s\"\ntick = \"100ms\"\n",
    );
    let d = Daemon::start(dir.path(), &[]);
    d.ingest(&sample("a", 95.0));
    let dead = d.wait_for("/api/v1/notifications?failed=true", |v| {
        v["failed"].as_array().is_some_and(|f| !f.is_empty())
    });
    assert!(
        dead["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("notify.allow_loopback"),
        "{dead}"
    );
    assert!(rx.received().is_empty());
}

#[test]
fn a_notification_accepted_before_kill_9_is_delivered_after_the_restart() {
    let rx = Receiver::start();
    // The first attempt hangs past the kill.
    rx.answer(Answer::Hang(Duration::from_secs(30)));
    let dir = setup(&rules(&rx.addr, ""), FAST);
    let d = Daemon::start(dir.path(), &[]);
    d.ingest(&sample("a", 95.0));
    let got = rx.wait_for("the first attempt", |g| !g.is_empty());
    let id_body = got[0].body.clone();
    d.kill9();
    let d = Daemon::start(dir.path(), &[]);
    let got = rx.wait_for("the delivery after the restart", |g| {
        g.iter().any(|r| r.status == 200)
    });
    let delivered: Vec<&Received> = got.iter().filter(|r| r.status == 200).collect();
    assert_eq!(delivered.len(), 1, "{got:#?}");
    assert_eq!(delivered[0].body, id_body, "the same notification");
    // And routing's state came back: no second "first" notification for the same alert.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        rx.received().iter().filter(|r| r.status == 200).count(),
        1,
        "{:#?}",
        rx.received()
    );
    drop(d);
}
