//! Input formats for `vigil replay` (and later the daemon's ingest): JSON lines (metric samples
//! and events), Prometheus text exposition, and Influx line protocol. Every parser returns a
//! clear message for a bad line; callers report it with the line number and go on.

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;

/// One parsed input record. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sample {
        metric: String,
        labels: Vec<(String, String)>,
        ts: i64,
        value: f64,
    },
    Event {
        ts: i64,
        event: Value,
    },
    /// An event line kept as text (only with [`Context::raw_events`]): the engine reads the
    /// fields its rules use straight from the object at `start`, and parses the rest only for
    /// alerts.
    Raw {
        ts: i64,
        line: String,
        start: usize,
    },
}

impl Record {
    pub fn ts(&self) -> i64 {
        match self {
            Record::Sample { ts, .. } | Record::Event { ts, .. } | Record::Raw { ts, .. } => *ts,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Decided per line.
    Auto,
    Json,
    Prometheus,
    Influx,
}

impl Format {
    /// From a file name's extension.
    pub fn of_path(p: &str) -> Format {
        let ext = p.rsplit('.').next().unwrap_or("");
        match ext {
            "jsonl" | "json" | "ndjson" => Format::Json,
            "prom" => Format::Prometheus,
            "influx" | "lp" => Format::Influx,
            _ => Format::Auto,
        }
    }
}

/// Parses one line into records (an Influx line may carry several fields). Blank lines and
/// comments give none.
pub fn parse_line(line: &str, fmt: Format) -> Result<Vec<Record>, String> {
    let mut out = std::collections::VecDeque::new();
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
    /// From a `# time: <ms or RFC 3339>` comment: the time of following exposition samples
    /// that carry none (a scraped `/metrics` page has no timestamps; prepend the scrape time).
    pub time: Option<i64>,
    /// Keep the common event line's object as text ([`Record::Raw`]).
    pub raw_events: bool,
}

/// [`parse_line`] appending to `out`, reusing records from `spare` (their strings keep their
/// buffers), so a steady stream of JSON samples parses without allocating.
pub fn parse_line_into(
    line: &str,
    fmt: Format,
    cx: &mut Context,
    out: &mut std::collections::VecDeque<Record>,
    spare: &mut Vec<Record>,
) -> Result<(), String> {
    let l = line.trim();
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
    let fmt = match fmt {
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
    };
    match fmt {
        Format::Json => {
            let mut rec = spare.pop().unwrap_or(Record::Event {
                ts: 0,
                event: Value::Null,
            });
            if let Some(fast) = (!cx.raw_events || !l.contains("\"event\""))
                .then(|| crate::fast_json::sample(l))
                .flatten()
                && valid_metric(fast.metric)
            {
                let ts = match fast.ts {
                    crate::fast_json::TsText::Ms(ms) => Ok(ms),
                    crate::fast_json::TsText::Text(t) => rfc3339(t),
                };
                match ts {
                    Ok(ts) => {
                        let labels = fast.labels[..fast.n_labels].iter().copied();
                        fill_sample(&mut rec, fast.metric, labels, ts, fast.value);
                        out.push_back(rec);
                        return Ok(());
                    }
                    Err(e) => {
                        spare.push(rec);
                        return Err(e);
                    }
                }
            }
            if cx.raw_events
                && let Some((ts, start)) = crate::fast_json::event_start(l)
            {
                let ts = match ts {
                    crate::fast_json::TsText::Ms(ms) => Ok(ms),
                    crate::fast_json::TsText::Text(t) => rfc3339(t),
                };
                match ts {
                    Ok(ts) => {
                        if let Record::Raw {
                            ts: t,
                            line,
                            start: s,
                        } = &mut rec
                        {
                            *t = ts;
                            *s = start;
                            line.clear();
                            line.push_str(l);
                        } else {
                            rec = Record::Raw {
                                ts,
                                line: l.to_string(),
                                start,
                            };
                        }
                        out.push_back(rec);
                        return Ok(());
                    }
                    Err(e) => {
                        spare.push(rec);
                        return Err(e);
                    }
                }
            }
            match json(l, &mut rec) {
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

/// Overwrites `rec` with a sample, reusing its buffers.
fn fill_sample<'a>(
    rec: &mut Record,
    metric: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ts_v: i64,
    value_v: f64,
) {
    if !matches!(rec, Record::Sample { .. }) {
        *rec = Record::Sample {
            metric: String::new(),
            labels: Vec::new(),
            ts: 0,
            value: 0.0,
        };
    }
    let Record::Sample {
        metric: m,
        labels,
        ts,
        value,
    } = rec
    else {
        return;
    };
    m.clear();
    m.push_str(metric);
    let mut n = 0;
    for (k, v) in pairs {
        if n < labels.len() {
            let (lk, lv) = &mut labels[n];
            lk.clear();
            lk.push_str(k);
            lv.clear();
            lv.push_str(v);
        } else {
            labels.push((k.to_string(), v.to_string()));
        }
        n += 1;
    }
    labels.truncate(n);
    *ts = ts_v;
    *value = value_v;
}

/// A JSON scalar as it appears in a line, borrowed where the text has no escapes.
enum Scalar<'a> {
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bool(bool),
    /// An object or array (never valid where a scalar is expected).
    Nested,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `labels`: an object of scalars (anything else is reported).
struct LabelList<'a>(Result<Vec<(Cow<'a, str>, Scalar<'a>)>, ()>);

impl<'de: 'a, 'a> Deserialize<'de> for LabelList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LabelList<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of label values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Scalar<'a>, Scalar<'a>>()? {
                    let Scalar::Str(k) = k else {
                        return Ok(LabelList(Err(())));
                    };
                    out.push((k, v));
                }
                Ok(LabelList(Ok(out)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(LabelList(Ok(Vec::new())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LabelList(Err(())))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LabelList(Err(())))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LabelList(Err(())))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LabelList(Err(())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LabelList(Err(())))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(LabelList(Err(())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One JSON line, typed and borrowed (unknown fields are ignored).
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    ts: Option<Scalar<'a>>,
    #[serde(borrow)]
    metric: Option<Scalar<'a>>,
    #[serde(borrow)]
    labels: Option<LabelList<'a>>,
    #[serde(borrow)]
    value: Option<Scalar<'a>>,
    event: Option<Value>,
}

fn json(l: &str, rec: &mut Record) -> Result<(), String> {
    let line: Line = serde_json::from_str(l).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => "expected a JSON object".to_string(),
        _ => format!("invalid JSON: {e}"),
    })?;
    let ts = match line.ts {
        Some(Scalar::Int(ms)) => ms,
        Some(Scalar::Float(f)) if f.is_finite() => f.round() as i64,
        Some(Scalar::Str(s)) => rfc3339(&s)?,
        Some(_) => return Err("`ts` must be epoch milliseconds or an RFC 3339 string".into()),
        None => return Err("missing `ts` (epoch milliseconds or RFC 3339)".into()),
    };
    if let Some(ev) = line.event {
        *rec = Record::Event { ts, event: ev };
        return Ok(());
    }
    let metric = match line.metric {
        Some(Scalar::Str(s)) if valid_metric(&s) => s,
        Some(Scalar::Str(s)) => return Err(format!("invalid metric name `{s}`")),
        _ => return Err("expected `metric` (a sample) or `event`".into()),
    };
    let value = match line.value {
        Some(Scalar::Int(i)) => i as f64,
        Some(Scalar::Float(f)) => f,
        Some(Scalar::Str(s)) => float(&s)?,
        _ => return Err("a sample needs a numeric `value`".into()),
    };
    let pairs = match line.labels {
        None => Vec::new(),
        Some(LabelList(Err(()))) => return Err("`labels` must be an object of strings".into()),
        Some(LabelList(Ok(pairs))) => pairs,
    };
    let mut texts: Vec<(Cow<str>, Cow<str>)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let v: Cow<str> = match v {
            Scalar::Str(s) => s,
            Scalar::Int(i) => Cow::Owned(i.to_string()),
            Scalar::Float(f) => Cow::Owned(f.to_string()),
            Scalar::Bool(b) => Cow::Owned(b.to_string()),
            Scalar::Nested => return Err(format!("label `{k}` must be a string")),
        };
        texts.push((k, v));
    }
    fill_sample(
        rec,
        &metric,
        texts.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        ts,
        value,
    );
    Ok(())
}

fn valid_metric(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

/// Prometheus's float syntax (`NaN`, `+Inf`, `-Inf` included).
pub(crate) fn float(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("`{s}` is not a number")),
    }
}

/// `ts` as epoch ms (a number) or an RFC 3339 string.
pub fn timestamp(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.round() as i64))
            .ok_or_else(|| "`ts` is out of range".to_string()),
        Value::String(s) => rfc3339(s),
        _ => Err("`ts` must be epoch milliseconds or an RFC 3339 string".into()),
    }
}

