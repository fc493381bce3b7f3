//! The HTTP API (axum): ingest, alerts, rules, acknowledgements, reload, metrics, health.
//! Every answer is JSON (but `/metrics`); every error says what was wrong. State-changing
//! routes need the bearer token; ingest needs the ingest token when one is configured.

// Early answers are `Err(Response)`, axum's own type; boxing them would only add an allocation.
#![allow(clippy::result_large_err)]

use crate::alertmanager as am;
use crate::body;
use crate::config::{Config, Times};
use crate::core::Ack;
use crate::metrics::Metrics;
use crate::worker::{Cmd, now_ms};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use crossbeam_channel::{Sender, TrySendError};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use vigil_compiler::eval::RuleSet;
use vigil_ingest::{Context, Format, Record, parse_line_into};

/// Loads the rules afresh (the binary checks and compiles them; the daemon never sees the
/// compiler's front end): the compiled set, or the diagnostics as text.
pub type Loader = Arc<dyn Fn() -> Result<RuleSet, String> + Send + Sync>;

pub struct AppState {
    pub tx: Sender<Cmd>,
    pub config: Config,
    pub times: Times,
    pub metrics: Arc<Metrics>,
    pub api_token: Option<String>,
    pub ingest_token: Option<String>,
    pub loader: Loader,
    pub reload: Mutex<ReloadStatus>,
    pub ready: AtomicBool,
    pub rates: Rates,
    /// The running rules (for the list files the watcher follows and the lists it re-reads),
    /// and a signal after each successful reload (the new rules may read other list files).
    pub running: Mutex<Arc<RuleSet>>,
    pub reloaded: tokio::sync::Notify,
    /// Held while rules or lists are reloaded, so a list re-read cannot land in rules that a
    /// reload in progress is replacing.
    pub reloading: tokio::sync::Mutex<()>,
    /// The last re-read of each list (by name) since the rules were loaded.
    pub list_reads: Mutex<std::collections::HashMap<String, ListRead>>,
    /// Routing, silences and notifications.
    pub routing: Arc<crate::routing::Routing>,
    /// The audit log (`audit.enabled`).
    pub audit: Option<Arc<crate::audit::Audit>>,
    /// Playbook runs.
    pub playbooks: Arc<crate::playbooks::Playbooks>,
    /// When the daemon started, epoch ms.
    pub started_at: i64,
}

impl AppState {
    pub fn running(&self) -> Arc<RuleSet> {
        match self.running.lock() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    /// Every file the running rules read besides themselves: those compiled in (a change
    /// reloads the rules) and the lists looked up at run time (a change re-reads the list).
    pub fn list_files(&self) -> Vec<std::path::PathBuf> {
        let rules = self.running();
        let ir = rules.ir();
        let mut files = ir.list_files.clone();
        files.extend(ir.lists.iter().map(|l| l.path.clone()));
        files
    }
}

/// Per-source token buckets (`limits.max_records_per_second`): a second's worth of records
/// may arrive at once, then they refill at the rate.
#[derive(Default)]
pub struct Rates(Mutex<std::collections::HashMap<String, (f64, Instant)>>);

impl Rates {
    /// Takes `n` records from `source`'s bucket, or says how many seconds until they fit.
    pub fn take(&self, source: &str, n: u64, rate: u64) -> Result<(), u64> {
        if rate == 0 || n == 0 {
            return Ok(());
        }
        let Ok(mut m) = self.0.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let cap = rate as f64;
        let (tokens, at) = m.entry(source.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * cap).min(cap);
        *at = now;
        let need = n as f64;
        if need <= *tokens {
            *tokens -= need;
            return Ok(());
        }
        // A request larger than a second's worth is taken once the bucket is full.
        if need > cap && *tokens >= cap {
            *tokens = 0.0;
            return Ok(());
        }
        Err(((need.min(cap) - *tokens) / cap).ceil().max(1.0) as u64)
    }
}

/// The last reload's outcome, for `GET /api/v1/rules`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// RFC 3339.
    pub at: Option<String>,
    pub ok: bool,
    pub diagnostics: Option<String>,
    pub failures: u64,
}

/// A list's last re-read from its file, for `GET /api/v1/rules`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ListRead {
    /// RFC 3339.
    pub at: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub failures: u64,
}

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.limits.max_body_bytes;
    Router::new()
        .route("/api/v1/ingest", post(ingest))
        .route("/api/v1/write", post(remote_write))
        .route("/api/v1/audit", post(audit).get(crate::audit::search))
        .route("/api/v1/audit/verify", get(crate::audit::verify))
        .route("/api/v1/falco", post(falco))
        .route("/write", post(influx_write))
        .route("/api/v2/write", post(influx_write))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/{id}/history", get(rule_history))
        .route("/api/v1/series", get(series))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/notifications", get(am::notifications))
        .route("/api/v2/alerts", get(am::get_alerts).post(am::post_alerts))
        .route(
            "/api/v2/silences",
            get(am::get_silences).post(am::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(am::get_silence).delete(am::delete_silence),
        )
        .route("/api/v2/status", get(am::status))
        .route("/api/v1/playbooks", get(playbook_runs))
        .route("/api/v1/playbooks/{id}/approve", post(approve_run))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(arrival))
        .with_state(state)
}

