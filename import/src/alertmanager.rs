//! `vigil import alertmanager`: an Alertmanager configuration as notifiers, one route tree,
//! inhibitions and calendars.
//!
//! Receivers become notifiers (one per integration; a receiver with several becomes several,
//! all named on the routes that used it). Secrets (API URLs, routing keys, tokens, SMTP
//! credentials) become `env("AM_...")` references: their values are never copied. A receiver
//! Vigil has no notifier for keeps its place in the tree with `console()` standing in, and the
//! report says so. Time intervals become calendars where they are weekday and clock ranges in
//! one zone.

use crate::output::{self, FileReport, Header, Item};
use crate::text;
use crate::yaml::{scalar, str_of as s};
use serde_norway::Value;
use std::collections::BTreeMap;

fn yaml(v: &Value) -> String {
    serde_norway::to_string(v).unwrap_or_default()
}

/// An environment variable name for a secret: `AM_<RECEIVER>_<FIELD>`.
fn env_name(parts: &[&str]) -> String {
    let joined: Vec<String> = parts
        .iter()
        .map(|p| text::ident(p).to_ascii_uppercase())
        .collect();
    format!("AM_{}", joined.join("_"))
}

/// Imports one configuration file.
pub fn import(source: &str, yaml_text: &str) -> Result<FileReport, String> {
    let doc: Value =
        serde_norway::from_str(yaml_text).map_err(|e| format!("{source}: not YAML: {e}"))?;
    let route = doc
        .get("route")
        .ok_or_else(|| format!("{source}: no `route` (not an Alertmanager configuration)"))?;
    let global = doc.get("global").cloned().unwrap_or(Value::Null);
    let mut items = Vec::new();
    if let Some(g) = global.as_mapping() {
        for (k, v) in g {
            let key = k.as_str().unwrap_or_default();
            if HANDLED_GLOBALS.contains(&key) {
                continue;
            }
            let why = match key {
                "resolve_timeout" => {
                    "`resolve_timeout` (Vigil's rules resolve their alerts themselves; alerts \
                     posted to its API without an end resolve after 5m)"
                }
                "http_config" => "HTTP client settings (proxies, TLS) for every receiver",
                _ => "a global setting Vigil has no counterpart for",
            };
            items.push(Item {
                name: format!("global.{key}"),
                original: format!("global:\n  {key}: {}", yaml(v).trim_end()),
                body: Err(why.to_string()),
                notes: Vec::new(),
            });
        }
    }
    for (k, v) in doc.as_mapping().into_iter().flatten() {
        let key = k.as_str().unwrap_or_default();
        if !TOP_LEVEL.contains(&key) {
            items.push(Item {
                name: key.to_string(),
                original: format!("{key}:\n{}", yaml(v)),
                body: Err(format!("`{key}` (no counterpart in Vigil's rules)")),
                notes: Vec::new(),
            });
        }
    }
    let mut calendars = Vec::new();
    for key in ["time_intervals", "mute_time_intervals"] {
        for ti in doc
            .get(key)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let name = s(ti, "name").unwrap_or_default().to_string();
            let body = calendar(ti);
            if body.is_ok() {
                calendars.push(name.clone());
            }
            items.push(Item {
                name: format!("time interval {name}"),
                original: yaml(ti),
                body,
                notes: Vec::new(),
            });
        }
    }
    let mut targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in doc
        .get("receivers")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let name = s(r, "name").unwrap_or_default().to_string();
        let (body, names, notes) = receiver(r, &global);
        targets.insert(name.clone(), names);
        items.push(Item {
            name: format!("receiver {name}"),
            original: yaml(r),
            body: Ok(body),
            notes,
        });
    }
    let mut notes = Vec::new();
    let tree = route_tree(route, &targets, &calendars, &mut notes);
    items.push(Item {
        name: "route".into(),
        original: yaml(route),
        body: tree,
        notes,
    });
    for (i, rule) in doc
        .get("inhibit_rules")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .enumerate()
    {
        items.push(Item {
            name: format!("inhibit_rules[{i}]"),
            original: yaml(rule),
            body: inhibit(rule),
            notes: Vec::new(),
        });
    }
    if let Some(t) = doc.get("templates") {
        items.push(Item {
            name: "templates".into(),
            original: format!("templates:\n{}", yaml(t)),
            body: Err(
                "notification templates (Vigil's notifiers render their own payloads from \
                       each rule's summary, description and annotations)"
                    .into(),
            ),
            notes: Vec::new(),
        });
    }
    Ok(output::finish(
        Header {
            source: source.to_string(),
            tool: "alertmanager",
            package: crate::prometheus::package_name(source),
            preamble: String::new(),
            context: Vec::new(),
        },
        items,
    ))
}

