//! Prometheus remote_write 1.0: a snappy-compressed (block format) protobuf `WriteRequest`
//! to one record per series ([`to_series`]: what the daemon applies and logs), or to JSON
//! sample lines in the `vigil replay` format ([`to_lines`]). The messages are `prompb/remote.proto` and `types.proto` (field numbers
//! as there); exemplars, native histograms and metadata are skipped.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Prometheus's staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Why a request body is not a remote_write request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WriteError {
    #[error("the body is not snappy-compressed (block format): {0}")]
    Snappy(String),
    #[error("the body is {0} bytes once decompressed (at most {1})")]
    TooLarge(usize, usize),
    #[error("the body is not a remote_write WriteRequest: {0}")]
    Protobuf(String),
}

/// Decodes a body: snappy within `max_decoded` bytes (the length is read from the header
/// before anything is allocated), then the protobuf.
pub fn decode(body: &[u8], max_decoded: usize) -> Result<WriteRequest, WriteError> {
    let len = snap::raw::decompress_len(body).map_err(|e| WriteError::Snappy(e.to_string()))?;
    if len > max_decoded {
        return Err(WriteError::TooLarge(len, max_decoded));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| WriteError::Snappy(e.to_string()))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| WriteError::Protobuf(e.to_string()))
}

/// One series of a request that cannot be taken, and why (the others still are).
#[derive(Debug, PartialEq)]
pub struct Refused {
    /// Position in the request, from 1.
    pub series: usize,
    pub reason: String,
}

/// The request's samples as JSON lines (`"value"` is `"NaN"`, `"+Inf"`, `"-Inf"` or `"stale"`
/// where JSON has no number), with the series that cannot be taken. The daemon applies
/// [`to_series`]; this sample-by-sample form is the reference its tests compare it with.
pub fn to_lines(req: &WriteRequest, out: &mut String) -> Vec<Refused> {
    convert(req, out, None)
}

/// [`to_lines`], and the records those lines read as (labels in the lines' order), so the
/// daemon need not parse what it just wrote.
pub fn to_records(
    req: &WriteRequest,
    out: &mut String,
    records: &mut std::collections::VecDeque<crate::Record>,
) -> Vec<Refused> {
    convert(req, out, Some(records))
}

/// The request's series as [`crate::Record::Series`] (labels moved out of the request, not
/// copied; in the order sent, `__name__` apart), with the series that cannot be taken: what
/// the daemon applies and logs (in binary, [`crate::binary`]).
pub fn to_series(req: WriteRequest, out: &mut Vec<crate::Record>) -> Vec<Refused> {
    let mut refused = Vec::new();
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        let mut name = None;
        let mut labels = Vec::with_capacity(ts.labels.len().saturating_sub(1));
        for l in ts.labels {
            if l.name == "__name__" && name.is_none() {
                name = Some(l.value);
            } else {
                labels.push((l.name, l.value));
            }
        }
        let Some(metric) = name.filter(|n| crate::json::valid_metric(n)) else {
            refused.push(Refused {
                series: i + 1,
                reason: "no valid `__name__` label".into(),
            });
            continue;
        };
        // JSON lines of the same samples read their labels sorted by name: so do these.
        // Sorted, a repeated name sits next to itself (found in O(n log n) however many
        // labels a request gives; the label limit is applied later).
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let dup = labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .or_else(|| labels.windows(2).find(|w| w[0].0 == w[1].0).map(|w| &w[0]));
        if let Some((d, _)) = dup {
            refused.push(Refused {
                series: i + 1,
                reason: format!("label `{d}` given twice"),
            });
            continue;
        }
        let points = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        out.push(crate::Record::Series {
            metric,
            labels,
            points,
        });
    }
    refused
}

