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
  annotations {{ runbook_url = "https://runbooks.example/cpu#{{{{ host }}}}" }}
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
    assert_eq!(
        a["annotations"]["runbook_url"],
        "https://runbooks.example/cpu#a"
    );
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
    // One receiver refuses, the other redirects (each answers its first request so).
    let rx = Receiver::start();
    rx.answer(Answer::Status(400, vec![]));
    let rx2 = Receiver::start();
    rx2.answer(Answer::Status(
        302,
        vec![("Location".into(), "http://169.254.169.254/".into())],
    ));
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
        rx.addr, rx2.addr
    );
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
    // Not retried: each receiver saw one request, and no request followed the redirect.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rx.received().len(), 1, "{:#?}", rx.received());
    assert_eq!(rx2.received().len(), 1, "{:#?}", rx2.received());
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

fn amtool_run(
    bin: &str,
    addr: &str,
    http_config: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let out = std::process::Command::new(bin)
        .arg(format!("--alertmanager.url=http://{addr}"))
        .arg(format!("--http.config.file={}", http_config.display()))
        .args(args)
        .output()
        .expect("amtool runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// amtool 0.25 pointed at Vigil queries its alerts and adds, queries and expires silences; a
/// silenced alert is not notified, and is once the silence is expired.
#[test]
fn amtool_manages_silences_and_sees_alerts() {
    let Some(amtool) = peer("amtool", "prometheus-alertmanager") else {
        return;
    };
    let rx = Receiver::start();
    let dir = setup(&rules(&rx.addr, ""), FAST);
    let http = dir.path().join("amtool-http.yml");
    std::fs::write(
        &http,
        "authorization:\n  type: Bearer\n  credentials: s3cret\n",
    )
    .unwrap();
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "s3cret")]);
    let (ok, id) = amtool_run(
        &amtool,
        &d.addr,
        &http,
        &[
            "silence",
            "add",
            "alertname=cpu_hot",
            "host=~a|b",
            "--author=alice",
            "--comment=maintenance",
            "--duration=1h",
        ],
    );
    assert!(ok, "{id}");
    let id = id
        .lines()
        .find(|l| l.len() == 36)
        .expect("an id")
        .to_string();
    d.ingest(&(sample("a", 95.0) + &sample("c", 99.0)));
    let got = rx.wait_for("c's notification", |g| !g.is_empty());
    assert_eq!(hosts(&got[0].json()), ["c firing"], "a is silenced");

    let (ok, q) = amtool_run(&amtool, &d.addr, &http, &["silence", "query", "-o", "json"]);
    assert!(ok, "{q}");
    let js = q.lines().find(|l| l.starts_with('[')).unwrap();
    let silences: Value = serde_json::from_str(js).unwrap();
    assert_eq!(silences[0]["id"], id.as_str());
    assert_eq!(silences[0]["createdBy"], "alice");
    assert_eq!(silences[0]["status"]["state"], "active");

    let (ok, alerts) = amtool_run(
        &amtool,
        &d.addr,
        &http,
        &["alert", "query", "-o", "json", "--silenced"],
    );
    assert!(ok, "{alerts}");
    let js = alerts.lines().find(|l| l.starts_with('[')).unwrap();
    let alerts: Value = serde_json::from_str(js).unwrap();
    let a = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["host"] == "a")
        .expect("the silenced alert is listed");
    assert_eq!(a["status"]["state"], "suppressed");
    assert_eq!(a["status"]["silencedBy"][0], id.as_str());

    let (ok, out) = amtool_run(&amtool, &d.addr, &http, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let got = rx.wait_for("a's notification once the silence ended", |g| g.len() >= 2);
    assert_eq!(hosts(&got[1].json()), ["a firing", "c firing"]);
    let (_, q) = amtool_run(
        &amtool,
        &d.addr,
        &http,
        &["silence", "query", "--expired", "-o", "json"],
    );
    assert!(q.contains("\"expired\""), "{q}");

    // Without the token, a write is refused.
    let none = dir.path().join("none.yml");
    std::fs::write(&none, "{}\n").unwrap();
    let (ok, out) = amtool_run(
        &amtool,
        &d.addr,
        &none,
        &[
            "silence",
            "add",
            "alertname=x",
            "--author=eve",
            "--comment=no",
            "--duration=1h",
        ],
    );
    assert!(!ok, "{out}");
}

