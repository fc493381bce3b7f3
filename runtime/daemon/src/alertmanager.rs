//! The parts of Alertmanager's API v2 its clients use, so a Prometheus can send its alerts
//! to Vigil (`POST /api/v2/alerts`) and `amtool` can query alerts and manage silences; and
//! `GET /api/v1/notifications`, what was sent, what waits and what failed.
//!
//! Answers follow Alertmanager's OpenAPI schema (amtool validates them): every required
//! field present, times in RFC 3339.

// Handlers return early with their answer (a `Response`), as `api.rs` does.
#![allow(clippy::result_large_err)]

use crate::api::{AppState, authorize, authorize_ingest, error};
use crate::worker::now_ms;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_alerting::{Alert, Matcher, Silence, SilenceState};
use vigil_vocab::time::{format_rfc3339, rfc3339};

/// Go's zero time, which Alertmanager writes for "not set".
const ZERO: &str = "0001-01-01T00:00:00.000Z";

fn time(ms: i64) -> String {
    format_rfc3339(ms)
}

/// A time a client sent; Go's zero time (or none) is `None`.
fn parse_time(v: Option<&str>, what: &str) -> Result<Option<i64>, String> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => {
            let ms = rfc3339(s).map_err(|e| format!("{what}: {e}"))?;
            Ok((ms > 0).then_some(ms))
        }
    }
}

