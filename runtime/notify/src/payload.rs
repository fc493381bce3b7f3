//! What each notifier kind sends, built from a notification without IO: Alertmanager's
//! webhook payload (version 4, so existing receivers work unchanged), Slack blocks, PagerDuty
//! Events API v2, a Teams Adaptive Card, a Telegram message, Alertmanager API v2 alerts, an
//! email's subject and bodies, a console line. Texts never contain secrets: a notifier's
//! secrets are only in its URL or headers, which are not rendered.

use serde_json::{Value, json};
use vigil_alerting::{Alert, Notification};
use vigil_vocab::time::format_rfc3339;

/// Alertmanager writes a firing alert's `endsAt` as Go's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn alert_status(a: &Alert, now: i64) -> &'static str {
    if a.resolved_at(now) {
        "resolved"
    } else {
        "firing"
    }
}

/// One alert as Alertmanager's webhook writes it.
fn am_alert(a: &Alert, now: i64) -> Value {
    json!({
        "status": alert_status(a, now),
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": format_rfc3339(a.starts_at),
        "endsAt": a.ends_at.filter(|e| *e <= now).map_or(ZERO_TIME.to_string(), format_rfc3339),
        "generatorURL": a.generator_url,
        "fingerprint": format!("{:016x}", a.fingerprint()),
    })
}

/// Alertmanager's webhook payload, version 4. `max_alerts` (0 = all) keeps the first ones
/// and counts the rest in `truncatedAlerts`, as Alertmanager does.
pub fn webhook(n: &Notification, external_url: &str, max_alerts: usize) -> Value {
    let keep = if max_alerts == 0 {
        n.alerts.len()
    } else {
        max_alerts.min(n.alerts.len())
    };
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.alerts.len() - keep,
        "status": n.status(),
        "receiver": n.notifier,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": external_url,
        "alerts": n.alerts[..keep].iter().map(|a| am_alert(a, n.ts)).collect::<Vec<_>>(),
    })
}

/// `[FIRING:2] high_cpu (host="a")`: Alertmanager's default title.
pub fn title(n: &Notification) -> String {
    let status = n.status().to_uppercase();
    let count = if n.status() == "firing" {
        format!(":{}", n.firing())
    } else {
        String::new()
    };
    let name = n
        .common_labels()
        .get("alertname")
        .cloned()
        .or_else(|| n.alerts.first().map(|a| a.name().to_string()))
        .unwrap_or_default();
    let rest: Vec<String> = n
        .group_labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if rest.is_empty() {
        format!("[{status}{count}] {name}")
    } else {
        format!("[{status}{count}] {name} ({})", rest.join(" "))
    }
}

/// One line per alert: state, labels, summary.
fn lines(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| {
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let summary = a
                .annotations
                .get("summary")
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("{} {}{summary}", alert_status(a, n.ts), labels.join(" "))
        })
        .collect()
}

/// The console notifier's text: the title, then one indented line per alert; outside text
/// escaped (control characters shown as `\n`, `\u{1b}`), so the lines are the notification's
/// own.
pub fn console(n: &Notification) -> String {
    use vigil_vocab::printable;
    let mut out = format!(
        "notify {}: {}",
        printable(&n.notifier),
        printable(&title(n))
    );
    for l in lines(n) {
        out.push_str("\n  ");
        out.push_str(&printable(&l));
    }
    out
}

/// The file notifier's line: the webhook payload with the notification's id.
pub fn file_line(n: &Notification) -> String {
    let mut v = webhook(n, "", 0);
    v["id"] = json!(n.id);
    v["ts"] = json!(format_rfc3339(n.ts));
    v.to_string()
}