/// Top-level keys translated (or reported item by item).
const TOP_LEVEL: &[&str] = &[
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "templates",
];

const HANDLED_GLOBALS: &[&str] = &[
    "smtp_smarthost",
    "smtp_from",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_auth_identity",
    "smtp_require_tls",
    "smtp_hello",
    "slack_api_url",
    "slack_api_url_file",
    "pagerduty_url",
    "telegram_api_url",
];

/// One receiver's notifiers: the text, their names, and what was left out.
fn receiver(r: &Value, global: &Value) -> (String, Vec<String>, Vec<String>) {
    let rname = s(r, "name").unwrap_or_default();
    let base = text::ident(rname);
    let mut out = String::new();
    let mut names = Vec::new();
    let mut notes = Vec::new();
    let mut configs: Vec<(&str, &Value)> = Vec::new();
    if let Some(m) = r.as_mapping() {
        for (k, v) in m {
            let Some(kind) = k.as_str().and_then(|k| k.strip_suffix("_configs")) else {
                continue;
            };
            for c in v.as_sequence().into_iter().flatten() {
                configs.push((kind, c));
            }
        }
    }
    if configs.is_empty() {
        notes.push(format!(
            "receiver `{rname}` has no integrations (Alertmanager drops what reaches it): \
             console() stands in"
        ));
        out.push_str(&format!("notifier {base} = console()\n"));
        names.push(base);
        return (out, names, notes);
    }
    let many = configs.len() > 1;
    for (i, (kind, c)) in configs.iter().enumerate() {
        let name = if many {
            format!("{base}__{kind}{}", i + 1)
        } else {
            base.clone()
        };
        let secret = |field: &str| format!("env(\"{}\")", env_name(&[rname, kind, field]));
        let mut settings: Vec<String> = Vec::new();
        let mut resolved_default = true;
        let mut known: Vec<&str> = vec!["send_resolved"];
        match *kind {
            "webhook" => {
                known.extend(["url", "url_file", "max_alerts"]);
                settings.push(match (s(c, "url"), s(c, "url_file")) {
                    (Some(u), _) => format!("url = {}", text::string(u)),
                    _ => format!("url = {}", secret("url")),
                });
                if let Some(n) = c.get("max_alerts").and_then(scalar).filter(|n| n != "0") {
                    settings.push(format!("max_alerts = {n}"));
                }
            }
            "slack" => {
                resolved_default = false;
                known.extend(["api_url", "api_url_file", "channel", "username"]);
                if c.get("api_url").is_none()
                    && c.get("api_url_file").is_none()
                    && global.get("slack_api_url").is_none()
                    && global.get("slack_api_url_file").is_none()
                {
                    notes.push(format!("receiver `{rname}`: slack without an API URL"));
                }
                settings.push(format!("webhook = {}", secret("api_url")));
                for k in ["channel", "username"] {
                    if let Some(v) = s(c, k) {
                        settings.push(format!("{k} = {}", text::string(v)));
                    }
                }
            }
            "pagerduty" => {
                known.extend([
                    "routing_key",
                    "routing_key_file",
                    "service_key",
                    "service_key_file",
                    "severity",
                    "url",
                ]);
                settings.push(format!("routing_key = {}", secret("routing_key")));
                if let Some(v) = s(c, "severity").filter(|v| !v.contains("{{")) {
                    settings.push(format!("severity = {}", text::string(v)));
                }
                if let Some(u) = s(c, "url").or_else(|| s(global, "pagerduty_url")) {
                    settings.push(format!("url = {}", text::string(u)));
                }
            }
            "email" => {
                resolved_default = false;
                known.extend([
                    "to",
                    "from",
                    "smarthost",
                    "auth_username",
                    "auth_password",
                    "auth_password_file",
                    "auth_identity",
                    "require_tls",
                    "hello",
                ]);
                let to: Vec<String> = s(c, "to")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(text::string)
                    .collect();
                settings.push(format!("to = [{}]", to.join(", ")));
                let host = s(c, "smarthost").or_else(|| s(global, "smtp_smarthost"));
                let creds = c.get("auth_username").is_some()
                    || c.get("auth_password").is_some()
                    || c.get("auth_password_file").is_some()
                    || global.get("smtp_auth_username").is_some()
                    || global.get("smtp_auth_password").is_some()
                    || global.get("smtp_auth_password_file").is_some();
                match (host, creds) {
                    (_, true) => {
                        settings.push(format!("smtp = {}", secret("smtp_url")));
                        out.push_str(&format!(
                            "# ${}: smtp://USER:PASSWORD@{} (the credentials stay out of files)\n",
                            env_name(&[rname, kind, "smtp_url"]),
                            host.unwrap_or("HOST:PORT")
                        ));
                    }
                    (Some(h), false) => {
                        settings.push(format!("smtp = {}", text::string(&format!("smtp://{h}"))))
                    }
                    (None, false) => {
                        notes.push(format!("receiver `{rname}`: email without a smarthost"));
                        settings.push(format!("smtp = {}", secret("smtp_url")));
                    }
                }
                if let Some(f) = s(c, "from").or_else(|| s(global, "smtp_from")) {
                    settings.push(format!("from = {}", text::string(f)));
                }
                let tls = c
                    .get("require_tls")
                    .or_else(|| global.get("smtp_require_tls"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if !tls {
                    settings.push("starttls = \"opportunistic\"".into());
                }
            }
            "telegram" => {
                known.extend(["bot_token", "bot_token_file", "chat_id", "api_url"]);
                settings.push(format!("bot_token = {}", secret("bot_token")));
                let chat = c.get("chat_id").and_then(scalar).unwrap_or_default();
                settings.push(format!("chat_id = {}", text::string(&chat)));
                if let Some(u) = s(c, "api_url").or_else(|| s(global, "telegram_api_url")) {
                    settings.push(format!("api_url = {}", text::string(u)));
                }
            }
            "msteams" => {
                known.extend(["webhook_url", "webhook_url_file"]);
                settings.push(format!("webhook = {}", secret("webhook_url")));
            }
            other => {
                notes.push(format!(
                    "receiver `{rname}`: {other} is not a Vigil notifier yet; console() stands in"
                ));
                out.push_str(&format!("notifier {name} = console()\n"));
                names.push(name);
                continue;
            }
        }
        let resolved = c
            .get("send_resolved")
            .and_then(Value::as_bool)
            .unwrap_or(resolved_default);
        if !resolved {
            settings.push("send_resolved = false".into());
        }
        if let Some(m) = c.as_mapping() {
            let left: Vec<&str> = m
                .keys()
                .filter_map(Value::as_str)
                .filter(|k| !known.contains(k))
                .collect();
            if !left.is_empty() {
                notes.push(format!(
                    "receiver `{rname}` ({kind}): left out {}",
                    left.join(", ")
                ));
            }
        }
        let kind = if *kind == "msteams" { "teams" } else { kind };
        out.push_str(&format!(
            "notifier {name} = {kind}({})\n",
            settings.join(", ")
        ));
        names.push(name);
    }
    (out, names, notes)
}

/// A route's matchers (`matchers`, `match`, `match_re`) as a Vigil condition; everything
/// matches an empty list.
fn condition(v: &Value, prefix: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for m in v
        .get(format!("{prefix}matchers").as_str())
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let m = m.as_str().ok_or("a matcher that is not a string")?;
        parts.push(matcher(m)?);
    }
    for (key, op) in [("match", "=="), ("match_re", "=~")] {
        let k = format!("{prefix}{key}");
        for (name, value) in v
            .get(k.as_str())
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            let value = scalar(value).unwrap_or_default();
            parts.push(label(name, op, &value)?);
        }
    }
    Ok(if parts.is_empty() {
        "alertname =~ \".*\"".to_string()
    } else {
        parts.join(" and ")
    })
}