tokio::task_local! {
    /// When the request being handled arrived, before its body was read.
    static ARRIVED: Instant;
}

/// Marks each request's arrival for `vigil_decision_seconds`, body reading included.
async fn arrival(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    ARRIVED.scope(Instant::now(), next.run(req)).await
}

pub(crate) fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Whether `headers` carry `Authorization: Bearer <want>` (compared in constant time).
fn bearer(headers: &HeaderMap, want: &str) -> bool {
    let Some(got) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    got.trim().as_bytes().ct_eq(want.as_bytes()).into()
}

/// `Ok` when a state-changing request carries the API token.
pub(crate) fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    match &s.api_token {
        Some(t) if bearer(headers, t) => Ok(()),
        Some(_) => {
            s.metrics.refuse("unauthorized");
            Err(unauthorized(
                "a bearer token is required (Authorization: Bearer ...)",
            ))
        }
        None => {
            s.metrics.refuse("unauthorized");
            Err(unauthorized(&format!(
                "state-changing routes are disabled: set {} in the daemon's environment",
                s.config.api.token_env
            )))
        }
    }
}

fn unauthorized(msg: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, msg.to_string());
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// `Ok` when ingest is open or the request carries the ingest token.
pub(crate) fn authorize_ingest(s: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    match &s.ingest_token {
        Some(t) if !bearer(headers, t) => {
            s.metrics.refuse("unauthorized");
            Err(unauthorized(
                "this daemon's ingest routes need their bearer token",
            ))
        }
        _ => Ok(()),
    }
}

/// Sends `cmd` to the engine's thread without waiting for room: a full queue is a 429.
async fn ask<T>(s: &AppState, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    match s.tx.try_send(make(tx)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            s.metrics.refuse("queue_full");
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "the engine's queue is full; retry shortly".into(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(r);
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the daemon is stopping".into(),
            ));
        }
    }
    rx.await.map_err(|_| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is stopping".into(),
        )
    })
}

/// `POST /api/v1/ingest`: JSON lines (samples and events, the `vigil replay` format),
/// Prometheus exposition or Influx lines; gzip or zstd bodies. Each line is checked here;
/// the accepted ones are logged and applied together, and the answer names every refused
/// line with its number and reason.
async fn ingest(State(s): State<Arc<AppState>>, headers: HeaderMap, raw: Bytes) -> Response {
    if let Err(r) = authorize_ingest(&s, &headers) {
        return r;
    }
    let data = match decoded(&s, &headers, &raw) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match accept(&s, &data, "http").await {
        Ok((checked, applied)) => {
            let status = if checked.accepted == 0 && !checked.refused.is_empty() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            let refused: Vec<Value> = checked
                .refused
                .iter()
                .map(|(line, why, _)| json!({ "line": line, "reason": why }))
                .collect();
            let answer = json!({
                "accepted": checked.accepted,
                "samples": applied.samples,
                "events": applied.events,
                "late": applied.late,
                "over_limit": applied.over_limit,
                "refused": refused,
            });
            (status, Json(answer)).into_response()
        }
        Err(r) => r,
    }
}

/// Checks `data`'s lines, counts them for `source`, and has the accepted ones logged and
/// applied; what was checked and what applying did.
pub(crate) async fn accept(
    s: &AppState,
    data: &[u8],
    source: &str,
) -> Result<(Checked, crate::core::Applied), Response> {
    let limits = &s.config.limits;
    let now = now_ms();
    let checked = match check_lines(data, now, &s.times, limits) {
        Ok(c) => c,
        Err(n) => {
            s.metrics.refuse("too_many_lines");
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{n} lines or more: at most {} per request",
                    limits.max_lines
                ),
            ));
        }
    };
    submit(s, checked, source).await
}

/// Has checked input logged and applied (after the source's rate limit), counting it.
async fn submit(
    s: &AppState,
    mut checked: Checked,
    source: &str,
) -> Result<(Checked, crate::core::Applied), Response> {
    let limits = &s.config.limits;
    let count = |result: &str, n: usize| {
        let l = vec![
            ("source", source.to_string()),
            ("result", result.to_string()),
        ];
        s.metrics.lines.get_or_create(&l).inc_by(n as u64);
    };
    if let Err(wait) = s.rates.take(
        source,
        checked.accepted as u64,
        limits.max_records_per_second,
    ) {
        s.metrics.refuse("rate_limited");
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "source `{source}` is over its {} records/s (limits.max_records_per_second); nothing of this request was taken",
                limits.max_records_per_second
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(r);
    }
    count("accepted", checked.accepted);
    count("refused", checked.refused.len());
    for (_, _, reason) in &checked.refused {
        s.metrics.refuse(reason);
    }
    let mut applied = crate::core::Applied::default();
    if checked.accepted > 0 {
        let log = if checked.binary {
            crate::wal::Body::Records(vigil_ingest::binary::encode_packed(&checked.records))
        } else {
            crate::wal::Body::Lines(std::mem::take(&mut checked.text))
        };
        let records = std::mem::take(&mut checked.records);
        let now = checked.now;
        // Requests over HTTP arrived when the router saw them; other sources arrive here.
        let arrived = ARRIVED.try_with(|t| *t).unwrap_or_else(|_| Instant::now());
        match ask(s, |reply| Cmd::Ingest {
            log,
            records,
            now,
            arrived,
            reply,
        })
        .await?
        {
            Ok(a) => applied = a,
            Err(e) => {
                crate::log::error(&e);
                return Err(error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("nothing of this request was accepted: {e}"),
                ));
            }
        }
    }
    Ok((checked, applied))
}