/// Slack incoming webhook: a header, then per alert its severity and summary, its labels
/// and a link when it has one; `text` is the fallback for notifications.
pub fn slack(n: &Notification, channel: Option<&str>, username: Option<&str>) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&title(n), 150)},
    })];
    // Slack allows 50 blocks; three per alert after the header and a closing note.
    const MAX_ALERTS: usize = 15;
    for a in n.alerts.iter().take(MAX_ALERTS) {
        let severity = a.labels.get("severity").map_or("-", String::as_str);
        let summary = a
            .annotations
            .get("summary")
            .cloned()
            .unwrap_or_else(|| a.name().to_string());
        let mut text = format!(
            "*{}* · {} · {}",
            alert_status(a, n.ts),
            escape_mrkdwn(severity),
            escape_mrkdwn(&summary)
        );
        if let Some(d) = a.annotations.get("description") {
            text.push('\n');
            text.push_str(&escape_mrkdwn(d));
        }
        if !a.generator_url.is_empty() {
            text.push_str(&format!("\n<{}|source>", a.generator_url));
        }
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, 3000)}}),
        );
        let labels: Vec<String> = a
            .labels
            .iter()
            .map(|(k, v)| format!("`{k}={}`", v.replace('`', "'")))
            .collect();
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&labels.join(" "), 3000)}]}));
    }
    if n.alerts.len() > MAX_ALERTS {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("and {} more", n.alerts.len() - MAX_ALERTS)}]}));
    }
    let mut v = json!({"text": title(n), "blocks": blocks});
    if let Some(c) = channel {
        v["channel"] = json!(c);
    }
    if let Some(u) = username {
        v["username"] = json!(u);
    }
    v
}

fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// PagerDuty Events API v2: `trigger` while anything fires, `resolve` when all resolved,
/// with the group's stable dedup key so one incident opens and closes with the group.
pub fn pagerduty(n: &Notification, routing_key: &str, severity: Option<&str>) -> Value {
    let dedup_key = n.group_hash();
    if n.status() == "resolved" {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    // PagerDuty knows critical, error, warning and info.
    let sev = severity.map(str::to_string).unwrap_or_else(|| {
        let top = n
            .alerts
            .iter()
            .filter_map(|a| a.labels.get("severity"))
            .filter_map(|s| vigil_vocab::Severity::parse(s))
            .max();
        match top {
            Some(vigil_vocab::Severity::Critical) => "critical",
            Some(vigil_vocab::Severity::High) => "error",
            Some(vigil_vocab::Severity::Warning) => "warning",
            Some(vigil_vocab::Severity::Info) => "info",
            None => "error",
        }
        .to_string()
    });
    let firing: Vec<Value> = n
        .alerts
        .iter()
        .filter(|a| !a.resolved_at(n.ts))
        .map(|a| json!({"labels": a.labels, "annotations": a.annotations}))
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": truncate(&title(n), 1024),
            "source": "vigil",
            "severity": sev,
            "timestamp": format_rfc3339(n.ts),
            "custom_details": {
                "num_firing": n.firing(),
                "num_resolved": n.alerts.len() - n.firing(),
                "firing": firing,
            },
        },
        "client": "Vigil",
    })
}