/// `filter=name="value"` (also `!=`, `=~`, `!~`, unquoted values): amtool's matchers.
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let s = s.trim().trim_start_matches('{').trim_end_matches('}');
    let at = s
        .find(['=', '!'])
        .ok_or_else(|| format!("`{s}` is not a matcher (like alertname=\"x\")"))?;
    let (name, rest) = s.split_at(at);
    let (is_regex, is_equal, value) = if let Some(v) = rest.strip_prefix("=~") {
        (true, true, v)
    } else if let Some(v) = rest.strip_prefix("!~") {
        (true, false, v)
    } else if let Some(v) = rest.strip_prefix("!=") {
        (false, false, v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (false, true, v)
    } else {
        return Err(format!("`{s}` is not a matcher"));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{s}` names no label"));
    }
    let v = value.trim();
    let value = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => serde_json::from_str::<String>(&format!("\"{inner}\""))
            .unwrap_or_else(|_| inner.to_string()),
        None => v.to_string(),
    };
    Ok(Matcher {
        name: name.to_string(),
        value,
        is_regex,
        is_equal,
    })
}

fn matchers_of(q: &[(String, String)]) -> Result<Vec<Matcher>, Response> {
    q.iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| parse_matcher(v))
        .collect::<Result<_, _>>()
        .map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

fn flag(q: &[(String, String)], key: &str) -> bool {
    q.iter()
        .find(|(k, _)| k == key)
        .is_none_or(|(_, v)| v != "false")
}

/// `GET /api/v2/alerts`: alerts that have not resolved, with their status.
pub async fn get_alerts(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let matchers = match matchers_of(&q) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let receiver = match q.iter().find(|(k, _)| k == "receiver") {
        Some((_, r)) => match regex::Regex::new(&format!("^(?:{r})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("receiver `{r}`: not a regex"),
                );
            }
        },
        None => None,
    };
    let (active, silenced, inhibited) = (
        flag(&q, "active"),
        flag(&q, "silenced"),
        flag(&q, "inhibited"),
    );
    let now = now_ms();
    let views = s.routing.read(|c| c.alerts(now));
    let out: Vec<Value> = views
        .into_iter()
        .filter(|v| matchers.iter().all(|m| m.matches(&v.alert.labels)))
        .filter(|v| {
            receiver
                .as_ref()
                .is_none_or(|re| v.receivers.iter().any(|r| re.is_match(r)))
        })
        .filter(|v| {
            if !v.silenced_by.is_empty() {
                silenced
            } else if !v.inhibited_by.is_empty() {
                inhibited
            } else {
                active
            }
        })
        .map(|v| {
            json!({
                "labels": v.alert.labels,
                "annotations": v.alert.annotations,
                "startsAt": time(v.alert.starts_at),
                "endsAt": v.alert.ends_at.map_or(ZERO.to_string(), time),
                "updatedAt": time(v.alert.updated_at),
                "generatorURL": v.alert.generator_url,
                "fingerprint": v.fingerprint,
                "receivers": v.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
                "status": {
                    "state": v.state,
                    "silencedBy": v.silenced_by,
                    "inhibitedBy": v.inhibited_by,
                },
            })
        })
        .collect();
    Json(out).into_response()
}

#[derive(Deserialize)]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

/// `POST /api/v2/alerts`: a Prometheus (or any client) sending alerts. All or nothing: one
/// bad alert refuses the request, naming it.
pub async fn post_alerts(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorize_ingest(&s, &headers) {
        return r;
    }
    let posted: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            s.metrics.refuse("bad_alerts");
            return error(
                StatusCode::BAD_REQUEST,
                format!("not a list of alerts: {e}"),
            );
        }
    };
    if posted.len() > s.config.limits.max_lines {
        s.metrics.refuse("too_many_alerts");
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} alerts in one request; at most {} (limits.max_lines)",
                posted.len(),
                s.config.limits.max_lines
            ),
        );
    }
    let mut alerts = Vec::with_capacity(posted.len());
    for (i, p) in posted.into_iter().enumerate() {
        let bad = |why: String| {
            s.metrics.refuse("bad_alerts");
            error(StatusCode::BAD_REQUEST, format!("alert {i}: {why}"))
        };
        if p.labels.is_empty() {
            return bad("an alert needs labels".into());
        }
        if p.labels.len() > s.config.limits.max_labels {
            return bad(format!("more than {} labels", s.config.limits.max_labels));
        }
        if let Some(k) = p.labels.keys().find(|k| !valid_label_name(k)) {
            return bad(format!("`{k}` is not a label name"));
        }
        let (starts, ends) = match (
            parse_time(p.starts_at.as_deref(), "startsAt"),
            parse_time(p.ends_at.as_deref(), "endsAt"),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return bad(e),
        };
        if let (Some(a), Some(b)) = (starts, ends)
            && b < a
        {
            return bad("endsAt is before startsAt".into());
        }
        alerts.push(Alert {
            labels: p.labels,
            annotations: p.annotations,
            starts_at: starts.unwrap_or(0),
            ends_at: ends,
            updated_at: 0,
            generator_url: p.generator_url.unwrap_or_default(),
            flapping: false,
            external: true,
        });
    }
    s.metrics
        .lines
        .get_or_create(&vec![
            ("source", "alertmanager_api".into()),
            ("result", "accepted".into()),
        ])
        .inc_by(alerts.len() as u64);
    s.routing.post(alerts);
    StatusCode::OK.into_response()
}

fn valid_label_name(k: &str) -> bool {
    let mut c = k.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn silence_json(sl: &Silence, now: i64) -> Value {
    let state = match sl.state(now) {
        SilenceState::Active => "active",
        SilenceState::Pending => "pending",
        SilenceState::Expired => "expired",
    };
    json!({
        "id": sl.id,
        "status": {"state": state},
        "updatedAt": time(sl.updated_at),
        "matchers": sl.matchers,
        "startsAt": time(sl.starts_at),
        "endsAt": time(sl.ends_at),
        "createdBy": sl.created_by,
        "comment": sl.comment,
    })
}

/// `GET /api/v2/silences[?filter=...]`: every silence, active first, as Alertmanager sorts.
pub async fn get_silences(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let matchers = match matchers_of(&q) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let now = now_ms();
    let mut all: Vec<Silence> = s.routing.read(|c| c.silences().all.clone());
    // A filter keeps silences whose own matchers include each filter's label set's match.
    all.retain(|sl| {
        matchers.iter().all(|m| {
            sl.matchers.iter().any(|own| {
                own.name == m.name && m.matches(&[(own.name.clone(), own.value.clone())].into())
            })
        })
    });
    let rank = |sl: &Silence| match sl.state(now) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    all.sort_by_key(|sl| (rank(sl), sl.ends_at));
    Json(
        all.iter()
            .map(|sl| silence_json(sl, now))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

#[derive(Deserialize)]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<Matcher>,
    #[serde(rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(rename = "createdBy", default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

/// A new silence id: random, in UUID form (as Alertmanager's).
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ms());
    let a = h.finish();
    let mut h2 = std::collections::hash_map::RandomState::new().build_hasher();
    h2.write_u64(a);
    let b = h2.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// `POST /api/v2/silences`: creates (or, with an id, updates) a silence; answers its id.
pub async fn post_silence(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a silence: {e}")),
    };
    let now = now_ms();
    let (starts, ends) = match (
        parse_time(p.starts_at.as_deref(), "startsAt"),
        parse_time(p.ends_at.as_deref(), "endsAt"),
    ) {
        (Ok(a), Ok(Some(b))) => (a.unwrap_or(now), b),
        (Ok(_), Ok(None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "a silence needs an end (endsAt)".into(),
            );
        }
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let id = p.id.filter(|i| !i.is_empty());
    let sl = Silence {
        id: id.clone().unwrap_or_else(new_id),
        matchers: p.matchers,
        starts_at: starts,
        ends_at: ends,
        created_by: p.created_by,
        comment: p.comment,
        updated_at: now,
        hid_since: None,
        reminded: Vec::new(),
    };
    if let Some(id) = &id
        && s.routing.read(|c| c.silences().get(id).is_none())
    {
        return error(StatusCode::NOT_FOUND, format!("no silence with id `{id}`"));
    }
    let record = serde_json::to_value(&sl).unwrap_or_default();
    match s.routing.change(|c| c.set_silence(sl, now)) {
        Ok(Ok(id)) => {
            crate::log::info(&format!("silence {id} set"));
            if let Some(a) = &s.audit {
                a.record(
                    now,
                    "silence",
                    json!({ "action": "set", "silence": record }),
                );
            }
            Json(json!({"silenceID": id})).into_response()
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /api/v2/silence/{id}`.
pub async fn get_silence(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let now = now_ms();
    match s.routing.read(|c| c.silences().get(&id).cloned()) {
        Some(sl) => Json(silence_json(&sl, now)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no silence with id `{id}`")),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it now.
pub async fn delete_silence(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let now = now_ms();
    match s.routing.change(|c| c.expire_silence(&id, now)) {
        Ok(Ok(())) => {
            crate::log::info(&format!("silence {id} expired"));
            if let Some(a) = &s.audit {
                a.record(now, "silence", json!({ "action": "expire", "id": id }));
            }
            StatusCode::OK.into_response()
        }
        Ok(Err(vigil_alerting::SilenceError::NotFound(_))) => {
            error(StatusCode::NOT_FOUND, format!("no silence with id `{id}`"))
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /api/v2/status`: enough for clients that ask who they talk to.
pub async fn status(State(s): State<Arc<AppState>>) -> Response {
    Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "", "revision": "vigil",
        },
        "config": {"original": ""},
        "uptime": time(s.started_at),
    }))
    .into_response()
}

/// `GET /api/v1/notifications[?failed=true]`: recent outcomes and what waits, or the dead
/// letters.
pub async fn notifications(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let d = &s.routing.delivery;
    let entry = |e: &vigil_notify::Entry| {
        json!({
            "id": e.notification.id,
            "notifier": e.notification.notifier,
            "group_key": e.notification.group_key,
            "ts": time(e.notification.ts),
            "status": e.notification.status(),
            "alerts": e.notification.alerts.len(),
            "attempts": e.attempts,
            "error": e.last_error,
            "failed_at": e.failed_at.map(time),
        })
    };
    if q.iter().any(|(k, v)| k == "failed" && v != "false") {
        let dead: Vec<Value> = d.outbox().dead_letters().iter().map(entry).collect();
        return Json(json!({"failed": dead})).into_response();
    }
    let recent: Vec<Value> = d
        .recent()
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "notifier": r.notifier, "group_key": r.group_key,
                "ts": time(r.ts), "result": r.result, "attempts": r.attempts,
                "error": r.error, "alerts": r.alerts,
            })
        })
        .collect();
    let pending: Vec<Value> = d.outbox().pending().iter().map(entry).collect();
    Json(json!({"recent": recent, "pending": pending})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amtool_matchers() {
        let m = parse_matcher("alertname=\"high cpu\"").unwrap();
        assert_eq!(
            (m.name.as_str(), m.value.as_str(), m.is_regex, m.is_equal),
            ("alertname", "high cpu", false, true)
        );
        let m = parse_matcher("host=~web-.*").unwrap();
        assert!(m.is_regex && m.is_equal);
        let m = parse_matcher("env!=\"prod\"").unwrap();
        assert!(!m.is_regex && !m.is_equal);
        assert!(parse_matcher("=x").is_err());
        assert!(parse_matcher("nothing").is_err());
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 36);
    }
}