/// Decodes a body by its `Content-Encoding`; the refusal as an answer.
fn decoded(s: &AppState, headers: &HeaderMap, raw: &[u8]) -> Result<Vec<u8>, Response> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|h| h.to_str().ok());
    body::decode(raw, encoding, s.config.limits.max_decoded_bytes).map_err(|e| match e {
        body::BodyError::TooLarge(_) => {
            s.metrics.refuse("body_too_large");
            error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        body::BodyError::Encoding(_) => {
            s.metrics.refuse("encoding");
            error(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
        }
        body::BodyError::Corrupt(..) => {
            s.metrics.refuse("corrupt_body");
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
    })
}

/// `POST /write` (InfluxDB 1.x) and `POST /api/v2/write` (2.x): line protocol, one sample per
/// numeric field (`measurement_field`, or `measurement` for a field named `value`), tags as
/// labels, `precision` ns (default), us, ms or s; a line without a timestamp takes the arrival
/// time. 204 when every line was taken; otherwise 400 naming the refused lines, as InfluxDB
/// answers a partial write (the good lines are kept).
async fn influx_write(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    use vigil_ingest::influx::{Precision, influx_with};
    if let Err(r) = authorize_ingest(&s, &headers) {
        return r;
    }
    let precision = match q.iter().find(|(k, _)| k == "precision") {
        None => Precision::Ns,
        Some((_, p)) => match Precision::parse(p) {
            Some(p) => p,
            None => {
                return influx_error(
                    StatusCode::BAD_REQUEST,
                    format!("precision `{p}`: expected ns, us, ms or s"),
                );
            }
        },
    };
    let data = match decoded(&s, &headers, &raw) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let now = now_ms();
    let mut text = String::new();
    let mut bad = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(line) else {
            bad.push(format!("line {}: not valid UTF-8", i + 1));
            continue;
        };
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match influx_with(l, precision, Some(now)) {
            Ok(recs) => recs.iter().for_each(|r| r.to_json_line(&mut text)),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    for _ in &bad {
        s.metrics.refuse("parse");
    }
    match accept(&s, text.as_bytes(), "influx").await {
        Ok((checked, _)) if bad.is_empty() && checked.refused.is_empty() => {
            StatusCode::NO_CONTENT.into_response()
        }
        Ok((checked, _)) => {
            bad.extend(checked.refused.iter().map(|r| r.1.clone()));
            influx_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "partial write: {}",
                    bad.iter().take(10).cloned().collect::<Vec<_>>().join("; ")
                ),
            )
        }
        Err(r) => r,
    }
}

/// `POST /api/v1/audit`: applications' own audit events, one JSON object or NDJSON, with the
/// field names trading teams' audit clients send (`project_name`, `project_market`,
/// `project_description`, `project_privileges`, `event_type`, `event_description`,
/// `timestamp`, and free fields). Each becomes an event as sent (rules read
/// `event.event_type`, `event.symbol`, ...) at its `timestamp` (RFC 3339, or epoch seconds or
/// milliseconds), else at its arrival. `project_name` and `event_type` are required.
async fn audit(State(s): State<Arc<AppState>>, headers: HeaderMap, raw: Bytes) -> Response {
    json_events(&s, &headers, &raw, "audit", |v| {
        for k in ["project_name", "event_type"] {
            if !v.get(k).is_some_and(Value::is_string) {
                return Err(format!("`{k}` (a string) is required"));
            }
        }
        time_field(v.get("timestamp"))
    })
    .await
}

/// `POST /api/v1/falco`: Falco's JSON alerts as its `http_output` or falcosidekick post them
/// (one object, or NDJSON), each an event as sent at its `time`.
async fn falco(State(s): State<Arc<AppState>>, headers: HeaderMap, raw: Bytes) -> Response {
    json_events(&s, &headers, &raw, "falco", |v| {
        if !v.get("rule").is_some_and(Value::is_string) {
            return Err("a Falco alert has a `rule` (a string)".into());
        }
        time_field(v.get("time"))
    })
    .await
}

/// An event's own time: RFC 3339, or epoch seconds (below 10^11) or milliseconds; `None`
/// when absent (the arrival time is used).
fn time_field(v: Option<&Value>) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => vigil_ingest::rfc3339(t).map(Some),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && x.abs() < 1e11 => Ok(Some((x * 1000.0).round() as i64)),
            Some(x) if x.is_finite() => Ok(Some(x.round() as i64)),
            _ => Err("the time is not a number".into()),
        },
        Some(_) => Err("the time must be RFC 3339 or epoch seconds/milliseconds".into()),
    }
}