/// A Teams message with an Adaptive Card (what Teams workflows and incoming webhooks take).
pub fn teams(n: &Notification) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
        "text": title(n),
        "color": if n.status() == "firing" { "Attention" } else { "Good" },
    })];
    for l in lines(n) {
        body.push(json!({"type": "TextBlock", "wrap": true, "text": l}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// Telegram Bot API `sendMessage`, HTML formatted (Telegram's limit is 4096 characters).
pub fn telegram(n: &Notification, chat_id: &str) -> Value {
    let mut text = format!("<b>{}</b>", html(&title(n)));
    for l in lines(n) {
        text.push('\n');
        text.push_str(&html(&l));
    }
    json!({
        "chat_id": chat_id,
        "text": truncate(&text, 4096),
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    })
}

/// Alertmanager API v2 `POST /api/v2/alerts`: the group's alerts, firing ones ending at
/// `until` unless sent again (Vigil re-sends them at the route's `repeat`).
pub fn alertmanager(n: &Notification, until: i64) -> Value {
    Value::Array(
        n.alerts
            .iter()
            .map(|a| {
                json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": format_rfc3339(a.starts_at),
                    "endsAt": format_rfc3339(a.ends_at.filter(|e| *e <= n.ts).unwrap_or(until)),
                    "generatorURL": a.generator_url,
                })
            })
            .collect(),
    )
}

/// Text with `<`, `>`, `&` and quotes escaped for HTML.
pub fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An email's subject, plain text and HTML bodies.
pub fn email(n: &Notification, subject: Option<&str>) -> (String, String, String) {
    let subject = subject.map_or_else(|| title(n), str::to_string);
    let mut text = format!("{}\n\n", title(n));
    let mut rows = String::new();
    for a in &n.alerts {
        text.push_str(&format!("{}\n", lines_of(a, n.ts)));
        for (k, v) in &a.annotations {
            text.push_str(&format!("  {k}: {v}\n"));
        }
        text.push('\n');
        let labels: Vec<String> = a
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", html(k), html(v)))
            .collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            alert_status(a, n.ts),
            html(a.labels.get("severity").map_or("", String::as_str)),
            html(a.annotations.get("summary").map_or("", String::as_str)),
            labels.join("<br>")
        ));
    }
    let page = format!(
        "<!doctype html><html><body><h2>{}</h2>\n<table border=\"1\" cellpadding=\"4\">\n<tr><th>status</th><th>severity</th><th>summary</th><th>labels</th></tr>\n{rows}</table></body></html>\n",
        html(&title(n))
    );
    (subject, text, page)
}

fn lines_of(a: &Alert, now: i64) -> String {
    let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("[{}] {}", alert_status(a, now), labels.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vigil_alerting::dispatch::Reason;

    fn note() -> Notification {
        let a = |host: &str, ends: Option<i64>| Alert {
            labels: [
                ("alertname", "high_cpu"),
                ("host", host),
                ("severity", "critical"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            annotations: [("summary".to_string(), format!("cpu high on {host}"))].into(),
            starts_at: 1_700_000_000_000,
            ends_at: ends,
            updated_at: 1_700_000_000_000,
            generator_url: String::new(),
            flapping: false,
            external: false,
        };
        let mut g = BTreeMap::new();
        g.insert("alertname".to_string(), "high_cpu".to_string());
        Notification::new(
            "ops",
            "/:{alertname=\"high_cpu\"}",
            &g,
            1_700_000_060_000,
            Reason::First,
            vec![a("a", None), a("b", Some(1_700_000_050_000))],
        )
    }

    #[test]
    fn webhook_is_alertmanagers_version_4() {
        let v = webhook(&note(), "http://vigil", 1);
        assert_eq!(v["version"], "4");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["truncatedAlerts"], 1);
        assert_eq!(v["commonLabels"]["severity"], "critical");
        assert!(v["commonLabels"].get("host").is_none());
        assert_eq!(v["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(v["alerts"][0]["startsAt"], "2023-11-14T22:13:20Z");
        assert_eq!(v["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn titles_and_pagerduty_follow_the_group() {
        let n = note();
        assert_eq!(title(&n), "[FIRING:1] high_cpu");
        let pd = pagerduty(&n, "KEY", None);
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["payload"]["severity"], "critical");
        let mut all_resolved = n.clone();
        all_resolved.alerts[0].ends_at = Some(1_700_000_055_000);
        let pd2 = pagerduty(&all_resolved, "KEY", None);
        assert_eq!(pd2["event_action"], "resolve");
        assert_eq!(pd2["dedup_key"], pd["dedup_key"]);
    }

    #[test]
    fn html_and_mrkdwn_are_escaped() {
        let mut n = note();
        n.alerts[0]
            .annotations
            .insert("summary".into(), "<script>&".into());
        let (_, _, page) = email(&n, None);
        assert!(page.contains("&lt;script&gt;&amp;"));
        let s = slack(&n, Some("#ops"), None).to_string();
        assert!(s.contains("&lt;script&gt;&amp;"));
        assert!(
            telegram(&n, "1")["text"]
                .as_str()
                .unwrap()
                .contains("&lt;script&gt;")
        );
    }
}