fn label(name: &str, op: &str, value: &str) -> Result<String, String> {
    if !text::is_ident(name) {
        return Err(format!("the label name `{name}`"));
    }
    Ok(format!("{name} {op} {}", text::string(value)))
}

/// One matcher of Alertmanager's `matchers` syntax: `name="value"`, `name=~"re"`, `name!=v`.
fn matcher(m: &str) -> Result<String, String> {
    let m = m
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let ops = [("=~", "=~"), ("!~", "!~"), ("!=", "!="), ("=", "==")];
    for (am, vigil) in ops {
        if let Some(at) = m.find(am) {
            // The first operator character decides (`a=~b` is not `a` = `~b`).
            let first = m.find(['=', '!']).unwrap_or(at);
            if first != at {
                continue;
            }
            let name = m[..at].trim();
            let raw = m[at + am.len()..].trim();
            let value = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                Some(q) => unescape(q),
                None => raw.to_string(),
            };
            return label(name, vigil, &value);
        }
    }
    Err(format!("the matcher `{m}`"))
}

fn unescape(q: &str) -> String {
    let mut out = String::new();
    let mut it = q.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(c) => out.push(c),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn route_tree(
    root: &Value,
    targets: &BTreeMap<String, Vec<String>>,
    calendars: &[String],
    notes: &mut Vec<String>,
) -> Result<String, String> {
    let receiver = s(root, "receiver").ok_or("the root route has no receiver")?;
    let mut out = String::from("route {\n");
    settings(root, "  ", &mut out, notes)?;
    for child in root
        .get("routes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        route(child, receiver, targets, calendars, "  ", &mut out, notes)?;
    }
    out.push_str(&format!("  default -> {}\n", names(receiver, targets)?));
    out.push_str("}\n");
    Ok(out)
}

fn names(receiver: &str, targets: &BTreeMap<String, Vec<String>>) -> Result<String, String> {
    targets
        .get(receiver)
        .map(|n| n.join(", "))
        .ok_or_else(|| format!("the receiver `{receiver}` is not declared"))
}

/// `group_by`, `group_wait`, `group_interval`, `repeat` lines.
fn settings(r: &Value, ind: &str, out: &mut String, notes: &mut Vec<String>) -> Result<(), String> {
    if let Some(g) = r.get("group_by").and_then(Value::as_sequence) {
        let labels: Vec<&str> = g.iter().filter_map(Value::as_str).collect();
        if labels.contains(&"...") {
            notes.push("`group_by: [...]` (every label) left out: Vigil groups by names".into());
        } else {
            for l in &labels {
                if !text::is_ident(l) {
                    return Err(format!("the group_by label `{l}`"));
                }
            }
            out.push_str(&format!("{ind}group_by [{}]\n", labels.join(", ")));
        }
    }
    for (am, vigil) in [
        ("group_wait", "group_wait"),
        ("group_interval", "group_interval"),
        ("repeat_interval", "repeat"),
    ] {
        if let Some(d) = s(r, am) {
            let ms = text::prom_duration(d).ok_or_else(|| format!("`{am}: {d}`"))?;
            out.push_str(&format!("{ind}{vigil} {}\n", text::duration_ms(ms)));
        }
    }
    Ok(())
}

fn route(
    r: &Value,
    parent_receiver: &str,
    targets: &BTreeMap<String, Vec<String>>,
    calendars: &[String],
    ind: &str,
    out: &mut String,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let cond = condition(r, "")?;
    let mut when = String::new();
    for (key, word) in [
        ("active_time_intervals", "during"),
        ("mute_time_intervals", "muted during"),
    ] {
        let list: Vec<&str> = r
            .get(key)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match list.as_slice() {
            [] => {}
            [one] if calendars.iter().any(|c| c == one) => {
                when.push_str(&format!(" {word} {}", text::ident(one)))
            }
            _ => notes.push(format!(
                "`{key}: [{}]` left out (one calendar per route, translated ones only)",
                list.join(", ")
            )),
        }
    }
    let cont = if r.get("continue").and_then(Value::as_bool) == Some(true) {
        " continue"
    } else {
        ""
    };
    let own = s(r, "receiver");
    let receiver = own.unwrap_or(parent_receiver);
    let children: Vec<&Value> = r
        .get("routes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .collect();
    let mut inner = String::new();
    let deeper = format!("{ind}  ");
    settings(r, &deeper, &mut inner, notes)?;
    if children.is_empty() && inner.is_empty() {
        out.push_str(&format!(
            "{ind}match {cond}{when} -> {}{cont}\n",
            names(receiver, targets)?
        ));
        return Ok(());
    }
    out.push_str(&format!("{ind}match {cond}{when} {{\n{inner}"));
    for c in children {
        route(c, receiver, targets, calendars, &deeper, out, notes)?;
    }
    if own.is_some() || children_is_empty(r) {
        out.push_str(&format!(
            "{deeper}default -> {}\n",
            names(receiver, targets)?
        ));
    }
    out.push_str(&format!("{ind}}}{cont}\n"));
    Ok(())
}

fn children_is_empty(r: &Value) -> bool {
    r.get("routes")
        .and_then(Value::as_sequence)
        .is_none_or(|c| c.is_empty())
}

fn inhibit(r: &Value) -> Result<String, String> {
    let target = condition(r, "target_")?;
    let source = condition(r, "source_")?;
    let equal: Vec<&str> = r
        .get("equal")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let equal = if equal.is_empty() {
        String::new()
    } else {
        format!(" equal [{}]", equal.join(", "))
    };
    Ok(format!("inhibit {target} when {source}{equal}\n"))
}

/// A time interval as a calendar: weekday ranges times clock ranges, in one zone.
fn calendar(ti: &Value) -> Result<String, String> {
    let name = text::ident(s(ti, "name").unwrap_or_default());
    let mut zone: Option<String> = None;
    let mut sessions = Vec::new();
    for t in ti
        .get("time_intervals")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        for k in ["days_of_month", "months", "years"] {
            if t.get(k).is_some() {
                return Err(format!(
                    "a time interval with `{k}` (calendars have weekdays and clock times)"
                ));
            }
        }
        let loc = s(t, "location").unwrap_or("UTC").to_string();
        if zone.as_ref().is_some_and(|z| *z != loc) {
            return Err("time intervals in several zones (a calendar has one)".into());
        }
        zone = Some(loc);
        let mut days = Vec::new();
        for w in t
            .get("weekdays")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let w = w.as_str().unwrap_or_default();
            let (a, b) = w.split_once(':').unwrap_or((w, w));
            let (a, b) = (weekday(a)?, weekday(b)?);
            days.push(if a == b {
                a.to_string()
            } else {
                format!("{a}..{b}")
            });
        }
        if days.is_empty() {
            days.push("mon..sun".into());
        }
        let mut clocks = Vec::new();
        for c in t
            .get("times")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let (a, b) = (s(c, "start_time"), s(c, "end_time"));
            match (a, b) {
                (Some(a), Some(b)) => clocks.push(format!("{a}-{b}")),
                _ => return Err("a time range without start_time or end_time".into()),
            }
        }
        if clocks.is_empty() {
            clocks.push("00:00-24:00".into());
        }
        for d in &days {
            for c in &clocks {
                sessions.push(format!("{d} {c}"));
            }
        }
    }
    if sessions.is_empty() {
        return Err("a time interval with no ranges".into());
    }
    Ok(format!(
        "calendar {name} = sessions({}, {})\n",
        text::string(zone.as_deref().unwrap_or("UTC")),
        sessions.join(", ")
    ))
}

