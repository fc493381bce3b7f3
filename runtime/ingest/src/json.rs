//! JSON lines read with serde: a sample `{"ts":..,"metric":..,"labels":{..},"value":..}` or an
//! event `{"ts":..,"event":{..}}`, typed and borrowed so a line allocates only what it keeps.

use crate::Record;
use crate::line::fill_sample;
use crate::prometheus::float;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use vigil_vocab::time::rfc3339;

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
    event: Option<crate::strict::Strict>,
}

/// One JSON line into `rec`; a line without `ts` takes `default_ts` (the daemon's arrival
/// time) when there is one.
pub(crate) fn json(l: &str, rec: &mut Record, default_ts: Option<i64>) -> Result<(), String> {
    let line: Line = serde_json::from_str(l).map_err(|e| match e.classify() {
        // A key of the line (not of the event inside it) given twice: which one would count
        // is a guess, so the line is refused.
        serde_json::error::Category::Data if e.to_string().starts_with("duplicate field") => {
            format!("{e}: a key of the line given twice is refused")
        }
        serde_json::error::Category::Data if e.to_string().starts_with("key `") => e.to_string(),
        serde_json::error::Category::Data => "expected a JSON object".to_string(),
        _ => format!("invalid JSON: {e}"),
    })?;
    let ts = match line.ts {
        Some(Scalar::Int(ms)) => ms,
        Some(Scalar::Float(f)) if f.is_finite() => f.round() as i64,
        Some(Scalar::Str(s)) => rfc3339(&s)?,
        Some(_) => return Err("`ts` must be epoch milliseconds or an RFC 3339 string".into()),
        None => match default_ts {
            Some(t) => t,
            None => return Err("missing `ts` (epoch milliseconds or RFC 3339)".into()),
        },
    };
    if let Some(ev) = line.event {
        *rec = Record::Event { ts, event: ev.0 };
        return Ok(());
    }
    let metric = match line.metric {
        Some(Scalar::Str(s)) if valid_metric(&s) => s,
        Some(Scalar::Str(s)) => return Err(format!("invalid metric name `{s}`")),
        _ => return Err("expected `metric` (a sample) or `event`".into()),
    };
    // `"stale"`: a staleness marker (the series ended), as remote_write's StaleNaN.
    let stale = matches!(&line.value, Some(Scalar::Str(s)) if s == "stale");
    let value = match line.value {
        _ if stale => f64::NAN,
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
    if stale {
        *rec = Record::Stale {
            metric: metric.to_string(),
            labels: texts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ts,
        };
        return Ok(());
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

pub(crate) fn valid_metric(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

#[cfg(test)]
mod fast_path {
    use super::*;
    use crate::{Format, parse_line};
    use proptest::prelude::*;

    fn serde_only(l: &str) -> Result<Record, String> {
        let mut rec = Record::Event {
            ts: 0,
            event: serde_json::Value::Null,
        };
        json(l, &mut rec, None).map(|()| rec)
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
                let series = Series {
                    metric: json_str(&metric),
                    labels: format!("{{{}}}", lab.join(",")),
                    order,
                    ws,
                };
                series.line(&ts, &value)
            })
    }

    /// A sample line's parts other than its time and value (the metric as JSON text, the
    /// labels object's text), and how its members are ordered and spaced.
    #[derive(Debug, Clone)]
    struct Series {
        metric: String,
        labels: String,
        order: u8,
        ws: &'static str,
    }

    impl Series {
        fn line(&self, ts: &str, value: &str) -> String {
            let ws = self.ws;
            let mut fields = vec![
                format!("\"ts\"{ws}:{ws}{ts}"),
                format!("\"metric\":{}", self.metric),
                format!("\"labels\":{}", self.labels),
                format!("\"value\"{ws}:{ws}{value}"),
            ];
            let order = self.order;
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
        }
    }

    /// Series texts, valid and not: labels of every string, a label given twice, label values
    /// that are not strings, members where the labels should be.
    fn series() -> impl Strategy<Value = Series> {
        let labels = prop_oneof![
            prop::collection::vec((text(), text()), 0..4).prop_map(|l| {
                let l: Vec<String> = l
                    .iter()
                    .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
                    .collect();
                format!("{{{}}}", l.join(","))
            }),
            prop::sample::select(vec![
                r#"{"a":"x","a":"y"}"#,
                r#"{"a":1}"#,
                r#"{"a":["x"]}"#,
                r#"{"a":{"b":"c"}}"#,
                r#"{"a":"}"}"#,
                r#"{"a":"x"}, "value": 5"#,
                r#"{"a":"x"}, "ts": 5"#,
                r#"{"a":"x"}, "event": {}"#,
                r#"{"a":"x"}, "labels": {}"#,
                r#"{"a":"x""#,
                r#"{"a":"x"}}"#,
            ])
            .prop_map(String::from),
        ];
        // Half in the order read by key (time first, value last), half in any.
        (
            text(),
            labels,
            prop_oneof![Just(0u8), any::<u8>()],
            prop::sample::select(vec!["", " ", "\t"]),
        )
            .prop_map(|(metric, labels, order, ws)| Series {
                metric: json_str(&metric),
                labels,
                order: order & 0x7f,
                ws,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Reading by series key changes nothing: lines of a few series, each with several
        /// times and values (so a series' text comes again, keyed once it was accepted), read
        /// in turn with one context, give what each line gives read alone, once a keyed
        /// record's labels are read from its line; a line refused one way is refused the other.
        #[test]
        fn series_keys_read_as_lines_read(
            series in prop::collection::vec(series(), 1..4),
            points in prop::collection::vec((number(), number()), 1..5),
        ) {
            let mut cx = crate::Context {
                series_keys: Some(Default::default()),
                ..Default::default()
            };
            for (ts, value) in &points {
                for s in &series {
                    let l = s.line(ts, value);
                    let (mut q, mut spare) = (std::collections::VecDeque::new(), Vec::new());
                    let read = crate::parse_line_into(&l, Format::Json, &mut cx, &mut q, &mut spare)
                        .map(|()| {
                            q.into_iter()
                                .map(|r| match r {
                                    Record::Keyed { ts, value, line, .. } => {
                                        match parse_line(&line, Format::Json).as_deref() {
                                            Ok([Record::Sample { metric, labels, .. }]) => {
                                                Record::Sample {
                                                    metric: metric.clone(),
                                                    labels: labels.clone(),
                                                    ts,
                                                    value,
                                                }
                                            }
                                            other => panic!("{line}: keyed, but reads {other:?}"),
                                        }
                                    }
                                    r => r,
                                })
                                .collect::<Vec<_>>()
                        });
                    let alone = parse_line(&l, Format::Json);
                    prop_assert_eq!(format!("{read:?}"), format!("{alone:?}"), "{}", l);
                }
            }
        }
    }

    #[test]
    fn repeated_series_come_keyed() {
        let s = Series {
            metric: "\"cpu\"".into(),
            labels: r#"{"host":"a"}"#.into(),
            order: 0,
            ws: " ",
        };
        let mut cx = crate::Context {
            series_keys: Some(Default::default()),
            ..Default::default()
        };
        let kinds: Vec<bool> = ["1", "2", "3"]
            .iter()
            .map(|t| {
                let (mut q, mut spare) = (std::collections::VecDeque::new(), Vec::new());
                crate::parse_line_into(&s.line(t, t), Format::Json, &mut cx, &mut q, &mut spare)
                    .expect("a sample");
                matches!(q[0], Record::Keyed { .. })
            })
            .collect();
        assert_eq!(kinds, [false, true, true]);
    }

    fn json_str(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_default()
    }

    /// JSON values of every shape, strings with escapes and brackets among them.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            prop_oneof![text(), Just("}]{[\\\"".to_string())].prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// An event line without `ts`, read as text (the daemon's path, taking the arrival
        /// time) or parsed by serde, is the same event at the same time, whatever follows the
        /// event object (a `ts` after it is read, not overridden).
        #[test]
        fn untimed_events_read_as_serde_reads_them(
            event in prop::collection::btree_map(text(), value(), 0..5),
            tail in prop::sample::select(vec!["", " ", ",\"ts\":5", ",\"x\":1", "  \t"]),
            ws in prop::sample::select(vec!["", " ", "\t"]),
        ) {
            let event = serde_json::Value::Object(event.into_iter().collect());
            let l = format!("{{{ws}\"event\"{ws}:{ws}{event}{ws}{tail}}}");
            let read = |raw_events: bool, checked: bool| {
                let mut cx = crate::Context { time: Some(7), raw_events, checked, series_keys: None };
                let (mut q, mut spare) = (std::collections::VecDeque::new(), Vec::new());
                crate::parse_line_into(&l, Format::Json, &mut cx, &mut q, &mut spare)
                    .map(|()| {
                        let mut out = String::new();
                        q.iter().for_each(|r| r.to_json_line(&mut out));
                        serde_json::from_str::<serde_json::Value>(&out).ok()
                    })
            };
            prop_assert_eq!(read(true, false), read(false, false), "{}", l);
            // The daemon's way: checked as it is read.
            prop_assert_eq!(read(true, true), read(false, false), "{}", l);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The fast path and serde read every generated line the same way (both accept it
        /// with the same record, or the line is an error either way).
        #[test]
        fn fast_json_agrees_with_serde(l in line()) {
            let fast = parse_line(&l, Format::Json);
            let slow = serde_only(l.trim());
            // Where event lines stay text, samples still take the one-pass reader.
            let mut cx = crate::Context { time: None, raw_events: true, checked: false, series_keys: None };
            let (mut q, mut spare) = (std::collections::VecDeque::new(), Vec::new());
            let raw = crate::parse_line_into(&l, Format::Json, &mut cx, &mut q, &mut spare)
                .map(|()| Vec::from(q));
            prop_assert_eq!(format!("{fast:?}"), format!("{raw:?}"), "{}", l);
            match (&fast, &slow) {
                // Compared as text so NaN values compare equal.
                (Ok(f), Ok(s)) => prop_assert_eq!(format!("{f:?}"), format!("{:?}", [s]), "{}", l),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{l}: fast {fast:?} serde {slow:?}"),
            }
        }
    }
}