/// JSON objects (one, an array of them, or one per line) as events: `check` refuses one or
/// gives its time. The answer is ingest's, with line numbers (positions in an array).
async fn json_events(
    s: &Arc<AppState>,
    headers: &HeaderMap,
    raw: &[u8],
    source: &str,
    check: impl Fn(&serde_json::Map<String, Value>) -> Result<Option<i64>, String>,
) -> Response {
    if let Err(r) = authorize_ingest(s, headers) {
        return r;
    }
    let data = match decoded(s, headers, raw) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let now = now_ms();
    let mut text = String::new();
    let mut taken_records = Vec::new();
    let mut refused = Vec::new();
    // The whole body as one value (a pretty-printed object, or an array of objects), else
    // one object per line.
    let whole = std::str::from_utf8(&data)
        .ok()
        .and_then(|t| vigil_ingest::strict::parse(t).ok());
    let items: Vec<(usize, Result<Value, String>)> = match whole {
        Some(Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, Ok(v)))
            .collect(),
        Some(v @ Value::Object(_)) => vec![(1, Ok(v))],
        _ => data
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .map(|(i, l)| {
                let v = std::str::from_utf8(l)
                    .map_err(|_| "the line is not valid UTF-8".to_string())
                    .and_then(|l| {
                        vigil_ingest::strict::parse(l).map_err(|e| format!("invalid JSON: {e}"))
                    });
                (i + 1, v)
            })
            .collect(),
    };
    if items.len() > s.config.limits.max_lines {
        s.metrics.refuse("too_many_lines");
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {} objects", s.config.limits.max_lines),
        );
    }
    for (no, parsed) in items {
        let taken = parsed.and_then(|v| match v {
            Value::Object(m) => {
                let ts = check(&m)?.unwrap_or(now);
                Ok(Record::Event {
                    ts,
                    event: Value::Object(m),
                })
            }
            _ => Err("expected a JSON object".into()),
        });
        match taken {
            Ok(r) => {
                let start = text.len();
                r.to_json_line(&mut text);
                taken_records.push((no, r, start..text.len() - 1));
            }
            Err(why) => {
                s.metrics.refuse("parse");
                refused.push(json!({ "line": no, "reason": why }));
            }
        }
    }
    // Applications' audit events go to the audit log as well, once accepted.
    let app_events: Vec<(usize, i64, Value)> = if source == "audit" && s.audit.is_some() {
        taken_records
            .iter()
            .filter_map(|(no, r, _)| match r {
                Record::Event { ts, event } => Some((*no, *ts, event.clone())),
                _ => None,
            })
            .collect()
    } else {
        Vec::new()
    };
    // The objects go to the engine as parsed here; their lines are what is logged.
    let items = taken_records
        .into_iter()
        .map(|(no, r, at)| (no, r, &text[at]));
    let checked = Checked::of_records(now, &s.times, &s.config.limits, items);
    let (checked, applied) = match submit(s, checked, source).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    refused.extend(
        checked
            .refused
            .iter()
            .map(|(line, why, _)| json!({ "line": line, "reason": why })),
    );
    if let Some(a) = &s.audit {
        let refused_lines: std::collections::HashSet<usize> =
            checked.refused.iter().map(|(line, _, _)| *line).collect();
        for (no, ts, event) in app_events {
            if !refused_lines.contains(&no) {
                a.record(ts, "app", event);
            }
        }
    }
    let status = if checked.accepted == 0 && !refused.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let answer = json!({
        "accepted": checked.accepted,
        "events": applied.events,
        "late": applied.late,
        "refused": refused,
    });
    (status, Json(answer)).into_response()
}

/// An error as InfluxDB writes it (`{"code": "invalid", "message": ...}`).
fn influx_error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({ "code": "invalid", "message": message })),
    )
        .into_response()
}

