//! The daemon's audit log (`vigil-audit`, in `DATA/audit/`): alert changes, notification
//! outcomes, silences, acknowledgements, reloads and the applications' own events from
//! `POST /api/v1/audit`, chained and checkpointed. The signing key comes from the environment
//! variable `audit.signing_key_env` names; without it a key is made once and kept in
//! `DATA/audit/signing.key` (mode 0600), its public half in `signing.pub`. The API searches
//! it and reports its verification (`GET /api/v1/audit`, `GET /api/v1/audit/verify`).

use crate::api::{AppState, error};
use crate::config::AuditConfig;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_audit::{AuditLog, Keys};

pub struct Audit {
    log: Mutex<AuditLog>,
    /// The checkpoints' public key, hex (what `vigil audit verify --key` takes).
    pub public: String,
    /// A write failed (said once in the log, not per entry).
    failed: AtomicBool,
    checkpoint_every: Duration,
    retention: i64,
    filters: Vec<crate::config::AuditFilter>,
}

/// Whether `f` keeps an entry of its category.
fn passes(f: &crate::config::AuditFilter, kind: &str, data: &Value) -> bool {
    let text = |k: &str| data[k].as_str().unwrap_or("");
    let (action, resource) = match kind {
        "alert" => (text("state"), text("rule")),
        "notification" => (text("result"), text("notifier")),
        "silence" => (text("action"), ""),
        "app" => (text("event_type"), text("project_name")),
        _ => ("", ""),
    };
    let severity_ok = f.min_severity.as_deref().is_none_or(|min| {
        match (
            vigil_vocab::Severity::parse(min),
            data["severity"]
                .as_str()
                .and_then(vigil_vocab::Severity::parse),
        ) {
            (Some(min), Some(sev)) => sev >= min,
            // Unknown or absent severities are kept: a filter never hides what it cannot judge.
            _ => true,
        }
    });
    let matches = |pat: &String, v: &str| match pat.strip_suffix('*') {
        Some(prefix) => v.starts_with(prefix),
        None => pat == v,
    };
    severity_ok
        && (f.actions.is_empty() || f.actions.iter().any(|a| a == action))
        && (f.resources.is_empty() || f.resources.iter().any(|r| matches(r, resource)))
}