/// `2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.250+01:00`, `2026-11-23 10:00:00Z`.
pub fn rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not an RFC 3339 time (like 2026-11-23T10:00:00Z)");
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r).and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad)
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return Err(bad());
        }
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        ms = padded.parse().map_err(|_| bad())?;
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let hh: i64 = tz[1..3].parse().map_err(|_| bad())?;
            let mm: i64 = tz[4..6].parse().map_err(|_| bad())?;
            sign * (hh * 3600 + mm * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    Ok(((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Splits on spaces that are not inside double quotes.
fn split_outside_quotes(l: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (None, false, false);
    for (i, c) in l.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                if let Some(s) = start.take() {
                    out.push(&l[s..i]);
                }
                continue;
            }
            _ => {}
        }
        if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&l[s..]);
    }
    out
}

/// `name{a="b",c="d"} value [timestamp_ms]`: without a timestamp, the time of the last
/// `# time:` line.
fn prometheus(l: &str, time: Option<i64>) -> Result<Record, String> {
    let (name, labels, rest) = match l.find('{') {
        Some(open) => {
            let close = l[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or("unclosed `{` in the label set")?;
            (
                &l[..open],
                prom_labels(&l[open + 1..close])?,
                &l[close + 1..],
            )
        }
        None => {
            let sp = l
                .find([' ', '\t'])
                .ok_or("expected `name value timestamp`")?;
            (&l[..sp], Vec::new(), &l[sp..])
        }
    };
    let name = name.trim();
    if !valid_metric(name) {
        return Err(format!("invalid metric name `{name}`"));
    }
    let mut parts = rest.split_whitespace();
    let value = float(parts.next().ok_or("missing the sample value")?)?;
    let ts = match parts.next() {
        Some(t) => t
            .parse::<i64>()
            .map_err(|_| format!("`{t}` is not a timestamp in milliseconds"))?,
        None => time.ok_or(
            "a sample needs a timestamp (ms) to be replayed: `name{..} value timestamp`, or a \
             `# time: 2026-11-23T10:00:00Z` line before it",
        )?,
    };
    Ok(Record::Sample {
        metric: name.to_string(),
        labels,
        ts,
        value,
    })
}

fn prom_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("expected `label=\"value\"`")?;
        let name = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        if !rest.starts_with('"') {
            return Err(format!("the value of label `{name}` must be quoted"));
        }
        let mut val = String::new();
        let mut chars = rest[1..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, c)) => val.push(c),
                    None => break,
                },
                '"' => {
                    end = Some(i + 2);
                    break;
                }
                c => val.push(c),
            }
        }
        let end = end.ok_or_else(|| format!("unterminated value of label `{name}`"))?;
        out.push((name, val));
        rest = rest[end..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

/// `measurement,tag=v field=1.5,other=2i timestamp_ns`: one sample per numeric field, named
/// `measurement_field` (just `measurement` for a field called `value`).
fn influx(l: &str) -> Result<Vec<Record>, String> {
    let parts = split_outside_quotes(l);
    let (head, fields, ts) = match parts.as_slice() {
        [h, f, t] => (*h, *f, Some(*t)),
        [h, f] => (*h, *f, None),
        _ => return Err("expected `measurement[,tags] fields [timestamp]`".into()),
    };
    let ts = match ts {
        Some(t) => {
            let ns: i128 = t
                .parse()
                .map_err(|_| format!("`{t}` is not a timestamp in nanoseconds"))?;
            (ns / 1_000_000) as i64
        }
        None => return Err("a line needs a timestamp (ns) to be replayed".into()),
    };
    let mut tags = head.split(',');
    let measurement = tags.next().unwrap_or("").replace('\\', "");
    let mut labels = Vec::new();
    for t in tags {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| format!("tag `{t}` needs a value"))?;
        labels.push((k.to_string(), v.to_string()));
    }
    let mut out = Vec::new();
    for f in fields.split(',') {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("field `{f}` needs a value"))?;
        let v = v.trim_end_matches(['i', 'u']);
        let value = match v {
            "t" | "T" | "true" | "True" | "TRUE" => 1.0,
            "f" | "F" | "false" | "False" | "FALSE" => 0.0,
            v if v.starts_with('"') => continue,
            v => v
                .parse()
                .map_err(|_| format!("field `{k}` is not a number"))?,
        };
        let metric = if k == "value" {
            measurement.clone()
        } else {
            format!("{measurement}_{k}")
        };
        if !valid_metric(&metric) {
            return Err(format!("`{metric}` is not a valid metric name"));
        }
        out.push(Record::Sample {
            metric,
            labels: labels.clone(),
            ts,
            value,
        });
    }
    Ok(out)
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