/// `POST /api/v1/write`: Prometheus remote_write 1.0 (snappy-compressed protobuf). 204 when
/// every sample was taken; else 400, which Prometheus does not retry, naming what was not
/// (as Prometheus's own receiver answers out-of-order samples), while what could be taken
/// stays taken.
async fn remote_write(State(s): State<Arc<AppState>>, headers: HeaderMap, raw: Bytes) -> Response {
    if let Err(r) = authorize_ingest(&s, &headers) {
        return r;
    }
    let req = match vigil_ingest::remote_write::decode(&raw, s.config.limits.max_decoded_bytes) {
        Ok(r) => r,
        Err(e @ vigil_ingest::remote_write::WriteError::TooLarge(..)) => {
            s.metrics.refuse("body_too_large");
            return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
        }
        Err(e) => {
            s.metrics.refuse("corrupt_body");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    // Each series' samples as one record (labels moved, not copied), logged in binary.
    let now = now_ms();
    let mut all = Vec::new();
    let bad_series = vigil_ingest::remote_write::to_series(req, &mut all);
    for _ in &bad_series {
        s.metrics.refuse("series");
    }
    let checked = Checked::of_series(now, &s.times, &s.config.limits, all);
    match submit(&s, checked, "remote_write").await {
        Ok((checked, applied)) => {
            let mut why: Vec<String> = bad_series
                .iter()
                .map(|b| format!("series {}: {}", b.series, b.reason))
                .collect();
            why.extend(checked.refused.iter().map(|r| r.1.clone()));
            if applied.over_limit > 0 {
                why.push(format!(
                    "{} samples are of new series no rule reading them has room for \
                     (limits.max_series: {})",
                    applied.over_limit, s.config.limits.max_series
                ));
            }
            if applied.late > 0 {
                why.push(format!(
                    "{} samples are at or before an evaluation already made ({}s after their \
                     time: lateness) and were not evaluated",
                    applied.late,
                    s.times.lateness / 1000
                ));
            }
            if why.is_empty() {
                return StatusCode::NO_CONTENT.into_response();
            }
            let shown = why.len().min(10);
            let more = if why.len() > shown {
                format!("; and {} more", why.len() - shown)
            } else {
                String::new()
            };
            let taken = applied
                .samples
                .saturating_sub(applied.late + applied.over_limit);
            let head = if taken == 0 {
                "nothing taken".to_string()
            } else {
                format!("{taken} samples taken, the others not")
            };
            error(
                StatusCode::BAD_REQUEST,
                format!("{head}: {}{more}", why[..shown].join("; ")),
            )
        }
        Err(r) => r,
    }
}

/// Why a record has more labels than allowed (and the word counting it), if it has.
fn too_many_labels(r: &Record, limits: &crate::config::Limits) -> Option<(String, &'static str)> {
    let labels = match r {
        Record::Sample { labels, .. }
        | Record::Stale { labels, .. }
        | Record::Series { labels, .. } => labels.len(),
        _ => 0,
    };
    (labels > limits.max_labels).then(|| {
        let why = format!(
            "{labels} labels (at most {}: limits.max_labels)",
            limits.max_labels
        );
        (why, "too_many_labels")
    })
}

/// Why a record is over a limit (its reason and the word counting it), if it is.
fn over_limit(
    r: &Record,
    now: i64,
    times: &Times,
    limits: &crate::config::Limits,
) -> Option<(String, &'static str)> {
    if let Some(why) = too_many_labels(r, limits) {
        return Some(why);
    }
    (r.ts() > now + times.max_future).then(|| {
        (
            format!(
                "its time is {}s ahead of the daemon's clock (at most {}s: max_future)",
                (r.ts() - now) / 1000,
                times.max_future / 1000
            ),
            "future",
        )
    })
}

impl Checked {
    /// Records decoded at the edge (remote_write, audit and Falco objects), each with its
    /// position in the request and its line in the replay format (what is logged): those
    /// over a limit are refused, the others taken as they are.
    fn of_records<'a>(
        now: i64,
        times: &Times,
        limits: &crate::config::Limits,
        items: impl Iterator<Item = (usize, Record, &'a str)>,
    ) -> Checked {
        let mut c = Checked {
            text: String::new(),
            binary: false,
            records: VecDeque::new(),
            now,
            accepted: 0,
            refused: Vec::new(),
        };
        for (no, r, line) in items {
            if let Some((why, word)) = over_limit(&r, now, times, limits) {
                c.refused.push((no, why, word));
                continue;
            }
            c.text.push_str(line);
            c.text.push('\n');
            c.records.push_back(r);
            c.accepted += 1;
        }
        c
    }
}

impl Checked {
    /// A remote_write request's series (numbered from 1 in `refused`): a series with more
    /// labels than allowed is refused; its samples dated too far ahead are, the others taken.
    /// `accepted` counts samples.
    fn of_series(
        now: i64,
        times: &Times,
        limits: &crate::config::Limits,
        series: Vec<Record>,
    ) -> Checked {
        let mut c = Checked {
            text: String::new(),
            binary: true,
            records: VecDeque::with_capacity(series.len()),
            now,
            accepted: 0,
            refused: Vec::new(),
        };
        let latest = now.saturating_add(times.max_future);
        for (i, mut r) in series.into_iter().enumerate() {
            if let Some((why, word)) = too_many_labels(&r, limits) {
                c.refused
                    .push((i + 1, format!("series {}: {why}", i + 1), word));
                continue;
            }
            if let Record::Series { points, .. } = &mut r {
                let before = points.len();
                points.retain(|p| p.0 <= latest);
                if points.len() < before {
                    let why = format!(
                        "series {}: {} samples are more than {}s ahead of the daemon's clock (max_future)",
                        i + 1,
                        before - points.len(),
                        times.max_future / 1000
                    );
                    c.refused.push((i + 1, why, "future"));
                }
                if points.is_empty() {
                    continue;
                }
                c.accepted += points.len();
            }
            c.records.push_back(r);
        }
        c
    }
}

/// Lines checked at the edge: the accepted ones as one text, the refused ones with their
/// numbers (from 1), reasons and a reason word for the metrics.
pub(crate) struct Checked {
    text: String,
    /// The records are logged in binary (they did not arrive as lines).
    binary: bool,
    /// The accepted lines parsed (with `now` for those without a time).
    records: VecDeque<Record>,
    now: i64,
    accepted: usize,
    refused: Vec<(usize, String, &'static str)>,
}

/// Checks every line of `data`; `Err(n)` when there are more than `max_lines`.
fn check_lines(
    data: &[u8],
    now: i64,
    times: &Times,
    limits: &crate::config::Limits,
) -> Result<Checked, usize> {
    let mut c = Checked {
        records: VecDeque::new(),
        now,
        binary: false,
        text: String::with_capacity(data.len()),
        accepted: 0,
        refused: Vec::new(),
    };
    // Events stay text (the engine reads them straight from it); each is checked whole as it
    // is read, without building its tree, refusing what a full parse would (one pass also
    // finds an untimed line's event).
    let mut cx = Context {
        time: Some(now),
        raw_events: true,
        checked: true,
        series_keys: None,
    };
    let mut recs = VecDeque::new();
    let mut spare: Vec<Record> = Vec::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        // (The empty piece after a final newline is no line.)
        if i >= limits.max_lines && !raw.is_empty() {
            return Err(i + 1);
        }
        let no = i + 1;
        if raw.len() > limits.max_line_bytes {
            c.refused.push((
                no,
                format!(
                    "the line is {} bytes long (at most {})",
                    raw.len(),
                    limits.max_line_bytes
                ),
                "line_too_long",
            ));
            continue;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            c.refused
                .push((no, "the line is not valid UTF-8".into(), "utf8"));
            continue;
        };
        recs.clear();
        if let Err(why) = parse_line_into(line, Format::Auto, &mut cx, &mut recs, &mut spare) {
            c.refused.push((no, why, "parse"));
            continue;
        }
        if let Some((why, word)) = recs.iter().find_map(|r| over_limit(r, now, times, limits)) {
            c.refused.push((no, why, word));
            continue;
        }
        if recs.is_empty() && !line.trim_start().starts_with("# time:") {
            // Blank lines and comments: nothing to keep.
            continue;
        }
        if !c.text.is_empty() {
            c.text.push('\n');
        }
        c.text.push_str(line);
        c.accepted += recs
            .len()
            .max(usize::from(line.trim_start().starts_with("# time:")));
        c.records.extend(recs.drain(..));
    }
    Ok(c)
}

#[derive(serde::Deserialize, Default)]
struct AckBody {
    #[serde(default)]
    by: String,
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/alerts/{id}/ack`.
async fn ack(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let body: AckBody = if raw.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        match serde_json::from_slice(&raw) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("expected {{\"by\": .., \"comment\": ..}}: {e}"),
                );
            }
        }
    };
    let ack = Ack {
        active_at: None,
        at: now_ms(),
        by: body.by,
        comment: body.comment,
    };
    let id2 = id.clone();
    let (by, comment) = (ack.by.clone(), ack.comment.clone());
    match ask(&s, |reply| Cmd::Ack {
        id: id2,
        ack,
        reply,
    })
    .await
    {
        Ok(Ok(true)) => {
            s.playbooks
                .acked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone());
            if let Some(a) = &s.audit {
                a.record(
                    now_ms(),
                    "ack",
                    json!({ "alert": id, "by": by, "comment": comment }),
                );
            }
            Json(json!({ "acknowledged": id })).into_response()
        }
        Ok(Ok(false)) => error(
            StatusCode::NOT_FOUND,
            format!("no pending or firing alert has id `{id}`"),
        ),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(r) => r,
    }
}

/// `label=value` or `label!=value` (a missing label reads as empty, as in Prometheus).
struct Matcher {
    name: String,
    value: String,
    equal: bool,
}

impl Matcher {
    fn parse(v: &str) -> Result<Matcher, Response> {
        let (name, value, equal) = match v.split_once("!=") {
            Some((n, w)) => (n, w, false),
            None => match v.split_once('=') {
                Some((n, w)) => (n, w, true),
                None => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        format!("match `{v}`: expected label=value or label!=value"),
                    ));
                }
            },
        };
        Ok(Matcher {
            name: name.to_string(),
            value: value.to_string(),
            equal,
        })
    }

    fn matches(&self, labels: &vigil_vocab::LabelSet) -> bool {
        (labels.get(&self.name).map_or("", String::as_str) == self.value) == self.equal
    }
}

/// One condition of `GET /api/v1/alerts` on an alert.
type Filter = Box<dyn Fn(&crate::core::AlertView) -> bool + Send>;

/// `GET /api/v1/alerts?state=firing&rule=..&severity=..&match=label=value&match=label!=value`.
async fn alerts(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut filters: Vec<Filter> = Vec::new();
    for (k, v) in q {
        match k.as_str() {
            "state" => filters.push(Box::new(move |a| a.state.word() == v)),
            "rule" => filters.push(Box::new(move |a| a.rule == v)),
            "severity" => filters.push(Box::new(move |a| {
                a.severity.is_some_and(|s| s.to_string() == v)
            })),
            "match" => match Matcher::parse(&v) {
                Ok(m) => filters.push(Box::new(move |a| m.matches(&a.labels))),
                Err(r) => return r,
            },
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown filter `{other}` (state, rule, severity, match)"),
                );
            }
        }
    }
    let all = match ask(&s, |reply| Cmd::Alerts { reply }).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let shown: Vec<Value> = all
        .into_iter()
        .filter(|a| filters.iter().all(|f| f(a)))
        .map(|a| {
            let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
            v["active_since"] = a.active_since.map(rfc3339).into();
            if let Some(f) = a.firing_since {
                v["firing_since"] = rfc3339(f).into();
            }
            v
        })
        .collect();
    Json(json!({ "alerts": shown })).into_response()
}

/// Epoch ms as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    vigil_ingest::format_rfc3339(ms)
}

/// `GET /api/v1/series?metric=NAME&match=label=value&format=json|prometheus`: the newest
/// sample of each series the daemon holds (those some rule reads), in JSON or the
/// Prometheus exposition format (so a Prometheus server can federate from Vigil).
async fn series(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut metric = None;
    let mut matchers: Vec<Matcher> = Vec::new();
    let mut prometheus = false;
    for (k, v) in q {
        match k.as_str() {
            "metric" => metric = Some(v),
            "match" => match Matcher::parse(&v) {
                Ok(m) => matchers.push(m),
                Err(r) => return r,
            },
            "format" => match v.as_str() {
                "json" => prometheus = false,
                "prometheus" => prometheus = true,
                f => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("format `{f}`: json or prometheus"),
                    );
                }
            },
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter `{other}` (metric, match, format)"),
                );
            }
        }
    }
    let all = match ask(&s, |reply| Cmd::Series { reply }).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let shown = all.into_iter().filter(|(m, l, _, _)| {
        metric.as_ref().is_none_or(|want| want == m) && matchers.iter().all(|x| x.matches(l))
    });
    if prometheus {
        let mut out = String::new();
        for (m, l, t, v) in shown {
            let labels: Vec<String> = l
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{k}=\"{v}\"")
                })
                .collect();
            let value = if v.is_nan() {
                "NaN".to_string()
            } else if v.is_infinite() {
                if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                v.to_string()
            };
            out.push_str(&format!("{m}{{{}}} {value} {t}\n", labels.join(",")));
        }
        return ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response();
    }
    let list: Vec<Value> = shown
        .map(|(m, l, t, v)| {
            json!({
                "metric": m,
                "labels": l,
                "time": rfc3339(t),
                "value": if v.is_finite() { json!(v) } else { json!(v.to_string()) },
            })
        })
        .collect();
    Json(json!({ "series": list })).into_response()
}

/// `GET /api/v1/rules`: every rule with its pending and firing counts, and the last reload.
async fn rules(State(s): State<Arc<AppState>>) -> Response {
    let rules = match ask(&s, |reply| Cmd::Rules { reply }).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let reload = s.reload.lock().map(|r| r.clone()).unwrap_or_default();
    let rules: Vec<Value> = rules
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
            let key = if r.kind == "event" {
                "last_match"
            } else {
                "last_evaluation"
            };
            v[key] = r.last_at.map(rfc3339).into();
            v
        })
        .collect();
    let running = s.running();
    let reads = s.list_reads.lock().map(|r| r.clone()).unwrap_or_default();
    let lists: Vec<Value> = (running.ir().lists.iter())
        .map(|l| {
            json!({ "name": l.name, "path": l.path, "entries": l.entries(),
                    "last_read": reads.get(&l.name) })
        })
        .collect();
    Json(json!({ "rules": rules, "reload": reload, "lists": lists })).into_response()
}

/// `GET /api/v1/rules/{id}/history[?since=RFC3339|seconds]`: one rule's recent condition
/// values, per label set (see `history.rs`).
async fn rule_history(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut since = None;
    for (k, v) in q {
        match k.as_str() {
            "since" => match v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(|x| (x * 1000.0) as i64)
                .or_else(|| vigil_ingest::rfc3339(&v).ok())
            {
                Some(ms) => since = Some(ms),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("since `{v}`: an RFC 3339 time or Unix seconds"),
                    );
                }
            },
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter `{other}` (since)"),
                );
            }
        }
    }
    match ask(&s, |reply| Cmd::History {
        rule: id.clone(),
        since,
        reply,
    })
    .await
    {
        Ok(Some(chart)) => Json(chart).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no rule `{id}`")),
        Err(r) => r,
    }
}

/// `POST /api/v1/reload`: the rules are loaded afresh; with errors the old ones keep running.
async fn reload(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    match reload_rules(&s).await {
        Ok(n) => Json(json!({ "ok": true, "rules": n })).into_response(),
        Err(d) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "ok": false,
                "error": "the new rules have errors; the old ones keep running",
                "diagnostics": d,
            })),
        )
            .into_response(),
    }
}

/// `GET /api/v1/playbooks`: playbook runs, newest first.
async fn playbook_runs(State(s): State<Arc<AppState>>) -> Response {
    Json(json!({ "runs": s.playbooks.list() })).into_response()
}

/// `POST /api/v1/playbooks/{id}/approve` `{"by": NAME}`: lets a run waiting at an approval
/// step continue (token).
async fn approve_run(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let by = serde_json::from_slice::<Value>(&raw)
        .ok()
        .and_then(|v| v["by"].as_str().map(str::to_string))
        .filter(|b| !b.trim().is_empty());
    let Some(by) = by else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"by\": NAME}: an approval names who gives it".into(),
        );
    };
    match s.playbooks.approve(&id, &by) {
        Ok(()) => {
            if let Some(a) = &s.audit {
                a.record(now_ms(), "approval", json!({ "run": id, "by": by }));
            }
            Json(json!({ "approved": id, "by": by })).into_response()
        }
        Err(e) if e.starts_with("no playbook run") => error(StatusCode::NOT_FOUND, e),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

/// Loads the rules and swaps them in (state kept by rule id); the number of rules, or the
/// diagnostics. Used by the API and SIGHUP.
pub async fn reload_rules(s: &Arc<AppState>) -> Result<usize, String> {
    let _one_at_a_time = s.reloading.lock().await;
    let loader = s.loader.clone();
    let loaded = tokio::task::spawn_blocking(move || loader())
        .await
        .unwrap_or_else(|e| Err(format!("the rule loader failed: {e}")));
    let result = match loaded {
        Ok(rules) => {
            let n = rules.ir().rules.len();
            let routing = Arc::new(rules.ir().routing.clone());
            let rules = Arc::new(rules);
            let running = rules.clone();
            match ask(s, |reply| Cmd::Swap { rules, reply }).await {
                Ok(Ok(())) => {
                    if let Ok(mut r) = s.running.lock() {
                        *r = running;
                    }
                    // The new rules read every list afresh.
                    if let Ok(mut r) = s.list_reads.lock() {
                        r.clear();
                    }
                    s.playbooks.set_rules(routing.clone());
                    s.routing.set_rules(routing);
                    s.reloaded.notify_one();
                    Ok(n)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err("the engine is busy or stopping; try again".into()),
            }
        }
        Err(d) => Err(d),
    };
    let word = if result.is_ok() { "ok" } else { "failed" };
    if let Some(a) = &s.audit {
        a.record(
            now_ms(),
            "reload",
            json!({
                "result": word,
                "rules": result.as_ref().ok(),
                "diagnostics": result.as_ref().err(),
            }),
        );
    }
    s.metrics
        .reloads
        .get_or_create(&vec![("result", word.to_string())])
        .inc();
    if let Ok(mut st) = s.reload.lock() {
        st.at = Some(rfc3339(now_ms()));
        st.ok = result.is_ok();
        st.diagnostics = result.as_ref().err().cloned();
        st.failures += u64::from(result.is_err());
    }
    match &result {
        Ok(n) => crate::log::info(&format!("reloaded {n} rules")),
        Err(d) => crate::log::error(&format!("reload failed; the old rules keep running:\n{d}")),
    }
    result
}

/// Re-reads the lists of the running rules whose files `changed` says changed: the new
/// contents are in place for the next event, with no recompile and no state touched; a file
/// that cannot be read or has a bad entry keeps the list's previous contents. Each outcome is
/// logged, counted, audited and shown with the list in `GET /api/v1/rules`.
pub async fn reload_lists(s: &Arc<AppState>, changed: &(dyn Fn(&std::path::Path) -> bool + Sync)) {
    let _one_at_a_time = s.reloading.lock().await;
    let rules = s.running();
    let picked: Vec<usize> = (rules.ir().lists.iter().enumerate())
        .filter(|(_, l)| changed(&l.path))
        .map(|(i, _)| i)
        .collect();
    let read = rules.clone();
    let results = tokio::task::spawn_blocking(move || {
        let lists = &read.ir().lists;
        picked
            .into_iter()
            .map(|i| (lists[i].name.clone(), lists[i].reload()))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (name, result) in results {
        let word = if result.is_ok() { "ok" } else { "failed" };
        let why = result
            .as_ref()
            .err()
            .map(|e| format!("list `{name}`: {e}; its previous contents stay"));
        if let Some(a) = &s.audit {
            a.record(
                now_ms(),
                "reload",
                json!({ "result": word, "list": name, "entries": result.as_ref().ok(),
                        "diagnostics": why }),
            );
        }
        s.metrics
            .list_reloads
            .get_or_create(&vec![("result", word.to_string())])
            .inc();
        if let Ok(mut reads) = s.list_reads.lock() {
            let r = reads.entry(name.clone()).or_default();
            r.at = rfc3339(now_ms());
            r.ok = result.is_ok();
            r.error = why.clone();
            r.failures += u64::from(result.is_err());
        }
        match (&result, why) {
            (Ok(n), _) => crate::log::info(&format!("list `{name}` re-read: {n} entries")),
            (Err(_), Some(why)) => crate::log::error(&why),
            _ => {}
        }
    }
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    if s.metrics.wal_broken.get() != 0 {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the write-ahead log failed: nothing more is accepted until the daemon restarts".into(),
        )
    } else if s.ready.load(Ordering::Relaxed) {
        "ready\n".into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "recovering".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked_one_by_one() {
        let c = crate::config::Config::default();
        let times = c.times().unwrap();
        let now = 1_700_000_000_000;
        let body = format!(
            "{{\"ts\":{now},\"metric\":\"cpu\",\"value\":1}}\n\nnot json {{\n\
             {{\"metric\":\"cpu\",\"value\":2}}\n{{\"ts\":{},\"event\":{{}}}}\n\
             {{\"ts\":1,\"metric\":\"cpu\",\"value\":\"x\"}}\n\u{ff}",
            now + 3_600_000
        );
        let mut data = body.into_bytes();
        data.pop();
        data.extend_from_slice(&[0xff, 0xfe]);
        let checked = check_lines(&data, now, &times, &c.limits).unwrap();
        assert_eq!(checked.accepted, 2);
        let nos: Vec<usize> = checked.refused.iter().map(|r| r.0).collect();
        assert_eq!(nos, vec![3, 5, 6, 7]);
        assert_eq!(checked.refused[1].2, "future");
        assert_eq!(checked.refused[3].2, "utf8");
        let mut few = c.limits.clone();
        few.max_lines = 3;
        assert!(check_lines(&data, now, &times, &few).is_err());
    }
}
