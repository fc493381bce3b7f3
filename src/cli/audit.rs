//! `vigil audit verify|search|prove`: the daemon's audit log read from its data directory
//! (`docs/api.md`, "Audit log").

use super::client::table;
use super::{AlertsFormat, AuditArgs, AuditCommand, outln};
use serde_json::Value;
use vigil_audit::search::Filter;

/// `--since`/`--until`: RFC 3339, or a duration back from now.
fn window(
    since: &Option<String>,
    until: &Option<String>,
) -> Result<(Option<i64>, Option<i64>), String> {
    let now = vigil_daemon::worker::now_ms();
    let when = |s: &Option<String>, what: &str| {
        s.as_deref()
            .map(|t| vigil_vocab::time::at_or_ago(t, now).map_err(|e| format!("--{what}: {e}")))
            .transpose()
    };
    Ok((when(since, "since")?, when(until, "until")?))
}

/// The report as text.
fn print_report(r: &Value) {
    let p = |v: &Value| super::printable(&v.to_string()).into_owned();
    outln!("entries: {}", r["entries"]);
    outln!(
        "alerts fired by severity: {}",
        p(&r["alerts_fired"]["by_severity"])
    );
    outln!("alerts fired by rule: {}", p(&r["alerts_fired"]["by_rule"]));
    let t = &r["time_to_acknowledge_seconds"];
    outln!(
        "acknowledged: {} (median {} s, longest {} s)",
        t["count"],
        t["median"],
        t["max"]
    );
    outln!("notifications by notifier: {}", p(&r["notifications"]));
    for s in r["silences"].as_array().into_iter().flatten() {
        outln!(
            "silence {} {} by {}: {}",
            p(&s["action"]),
            p(&s["id"]),
            p(&s["by"]),
            p(&s["comment"])
        );
    }
    outln!(
        "reloads: {} ({} failed)",
        r["reloads"]["total"],
        r["reloads"]["failed"]
    );
}

pub fn run(args: AuditArgs) -> i32 {
    let dir = args.data_dir.join("audit");
    if !dir.is_dir() {
        eprintln!("error: no audit log in {}", args.data_dir.display());
        return 2;
    }
    let hmac = std::env::var("VIGIL_AUDIT_HMAC_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(String::into_bytes);
    match args.command {
        AuditCommand::Verify { key, format } => {
            let key = match key {
                Some(k) if k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()) => Some(k),
                Some(path) => match std::fs::read_to_string(&path) {
                    Ok(k) => Some(k.trim().to_string()),
                    Err(e) => {
                        eprintln!("error: --key {path}: {e}");
                        return 2;
                    }
                },
                None => std::fs::read_to_string(dir.join("signing.pub"))
                    .ok()
                    .map(|k| k.trim().to_string()),
            };
            let report = match vigil_audit::verify::verify(&dir, key.as_deref(), hmac.as_deref()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            if format == AlertsFormat::Json {
                outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                outln!(
                    "{} entries, {} of {} checkpoints verified{}",
                    report.entries,
                    report.checkpoints_verified,
                    report.checkpoints,
                    if report.torn_bytes > 0 {
                        format!(
                            "; an incomplete last entry ({} bytes, a torn append) is not counted",
                            report.torn_bytes
                        )
                    } else {
                        String::new()
                    }
                );
                for p in &report.problems {
                    outln!(
                        "{} at entry {}: {}",
                        p.kind,
                        p.position,
                        super::printable(&p.detail)
                    );
                }
                if report.ok() {
                    outln!("ok");
                }
            }
            i32::from(!report.ok())
        }
        AuditCommand::Search {
            since,
            until,
            kind,
            rule,
            project,
            text,
            format,
        } => {
            let (since, until) = match window(&since, &until) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let f = Filter {
                since,
                until,
                kind,
                rule,
                project,
                text,
            };
            let hits = match vigil_audit::search::search(&dir, &f, usize::MAX) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            if format == AlertsFormat::Json {
                outln!("{}", serde_json::to_string(&hits).unwrap_or_default());
                return 0;
            }
            let rows: Vec<[String; 4]> = hits
                .iter()
                .map(|e| {
                    [
                        e.seq.to_string(),
                        vigil_vocab::time::format_rfc3339(e.ts),
                        e.kind.clone(),
                        super::printable(&e.data.to_string()).into_owned(),
                    ]
                })
                .collect();
            table(&["SEQ", "TIME", "KIND", "DATA"], &rows);
            0
        }
        AuditCommand::Report {
            since,
            until,
            format,
        } => {
            let entries = match window(&since, &until).and_then(|(since, until)| {
                let f = Filter {
                    since,
                    until,
                    ..Filter::default()
                };
                vigil_audit::search::search(&dir, &f, usize::MAX)
            }) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let id = |d: &Value| {
                let labels: vigil_vocab::LabelSet =
                    serde_json::from_value(d["labels"].clone()).unwrap_or_default();
                vigil_daemon::core::alert_id(d["rule"].as_str().unwrap_or(""), &labels)
            };
            let r = vigil_audit::search::report(&entries, &id);
            if format == AlertsFormat::Json {
                outln!("{r}");
            } else {
                print_report(&r);
            }
            0
        }
        AuditCommand::Dump { since, until, by } => {
            if by != "project" {
                eprintln!("error: --by {by}: only `project`");
                return 2;
            }
            let f = match window(&since, &until) {
                Ok((since, until)) => Filter {
                    since,
                    until,
                    kind: Some("app".into()),
                    ..Filter::default()
                },
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            match vigil_audit::search::search(&dir, &f, usize::MAX) {
                Ok(entries) => {
                    outln!("{}", vigil_audit::search::by_project(&entries));
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
        AuditCommand::Consistency { old, new } => {
            match vigil_audit::verify::consistency(&dir, old, new) {
                Ok(v) => {
                    outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
        AuditCommand::Prove { seq } => match vigil_audit::verify::prove(&dir, seq) {
            Ok(v) => {
                outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
    }
}
