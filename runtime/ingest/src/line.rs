//! One input line to records: the format is the file's or decided per line, JSON samples take
//! the one-pass reader (`fast_json`) and anything unusual goes to serde.

use crate::fast_json::{self, TsText};
use crate::influx::{influx, split_outside_quotes};
use crate::json::json;
use crate::prometheus::prometheus;
use crate::record::put_label;
use crate::{Format, Record};
use serde_json::Value;
use std::collections::VecDeque;
use vigil_vocab::time::rfc3339;

/// Parses one line into records (an Influx line may carry several). Blank lines and comments
/// give none.
pub fn parse_line(line: &str, fmt: Format) -> Result<Vec<Record>, String> {
    let mut out = VecDeque::new();
    parse_line_into(
        line,
        fmt,
        &mut Context::default(),
        &mut out,
        &mut Vec::new(),
    )?;
    Ok(out.into())
}

/// What one file's earlier lines say about the next ones.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// From a `# time: <ms or RFC 3339>` comment, or the daemon's arrival time: the time of
    /// following samples and events that carry none (a scraped `/metrics` page has no
    /// timestamps; prepend the scrape time).
    pub time: Option<i64>,
    /// Keep the common event line's object as text ([`Record::Raw`]).
    pub raw_events: bool,
    /// Check each event line kept as text in full, as [`crate::strict::validate`] does,
    /// refusing it with serde's reason (`invalid JSON: ..`). The daemon checks every line it
    /// accepts; here an untimed line's check also finds where its object starts.
    pub checked: bool,
    /// With keys, sample lines of series read before come without their labels read
    /// ([`Record::Keyed`]; see [`crate::series_keys`]).
    pub series_keys: Option<crate::series_keys::SeriesKeys>,
}

/// [`parse_line`] appending to `out`, reusing records from `spare` (their strings keep their
/// buffers), so a steady stream of JSON samples parses without allocating.
pub fn parse_line_into(
    line: &str,
    fmt: Format,
    cx: &mut Context,
    out: &mut VecDeque<Record>,
    spare: &mut Vec<Record>,
) -> Result<(), String> {
    // JSON's (and the text formats') white space only: a Unicode space is part of the line,
    // which the format's reader then refuses, as it refuses one between tokens.
    let l = crate::fast_json::trim_ws(line);
    if let Some(t) = l.strip_prefix("# time:") {
        let t = t.trim();
        cx.time = Some(match t.parse::<i64>() {
            Ok(ms) => ms,
            Err(_) => rfc3339(t)?,
        });
        return Ok(());
    }
    if l.is_empty() || l.starts_with('#') {
        return Ok(());
    }
    match detect(l, fmt) {
        Format::Json => {
            let mut rec = spare.pop().unwrap_or(Record::Event {
                ts: 0,
                event: Value::Null,
            });
            match json_line(l, cx, &mut rec) {
                Ok(()) => {
                    out.push_back(rec);
                    Ok(())
                }
                Err(e) => {
                    spare.push(rec);
                    Err(e)
                }
            }
        }
        Format::Prometheus => {
            out.push_back(prometheus(l, cx.time)?);
            Ok(())
        }
        Format::Influx | Format::Auto => {
            out.extend(influx(l)?);
            Ok(())
        }
    }
}

/// The format of a line of a file whose format is `fmt` (`Auto`: by the line's shape).
fn detect(l: &str, fmt: Format) -> Format {
    match fmt {
        Format::Auto if l.starts_with('{') => Format::Json,
        Format::Auto => {
            let mut it = split_outside_quotes(l).into_iter();
            let _ = it.next();
            match it.next() {
                Some(second) if second.contains('=') => Format::Influx,
                _ => Format::Prometheus,
            }
        }
        f => f,
    }
}