fn keys(dir: &Path, c: &AuditConfig) -> Result<Keys, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let hmac = env(&c.hmac_key_env).map(String::into_bytes);
    if let Some(seed) = env(&c.signing_key_env) {
        return Keys::from_seed_hex(&seed, hmac).ok_or_else(|| {
            format!(
                "{} is not an Ed25519 seed (64 hex digits)",
                c.signing_key_env
            )
        });
    }
    let file = dir.join("signing.key");
    match std::fs::read_to_string(&file) {
        Ok(seed) => Keys::from_seed_hex(&seed, hmac)
            .ok_or_else(|| format!("{}: not an Ed25519 seed", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let k = Keys::generate(hmac);
            write_private(&file, &k.seed_hex()).map_err(|e| format!("{}: {e}", file.display()))?;
            std::fs::write(dir.join("signing.pub"), k.public_hex() + "\n")
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            Ok(k)
        }
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

impl Audit {
    pub fn open(data_dir: &Path, c: &AuditConfig) -> Result<Audit, String> {
        let dir = data_dir.join("audit");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let keys = keys(&dir, c)?;
        let public = keys.public_hex();
        let mut log = AuditLog::open(&dir, keys, c.segment_bytes).map_err(|e| e.to_string())?;
        log.checkpoint_every = c.checkpoint_entries.max(1);
        let every = vigil_vocab::duration::parse_ms(&c.checkpoint_interval).ok_or_else(|| {
            format!(
                "audit.checkpoint_interval `{}` is not a duration",
                c.checkpoint_interval
            )
        })?;
        let retention = vigil_vocab::duration::parse_ms(&c.retention).ok_or_else(|| {
            format!(
                "audit.retention `{}` is not a duration (like 2557d)",
                c.retention
            )
        })?;
        for f in &c.filter {
            if let Some(m) = &f.min_severity
                && vigil_vocab::Severity::parse(m).is_none()
            {
                return Err(format!(
                    "audit.filter min_severity `{m}`: info, warning, high or critical"
                ));
            }
        }
        Ok(Audit {
            log: Mutex::new(log),
            public,
            failed: AtomicBool::new(false),
            checkpoint_every: Duration::from_millis(every.max(1) as u64),
            retention,
            filters: c.filter.clone(),
        })
    }

    /// Appends one entry (buffered; flushed within a second, synced at checkpoints), unless
    /// the category's filters (`[[audit.filter]]`) leave it out.
    pub fn record(&self, ts: i64, kind: &str, data: Value) {
        let mut own = self
            .filters
            .iter()
            .filter(|f| f.category == kind)
            .peekable();
        if own.peek().is_some() && !own.any(|f| passes(f, kind, &data)) {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = log.append(ts, kind, data)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            crate::log::error(&format!("audit log: {e}; entries are being lost"));
        }
    }

    fn with(&self, f: impl FnOnce(&mut AuditLog) -> Result<(), vigil_audit::LogError>) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f(&mut log)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            crate::log::error(&format!("audit log: {e}"));
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        self.with(|l| l.flush());
    }

    /// Syncs and signs a checkpoint (on the timer, and on shutdown).
    pub fn checkpoint(&self, now: i64) {
        self.with(|l| l.checkpoint(now).map(|_| ()));
    }

    /// Deletes what is older than the retention (a signed record keeps the rest verifiable).
    pub fn retain(&self, now: i64) {
        let before = now.saturating_sub(self.retention);
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        match log.retain(before, now) {
            Ok(0) => {}
            Ok(n) => crate::log::info(&format!("audit retention deleted {n} entries")),
            Err(e) => crate::log::error(&format!("audit retention: {e}")),
        }
    }

    /// Flushes every second, checkpoints every `audit.checkpoint_interval`, applies the
    /// retention at start and hourly.
    pub async fn run(self: Arc<Self>) {
        let mut last = std::time::Instant::now();
        let mut retained = None::<std::time::Instant>;
        loop {
            if retained.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                let me = self.clone();
                let _ =
                    tokio::task::spawn_blocking(move || me.retain(crate::worker::now_ms())).await;
                retained = Some(std::time::Instant::now());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if last.elapsed() >= self.checkpoint_every {
                self.checkpoint(crate::worker::now_ms());
                last = std::time::Instant::now();
            } else {
                self.flush();
            }
        }
    }
}

/// The log's folder, for readers.
pub fn dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("audit")
}

/// At most this many entries in one answer.
const MAX_ANSWER: usize = 10_000;

