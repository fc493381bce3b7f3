//! Sigma correlation rules (`correlation:`): `event_count`, `value_count`, `value_sum`,
//! `value_avg`, `value_percentile` as event aggregates, `temporal` and `temporal_ordered` as
//! sequences. The rules a correlation names are read from the same file (as Sigma bundles
//! them); one that is not there becomes an `open macro` that matches nothing, for the user to
//! override with its detection (reported as partly).

use super::Fields;
use crate::text;
use serde_norway::Value;
use std::collections::BTreeMap;

/// A referenced rule's filter, by its `id` and by its `name`.
pub type Filters = BTreeMap<String, String>;

/// The macro a missing reference becomes.
pub fn placeholder(reference: &str) -> String {
    format!("sigma_rule_{}", text::ident(reference).to_ascii_lowercase())
}

/// The rule text of a correlation, the references it could not find, and notes.
pub fn translate(
    v: &Value,
    name: &str,
    filters: &Filters,
    fields: &Fields,
) -> Result<(String, Vec<String>), String> {
    let c = v.get("correlation").ok_or("no `correlation`")?;
    let kind = c
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a correlation without `type`")?;
    let refs: Vec<String> = c
        .get("rules")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    if refs.is_empty() {
        return Err("a correlation without `rules`".into());
    }
    if c.get("aliases").is_some() {
        return Err("field `aliases` across rules (not in this importer yet)".into());
    }
    let mut missing = Vec::new();
    let mut filter_of = |r: &str| -> String {
        match filters.get(r) {
            Some(f) => f.clone(),
            None => {
                missing.push(r.to_string());
                placeholder(r)
            }
        }
    };
    let group: Vec<String> = match c.get("group-by") {
        Some(Value::Sequence(g)) => g
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(g)) => vec![g.clone()],
        _ => Vec::new(),
    };
    let paths: Result<Vec<String>, String> = group.iter().map(|g| fields.path(g)).collect();
    let paths = paths?;
    let by = match paths.as_slice() {
        [] => String::new(),
        [one] => format!(" by {one}"),
        many => format!(" by [{}]", many.join(", ")),
    };
    let span = c
        .get("timespan")
        .and_then(Value::as_str)
        .and_then(text::prom_duration)
        .map(text::duration_ms)
        .ok_or("a correlation without a `timespan`")?;
    let level = v.get("level").and_then(Value::as_str).unwrap_or("medium");
    let mut out = format!("rule {name} {{\n  severity {}\n", super::severity(level));
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        out.push_str(&format!("  labels {{ sigma_id = {} }}\n", text::string(id)));
    }
    match kind {
        "temporal" | "temporal_ordered" => {
            if refs.len() < 2 {
                return Err(format!("a `{kind}` correlation of one rule"));
            }
            let steps: Vec<(String, String)> = refs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        format!("r{}_{}", i + 1, text::ident(r).to_ascii_lowercase()),
                        filter_of(r),
                    )
                })
                .collect();
            let any = steps
                .iter()
                .map(|(_, f)| format!("({f})"))
                .collect::<Vec<_>>()
                .join(" or ");
            out.push_str(&format!("  on event where {any}\n"));
            let order = if kind == "temporal" { " any order" } else { "" };
            if by.is_empty() {
                return Err("a temporal correlation without `group-by`".into());
            }
            out.push_str(&format!("  sequence{order}{by} within {span} {{\n"));
            for (step, f) in &steps {
                out.push_str(&format!("    {step}: {f}\n"));
            }
            out.push_str("  }\n");
        }
        _ => {
            let any = refs
                .iter()
                .map(|r| format!("({})", filter_of(r)))
                .collect::<Vec<_>>()
                .join(" or ");
            let cond = c
                .get("condition")
                .and_then(Value::as_mapping)
                .ok_or("no `condition`")?;
            let field = cond
                .get("field")
                .and_then(Value::as_str)
                .map(|f| fields.path(f))
                .transpose()?;
            let need_field = |what: &str| {
                field
                    .clone()
                    .ok_or_else(|| format!("a `{what}` correlation without `condition.field`"))
            };
            let agg = match kind {
                "event_count" => "count()".to_string(),
                "value_count" => format!("distinct({})", need_field(kind)?),
                "value_sum" => format!("sum({})", need_field(kind)?),
                "value_avg" => format!("avg({})", need_field(kind)?),
                // Sigma's percentile of the value in its group: how rare it is, in percent.
                "value_percentile" => format!("share({})", need_field(kind)?),
                other => return Err(format!("the correlation type `{other}`")),
            };
            let mut tests = Vec::new();
            for (k, bound) in cond {
                let k = k.as_str().unwrap_or_default();
                if k == "field" {
                    continue;
                }
                let op = match k {
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    "lte" => "<=",
                    "eq" => "==",
                    "neq" => "!=",
                    other => return Err(format!("the condition `{other}`")),
                };
                let n = bound
                    .as_f64()
                    .ok_or_else(|| format!("`{k}` is not a number"))?;
                let n = if kind == "value_percentile" {
                    format!("{}%", text::number(n).unwrap_or_default())
                } else {
                    text::number(n).unwrap_or_default()
                };
                tests.push(format!("{agg}{by} over {span} {op} {n}"));
            }
            if tests.is_empty() {
                return Err("a correlation `condition` without a bound".into());
            }
            out.push_str(&format!("  on event where {any}\n"));
            out.push_str(&format!("  when {}\n", tests.join(" and ")));
        }
    }
    let title = v.get("title").and_then(Value::as_str).unwrap_or_default();
    out.push_str(&format!(
        "  summary {}\n",
        text::string(&super::no_braces(title))
    ));
    out.push_str("}\n");
    Ok((out, missing))
}
