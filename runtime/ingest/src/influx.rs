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

/// `measurement,tag=v field=1.5,other=2i timestamp_ns`: one sample per numeric field, named
/// `measurement_field` (just `measurement` for a field called `value`).
pub(crate) fn influx(l: &str) -> Result<Vec<Record>, String> {
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
