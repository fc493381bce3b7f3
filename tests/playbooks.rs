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
            r#"{"labels": {"host": "web-1", "user": "mallory"}, "value": 97}"#,
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
    assert_eq!(steps.len(), 4, "{v}");
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