/// Prometheus 2.42 with Vigil as its Alertmanager: its alerts arrive at
/// `POST /api/v2/alerts` and are routed to the webhook with Prometheus's own labels and
/// annotations.
#[test]
fn prometheus_sends_its_alerts_into_vigils_routing() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let rx = Receiver::start();
    let dir = setup(&rules(&rx.addr, ""), FAST);
    let d = Daemon::start(dir.path(), &[]);
    let port = free_port();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: PromUp\n        expr: up == 1\n        labels:\n          severity: warning\n        annotations:\n          summary: '{{ $labels.instance }} is up'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['{}']\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            dir.path().join("rules.yml").display(),
            d.addr
        ),
    )
    .unwrap();
    let _prom = Prometheus::start(&prometheus, dir.path(), port);
    let got = rx.wait_for("Prometheus's alert", |g| {
        g.iter()
            .any(|r| r.json()["groupLabels"]["alertname"] == "PromUp")
    });
    let n = got
        .iter()
        .map(Received::json)
        .find(|v| v["groupLabels"]["alertname"] == "PromUp")
        .unwrap();
    let a = &n["alerts"][0];
    assert_eq!(a["labels"]["job"], "self");
    assert_eq!(a["labels"]["severity"], "warning");
    assert_eq!(
        a["annotations"]["summary"],
        format!("127.0.0.1:{port} is up")
    );
    assert_eq!(a["status"], "firing");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{a}"
    );
}

/// Alertmanager 0.25 and Vigil, given the same alerts, silence and inhibition, notify the
/// same groups with the same alerts (times within the configured intervals).
#[test]
fn grouping_inhibition_and_silences_agree_with_alertmanager() {
    let Some(am) = peer("prometheus-alertmanager", "prometheus-alertmanager") else {
        return;
    };
    let rx_vigil = Receiver::start();
    let rx_am = Receiver::start();
    let vigil_rules = format!(
        r#"package n

notifier hook = webhook(url = "http://{}/hook")

route {{
  group_by [alertname]  group_wait 1s  group_interval 2s  repeat 1h
  default -> hook
}}

inhibit severity == warning when severity == critical equal [host]
"#,
        rx_vigil.addr
    );
    let dir = setup(&vigil_rules, FAST);
    let d = Daemon::start(dir.path(), &[("VIGIL_API_TOKEN", "t")]);
    let am_port = free_port();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{}/hook\n        send_resolved: true\ninhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n    target_matchers: ['severity=\"warning\"']\n    equal: [host]\n",
            rx_am.addr
        ),
    )
    .unwrap();
    let mut am_child = std::process::Command::new(&am)
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("alertmanager starts");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _am = Kill(&mut am_child);
    let am_addr = format!("127.0.0.1:{am_port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&am_addr).is_err()
        || http(&am_addr, "GET", "/-/ready", &[], b"").0 != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "alertmanager did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let post = |body: &str| {
        let (s1, b1) = http(
            &am_addr,
            "POST",
            "/api/v2/alerts",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let (s2, b2) = d.req(
            "POST",
            "/api/v2/alerts",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!((s1, s2), (200, 200), "{b1} / {b2}");
    };
    let silence = r#"{"matchers":[{"name":"host","value":"b","isRegex":false,"isEqual":true}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"alice","comment":"b is down for maintenance"}"#;
    assert_eq!(
        http(
            &am_addr,
            "POST",
            "/api/v2/silences",
            &[("Content-Type", "application/json")],
            silence.as_bytes()
        )
        .0,
        200
    );
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
    let alert = |name: &str, host: &str, severity: &str, ends: Option<&str>| {
        let ends = ends
            .map(|e| format!(",\"endsAt\":\"{e}\""))
            .unwrap_or_default();
        format!(
            r#"{{"labels":{{"alertname":"{name}","host":"{host}","severity":"{severity}"}},"annotations":{{"summary":"{name} on {host}"}}{ends}}}"#
        )
    };
    post(&format!(
        "[{},{},{},{}]",
        alert("disk", "a", "warning", None),
        alert("disk", "b", "warning", None),
        alert("node_down", "a", "critical", None),
        alert("cpu", "c", "warning", None)
    ));
    // Both send the first round (node_down and cpu; disk is all muted).
    for rx in [&rx_vigil, &rx_am] {
        rx.wait_for("the first round", |g| g.len() >= 2);
    }
    std::thread::sleep(Duration::from_secs(3));
    // node_down resolves: its group says so, and disk/a is no longer inhibited.
    let now = vigil_vocab_now();
    post(&format!(
        "[{}]",
        alert("node_down", "a", "critical", Some(&now))
    ));
    for rx in [&rx_vigil, &rx_am] {
        rx.wait_for("the second round", |g| g.len() >= 4);
    }
    std::thread::sleep(Duration::from_secs(5));
    let shape = |rx: &Receiver| -> Vec<String> {
        let mut all: Vec<String> = rx
            .received()
            .iter()
            .map(|r| {
                let v = r.json();
                let mut alerts: Vec<String> = v["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        format!(
                            "{}/{}/{}",
                            a["labels"]["alertname"].as_str().unwrap(),
                            a["labels"]["host"].as_str().unwrap(),
                            a["status"].as_str().unwrap()
                        )
                    })
                    .collect();
                alerts.sort();
                format!(
                    "{} {} [{}]",
                    v["groupLabels"],
                    v["status"],
                    alerts.join(" ")
                )
            })
            .collect();
        all.sort();
        all
    };
    let (ours, theirs) = (shape(&rx_vigil), shape(&rx_am));
    assert_eq!(ours, theirs, "Vigil and Alertmanager notified differently");
    assert_eq!(ours.len(), 4, "{ours:#?}");
}