/// A JSON line into `rec`: the one-pass sample reader, else the event line kept as text
/// (with `raw_events`), else serde.
fn json_line(l: &str, cx: &mut Context, rec: &mut Record) -> Result<(), String> {
    // An event line is declined at its first key other than a sample's (`{"ts":..,"event":{`
    // is recognised there).
    let timed = match fast_json::head_into(l, rec, cx.series_keys.as_mut()) {
        fast_json::Head::Sample(ts) => {
            let ts = time_of(ts)?;
            if let Some(t) = rec.sample_ts() {
                *t = ts;
            }
            return Ok(());
        }
        fast_json::Head::Event(ts, start) => Some((ts, start)),
        fast_json::Head::Other => None,
    };
    // `{"ts":..,"event":{..}}`, or `{"event":{..}}` taking the arrival time.
    let invalid = |e: serde_json::Error| format!("invalid JSON: {e}");
    let raw = if !cx.raw_events {
        None
    } else if let Some((ts, start)) = timed {
        let ts = time_of(ts)?;
        if cx.checked {
            crate::strict::validate(l).map_err(invalid)?;
        }
        Some((ts, start))
    } else if cx.time.is_some() && cx.checked {
        match crate::strict::untimed_event(l) {
            Ok(start) => cx.time.zip(start),
            // What the unchecked path answers: a line of this shape is refused as JSON, any
            // other goes to serde below, which explains.
            Err(e) if fast_json::untimed_event_start(l).is_some() => return Err(invalid(e)),
            Err(_) => None,
        }
    } else {
        cx.time.zip(fast_json::untimed_event_start(l))
    };
    if let Some((ts, start)) = raw {
        if let Record::Raw {
            ts: t,
            line,
            start: s,
        } = rec
        {
            *t = ts;
            *s = start;
            line.clear();
            line.push_str(l);
        } else {
            *rec = Record::Raw {
                ts,
                line: l.to_string(),
                start,
            };
        }
        return Ok(());
    }
    json(l, rec, cx.time)
}

fn time_of(ts: TsText) -> Result<i64, String> {
    match ts {
        TsText::Ms(ms) => Ok(ms),
        TsText::Text(t) => rfc3339(t),
    }
}

/// Overwrites `rec` with a sample, reusing its buffers.
pub(crate) fn fill_sample<'a>(
    rec: &mut Record,
    metric: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ts_v: i64,
    value_v: f64,
) {
    let Some((m, labels, ts, value)) = rec.sample_parts() else {
        return;
    };
    m.clear();
    m.push_str(metric);
    let mut n = 0;
    for (k, v) in pairs {
        put_label(labels, n, k, v);
        n += 1;
    }
    labels.truncate(n);
    *ts = ts_v;
    *value = value_v;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(rfc3339("2026-11-23T10:00:00.25Z"), Ok(1_795_428_000_250));
        assert_eq!(rfc3339("2026-11-23T11:00:00+01:00"), Ok(1_795_428_000_000));
        assert!(rfc3339("2026-13-23T11:00:00Z").is_err());
    }

    #[test]
    fn formats() {
        let r = parse_line(
            r#"{"ts":1000,"metric":"cpu","labels":{"host":"a"},"value":93.5}"#,
            Format::Auto,
        )
        .unwrap();
        assert_eq!(
            r,
            vec![Record::Sample {
                metric: "cpu".into(),
                labels: vec![("host".into(), "a".into())],
                ts: 1000,
                value: 93.5
            }]
        );
        let r = parse_line(
            r#"{"ts":1000,"metric":"cpu","labels":{"host":"a"},"value":"stale"}"#,
            Format::Auto,
        )
        .unwrap();
        assert_eq!(
            r,
            vec![Record::Stale {
                metric: "cpu".into(),
                labels: vec![("host".into(), "a".into())],
                ts: 1000,
            }]
        );
        let r = parse_line(r#"cpu{host="a",path="x\"y"} 93.5 1000"#, Format::Auto).unwrap();
        assert_eq!(
            r,
            vec![Record::Sample {
                metric: "cpu".into(),
                labels: vec![("host".into(), "a".into()), ("path".into(), "x\"y".into())],
                ts: 1000,
                value: 93.5
            }]
        );
        let r = parse_line("cpu,host=a usage=93.5,idle=6i 1000000000", Format::Auto).unwrap();
        assert_eq!(r.len(), 2);
        assert!(matches!(&r[0], Record::Sample { metric, ts: 1000, .. } if metric == "cpu_usage"));
        assert!(
            parse_line("cpu 1", Format::Prometheus)
                .unwrap_err()
                .contains("timestamp")
        );
        assert!(
            parse_line(r#"{"ts":"yesterday","metric":"x","value":1}"#, Format::Json)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
