//! Influx line protocol: `measurement,tag=v field=1.5 timestamp_ns`.

use crate::Record;
use crate::json::valid_metric;

/// Splits on spaces that are not inside double quotes.
pub(crate) fn split_outside_quotes(l: &str) -> Vec<&str> {
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

/// Tags one line may carry (series labels) and fields it may hold (samples it makes): a line
/// past them is refused, so one line cannot make millions of label copies.
pub const MAX_TAGS: usize = 128;
pub const MAX_FIELDS: usize = 256;

/// `measurement,tag=v field=1.5,other=2i timestamp_ns`: one sample per numeric or boolean
/// field, named `measurement_field` (just `measurement` for a field called `value`); string
/// fields are skipped. Parsed by InfluxDB IOx's reader (escapes, quoting and number forms as
/// InfluxDB reads them).
pub(crate) fn influx(l: &str) -> Result<Vec<Record>, String> {
    influx_with(l, Precision::Ns, None)
}

/// The unit of an Influx line's timestamp (the `precision` parameter of `/write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Ns,
    Us,
    Ms,
    S,
}

impl Precision {
    /// `ns`, `u`/`us`, `ms`, `s` (Influx's words); `None` for anything else.
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" | "n" => Precision::Ns,
            "us" | "u" | "µ" => Precision::Us,
            "ms" => Precision::Ms,
            "s" => Precision::S,
            _ => return None,
        })
    }

    /// A timestamp in this unit, in ms (rounded down); `None` when it does not fit.
    fn to_ms(self, t: i64) -> Option<i64> {
        match self {
            Precision::Ns => Some(t.div_euclid(1_000_000)),
            Precision::Us => Some(t.div_euclid(1_000)),
            Precision::Ms => Some(t),
            Precision::S => t.checked_mul(1000),
        }
    }
}

