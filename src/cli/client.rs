//! `vigil alerts`, `vigil ack` and `vigil notifications`: clients of a running daemon's API (`docs/api.md`). The
//! server is `--server`, else `$VIGIL_SERVER`, else the daemon's default address; the token of
//! state-changing routes comes from `$VIGIL_API_TOKEN` only.

use super::{AckArgs, AlertsArgs, AlertsFormat, NotificationsArgs};
use std::time::Duration;

pub(super) fn server(explicit: &Option<String>) -> String {
    explicit
        .clone()
        .or_else(|| std::env::var("VIGIL_SERVER").ok())
        .unwrap_or_else(|| "http://127.0.0.1:9097".into())
        .trim_end_matches('/')
        .to_string()
}

pub(super) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|_| reqwest::blocking::Client::new())
}

/// The answer's JSON, or the exit code after saying what went wrong.
pub(super) fn answer(
    r: reqwest::Result<reqwest::blocking::Response>,
    url: &str,
) -> Result<serde_json::Value, i32> {
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot reach the daemon at {url}: {e}");
            return Err(2);
        }
    };
    let status = r.status();
    let body: serde_json::Value = r.json().unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let why = body["error"].as_str().unwrap_or("no reason given");
        eprintln!("error: {url}: {status}: {}", super::printable(why));
        return Err(1);
    }
    Ok(body)
}

pub fn alerts(args: AlertsArgs) -> i32 {
    let base = server(&args.server);
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(s) = &args.state {
        query.push(("state", s.clone()));
    }
    if let Some(r) = &args.rule {
        query.push(("rule", r.clone()));
    }
    let url = format!("{base}/api/v1/alerts");
    let body = match answer(client().get(&url).query(&query).send(), &url) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
    if args.format == AlertsFormat::Json {
        println!("{}", serde_json::Value::Array(alerts));
        return 0;
    }
    let rows: Vec<[String; 7]> = alerts
        .iter()
        .map(|a| {
            let labels: vigil_vocab::LabelSet =
                serde_json::from_value(a["labels"].clone()).unwrap_or_default();
            let s = |k: &str| a[k].as_str().unwrap_or("-").to_string();
            [
                s("id"),
                s("state"),
                s("severity"),
                s("rule"),
                vigil_vocab::render_labels(&labels),
                a["value"]
                    .as_f64()
                    .map_or("-".into(), vigil_vocab::template::number),
                s("active_since"),
            ]
            .map(|c| super::printable(&c).into_owned())
        })
        .collect();
    table(
        &[
            "ID", "STATE", "SEVERITY", "RULE", "LABELS", "VALUE", "SINCE",
        ],
        &rows,
    );
    0
}

/// Rows under a header, columns padded to their widest cell.
pub(super) fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) {
    let head = head.map(String::from);
    let mut widths = head.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&head).chain(rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// `vigil notifications [--failed]`.
pub fn notifications(args: NotificationsArgs) -> i32 {
    let base = server(&args.server);
    let url = format!("{base}/api/v1/notifications");
    let q: &[(&str, &str)] = if args.failed {
        &[("failed", "true")]
    } else {
        &[]
    };
    let body = match answer(client().get(&url).query(q).send(), &url) {
        Ok(b) => b,
        Err(code) => return code,
    };
    if args.format == AlertsFormat::Json {
        println!("{body}");
        return 0;
    }
    let s = |v: &serde_json::Value, k: &str| match &v[k] {
        serde_json::Value::String(s) => super::printable(s).into_owned(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    if args.failed {
        let rows: Vec<[String; 6]> = body["failed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                [
                    s(n, "id"),
                    s(n, "notifier"),
                    s(n, "alerts"),
                    s(n, "attempts"),
                    s(n, "failed_at"),
                    s(n, "error"),
                ]
            })
            .collect();
        table(
            &["ID", "NOTIFIER", "ALERTS", "ATTEMPTS", "FAILED", "WHY"],
            &rows,
        );
        return 0;
    }
    let rows: Vec<[String; 6]> = body["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            [
                s(n, "id"),
                s(n, "notifier"),
                "pending".into(),
                s(n, "attempts"),
                s(n, "ts"),
                s(n, "error"),
            ]
        })
        .chain(body["recent"].as_array().into_iter().flatten().map(|n| {
            [
                s(n, "id"),
                s(n, "notifier"),
                s(n, "result"),
                s(n, "attempts"),
                s(n, "ts"),
                s(n, "error"),
            ]
        }))
        .collect();
    table(
        &["ID", "NOTIFIER", "RESULT", "ATTEMPTS", "AT", "ERROR"],
        &rows,
    );
    0
}

pub fn ack(args: AckArgs) -> i32 {
    let base = server(&args.server);
    let url = format!("{base}/api/v1/alerts/{}/ack", args.id);
    let mut req = client()
        .post(&url)
        .json(&serde_json::json!({ "by": args.by, "comment": args.comment }));
    if let Ok(t) = std::env::var("VIGIL_API_TOKEN") {
        req = req.bearer_auth(t);
    }
    match answer(req.send(), &url) {
        Ok(_) => {
            println!("acknowledged {}", args.id);
            0
        }
        Err(code) => code,
    }
}
