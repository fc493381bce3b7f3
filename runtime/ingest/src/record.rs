//! What decoders produce: samples and events with their times.

use serde_json::Value;

/// One parsed input record. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sample {
        metric: String,
        labels: Vec<(String, String)>,
        ts: i64,
        value: f64,
    },
    /// A staleness marker: the series ended at `ts` (instant reads stop seeing it), as
    /// Prometheus marks a target that disappeared.
    Stale {
        metric: String,
        labels: Vec<(String, String)>,
        ts: i64,
    },
    /// Samples of one series with its labels once (remote_write), in the order sent; a value
    /// with [`crate::remote_write::STALE_NAN`]'s bits is a staleness marker.
    Series {
        metric: String,
        labels: Vec<(String, String)>,
        points: Vec<(i64, f64)>,
    },
    Event {
        ts: i64,
        event: Value,
    },
    /// An event line kept as text (only with [`crate::Context::raw_events`]): the engine reads the
    /// fields its rules use straight from the object at `start`, and parses the rest only for
    /// alerts.
    Raw {
        ts: i64,
        line: String,
        start: usize,
    },
    /// A JSON sample line of a series whose text (between its time and its value) was read in
    /// full and accepted before (only with [`crate::Context::series_keys`]): `key` names the
    /// series ([`crate::series_keys::SeriesKeys::key`]), and the engine reads the labels from
    /// `line` only when it does not know the key.
    Keyed {
        key: crate::series_keys::SeriesKey,
        ts: i64,
        value: f64,
        line: String,
    },
}

/// A sample value in a JSON line: the shortest number that reads back as the same f64, or
/// `"NaN"`, `"+Inf"`, `"-Inf"` where JSON has no number.
pub(crate) fn json_value(v: f64) -> String {
    if v.is_finite() {
        serde_json::Value::from(v).to_string()
    } else if v.is_nan() {
        "\"NaN\"".into()
    } else if v > 0.0 {
        "\"+Inf\"".into()
    } else {
        "\"-Inf\"".into()
    }
}

/// A sample record's metric, labels, time and value, to write in place.
pub(crate) type SampleParts<'r> = (
    &'r mut String,
    &'r mut Vec<(String, String)>,
    &'r mut i64,
    &'r mut f64,
);

/// Writes label `n` of `labels`, reusing that entry's strings when it has one.
pub(crate) fn put_label(labels: &mut Vec<(String, String)>, n: usize, k: &str, v: &str) {
    if let Some((lk, lv)) = labels.get_mut(n) {
        lk.clear();
        lk.push_str(k);
        lv.clear();
        lv.push_str(v);
    } else {
        labels.push((k.to_string(), v.to_string()));
    }
}

