//! `vigil import sigma`: Sigma detection rules as event rules.
//!
//! Each search identifier of `detection` becomes a `let` ([`detection`]), the condition the
//! rule's filter (`1 of selection_*` expanded over the identifiers), the log source a test
//! of the event (by default `event.type == "<category or service>"`) and the field names
//! event paths, both through a mapping per log source the user can change ([`Mapping`], like
//! pySigma's processing pipelines). String matching ignores case, as Sigma's does; `re` is
//! case-sensitive unless `|i`.

pub mod correlation;
pub mod detection;

use crate::output::{self, FileReport, Header, Item};
use crate::text;
use serde::Deserialize;
use serde_norway::Value;
use std::collections::BTreeMap;

/// Log sources and field names to Vigil's events.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Field renames for every log source: `Image: process.executable`.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Per log source (`product/category`, `product/service`, `category` or `service`): the
    /// condition its events meet and more field renames.
    #[serde(default)]
    pub logsources: BTreeMap<String, LogSource>,
    /// The fields a keyword search reads (a detection that is a list of values, no field);
    /// none: keyword rules are not translated.
    #[serde(default)]
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSource {
    /// A Vigil condition (`event.type == "process_creation"`); empty: every event.
    pub condition: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Keyword fields of this log source (instead of the general ones).
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl Mapping {
    pub fn from_yaml(yaml: &str) -> Result<Mapping, String> {
        let m: Mapping =
            serde_norway::from_str(yaml).map_err(|e| format!("the Sigma mapping: {e}"))?;
        for (k, v) in m
            .fields
            .iter()
            .chain(m.logsources.values().flat_map(|l| l.fields.iter()))
        {
            let p = v.strip_prefix("event.").unwrap_or(v);
            if p.is_empty() || !p.split('.').all(text::is_ident) {
                return Err(format!("the mapping of `{k}` is not an event path: `{v}`"));
            }
        }
        Ok(m)
    }

    /// The log source's entry: the most specific key that exists.
    fn source(&self, product: Option<&str>, cat: Option<&str>) -> Option<&LogSource> {
        let mut keys = Vec::new();
        if let (Some(p), Some(c)) = (product, cat) {
            keys.push(format!("{p}/{c}"));
        }
        if let Some(c) = cat {
            keys.push(c.to_string());
        }
        if let Some(p) = product {
            keys.push(p.to_string());
        }
        keys.iter().find_map(|k| self.logsources.get(k))
    }
}

/// How one rule's fields are read.
pub struct Fields<'a> {
    general: &'a BTreeMap<String, String>,
    source: Option<&'a LogSource>,
    keywords: &'a [String],
}

impl<'a> Fields<'a> {
    fn new(mapping: &'a Mapping, source: Option<&'a LogSource>) -> Fields<'a> {
        let keywords = match source {
            Some(s) if !s.keywords.is_empty() => &s.keywords,
            _ => &mapping.keywords,
        };
        Fields {
            general: &mapping.fields,
            source,
            keywords,
        }
    }

    /// The fields a keyword search reads.
    pub fn keyword_fields(&self) -> &[String] {
        self.keywords
    }

    /// `event.PATH` for a Sigma field.
    pub fn path(&self, field: &str) -> Result<String, String> {
        let mapped = self
            .source
            .and_then(|s| s.fields.get(field))
            .or_else(|| self.general.get(field));
        if let Some(m) = mapped {
            return Ok(format!("event.{}", m.strip_prefix("event.").unwrap_or(m)));
        }
        text::event_path(field)
            .ok_or_else(|| format!("the field name `{field}` (map it with --mapping)"))
    }
}

fn severity(level: &str) -> &'static str {
    match level {
        "critical" => "critical",
        "high" => "high",
        "medium" => "warning",
        _ => "info",
    }
}

