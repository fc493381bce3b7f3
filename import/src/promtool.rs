//! `vigil import promtool-tests`: `promtool test rules` files as `test` blocks.
//!
//! The rule files a test file names are imported too (in memory, to learn what each alert
//! became: its package, its rule name, its static labels), and the tests are checked against
//! them. Each test group becomes one `test`: `interval` and `input_series` become `interval`
//! and `series ... every d = "..."` (the same notation), each `alert_rule_test` one
//! `expect R firing at t with {..}` per expected alert, or `expect no R firing at t` for none.

use crate::output::{self, FileReport, Header, Item};
use crate::prometheus::{self, AlertIndex};
use crate::text;
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Imports one test file; `read` reads a rule file it names (relative to the test file).
pub fn import(
    source: &str,
    yaml: &str,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<FileReport, String> {
    let doc: Value =
        serde_norway::from_str(yaml).map_err(|e| format!("{source}: not YAML: {e}"))?;
    let tests = doc
        .get("tests")
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("{source}: no `tests:` list (not a promtool test file)"))?;
    let rule_files: Vec<String> = doc
        .get("rule_files")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let [rule_file] = rule_files.as_slice() else {
        return Err(format!(
            "{source}: {} rule files (one is supported: the tests join its package)",
            rule_files.len()
        ));
    };
    let base = Path::new(source).parent().unwrap_or(Path::new(""));
    let rule_path = base.join(rule_file);
    let rules_yaml = read(&rule_path)?;
    let rules_name = rule_path.display().to_string();
    let (rules, alerts) = prometheus::import_indexed(&rules_name, &rules_yaml)?;
    let eval_interval = doc
        .get("evaluation_interval")
        .and_then(Value::as_str)
        .unwrap_or("1m")
        .to_string();
    let items = tests
        .iter()
        .enumerate()
        .map(|(i, t)| group(i, t, &eval_interval, &alerts))
        .collect();
    let mut report = output::finish(
        Header {
            source: source.to_string(),
            tool: "promtool-tests",
            package: rules.package.clone(),
            preamble: String::new(),
            context: vec![(format!("{}.rules", rules.package), rules.text.clone())],
        },
        items,
    );
    // Written beside the rules, in their package: `STEM.rules` after the test file's stem
    // (`STEM_test.rules` when both files have one stem).
    let stem = prometheus::package_name(source);
    report.file = Some(if stem == rules.package {
        format!("{stem}_test.rules")
    } else {
        format!("{stem}.rules")
    });
    Ok(report)
}

/// One test group as an item.
fn group(i: usize, t: &Value, eval_interval: &str, alerts: &[AlertIndex]) -> Item {
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("test {}", i + 1));
    let original = serde_norway::to_string(t).unwrap_or_default();
    let mut notes = Vec::new();
    let body = translate(&name, t, eval_interval, alerts, &mut notes);
    Item {
        name,
        original,
        body,
        notes,
    }
}

fn dur(what: &str, v: Option<&Value>, default: &str) -> Result<(u128, String), String> {
    let s = match v {
        None => default.to_string(),
        Some(Value::Number(n)) => format!("{n}s"),
        Some(v) => v.as_str().unwrap_or_default().to_string(),
    };
    let ms = text::prom_duration(&s).ok_or_else(|| format!("`{what}: {s}` is not a duration"))?;
    Ok((ms, text::duration_ms(ms)))
}