fn weekday(w: &str) -> Result<&'static str, String> {
    Ok(match w.trim().to_ascii_lowercase().as_str() {
        "monday" => "mon",
        "tuesday" => "tue",
        "wednesday" => "wed",
        "thursday" => "thu",
        "friday" => "fri",
        "saturday" => "sat",
        "sunday" => "sun",
        other => return Err(format!("the weekday `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_in_every_spelling() {
        assert_eq!(
            matcher(r#"service=~"foo1|foo2""#).unwrap(),
            r#"service =~ "foo1|foo2""#
        );
        assert_eq!(
            matcher("severity = critical").unwrap(),
            r#"severity == "critical""#
        );
        assert_eq!(matcher(r#"a!="x\"y""#).unwrap(), r#"a != "x\"y""#);
        assert_eq!(matcher(r#"b!~"z""#).unwrap(), r#"b !~ "z""#);
        assert!(matcher("nonsense").is_err());
    }

    #[test]
    fn time_intervals_become_calendars() {
        let ti: Value = serde_norway::from_str(
            "name: business-hours\ntime_intervals:\n  - weekdays: ['monday:friday']\n    times:\n      - {start_time: '09:00', end_time: '17:00'}\n    location: Europe/London\n",
        )
        .unwrap();
        assert_eq!(
            calendar(&ti).unwrap(),
            "calendar business_hours = sessions(\"Europe/London\", mon..fri 09:00-17:00)\n"
        );
        let months: Value =
            serde_norway::from_str("name: x\ntime_intervals:\n  - months: ['december']\n").unwrap();
        assert!(calendar(&months).unwrap_err().contains("months"));
    }

    #[test]
    fn a_whole_configuration_checks_with_its_secrets_in_the_environment() {
        let cfg = r#"
global:
  slack_api_url: https://hooks.slack.com/services/T0/B0/verysecret
route:
  receiver: ops
  group_by: [alertname]
  routes:
    - matchers: ['team="db"']
      receiver: db
      mute_time_intervals: [nights]
time_intervals:
  - name: nights
    time_intervals:
      - times: [{start_time: '22:00', end_time: '24:00'}]
receivers:
  - name: ops
    slack_configs: [{channel: '#ops'}]
  - name: db
    pagerduty_configs: [{routing_key: verysecret}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
"#;
        let r = import("am.yml", cfg).unwrap();
        assert!(!r.text.contains("verysecret"), "{}", r.text);
        assert!(
            r.text.contains(r#"env("AM_OPS_SLACK_API_URL")"#),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains(r#"match team == "db" muted during nights -> db"#),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("calendar nights = sessions(\"UTC\", mon..sun 22:00-24:00)")
        );
        assert!(
            r.items.iter().all(|i| i.status == crate::Status::Imported),
            "{:?}",
            r.items
        );
    }
}
