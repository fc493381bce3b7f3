//! `vigil playbook run NAME --dry-run --rules PATH --alert JSON`: every step of a playbook as
//! it would run for an alert, requests rendered, nothing sent. `vigil playbook list` and
//! `vigil playbook approve ID`: a running daemon's runs.

use super::{AlertsFormat, PlaybookArgs, PlaybookCommand, check_or_report, outln};
use std::collections::BTreeMap;
use vigil_vocab::playbook::{Rendered, Subject, render_step};

pub fn run(args: PlaybookArgs) -> i32 {
    let (name, dry_run, rules, rules_root, alert, format) = match args.command {
        PlaybookCommand::Run {
            name,
            dry_run,
            rules,
            rules_root,
            alert,
            format,
        } => (name, dry_run, rules, rules_root, alert, format),
        PlaybookCommand::Approve { id, by, server } => return approve(&id, &by, &server),
        PlaybookCommand::List { server, format } => return list(&server, format),
    };
    if !dry_run {
        eprintln!("error: playbooks run in the daemon; here only `--dry-run` shows their steps");
        return 2;
    }
    #[derive(serde::Deserialize, Default)]
    struct Given {
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
        #[serde(default)]
        value: Option<f64>,
    }
    let given: Given = match serde_json::from_str(&alert) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: --alert is not {{\"labels\": {{..}}, \"annotations\": {{..}}}}: {e}");
            return 2;
        }
    };
    let checked = match check_or_report(&rules, rules_root, "nothing was shown") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let routing = vigil_compiler::lower::routing(&checked);
    let Some(plan) = routing.playbooks.get(&name) else {
        let known: Vec<&str> = routing.playbooks.keys().map(String::as_str).collect();
        eprintln!(
            "error: no playbook `{name}` in the rules (they declare: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return 2;
    };
    let subject = Subject {
        labels: given.labels,
        annotations: given.annotations,
        value: given.value.unwrap_or(f64::NAN),
    };
    let steps: Vec<Rendered> = plan
        .steps
        .iter()
        .map(|s| render_step(s, &subject))
        .collect();
    if format == AlertsFormat::Json {
        outln!(
            "{}",
            serde_json::json!({"playbook": name, "dry_run": true, "rate_limit": plan.rate_limit, "steps": steps})
        );
        return 0;
    }
    let p = super::printable;
    outln!("playbook {} (dry run: nothing is sent)", p(&name));
    for (i, s) in steps.iter().enumerate() {
        let line = match s {
            Rendered::Notify { notifier, message } => format!(
                "notify {notifier}{}",
                message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            Rendered::Http {
                method,
                url,
                body,
                timeout_seconds,
                retries,
            } => format!(
                "{method} {url} body {body} (timeout {timeout_seconds}s, {retries} retries)"
            ),
            Rendered::Approve { by } => format!("wait for approval by {by}"),
            Rendered::Shell {
                command,
                timeout_seconds,
            } => format!(
                "shell `{command}` (timeout {timeout_seconds}s; only if the daemon's configuration allows it)"
            ),
            Rendered::Skipped { reason } => format!("skipped: {reason}"),
            Rendered::Wait {
                seconds,
                unless_acknowledged,
            } => format!(
                "wait {}{}",
                vigil_vocab::template::duration(*seconds),
                if *unless_acknowledged {
                    " unless acknowledged"
                } else {
                    ""
                }
            ),
        };
        outln!("  step {}: {}", i + 1, p(&line));
    }
    if let Some((n, per)) = plan.rate_limit {
        outln!(
            "  at most {n} runs per {}",
            vigil_vocab::template::duration(per)
        );
    }
    0
}

/// `vigil playbook approve ID [--by NAME]`.
fn approve(id: &str, by: &str, server: &Option<String>) -> i32 {
    let base = super::client::server(server);
    let url = format!("{base}/api/v1/playbooks/{id}/approve");
    let mut req = super::client::client()
        .post(&url)
        .json(&serde_json::json!({ "by": by }));
    if let Ok(t) = std::env::var("VIGIL_API_TOKEN") {
        req = req.bearer_auth(t);
    }
    match super::client::answer(req.send(), &url) {
        Ok(_) => {
            outln!("approved {id}");
            0
        }
        Err(code) => code,
    }
}

/// `vigil playbooks`, `vigil playbook list`.
pub fn list(server: &Option<String>, format: AlertsFormat) -> i32 {
    let base = super::client::server(server);
    let url = format!("{base}/api/v1/playbooks");
    let v = match super::client::answer(super::client::client().get(&url).send(), &url) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if format == AlertsFormat::Json {
        outln!("{}", v["runs"]);
        return 0;
    }
    let rows: Vec<[String; 6]> = v["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let t = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            [
                t("id"),
                t("playbook"),
                t("rule"),
                t("state"),
                format!("{}", r["step"]),
                r["started_at"]
                    .as_i64()
                    .map_or("-".into(), vigil_vocab::time::format_rfc3339),
            ]
            .map(|c| super::printable(&c).into_owned())
        })
        .collect();
    super::client::table(
        &["ID", "PLAYBOOK", "RULE", "STATE", "STEPS DONE", "STARTED"],
        &rows,
    );
    0
}