fn translate(
    name: &str,
    t: &Value,
    eval_interval: &str,
    alerts: &[AlertIndex],
    notes: &mut Vec<String>,
) -> Result<String, String> {
    let (_, every) = dur("interval", t.get("interval"), eval_interval)?;
    let (_, interval) = dur("evaluation_interval", None, eval_interval)?;
    let mut out = format!("test {} {{\n  interval {interval}\n", text::string(name));
    for s in t
        .get("input_series")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let series = s.get("series").and_then(Value::as_str).unwrap_or_default();
        let values = match s.get("values") {
            Some(Value::Number(n)) => n.to_string(),
            Some(v) => v.as_str().unwrap_or_default().to_string(),
            None => String::new(),
        };
        if values.contains("{{") {
            notes.push(format!("native histogram series `{series}` left out"));
            continue;
        }
        let sel = prometheus::promql::translate(series)
            .map_err(|e| format!("the input series `{series}`: {e}"))?;
        out.push_str(&format!(
            "  series {sel} every {every} = {}\n",
            text::string(values.trim())
        ));
    }
    let mut expects: Vec<(u128, String)> = Vec::new();
    for a in t
        .get("alert_rule_test")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let (ms, at) = dur("eval_time", a.get("eval_time"), "0s")?;
        let alertname = a
            .get("alertname")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let candidates: Vec<&AlertIndex> =
            alerts.iter().filter(|x| x.alertname == alertname).collect();
        if candidates.is_empty() {
            return Err(format!("no alerting rule `{alertname}` in the rule file"));
        }
        if candidates.iter().any(|c| !c.translated) {
            return Err(format!(
                "the alerting rule `{alertname}` was not translated (see the rules' import)"
            ));
        }
        let exp = a
            .get("exp_alerts")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        if exp.is_empty() {
            for c in &candidates {
                expects.push((ms, format!("  expect no {} firing at {at}\n", c.rule)));
            }
            continue;
        }
        // promtool expects exactly these alerts: each same-named rule none expects has none.
        let mut chosen: Vec<&str> = Vec::new();
        for e in &exp {
            let labels: BTreeMap<String, String> = e
                .get("exp_labels")
                .and_then(Value::as_mapping)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| {
                            let v = match v {
                                Value::String(s) => s.clone(),
                                Value::Number(n) => n.to_string(),
                                Value::Bool(b) => b.to_string(),
                                _ => return None,
                            };
                            Some((k.as_str()?.to_string(), v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if e.get("exp_annotations").is_some() {
                let note = "expected annotations are not compared (Vigil's `expect` reads labels)";
                if !notes.iter().any(|n| n == note) {
                    notes.push(note.to_string());
                }
            }
            // Same-named alerts (one per severity) differ by their static labels.
            let rule = candidates
                .iter()
                .find(|c| c.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
                .ok_or_else(|| format!("no `{alertname}` rule has the labels {labels:?}"))?;
            let with: Vec<String> = labels
                .iter()
                // A severity Vigil knows became the rule's `severity` clause.
                .filter(|(k, v)| {
                    *k != "severity"
                        || !matches!(v.as_str(), "info" | "warning" | "high" | "critical")
                })
                .map(|(k, v)| format!("{k} = {}", text::string(v)))
                .collect();
            let with = if with.is_empty() {
                String::new()
            } else {
                format!(" with {{ {} }}", with.join(", "))
            };
            expects.push((ms, format!("  expect {} firing at {at}{with}\n", rule.rule)));
            chosen.push(&rule.rule);
        }
        for c in &candidates {
            if !chosen.contains(&c.rule.as_str()) {
                expects.push((ms, format!("  expect no {} firing at {at}\n", c.rule)));
            }
        }
    }
    let exprs = t
        .get("promql_expr_test")
        .and_then(Value::as_sequence)
        .map_or(0, Vec::len);
    if exprs > 0 {
        notes.push(format!(
            "{exprs} promql_expr_test case(s) left out (Vigil's tests expect alerts, not \
             expression values)"
        ));
    }
    if expects.is_empty() {
        return Err(
            "no alert_rule_test (Vigil's tests expect alerts, not expression values)".into(),
        );
    }
    expects.sort_by_key(|(ms, _)| *ms);
    for (_, e) in expects {
        out.push_str(&e);
    }
    out.push_str("}\n");
    Ok(out)
}
