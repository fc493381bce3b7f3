//! Finding entries (`vigil audit search`, the API), the compliance report (`vigil audit
//! report`) and the applications' events by project (`vigil audit dump`).

use crate::entry::Entry;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub kind: Option<String>,
    /// An alert's rule (`data.rule`).
    pub rule: Option<String>,
    /// An application event's `project_name`.
    pub project: Option<String>,
    /// Text anywhere in the entry's canonical form.
    pub text: Option<String>,
}

impl Filter {
    pub fn holds(&self, e: &Entry) -> bool {
        let is = |v: &Value, want: &Option<String>| {
            want.as_ref().is_none_or(|w| v.as_str() == Some(w.as_str()))
        };
        self.since.is_none_or(|s| e.ts >= s)
            && self.until.is_none_or(|u| e.ts <= u)
            && self.kind.as_ref().is_none_or(|k| &e.kind == k)
            && is(&e.data["rule"], &self.rule)
            && is(&e.data["project_name"], &self.project)
            && self
                .text
                .as_ref()
                .is_none_or(|t| String::from_utf8_lossy(&e.canonical()).contains(t.as_str()))
    }
}

/// The entries of the log in `dir` that `f` keeps, oldest first, at most `limit`.
pub fn search(dir: &Path, f: &Filter, limit: usize) -> Result<Vec<Entry>, String> {
    let (lines, _) = crate::verify::read(dir)?;
    Ok(lines
        .into_iter()
        .filter_map(Result::ok)
        .map(|l| l.entry)
        .filter(|e| f.holds(e))
        .take(limit)
        .collect())
}

/// The compliance summary of `entries`: alerts fired by severity and by rule, time from
/// firing to acknowledgement, notifications sent and failed by notifier, silences and who set
/// them, reloads. `alert_id` gives an alert change's identity (rule and labels), as
/// acknowledgements name it.
pub fn report(entries: &[Entry], alert_id: &dyn Fn(&Value) -> String) -> Value {
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut fired_at: BTreeMap<String, i64> = BTreeMap::new();
    let mut to_ack: Vec<i64> = Vec::new();
    let mut notes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut silences = Vec::new();
    let (mut reloads, mut reloads_failed) = (0u64, 0u64);
    for e in entries {
        let d = &e.data;
        match e.kind.as_str() {
            "alert" if d["state"] == "firing" => {
                let sev = d["severity"].as_str().unwrap_or("none").to_string();
                *by_severity.entry(sev).or_default() += 1;
                *by_rule
                    .entry(d["rule"].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
                fired_at.insert(alert_id(d), e.ts);
            }
            "ack" => {
                if let Some(at) = d["alert"].as_str().and_then(|id| fired_at.get(id)) {
                    to_ack.push(e.ts - at);
                }
            }
            "notification" => {
                let result = d["result"].as_str().unwrap_or("").to_string();
                if result != "retrying" {
                    *notes
                        .entry(d["notifier"].as_str().unwrap_or("").to_string())
                        .or_default()
                        .entry(result)
                        .or_default() += 1;
                }
            }
            "silence" => silences.push(json!({
                "at": e.ts,
                "action": d["action"],
                "id": d["silence"]["id"].as_str().or(d["id"].as_str()),
                "by": d["silence"]["created_by"],
                "comment": d["silence"]["comment"],
            })),
            "reload" => {
                reloads += 1;
                reloads_failed += u64::from(d["result"] == "failed");
            }
            _ => {}
        }
    }
    to_ack.sort_unstable();
    let secs = |ms: Option<&i64>| ms.map(|m| *m as f64 / 1000.0);
    json!({
        "entries": entries.len(),
        "alerts_fired": {"by_severity": by_severity, "by_rule": by_rule},
        "time_to_acknowledge_seconds": {
            "count": to_ack.len(),
            "median": secs(to_ack.get(to_ack.len() / 2)),
            "max": secs(to_ack.last()),
        },
        "notifications": notes,
        "silences": silences,
        "reloads": {"total": reloads, "failed": reloads_failed},
    })
}

/// The applications' events (`app`) of `entries`, grouped by `project_name`.
pub fn by_project(entries: &[Entry]) -> Value {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind == "app") {
        let p = e.data["project_name"].as_str().unwrap_or("").to_string();
        out.entry(p)
            .or_default()
            .push(json!({"seq": e.seq, "ts": e.ts, "event": e.data}));
    }
    json!(out)
}
