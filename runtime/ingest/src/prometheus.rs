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
/// `# time:` line.
pub(crate) fn prometheus(l: &str, time: Option<i64>) -> Result<Record, String> {
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