/// Imports one Sigma file (one rule, or several YAML documents).
pub fn import(source: &str, yaml: &str, mapping: &Mapping) -> Result<FileReport, String> {
    let mut items = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(yaml) {
        let v = Value::deserialize(doc).map_err(|e| format!("{source}: not YAML: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    // What each detection rule matches, by `id` and `name`, for the correlations that name it.
    let mut filters = correlation::Filters::new();
    for v in &docs {
        if v.get("correlation").is_none()
            && let Ok((_, inline)) = detect(v, mapping)
        {
            for k in ["id", "name"] {
                if let Some(key) = v.get(k).and_then(Value::as_str) {
                    filters.insert(key.to_string(), inline.clone());
                }
            }
        }
    }
    let mut placeholders: Vec<String> = Vec::new();
    for v in docs {
        let title = v.get("title").and_then(Value::as_str).unwrap_or("untitled");
        let original = serde_norway::to_string(&v).unwrap_or_default();
        let mut notes = Vec::new();
        let mut name = text::ident(title);
        let n = names.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            name = format!("{name}_{n}");
        }
        let body = if v.get("correlation").is_some() {
            let fields = Fields::new(mapping, None);
            correlation::translate(&v, &name, &filters, &fields).map(|(body, missing)| {
                let mut pre = String::new();
                for m in missing {
                    let macro_name = correlation::placeholder(&m);
                    notes.push(format!(
                        "the rule `{m}` is not among the inputs: `{macro_name}` matches \
                         nothing until it is overridden with that rule's detection"
                    ));
                    if !placeholders.contains(&macro_name) {
                        pre.push_str(&format!(
                            "# The detection of Sigma rule `{m}` (not among the inputs).\n\
                             open macro {macro_name} = false\n\n"
                        ));
                        placeholders.push(macro_name);
                    }
                }
                pre + &body
            })
        } else {
            rule(&v, &name, mapping, &mut notes)
        };
        items.push(Item {
            name: title.to_string(),
            original,
            body,
            notes,
        });
    }
    if items.is_empty() {
        return Err(format!("{source}: no Sigma rule"));
    }
    Ok(output::finish(
        Header {
            source: source.to_string(),
            tool: "sigma",
            package: crate::prometheus::package_name(source),
            preamble: String::new(),
            context: Vec::new(),
        },
        items,
    ))
}

/// A detection rule's `let`s and filter, and the filter with the `let`s written in (what a
/// correlation naming it matches).
struct Detection {
    lets: Vec<String>,
    filter: String,
}

fn detect(v: &Value, mapping: &Mapping) -> Result<(Detection, String), String> {
    let det = v
        .get("detection")
        .and_then(Value::as_mapping)
        .ok_or("no `detection`")?;
    let ls = v.get("logsource");
    let get = |k: &str| ls.and_then(|l| l.get(k)).and_then(Value::as_str);
    let product = get("product");
    let cat = get("category").or_else(|| get("service"));
    let src = mapping.source(product, cat);
    let fields = Fields::new(mapping, src);
    let pin = match src {
        Some(s) => s.condition.clone().filter(|c| !c.trim().is_empty()),
        None => cat.map(|c| format!("event.type == {}", text::string(c))),
    };
    let mut lets = Vec::new();
    let mut idents = Vec::new();
    let mut exprs: BTreeMap<String, String> = BTreeMap::new();
    let mut condition = None;
    for (k, body) in det {
        let k = k.as_str().unwrap_or_default();
        match k {
            "condition" => condition = Some(body.clone()),
            "timeframe" => {
                return Err("`timeframe` (a deprecated aggregation: write a correlation)".into());
            }
            _ => {
                let e = detection::search(body, &fields)?;
                idents.push(k.to_string());
                lets.push(format!("  let {} = {e}\n", detection::ident(k)));
                exprs.insert(k.to_string(), e);
            }
        }
    }
    let conds: Vec<String> = match condition {
        Some(Value::String(c)) => vec![c],
        Some(Value::Sequence(cs)) => cs
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => return Err("no `condition`".into()),
    };
    let write = |name: &dyn Fn(&str) -> String| -> Result<String, String> {
        let parts: Result<Vec<String>, String> = conds
            .iter()
            .map(|c| detection::condition_with(c, &idents, name))
            .collect();
        let parts = parts?;
        Ok(if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("({})", parts.join(") or ("))
        })
    };
    let condition = write(&detection::ident)?;
    let inline = write(&|n: &str| format!("({})", exprs.get(n).cloned().unwrap_or_default()))?;
    let pinned = |c: String| match &pin {
        Some(p) => format!("{p} and ({c})"),
        None => c,
    };
    Ok((
        Detection {
            lets,
            filter: pinned(condition),
        },
        pinned(inline),
    ))
}

fn rule(
    v: &Value,
    name: &str,
    mapping: &Mapping,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    let (Detection { lets, filter }, _) = detect(v, mapping)?;
    let level = v.get("level").and_then(Value::as_str).unwrap_or("medium");
    let mut out = format!("rule {name} {{\n  severity {}\n", severity(level));
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        out.push_str(&format!("  labels {{ sigma_id = {} }}\n", text::string(id)));
    }
    for l in lets {
        out.push_str(&l);
    }
    out.push_str(&format!("  on event where {filter}\n"));
    let title = v.get("title").and_then(Value::as_str).unwrap_or_default();
    out.push_str(&format!("  summary {}\n", text::string(&no_braces(title))));
    if let Some(d) = v.get("description").and_then(Value::as_str) {
        out.push_str(&format!(
            "  description {}\n",
            text::string(&no_braces(d.trim()))
        ));
    }
    let tags = crate::yaml::scalars(v, "tags");
    if !tags.is_empty() {
        out.push_str(&format!(
            "  annotations {{ tags = {} }}\n",
            text::string(&tags.join(","))
        ));
    }
    out.push_str("}\n");
    if v.get("fields").is_some() {
        notes.push("`fields` (what to show) left out".into());
    }
    Ok(out)
}

/// Text with `{{` taken apart, so it is not read as a template.
fn no_braces(s: &str) -> String {
    s.replace("{{", "{ {").replace("}}", "} }")
}