/// Now as RFC 3339 (UTC).
fn vigil_vocab_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    vigil_vocab::time::format_rfc3339(ms)
}

/// Slack, PagerDuty, Teams, Telegram and Alertmanager payloads as their APIs take them, to
/// one receiver; secrets from the environment appear in no answer of the daemon.
#[test]
fn each_notifier_sends_its_services_payload() {
    let rx = Receiver::start();
    let r = &rx.addr;
    let rules = format!(
        r##"package n

notifier slack = slack(webhook = env("T_SLACK_URL"), channel = "#ops")
notifier pd    = pagerduty(routing_key = env("T_PD_KEY"), url = "http://{r}/pd")
notifier teams = teams(webhook = "http://{r}/teams")
notifier tg    = telegram(bot_token = env("T_TG_TOKEN"), chat_id = "42", api_url = "http://{r}/tg")
notifier am    = alertmanager(url = "http://{r}/am")

route {{
  group_by [alertname]  group_wait 1s  group_interval 2s  repeat 1h
  default -> slack, pd, teams, tg, am
}}

rule cpu_hot {{
  severity critical
  when cpu > 90
  summary "cpu {{{{ value }}}} on {{{{ host }}}}"
  description "<b>check</b> the box"
}}
"##
    );
    let dir = setup(&rules, FAST);
    let d = Daemon::start(
        dir.path(),
        &[
            ("T_SLACK_URL", &format!("http://{r}/slack/T000/SECRETSLACK")),
            ("T_PD_KEY", "SECRETPDKEY"),
            ("T_TG_TOKEN", "123:SECRETTG"),
        ],
    );
    d.ingest(&sample("a", 95.0));
    let got = rx.wait_for("five notifications", |g| g.len() >= 5);
    let by = |prefix: &str| -> Value {
        got.iter()
            .find(|x| x.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing at {prefix}: {got:#?}"))
            .json()
    };
    // Slack: a header, the alert's section (escaped), its labels.
    let slack = by("/slack/T000/SECRETSLACK");
    assert_eq!(slack["channel"], "#ops");
    assert_eq!(slack["text"], "[FIRING:1] cpu_hot");
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert_eq!(
        slack["blocks"][1]["text"]["text"],
        "*firing* · critical · cpu 95 on a\n&lt;b&gt;check&lt;/b&gt; the box"
    );
    assert!(
        slack["blocks"][2]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains("`host=a`")
    );
    // PagerDuty Events API v2.
    let pd = by("/pd");
    assert_eq!(pd["routing_key"], "SECRETPDKEY");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "critical");
    assert_eq!(pd["payload"]["summary"], "[FIRING:1] cpu_hot");
    assert_eq!(pd["payload"]["source"], "vigil");
    assert_eq!(pd["payload"]["custom_details"]["num_firing"], 1);
    let dedup = pd["dedup_key"].as_str().unwrap().to_string();
    // Teams: an Adaptive Card.
    let teams = by("/teams");
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][0]["text"], "[FIRING:1] cpu_hot");
    // Telegram: the token in the path, HTML escaped.
    let tg_req = got.iter().find(|x| x.path.starts_with("/tg")).unwrap();
    assert_eq!(tg_req.path, "/tg/bot123:SECRETTG/sendMessage");
    let tg = tg_req.json();
    assert_eq!(tg["chat_id"], "42");
    assert_eq!(tg["parse_mode"], "HTML");
    assert!(
        tg["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>[FIRING:1] cpu_hot</b>\nfiring"),
        "{tg}"
    );
    // Alertmanager API v2: the alerts themselves.
    let am_req = got.iter().find(|x| x.path.starts_with("/am")).unwrap();
    assert_eq!(am_req.path, "/am/api/v2/alerts");
    let am = am_req.json();
    assert_eq!(am[0]["labels"]["alertname"], "cpu_hot");
    assert_eq!(am[0]["annotations"]["summary"], "cpu 95 on a");

    // Resolved: PagerDuty resolves the same incident; Alertmanager gets the end.
    d.ingest(&sample("a", 10.0));
    let got = rx.wait_for("five resolutions", |g| g.len() >= 10);
    let pd2 = got
        .iter()
        .filter(|x| x.path == "/pd")
        .nth(1)
        .unwrap()
        .json();
    assert_eq!(pd2["event_action"], "resolve");
    assert_eq!(pd2["dedup_key"], dedup.as_str());
    let am2 = got
        .iter()
        .filter(|x| x.path.starts_with("/am"))
        .nth(1)
        .unwrap()
        .json();
    assert!(am2[0]["endsAt"].as_str().unwrap() <= vigil_vocab_now().as_str());

    // No secret in the daemon's answers.
    for path in [
        "/api/v1/notifications",
        "/api/v2/alerts",
        "/api/v1/rules",
        "/metrics",
    ] {
        let (_, body) = d.req("GET", path, &[], b"");
        for secret in ["SECRETSLACK", "SECRETPDKEY", "SECRETTG"] {
            assert!(!body.contains(secret), "{path} shows {secret}");
        }
    }
}