#[cfg(test)]
mod fast_path {
    use super::*;
    use proptest::prelude::*;

    fn serde_only(l: &str) -> Result<Record, String> {
        let mut rec = Record::Event {
            ts: 0,
            event: Value::Null,
        };
        json(l, &mut rec).map(|()| rec)
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_][a-z0-9_:]{0,8}",
            "\\PC{0,6}",
            Just("a\\\"b".to_string()),
            Just("tab\there".to_string()),
            Just("é✓".to_string()),
        ]
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            (-1000i32..1000, -30i32..30).prop_map(|(m, e)| format!("{m}e{e}")),
            Just("1.5E+3".to_string()),
            Just("-0".to_string()),
            Just("01".to_string()),
            Just("1.".to_string()),
            Just("\"NaN\"".to_string()),
            Just("\"2026-11-23T10:00:00Z\"".to_string()),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        (
            number(),
            text(),
            prop::collection::vec((text(), text()), 0..4),
            number(),
            any::<u8>(),
            prop::sample::select(vec!["", " ", "\t", "  "]),
        )
            .prop_map(|(ts, metric, labels, value, order, ws)| {
                let lab: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{ws}{}{ws}:{ws}{}", json_str(k), json_str(v)))
                    .collect();
                let mut fields = vec![
                    format!("\"ts\"{ws}:{ws}{ts}"),
                    format!("\"metric\":{}", json_str(&metric)),
                    format!("\"labels\":{{{}}}", lab.join(",")),
                    format!("\"value\":{value}"),
                ];
                fields.rotate_left(usize::from(order % 4));
                if order & 0x10 != 0 {
                    fields.swap(0, 1);
                }
                if order & 0x20 != 0 {
                    fields.push("\"extra\":1".into());
                }
                if order & 0x40 != 0 {
                    fields.pop();
                }
                format!("{ws}{{{}}}{ws}", fields.join(&format!(",{ws}")))
            })
    }

    fn json_str(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_default()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The fast path and serde read every generated line the same way (both accept it
        /// with the same record, or the line is an error either way).
        #[test]
        fn fast_json_agrees_with_serde(l in line()) {
            let fast = parse_line(&l, Format::Json);
            let slow = serde_only(l.trim());
            match (&fast, &slow) {
                // Compared as text so NaN values compare equal.
                (Ok(f), Ok(s)) => prop_assert_eq!(format!("{f:?}"), format!("{:?}", [s]), "{}", l),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{l}: fast {fast:?} serde {slow:?}"),
            }
        }
    }
}
