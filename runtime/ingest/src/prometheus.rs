//! Prometheus text exposition: `name{a="b"} value [timestamp_ms]`.

use crate::Record;
use crate::json::valid_metric;

/// Prometheus's float syntax (`NaN`, `+Inf`, `-Inf` included).
pub fn float(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("`{s}` is not a number")),
    }
}

/// `name{a="b",c="d"} value [timestamp_ms]`: without a timestamp, the time of the last
/// `# time:` line. Label names must be valid and distinct, values quoted (a `}` or `,` inside
/// the quotes is part of the value), and nothing may follow the timestamp.
pub(crate) fn prometheus(l: &str, time: Option<i64>) -> Result<Record, String> {
    let name_end = l
        .find(['{', ' ', '\t'])
        .ok_or("expected `name value timestamp`")?;
    let name = &l[..name_end];
    if !valid_metric(name) {
        return Err(format!("invalid metric name `{name}`"));
    }
    let (labels, rest) = match l[name_end..].strip_prefix('{') {
        Some(inner) => prom_labels(inner)?,
        None => (Vec::new(), &l[name_end..]),
    };
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
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `{extra}` after the timestamp"));
    }
    Ok(Record::Sample {
        metric: name.to_string(),
        labels,
        ts,
        value,
    })
}

/// Label pairs in the order written.
type Labels = Vec<(String, String)>;

/// The label set after its `{`, up to and including the `}` that closes it; and the rest.
fn prom_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut out: Labels = Vec::new();
    // The daemon's label limit applies after parsing: a line may name thousands.
    let mut seen = crate::seen::Seen::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = rest.find('=').ok_or("expected `label=\"value\"` or `}`")?;
        let name = rest[..eq].trim();
        if !valid_label(name) {
            return Err(format!("invalid label name `{name}`"));
        }
        if seen.repeat(name).is_some() {
            return Err(format!("label `{name}` is given twice"));
        }
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
                    Some((_, c @ ('\\' | '"'))) => val.push(c),
                    Some((_, c)) => {
                        return Err(format!("invalid escape `\\{c}` in label `{name}`"));
                    }
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
        out.push((name.to_string(), val));
        rest = rest[end..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.starts_with('}') => {}
            None => return Err(format!("expected `,` or `}}` after label `{name}`")),
        }
    }
}

/// Prometheus's label name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_with_braces_and_commas_in_values() {
        let r = prometheus(r#"up{job="a}b",path="x,y",q="say \"hi\""} 1 1000"#, None).unwrap();
        let Record::Sample { labels, ts, .. } = r else {
            panic!()
        };
        assert_eq!(ts, 1000);
        assert_eq!(
            labels,
            [
                ("job".into(), "a}b".into()),
                ("path".into(), "x,y".into()),
                ("q".into(), "say \"hi\"".into())
            ]
        );
    }

    /// Past sixteen labels names are checked in a set: a repeat is still found wherever it
    /// is, and a line of many labels reads in one pass.
    #[test]
    fn many_labels_are_checked_for_repeats() {
        let labels = |n: usize| (0..n).map(|i| format!("l{i}=\"v\"")).collect::<Vec<_>>();
        let many = labels(50_000);
        let r = prometheus(&format!("up{{{}}} 1 1000", many.join(",")), None).unwrap();
        assert!(matches!(r, Record::Sample { labels, .. } if labels.len() == 50_000));
        for (n, repeat) in [(16, "l3"), (17, "l0"), (17, "l16"), (40, "l20")] {
            let mut l = labels(n);
            l.push(format!("{repeat}=\"w\""));
            let err = prometheus(&format!("up{{{}}} 1 1000", l.join(",")), None).unwrap_err();
            assert!(
                err.contains(&format!("label `{repeat}` is given twice")),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for (line, why) in [
            (r#"up{a="1",a="2"} 1 1000"#, "given twice"),
            (r#"up{="1"} 1 1000"#, "invalid label name"),
            (r#"up{1a="1"} 1 1000"#, "invalid label name"),
            (r#"up{a="1" b="2"} 1 1000"#, "expected `,`"),
            ("up 1 1000 extra", "unexpected `extra`"),
            (r#"up{a="\q"} 1 1000"#, "invalid escape"),
        ] {
            let err = prometheus(line, None).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
        }
        assert!(
            prometheus(r#"up{a="1",} 1 1000"#, None).is_ok(),
            "a trailing comma is allowed"
        );
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z_][a-zA-Z0-9_]{0,8}"
        }
        fn value() -> impl Strategy<Value = String> {
            // Escapes, braces, commas, quotes, `=` and non-ASCII inside values.
            "(\\\\|\\\"|\n|[a-z0-9 ,{}=é#])*".prop_map(|s| s.to_string())
        }
        fn escape(v: &str) -> String {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Every well-formed exposition line reads back exactly what was written.
            #[test]
            fn written_samples_read_back(
                metric in name(),
                pairs in prop::collection::btree_map(name(), value(), 0..5),
                v in any::<f64>().prop_filter("finite", |v| v.is_finite()),
                ts in -1_000_000_000_000i64..10_000_000_000_000,
            ) {
                let labels: Vec<String> =
                    pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
                let line = format!("{metric}{{{}}} {v:?} {ts}", labels.join(","));
                let rec = prometheus(&line, None).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
                let Record::Sample { metric: m, labels: l, ts: t, value } = rec else {
                    return Err(TestCaseError::fail("not a sample"));
                };
                prop_assert_eq!(m, metric);
                prop_assert_eq!(t, ts);
                prop_assert_eq!(value.to_bits(), v.to_bits());
                let want: Vec<(String, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                let mut got: Vec<(String, String)> = l.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                got.sort();
                prop_assert_eq!(got, want);
            }

            /// Whatever a mutated line gives is well-formed: valid names, each label once.
            #[test]
            fn mutated_lines_never_give_malformed_samples(
                line in r#"[a-z_]{1,4}(\{([a-z_]{1,3}="[a-z\\"{},=]{0,4}",?){0,3}\})? ?[-+0-9.eIinfNa]{0,6} ?[-0-9]{0,14}"#,
            ) {
                if let Ok(Record::Sample { metric, labels, .. }) = prometheus(&line, None) {
                    prop_assert!(crate::json::valid_metric(&metric), "{}", line);
                    let mut names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
                    prop_assert!(names.iter().all(|n| valid_label(n)), "{}", line);
                    names.sort_unstable();
                    let n = names.len();
                    names.dedup();
                    prop_assert_eq!(names.len(), n, "{}", line);
                }
            }
        }
    }
}
