//! `vigil silence add|list|expire`: a running daemon's silences, through the same
//! Alertmanager API v2 routes amtool uses. Writes need `$VIGIL_API_TOKEN`.

use super::client::{answer, client, server, table};
use super::{AlertsFormat, SilenceArgs, SilenceCommand};
use serde_json::{Value, json};

/// `name=value`, `name!=value`, `name=~re`, `name!~re` (values may be quoted).
fn matcher(s: &str) -> Result<Value, String> {
    let at = s
        .find(['=', '!'])
        .filter(|&i| i > 0)
        .ok_or_else(|| format!("`{s}` is not a matcher (like alertname=cpu_hot)"))?;
    let (name, rest) = s.split_at(at);
    let (op, value) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
        .ok_or_else(|| format!("`{s}` is not a matcher"))?;
    let value = value.trim().trim_matches('"');
    Ok(json!({
        "name": name.trim(),
        "value": value,
        "isRegex": op.ends_with('~'),
        "isEqual": !op.starts_with('!'),
    }))
}

pub fn run(args: SilenceArgs) -> i32 {
    let base = server(&args.server);
    let token = std::env::var("VIGIL_API_TOKEN").ok();
    let auth = |r: reqwest::blocking::RequestBuilder| match &token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    match args.command {
        SilenceCommand::Add {
            by,
            comment,
            duration,
            until,
            start,
            matchers,
        } => {
            let ms = match matchers
                .iter()
                .map(|m| matcher(m))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let now = vigil_daemon::worker::now_ms();
            let starts = match &start {
                Some(s) => match vigil_vocab::time::rfc3339(s) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("error: --start: {e}");
                        return 2;
                    }
                },
                None => now,
            };
            let ends = match (&duration, &until) {
                (Some(d), _) => match vigil_vocab::duration::parse_ms(d) {
                    Some(ms) => starts + ms,
                    None => {
                        eprintln!("error: --duration `{d}` is not a duration (like 2h)");
                        return 2;
                    }
                },
                (None, Some(u)) => match vigil_vocab::time::rfc3339(u) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("error: --until: {e}");
                        return 2;
                    }
                },
                (None, None) => {
                    eprintln!("error: a silence needs an end: --duration or --until");
                    return 2;
                }
            };
            let body = json!({
                "matchers": ms,
                "startsAt": vigil_vocab::time::format_rfc3339(starts),
                "endsAt": vigil_vocab::time::format_rfc3339(ends),
                "createdBy": by,
                "comment": comment,
            });
            let url = format!("{base}/api/v2/silences");
            match answer(auth(client().post(&url).json(&body)).send(), &url) {
                Ok(v) => {
                    println!("{}", v["silenceID"].as_str().unwrap_or(""));
                    0
                }
                Err(code) => code,
            }
        }
        SilenceCommand::List { expired, format } => {
            let url = format!("{base}/api/v2/silences");
            let v = match answer(client().get(&url).send(), &url) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let all: Vec<Value> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| expired || s["status"]["state"] != "expired")
                .cloned()
                .collect();
            if format == AlertsFormat::Json {
                println!("{}", Value::Array(all));
                return 0;
            }
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|s| {
                    let ms: Vec<String> = s["matchers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            let op = match (m["isRegex"].as_bool(), m["isEqual"].as_bool()) {
                                (Some(true), Some(false)) => "!~",
                                (Some(true), _) => "=~",
                                (_, Some(false)) => "!=",
                                _ => "=",
                            };
                            format!(
                                "{}{op}\"{}\"",
                                m["name"].as_str().unwrap_or(""),
                                m["value"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    let t = |k: &str| s[k].as_str().unwrap_or("-").to_string();
                    [
                        t("id"),
                        s["status"]["state"].as_str().unwrap_or("-").to_string(),
                        ms.join(" "),
                        t("endsAt"),
                        t("createdBy"),
                        t("comment"),
                    ]
                    .map(|c| super::printable(&c).into_owned())
                })
                .collect();
            table(&["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"], &rows);
            0
        }
        SilenceCommand::Expire { ids } => {
            let mut code = 0;
            for id in ids {
                let url = format!("{base}/api/v2/silence/{id}");
                match answer(auth(client().delete(&url)).send(), &url) {
                    Ok(_) => println!("expired {id}"),
                    Err(c) => code = c,
                }
            }
            code
        }
    }
}
