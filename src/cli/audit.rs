//! `vigil audit verify|search|prove`: the daemon's audit log read from its data directory
//! (`docs/api.md`, "Audit log").

use super::client::table;
use super::{AlertsFormat, AuditArgs, AuditCommand};
use serde_json::Value;

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
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!(
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
                    println!(
                        "{} at entry {}: {}",
                        p.kind,
                        p.position,
                        super::printable(&p.detail)
                    );
                }
                if report.ok() {
                    println!("ok");
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
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let when = |s: &Option<String>, what: &str| -> Result<Option<i64>, String> {
                match s {
                    None => Ok(None),
                    Some(t) => match vigil_vocab::duration::parse_ms(t) {
                        Some(ms) => Ok(Some(now - ms)),
                        None => vigil_vocab::time::rfc3339(t)
                            .map(Some)
                            .map_err(|e| format!("--{what}: {e}")),
                    },
                }
            };
            let (since, until) = match (when(&since, "since"), when(&until, "until")) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let (lines, _) = match vigil_audit::verify::read(&dir) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let hits: Vec<vigil_audit::Entry> = lines
                .into_iter()
                .filter_map(Result::ok)
                .map(|l| l.entry)
                .filter(|e| since.is_none_or(|s| e.ts >= s) && until.is_none_or(|u| e.ts <= u))
                .filter(|e| kind.as_ref().is_none_or(|k| &e.kind == k))
                .filter(|e| {
                    rule.as_ref()
                        .is_none_or(|r| e.data["rule"] == Value::String(r.clone()))
                })
                .filter(|e| {
                    project
                        .as_ref()
                        .is_none_or(|p| e.data["project_name"] == Value::String(p.clone()))
                })
                .filter(|e| {
                    text.as_ref().is_none_or(|t| {
                        String::from_utf8_lossy(&e.canonical()).contains(t.as_str())
                    })
                })
                .collect();
            if format == AlertsFormat::Json {
                println!("{}", serde_json::to_string(&hits).unwrap_or_default());
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
        AuditCommand::Prove { seq } => match vigil_audit::verify::prove(&dir, seq) {
            Ok(v) => {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
    }
}
