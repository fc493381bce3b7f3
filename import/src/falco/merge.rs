//! Falco's `append: true` and `override:` (a later entry changing an earlier list, macro or
//! rule of the same name), and rule `exceptions` written out as conditions.

use serde_norway::Value;
use std::collections::BTreeMap;

/// How an entry changes each field of the earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Append,
    Replace,
}

/// `None` for an entry that defines; else the fields it changes and how.
pub fn changes(entry: &Value, kind_key: &str) -> Option<BTreeMap<String, Mode>> {
    let fields = || {
        entry
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| !matches!(*k, "append" | "override") && *k != kind_key)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if entry.get("append").and_then(Value::as_bool) == Some(true) {
        return Some(
            fields()
                .into_iter()
                .map(|f| {
                    // Only these accumulate; anything else given is a replacement.
                    let m = if matches!(f.as_str(), "items" | "condition" | "exceptions") {
                        Mode::Append
                    } else {
                        Mode::Replace
                    };
                    (f, m)
                })
                .collect(),
        );
    }
    if let Some(o) = entry.get("override").and_then(Value::as_mapping) {
        return Some(
            o.iter()
                .filter_map(|(k, v)| {
                    let mode = match v.as_str()? {
                        "append" => Mode::Append,
                        _ => Mode::Replace,
                    };
                    Some((k.as_str()?.to_string(), mode))
                })
                .collect(),
        );
    }
    // A rule given again with only `enabled` toggles it (Falco allows that without override).
    if kind_key == "rule" && entry.get("condition").is_none() && entry.get("enabled").is_some() {
        return Some([("enabled".to_string(), Mode::Replace)].into());
    }
    None
}

/// `base` with `entry`'s changes applied.
pub fn merge(base: &Value, entry: &Value, modes: &BTreeMap<String, Mode>) -> Value {
    let mut out = base.as_mapping().cloned().unwrap_or_default();
    for (field, mode) in modes {
        let Some(new) = entry.get(field.as_str()) else {
            continue;
        };
        let key = Value::String(field.clone());
        let merged = match (field.as_str(), mode) {
            ("items", Mode::Append) => {
                let mut v = seq(out.get(&key));
                v.extend(seq(Some(new)));
                Value::Sequence(v)
            }
            ("condition", Mode::Append) => {
                let old = out.get(&key).and_then(Value::as_str).unwrap_or("");
                Value::String(format!("{old} {}", new.as_str().unwrap_or("")))
            }
            ("exceptions", Mode::Append) => {
                let mut v = seq(out.get(&key));
                for e in seq(Some(new)) {
                    let name = e.get("name").cloned();
                    match v.iter_mut().find(|x| x.get("name").cloned() == name) {
                        Some(existing) => {
                            let mut vals = seq(existing.get("values"));
                            vals.extend(seq(e.get("values")));
                            if let Some(m) = existing.as_mapping_mut() {
                                m.insert("values".into(), Value::Sequence(vals));
                            }
                        }
                        None => v.push(e),
                    }
                }
                Value::Sequence(v)
            }
            _ => new.clone(),
        };
        out.insert(key, merged);
    }
    Value::Mapping(out)
}

fn seq(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_sequence).cloned().unwrap_or_default()
}