/// `GET /api/v1/audit?since=&until=&type=&rule=&project=&text=&limit=`: entries, oldest first
/// (`since`/`until` RFC 3339 or a duration back from now; `limit` default 1,000).
pub async fn search(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let Some(a) = &s.audit else {
        return error(
            StatusCode::NOT_FOUND,
            "the audit log is off (audit.enabled)".into(),
        );
    };
    a.flush();
    let now = crate::worker::now_ms();
    let mut f = vigil_audit::search::Filter::default();
    let mut limit = 1_000;
    for (k, v) in q {
        match k.as_str() {
            "since" | "until" => match vigil_vocab::time::at_or_ago(&v, now) {
                Ok(t) if k == "since" => f.since = Some(t),
                Ok(t) => f.until = Some(t),
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("{k}: {e}")),
            },
            "type" => f.kind = Some(v),
            "rule" => f.rule = Some(v),
            "project" => f.project = Some(v),
            "text" => f.text = Some(v),
            "limit" => match v.parse::<usize>() {
                Ok(n) => limit = n.min(MAX_ANSWER),
                Err(_) => return error(StatusCode::BAD_REQUEST, format!("limit `{v}`: a number")),
            },
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter `{other}`"),
                );
            }
        }
    }
    let dir = dir(&s.config.data_dir);
    match tokio::task::spawn_blocking(move || vigil_audit::search::search(&dir, &f, limit)).await {
        Ok(Ok(entries)) => Json(serde_json::json!({ "entries": entries })).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/v1/audit/verify`: the log verified now against this daemon's key (the
/// dashboard's status).
pub async fn verify(State(s): State<Arc<AppState>>) -> Response {
    let Some(a) = &s.audit else {
        return error(
            StatusCode::NOT_FOUND,
            "the audit log is off (audit.enabled)".into(),
        );
    };
    a.flush();
    let (dir, key) = (dir(&s.config.data_dir), a.public.clone());
    let hmac = std::env::var(&s.config.audit.hmac_key_env)
        .ok()
        .filter(|k| !k.is_empty())
        .map(String::into_bytes);
    match tokio::task::spawn_blocking(move || {
        vigil_audit::verify::verify(&dir, Some(&key), hmac.as_deref())
    })
    .await
    {
        Ok(Ok(r)) => Json(serde_json::json!({
            "ok": r.ok(),
            "public_key": a.public,
            "report": r,
        }))
        .into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuditFilter;
    use serde_json::json;

    #[test]
    fn filters_keep_what_they_name() {
        let f = AuditFilter {
            category: "alert".into(),
            min_severity: Some("high".into()),
            actions: vec!["firing".into(), "resolved".into()],
            resources: vec!["trading.*".into()],
        };
        let alert = |rule: &str, state: &str, sev: &str| json!({"rule": rule, "state": state, "severity": sev, "labels": {}});
        assert!(passes(
            &f,
            "alert",
            &alert("trading.slippage", "firing", "critical")
        ));
        assert!(!passes(
            &f,
            "alert",
            &alert("trading.slippage", "pending", "critical")
        ));
        assert!(!passes(
            &f,
            "alert",
            &alert("trading.slippage", "firing", "warning")
        ));
        assert!(!passes(
            &f,
            "alert",
            &alert("infra.cpu", "firing", "critical")
        ));
        let app = AuditFilter {
            category: "app".into(),
            actions: vec!["trade_opened".into()],
            ..AuditFilter::default()
        };
        assert!(passes(
            &app,
            "app",
            &json!({"event_type": "trade_opened", "project_name": "fx"})
        ));
        assert!(!passes(
            &app,
            "app",
            &json!({"event_type": "boot", "project_name": "fx"})
        ));
    }

    #[test]
    fn a_category_without_filters_is_recorded_whole() {
        let dir = tempfile::tempdir().unwrap();
        let c = AuditConfig {
            signing_key_env: "VIGIL_TEST_NO_SUCH_VAR".into(),
            hmac_key_env: "VIGIL_TEST_NO_SUCH_VAR".into(),
            filter: vec![AuditFilter {
                category: "alert".into(),
                actions: vec!["firing".into()],
                ..AuditFilter::default()
            }],
            ..AuditConfig::default()
        };
        let a = Audit::open(dir.path(), &c).unwrap();
        a.record(1, "alert", json!({"rule": "r", "state": "pending"}));
        a.record(2, "alert", json!({"rule": "r", "state": "firing"}));
        a.record(3, "reload", json!({"result": "ok"}));
        a.flush();
        let f = vigil_audit::search::Filter::default();
        let kept = vigil_audit::search::search(&dir.path().join("audit"), &f, 100).unwrap();
        let kinds: Vec<(&str, i64)> = kept.iter().map(|e| (e.kind.as_str(), e.ts)).collect();
        assert_eq!(kinds, [("alert", 2), ("reload", 3)]);
    }
}