impl Record {
    /// The record as a sample's parts to overwrite (made a sample, without buffers, if it is
    /// not one), so a stream of samples parses into the same strings.
    pub(crate) fn sample_parts(&mut self) -> Option<SampleParts<'_>> {
        if !matches!(self, Record::Sample { .. }) {
            *self = Record::Sample {
                metric: String::new(),
                labels: Vec::new(),
                ts: 0,
                value: 0.0,
            };
        }
        match self {
            Record::Sample {
                metric,
                labels,
                ts,
                value,
            } => Some((metric, labels, ts, value)),
            _ => None,
        }
    }

    /// The record as a keyed sample's key, time, value and line to overwrite (made one, without
    /// buffers, if it is not one).
    pub(crate) fn keyed_parts(
        &mut self,
    ) -> Option<(
        &mut crate::series_keys::SeriesKey,
        &mut i64,
        &mut f64,
        &mut String,
    )> {
        if !matches!(self, Record::Keyed { .. }) {
            *self = Record::Keyed {
                key: (0, 0),
                ts: 0,
                value: 0.0,
                line: String::new(),
            };
        }
        match self {
            Record::Keyed {
                key,
                ts,
                value,
                line,
            } => Some((key, ts, value, line)),
            _ => None,
        }
    }

    /// A sample's time to set (a plain or keyed sample's; `None` for other records).
    pub(crate) fn sample_ts(&mut self) -> Option<&mut i64> {
        match self {
            Record::Sample { ts, .. } | Record::Keyed { ts, .. } => Some(ts),
            _ => None,
        }
    }

    /// The record as one line of the `vigil replay` JSON format (what the daemon logs for
    /// inputs that arrive in other formats). Non-finite values are written as strings.
    pub fn to_json_line(&self, out: &mut String) {
        use serde_json::Value;
        use std::fmt::Write;
        let labels = |l: &[(String, String)]| {
            Value::Object(
                l.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        };
        // `ts` first: the one-pass readers expect it there.
        let _ = match self {
            Record::Sample {
                metric,
                labels: l,
                ts,
                value,
            } => {
                let value = json_value(*value);
                let metric = Value::String(metric.clone());
                writeln!(
                    out,
                    "{{\"ts\":{ts},\"metric\":{metric},\"labels\":{},\"value\":{value}}}",
                    labels(l)
                )
            }
            Record::Stale {
                metric,
                labels: l,
                ts,
            } => {
                let metric = Value::String(metric.clone());
                writeln!(
                    out,
                    "{{\"ts\":{ts},\"metric\":{metric},\"labels\":{},\"value\":\"stale\"}}",
                    labels(l)
                )
            }
            Record::Series {
                metric,
                labels: l,
                points,
            } => {
                for &(ts, v) in points {
                    let value = if v.to_bits() == crate::remote_write::STALE_NAN {
                        "\"stale\"".to_string()
                    } else {
                        json_value(v)
                    };
                    let metric = Value::String(metric.clone());
                    let _ = writeln!(
                        out,
                        "{{\"ts\":{ts},\"metric\":{metric},\"labels\":{},\"value\":{value}}}",
                        labels(l)
                    );
                }
                Ok(())
            }
            Record::Event { ts, event } => writeln!(out, "{{\"ts\":{ts},\"event\":{event}}}"),
            // The sample line as it came (its time is the line's own).
            Record::Keyed { line, .. } => writeln!(out, "{}", line.trim()),
            Record::Raw { ts, line, start } => {
                // The event object's text, as it came: from `start` to the end of the value.
                let rest = line.get(*start..).unwrap_or("");
                let mut it =
                    serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
                let _ = it.next();
                let end = it.byte_offset();
                writeln!(out, "{{\"ts\":{ts},\"event\":{}}}", &rest[..end])
            }
        };
    }

    /// The record's time (a series': its latest point's; none: `i64::MIN`).
    pub fn ts(&self) -> i64 {
        match self {
            Record::Series { points, .. } => points.iter().map(|p| p.0).max().unwrap_or(i64::MIN),
            Record::Sample { ts, .. }
            | Record::Stale { ts, .. }
            | Record::Event { ts, .. }
            | Record::Raw { ts, .. }
            | Record::Keyed { ts, .. } => *ts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, parse_line_into};

    /// Every kind of record reads back from its JSON line as itself.
    #[test]
    fn json_lines_read_back() {
        let lines = [
            r#"{"ts":5,"metric":"cpu","labels":{"host":"a\"b"},"value":1.5}"#,
            r#"{"ts":5,"metric":"cpu","labels":{},"value":"+Inf"}"#,
            r#"{"ts":5,"metric":"cpu","labels":{"h":"x"},"value":"stale"}"#,
            r#"{"ts":5,"event":{"user":"bob","tags":["a",1]}}"#,
        ];
        for raw_events in [false, true] {
            let mut cx = Context {
                time: None,
                raw_events,
                checked: false,
                series_keys: None,
            };
            for l in lines {
                let mut recs = std::collections::VecDeque::new();
                parse_line_into(l, Format::Json, &mut cx, &mut recs, &mut Vec::new()).unwrap();
                let mut out = String::new();
                recs[0].to_json_line(&mut out);
                let mut again = std::collections::VecDeque::new();
                parse_line_into(
                    out.trim_end(),
                    Format::Json,
                    &mut cx,
                    &mut again,
                    &mut Vec::new(),
                )
                .unwrap();
                assert_eq!(recs, again, "{l} -> {out}");
                if raw_events {
                    // Event text is kept as it came (a parsed event's keys come out sorted).
                    assert_eq!(out.trim_end(), l);
                }
            }
        }
    }

    /// A keyed sample is written back, as a JSON line and in binary, as the sample it names.
    #[test]
    fn keyed_samples_write_back_as_samples() {
        let l = r#"{"ts": 5, "metric": "cpu", "labels": {"host": "a"}, "value": 1.5}"#;
        let mut cx = Context {
            series_keys: Some(Default::default()),
            ..Context::default()
        };
        let mut recs = std::collections::VecDeque::new();
        for _ in 0..2 {
            parse_line_into(l, Format::Json, &mut cx, &mut recs, &mut Vec::new()).unwrap();
        }
        assert!(matches!(recs[0], Record::Sample { .. }), "{recs:?}");
        assert!(matches!(recs[1], Record::Keyed { ts: 5, .. }), "{recs:?}");
        let mut out = String::new();
        recs[1].to_json_line(&mut out);
        assert_eq!(
            crate::parse_line(out.trim_end(), Format::Json).unwrap(),
            [recs[0].clone()]
        );
        let mut bin = Vec::new();
        crate::binary::encode([&recs[1]], &mut bin);
        let mut back = std::collections::VecDeque::new();
        crate::binary::decode(&bin, &mut back).unwrap();
        assert_eq!(back, [recs[0].clone()]);
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