/// A rule's exceptions as Falco condition text to append (`and not (...)` per exception),
/// as Falco expands them.
pub fn exceptions(rule: &Value) -> Result<String, String> {
    let mut out = String::new();
    for e in seq(rule.get("exceptions")) {
        let name = e.get("name").and_then(Value::as_str).unwrap_or("?");
        let values = seq(e.get("values"));
        if values.is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        match e.get("fields") {
            Some(Value::String(field)) => {
                let comp = e.get("comps").and_then(Value::as_str);
                for v in &values {
                    let comp = comp.unwrap_or(if v.is_sequence() { "in" } else { "=" });
                    alternatives.push(format!("{field} {comp} {}", value(v)?));
                }
            }
            Some(Value::Sequence(fields)) => {
                let comps: Vec<String> = match e.get("comps") {
                    Some(Value::Sequence(c)) => c
                        .iter()
                        .map(|x| x.as_str().unwrap_or("=").to_string())
                        .collect(),
                    Some(Value::String(c)) => vec![c.clone(); fields.len()],
                    _ => vec!["=".to_string(); fields.len()],
                };
                if comps.len() != fields.len() {
                    return Err(format!(
                        "exception `{name}`: `comps` and `fields` differ in length"
                    ));
                }
                for tuple in &values {
                    let t = seq(Some(tuple));
                    if t.len() != fields.len() {
                        return Err(format!(
                            "exception `{name}`: a value tuple of the wrong length"
                        ));
                    }
                    let parts: Result<Vec<String>, String> = fields
                        .iter()
                        .zip(&comps)
                        .zip(&t)
                        .map(|((f, c), v)| {
                            Ok(format!("{} {c} {}", f.as_str().unwrap_or(""), value(v)?))
                        })
                        .collect();
                    alternatives.push(format!("({})", parts?.join(" and ")));
                }
            }
            _ => return Err(format!("exception `{name}` without `fields`")),
        }
        out.push_str(&format!(" and not ({})", alternatives.join(" or ")));
    }
    Ok(out)
}

/// A value in Falco's condition syntax: quoted, or a bracketed list for `in`.
fn value(v: &Value) -> Result<String, String> {
    let one = |v: &Value| -> Result<String, String> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => return Ok(n.to_string()),
            Value::Bool(b) => b.to_string(),
            _ => return Err("an exception value that is a map".into()),
        };
        Ok(format!(
            "\"{}\"",
            s.replace('\\', "\\\\").replace('"', "\\\"")
        ))
    };
    match v {
        Value::Sequence(items) => {
            let parts: Result<Vec<String>, String> = items.iter().map(one).collect();
            Ok(format!("({})", parts?.join(", ")))
        }
        v => one(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn appends_and_overrides_merge_as_falco_does() {
        let base = y("list: shells\nitems: [bash, sh]\n");
        let add = y("list: shells\nitems: [zsh]\nappend: true\n");
        let m = changes(&add, "list").unwrap();
        assert_eq!(
            merge(&base, &add, &m).get("items").unwrap(),
            &y("[bash, sh, zsh]")
        );
        let rep = y("list: shells\nitems: [fish]\noverride: {items: replace}\n");
        let m = changes(&rep, "list").unwrap();
        assert_eq!(merge(&base, &rep, &m).get("items").unwrap(), &y("[fish]"));
        let rule = y(
            "rule: R\ncondition: a\nexceptions: [{name: known, fields: [proc.name], values: [[x]]}]\n",
        );
        let more = y(
            "rule: R\nexceptions: [{name: known, values: [[y]]}]\ncondition: or b\nappend: true\n",
        );
        let m = changes(&more, "rule").unwrap();
        let merged = merge(&rule, &more, &m);
        assert_eq!(merged.get("condition").unwrap(), &y("a or b"));
        assert_eq!(
            exceptions(&merged).unwrap(),
            " and not ((proc.name = \"x\") or (proc.name = \"y\"))"
        );
        assert!(changes(&y("rule: R\nenabled: false\n"), "rule").is_some());
        assert!(changes(&rule, "rule").is_none());
    }

    #[test]
    fn exceptions_of_one_field_take_lists() {
        let r = y(
            "rule: R\nexceptions:\n  - {name: a, fields: proc.name, comps: in, values: [[sh, bash]]}\n  - {name: b, fields: [fd.name, proc.pname], comps: [startswith, =], values: [[/etc, 'my \"x\"']]}\n",
        );
        assert_eq!(
            exceptions(&r).unwrap(),
            " and not (proc.name in (\"sh\", \"bash\")) and not ((fd.name startswith \"/etc\" and proc.pname = \"my \\\"x\\\"\"))"
        );
    }
}