fn convert(
    req: &WriteRequest,
    out: &mut String,
    mut records: Option<&mut std::collections::VecDeque<crate::Record>>,
) -> Vec<Refused> {
    use std::fmt::Write;
    let mut refused = Vec::new();
    for (i, ts) in req.timeseries.iter().enumerate() {
        let name = ts.labels.iter().find(|l| l.name == "__name__");
        let Some(name) = name.filter(|n| crate::json::valid_metric(&n.value)) else {
            refused.push(Refused {
                series: i + 1,
                reason: "no valid `__name__` label".into(),
            });
            continue;
        };
        let mut labels = serde_json::Map::new();
        let mut dup = None;
        for l in ts.labels.iter().filter(|l| l.name != "__name__") {
            if labels
                .insert(l.name.clone(), serde_json::Value::String(l.value.clone()))
                .is_some()
            {
                dup = Some(l.name.clone());
            }
        }
        if let Some(d) = dup {
            refused.push(Refused {
                series: i + 1,
                reason: format!("label `{d}` given twice"),
            });
            continue;
        }
        let pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let head = format!(
            "\"metric\":{},\"labels\":{}",
            serde_json::Value::String(name.value.clone()),
            serde_json::Value::Object(labels)
        );
        for s in &ts.samples {
            let value = if s.value.to_bits() == STALE_NAN {
                "\"stale\"".to_string()
            } else {
                crate::record::json_value(s.value)
            };
            let _ = writeln!(out, "{{\"ts\":{},{head},\"value\":{value}}}", s.timestamp);
            if let Some(r) = records.as_deref_mut() {
                let (metric, labels, ts) = (name.value.clone(), pairs.clone(), s.timestamp);
                r.push_back(if s.value.to_bits() == STALE_NAN {
                    crate::Record::Stale { metric, labels, ts }
                } else {
                    crate::Record::Sample {
                        metric,
                        labels,
                        ts,
                        value: s.value,
                    }
                });
            }
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Record, parse_line};
    use proptest::prelude::*;

    fn encode(req: &WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        let mut l = vec![Label {
            name: "__name__".into(),
            value: name.into(),
        }];
        l.extend(labels.iter().map(|(k, v)| Label {
            name: (*k).into(),
            value: (*v).into(),
        }));
        TimeSeries {
            labels: l,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
        }
    }

    #[test]
    fn requests_become_sample_lines() {
        let req = WriteRequest {
            timeseries: vec![
                series(
                    "up",
                    &[("job", "node"), ("q", "a\"b\n")],
                    &[(1000, 1.0), (2000, 0.5)],
                ),
                series(
                    "x",
                    &[],
                    &[(3000, f64::from_bits(STALE_NAN)), (4000, f64::NAN)],
                ),
                TimeSeries {
                    labels: vec![],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 1,
                    }],
                },
            ],
        };
        let got = decode(&encode(&req), 1 << 20).unwrap();
        assert_eq!(
            got.encode_to_vec(),
            req.encode_to_vec(),
            "NaN != NaN: compared as bytes"
        );
        let mut text = String::new();
        let refused = to_lines(&got, &mut text);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].series, 3);
        let recs: Vec<Record> = text
            .lines()
            .flat_map(|l| parse_line(l, Format::Json).unwrap())
            .collect();
        assert_eq!(
            recs[0],
            Record::Sample {
                metric: "up".into(),
                labels: vec![("job".into(), "node".into()), ("q".into(), "a\"b\n".into())],
                ts: 1000,
                value: 1.0
            }
        );
        assert!(matches!(&recs[2], Record::Stale { ts: 3000, .. }));
        assert!(matches!(&recs[3], Record::Sample { value, .. } if value.is_nan()));
    }

    /// A repeated label name (or a second `__name__`) refuses its series, however many
    /// labels it has; the others are taken.
    #[test]
    fn repeated_label_names_refuse_their_series() {
        let names: Vec<String> = (0..50_000).map(|i| format!("l{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        let with = |extra: (&'static str, &'static str)| {
            let mut l = many.clone();
            l.insert(l.len() / 2, extra);
            series("m", &l, &[(1, 1.0)])
        };
        let req = WriteRequest {
            timeseries: vec![
                series("m", &many, &[(1, 1.0)]),
                with(("l7", "w")),
                with(("__name__", "n")),
                series("m", &[("a", "1"), ("b", "2"), ("a", "3")], &[(1, 1.0)]),
            ],
        };
        let mut out = Vec::new();
        let refused = to_series(req, &mut out);
        let got: Vec<(usize, &str)> = refused
            .iter()
            .map(|r| (r.series, r.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "label `l7` given twice"),
                (3, "label `__name__` given twice"),
                (4, "label `a` given twice")
            ]
        );
        assert!(matches!(&out[..], [Record::Series { labels, .. }] if labels.len() == 50_000));
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(matches!(
            decode(b"\xff\xff\xff", 100),
            Err(WriteError::Snappy(_))
        ));
        let big = snap::raw::Encoder::new()
            .compress_vec(&[0u8; 5000])
            .unwrap();
        assert_eq!(decode(&big, 1000), Err(WriteError::TooLarge(5000, 1000)));
        let junk = snap::raw::Encoder::new().compress_vec(&[0xff; 16]).unwrap();
        assert!(matches!(decode(&junk, 1000), Err(WriteError::Protobuf(_))));
        let full = encode(&WriteRequest {
            timeseries: vec![series("up", &[], &[(1, 1.0)])],
        });
        for cut in 0..full.len() {
            // Truncated: an error, never a panic.
            let _ = decode(&full[..cut], 1 << 20);
        }
    }

    proptest! {
        /// Any bytes: an error or a request, never a panic; and any request's lines read back
        /// as its samples.
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes, 1 << 16);
            let raw = snap::raw::Encoder::new().compress_vec(&bytes).unwrap();
            if let Ok(req) = decode(&raw, 1 << 16) {
                let mut text = String::new();
                let _ = to_lines(&req, &mut text);
                for l in text.lines() {
                    prop_assert!(parse_line(l, Format::Json).is_ok(), "{l}");
                }
            }
        }

        /// The records given with the lines are what the lines read as.
        #[test]
        fn records_are_what_the_lines_read_as(
            values in proptest::collection::vec(any::<f64>(), 1..5),
            labels in proptest::collection::vec(("[a-c]{1,2}", "\\PC{0,5}"), 0..4),
        ) {
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let samples: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, v)| (i as i64, *v)).collect();
            let req = WriteRequest { timeseries: vec![series("m", &pairs, &samples)] };
            let (mut text, mut recs) = (String::new(), std::collections::VecDeque::new());
            let refused = to_records(&req, &mut text, &mut recs);
            if !refused.is_empty() {
                prop_assert!(recs.is_empty());
                return Ok(());
            }
            let read: Vec<Record> = text.lines().flat_map(|l| parse_line(l, Format::Json).unwrap()).collect();
            prop_assert_eq!(read.len(), recs.len());
            for (a, b) in read.iter().zip(&recs) {
                match (a, b) {
                    (Record::Sample { value: x, labels: la, .. }, Record::Sample { value: y, labels: lb, .. }) => {
                        prop_assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                        prop_assert_eq!(la, lb);
                    }
                    (a, b) => prop_assert_eq!(a, b),
                }
            }
        }

        #[test]
        fn values_round_trip(v in any::<f64>(), ts in -1_000_000_000_000i64..4_000_000_000_000) {
            let req = WriteRequest { timeseries: vec![series("m", &[("k", "v")], &[(ts, v)])] };
            let mut text = String::new();
            prop_assert!(to_lines(&req, &mut text).is_empty());
            let recs = parse_line(text.trim_end(), Format::Json).unwrap();
            match &recs[0] {
                Record::Sample { value, ts: t, .. } => {
                    prop_assert_eq!(*t, ts);
                    prop_assert!(value.to_bits() == v.to_bits() || (v.is_nan() && value.is_nan()));
                }
                Record::Stale { .. } => prop_assert_eq!(v.to_bits(), STALE_NAN),
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