/// [`influx`] with the timestamp's unit, and the time of a line without one (the daemon's
/// arrival time; without it such a line is refused).
pub fn influx_with(
    l: &str,
    precision: Precision,
    default_ts: Option<i64>,
) -> Result<Vec<Record>, String> {
    use influxdb_line_protocol::FieldValue;
    let mut lines = influxdb_line_protocol::parse_lines(l);
    let line = match lines.next() {
        Some(Ok(line)) => line,
        Some(Err(e)) => return Err(format!("not Influx line protocol: {e}")),
        None => return Err("expected `measurement[,tags] fields [timestamp]`".into()),
    };
    if lines.next().is_some() {
        return Err("one line holds more than one Influx point".into());
    }
    let ts = match (line.timestamp, default_ts) {
        (Some(t), _) => precision
            .to_ms(t)
            .ok_or_else(|| format!("timestamp {t} ({precision:?}) is out of range"))?,
        (None, Some(t)) => t,
        (None, None) => return Err("a line needs a timestamp (ns) to be replayed".into()),
    };
    let tags = line.series.tag_set.as_deref().unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "{} tags: more than {MAX_TAGS} on one line",
            tags.len()
        ));
    }
    if line.field_set.len() > MAX_FIELDS {
        return Err(format!(
            "{} fields: more than {MAX_FIELDS} on one line",
            line.field_set.len()
        ));
    }
    let mut labels: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        let (k, v) = (k.to_string(), v.to_string());
        if labels.iter().any(|(have, _)| *have == k) {
            return Err(format!("tag `{k}` is given twice"));
        }
        labels.push((k, v));
    }
    let measurement = line.series.measurement.to_string();
    let mut out = Vec::with_capacity(line.field_set.len());
    for (k, v) in &line.field_set {
        let value = match v {
            FieldValue::I64(i) => *i as f64,
            FieldValue::U64(u) => *u as f64,
            FieldValue::F64(f) => *f,
            FieldValue::Boolean(b) => f64::from(u8::from(*b)),
            FieldValue::String(_) => continue,
        };
        let metric = if k.as_str() == "value" {
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

    type Sample = (String, Vec<(String, String)>, i64, f64);

    fn samples(l: &str) -> Result<Vec<Sample>, String> {
        Ok(influx(l)?
            .into_iter()
            .map(|r| match r {
                Record::Sample {
                    metric,
                    labels,
                    ts,
                    value,
                } => (metric, labels, ts, value),
                other => panic!("{other:?}"),
            })
            .collect())
    }

    /// Influx's escaping: in tag keys and values `,`, `=` and space take a backslash; in the
    /// measurement `,` and space.
    fn escape(s: &str, extra: &[char]) -> String {
        let mut out = String::new();
        for c in s.chars() {
            if c == ',' || c == ' ' || extra.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    proptest::proptest! {
        /// Any text: samples or an error, never a panic.
        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let _ = influx_with(&s, Precision::Ms, Some(1));
        }

        /// Lines written with Influx's escaping read back as the samples they say: tags with
        /// spaces, commas and equals signs; integer, float and boolean fields; string fields
        /// skipped.
        #[test]
        fn written_lines_read_back(
            tags in proptest::collection::btree_map("[a-z][a-z ,=]{0,5}", "[a-z0-9][a-z0-9 ,=]{0,5}", 0..4),
            floats in proptest::collection::vec(-1e9f64..1e9, 1..3),
            int in proptest::prelude::any::<i32>(),
            flag in proptest::prelude::any::<bool>(),
            ts in 0i64..4_000_000_000_000,
        ) {
            let mut line = "m".to_string();
            for (k, v) in &tags {
                line.push_str(&format!(",{}={}", escape(k, &['=']), escape(v, &['='])));
            }
            let mut fields: Vec<String> = floats
                .iter()
                .enumerate()
                .map(|(i, f)| format!("f{i}={f:?}"))
                .collect();
            fields.push(format!("n={int}i"));
            fields.push(format!("ok={}", if flag { "t" } else { "false" }));
            fields.push("msg=\"a, b=c\"".into());
            line.push_str(&format!(" {} {ts}", fields.join(",")));
            let got = samples(&line).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{line}: {e}")))?;
            let labels: Vec<(String, String)> = tags.into_iter().collect();
            let mut want: Vec<Sample> = floats
                .iter()
                .enumerate()
                .map(|(i, &f)| (format!("m_f{i}"), labels.clone(), ts / 1_000_000, f))
                .collect();
            want.push(("m_n".into(), labels.clone(), ts / 1_000_000, f64::from(int)));
            want.push(("m_ok".into(), labels, ts / 1_000_000, f64::from(u8::from(flag))));
            proptest::prop_assert_eq!(got, want, "{}", line);
        }
    }

    #[test]
    fn escapes_are_read_as_influxdb_reads_them() {
        let s = samples(
            r#"cpu,host=a\ b,dc=x\,y,k\=1=v usage=1.5,n=2i,ok=t,msg="a b" 1700000000123456789"#,
        )
        .unwrap();
        let labels = vec![
            ("host".to_string(), "a b".to_string()),
            ("dc".to_string(), "x,y".to_string()),
            ("k=1".to_string(), "v".to_string()),
        ];
        assert_eq!(
            s,
            vec![
                ("cpu_usage".into(), labels.clone(), 1_700_000_000_123, 1.5),
                ("cpu_n".into(), labels.clone(), 1_700_000_000_123, 2.0),
                ("cpu_ok".into(), labels, 1_700_000_000_123, 1.0),
            ]
        );
    }

    #[test]
    fn out_of_range_and_oversized_lines_are_refused() {
        // Past i64 nanoseconds: refused, not wrapped to 1970.
        assert!(influx("cpu value=1 92233720368547758070").is_err());
        let r = influx_with("cpu value=1 1700000000", Precision::S, None).unwrap();
        assert_eq!(r[0].ts(), 1_700_000_000_000);
        let r = influx_with("cpu value=1", Precision::Ns, Some(42)).unwrap();
        assert_eq!(r[0].ts(), 42);
        assert!(influx_with("cpu value=1 9223372036854775807", Precision::S, None).is_err());
        assert!(samples("cpu value=1 -1000000").is_ok_and(|s| s[0].2 == -1));
        let many_tags: Vec<String> = (0..3000).map(|i| format!("t{i}=v")).collect();
        let line = format!("cpu,{} value=1 1", many_tags.join(","));
        assert!(influx(&line).unwrap_err().contains("more than 128"));
        let many_fields: Vec<String> = (0..3000).map(|i| format!("f{i}=1")).collect();
        let line = format!("cpu {} 1", many_fields.join(","));
        assert!(influx(&line).unwrap_err().contains("more than 256"));
        assert!(
            influx("cpu,a=1,a=2 value=1 1")
                .unwrap_err()
                .contains("twice")
        );
    }
}