/// Email over SMTP to aiosmtpd (PyPI): plain text and HTML, the subject Alertmanager's
/// title; with `starttls = "required"` (the default) a server without STARTTLS is refused.
#[test]
fn email_reaches_an_smtp_server() {
    let python = match std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
    {
        Ok(s) if s.success() => "python3",
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("aiosmtpd is missing; .ci/run installs it from PyPI");
            }
            eprintln!("note: aiosmtpd is not installed; skipping");
            return;
        }
    };
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("smtp.out");
    let smtp = std::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _smtp = Kill(smtp);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rules = r#"package n

notifier mail   = email(to = ["ops@example.com"], smtp = env("T_SMTP_URL"), from = "vigil@example.com", starttls = "none")
notifier strict = email(to = ["ops@example.com"], smtp = env("T_SMTP_URL"), retries = 0)

route {
  group_wait 1s
  default -> mail, strict
}

rule cpu_hot {
  severity critical
  when cpu > 90
  summary "cpu {{ value }} on {{ host }}"
}
"#;
    let d2 = setup(rules, FAST);
    let d = Daemon::start(
        d2.path(),
        &[("T_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))],
    );
    d.ingest(&sample("a", 95.0));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.contains("END MESSAGE") {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no mail arrived: {t}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text.contains("Subject: [FIRING:1] cpu_hot"), "{text}");
    assert!(text.contains("From: vigil@example.com"), "{text}");
    assert!(text.contains("To: ops@example.com"), "{text}");
    assert!(text.contains("Content-Type: text/plain"), "{text}");
    assert!(text.contains("Content-Type: text/html"), "{text}");
    assert!(text.contains("cpu 95 on a"), "{text}");
    let dead = d.wait_for("/api/v1/notifications?failed=true", |v| {
        v["failed"].as_array().is_some_and(|f| !f.is_empty())
    });
    assert_eq!(dead["failed"][0]["notifier"], "strict", "{dead}");
    assert_eq!(
        text.matches("END MESSAGE").count(),
        1,
        "the strict notifier sent nothing in the clear"
    );
}

/// `vigil notify test` sends one sample notification through a notifier of the rules, with
/// the destinations a daemon configuration allows, and says what came of it.
#[test]
fn notify_test_sends_a_sample() {
    let rx = Receiver::start();
    let dir = setup(&rules(&rx.addr, ""), FAST);
    let run = |config: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["notify", "test", "hook", "--rules"])
            .arg(dir.path().join("rules"))
            .args(["--alert", r#"{"labels": {"alertname": "Probe", "host": "x"}, "annotations": {"summary": "trying the hook"}}"#]);
        if config {
            cmd.arg("--config").arg(dir.path().join("vigil.toml"));
        }
        cmd.output().unwrap()
    };
    // Without the configuration, loopback is refused.
    let out = run(false);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = run(true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rx.wait_for("the sample", |g| !g.is_empty());
    let v = got[0].json();
    assert_eq!(v["alerts"][0]["labels"]["alertname"], "Probe");
    assert_eq!(v["alerts"][0]["annotations"]["summary"], "trying the hook");
    assert_eq!(v["status"], "firing");
}
