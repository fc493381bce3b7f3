//! `vigil import prometheus`: Prometheus rule files and Kubernetes `PrometheusRule` objects.
//!
//! Each alerting rule becomes a `rule` (`for`, `keep_firing_for`, labels, a `severity` label
//! Vigil knows as the severity, `summary`/`description` and other annotations as templates),
//! each recording rule a
//! `record`. Prometheus resolves an alert as soon as its series vanish; Vigil keeps it unless
//! the rule says otherwise, so every imported package says `defaults { no_data after 0s -> ok }`.

pub mod promql;
pub mod template;

use crate::output::{self, FileReport, Header, Translation};
use crate::text;
use crate::yaml::scalar;
use serde::Deserialize;
use serde_norway::Value;
use std::collections::{BTreeMap, HashMap};

/// Imports one rule file (`groups:` at the top, or one or more `PrometheusRule` objects).
pub fn import(source: &str, yaml: &str) -> Result<FileReport, String> {
    import_indexed(source, yaml).map(|(r, _)| r)
}

/// What became of one alerting rule: the name a test refers to it by, and its static labels
/// (a promtool test's expected labels tell same-named alerts apart by them).
#[derive(Clone, Debug)]
pub struct AlertIndex {
    pub alertname: String,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub translated: bool,
}

/// [`import`], and an index of its alerting rules.
pub fn import_indexed(source: &str, yaml: &str) -> Result<(FileReport, Vec<AlertIndex>), String> {
    let mut items = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut found = false;
    for doc in serde_norway::Deserializer::from_str(yaml) {
        let v = Value::deserialize(doc).map_err(|e| format!("{source}: not YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        let groups = v
            .get("groups")
            .or_else(|| v.get("spec").and_then(|s| s.get("groups")));
        let Some(groups) = groups else {
            continue;
        };
        found = true;
        let groups = groups
            .as_sequence()
            .ok_or_else(|| format!("{source}: `groups` is not a list"))?;
        for g in groups {
            let group = g.get("name").and_then(Value::as_str).unwrap_or("");
            let interval = g
                .get("interval")
                .and_then(Value::as_str)
                .map(str::to_string);
            let Some(rules) = g.get("rules").and_then(Value::as_sequence) else {
                continue;
            };
            for r in rules {
                items.push(PromRule::new(r, group, interval.clone(), &mut names));
            }
        }
    }
    if !found {
        return Err(format!(
            "{source}: no rule groups (neither `groups:` nor a PrometheusRule's `spec.groups`)"
        ));
    }
    let index: Vec<(bool, AlertIndex)> = items
        .iter()
        .map(|r: &PromRule| {
            (
                r.record,
                AlertIndex {
                    alertname: r.name.clone(),
                    rule: r.vigil_name.clone(),
                    labels: r.labels.clone(),
                    translated: false,
                },
            )
        })
        .collect();
    // Prometheus resolves an alert as soon as its series vanish: said once per package.
    let preamble = if items.iter().any(|r: &PromRule| !r.record) {
        "defaults {\n  no_data after 0s -> ok\n}\n".to_string()
    } else {
        String::new()
    };
    let report = output::finish(
        Header {
            source: source.to_string(),
            tool: "prometheus",
            package: package_name(source),
            preamble,
            context: Vec::new(),
        },
        items,
    );
    let alerts = index
        .into_iter()
        .zip(&report.items)
        .filter(|((record, _), _)| !record)
        .map(|((_, mut a), it)| {
            a.translated = it.status != crate::Status::NotTranslated;
            a
        })
        .collect();
    Ok((report, alerts))
}

/// The package name of an imported file: its stem as an identifier.
pub fn package_name(source: &str) -> String {
    let stem = std::path::Path::new(source)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("imported");
    text::ident(&stem.to_ascii_lowercase())
}

/// One alerting or recording rule.
pub struct PromRule {
    /// The Prometheus name (`alert` or `record`).
    name: String,
    vigil_name: String,
    record: bool,
    expr: Option<String>,
    for_: Option<String>,
    keep_firing_for: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    interval: Option<String>,
    original: String,
    notes: Vec<String>,
    /// Labels the checker found the alert does not carry: their placeholders render empty,
    /// as Prometheus renders them.
    absent: Vec<String>,
    problem: Option<String>,
}

impl PromRule {
    fn new(
        v: &Value,
        group: &str,
        interval: Option<String>,
        names: &mut HashMap<String, usize>,
    ) -> PromRule {
        let original = serde_norway::to_string(v).unwrap_or_default();
        let original = format!("group {group}:\n{original}");
        let s = |k: &str| v.get(k).and_then(scalar);
        let map = |k: &str| -> BTreeMap<String, String> {
            v.get(k)
                .and_then(Value::as_mapping)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar(v)?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (name, record) = match (s("alert"), s("record")) {
            (Some(a), None) => (a, false),
            (None, Some(r)) => (r, true),
            _ => (String::new(), false),
        };
        let notes = Vec::new();
        let mut vigil_name = if record {
            name.clone()
        } else {
            text::ident(&name)
        };
        if !record {
            let n = names.entry(vigil_name.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                // Several alerts of one name (one per severity): the rule names differ, the
                // `alertname` label keeps Prometheus's (routing and receivers see no change).
                vigil_name = format!("{vigil_name}_{n}");
            }
        }
        let problem = if name.is_empty() {
            Some("neither `alert` nor `record` (or both)".to_string())
        } else if s("expr").is_none() {
            Some("no `expr`".to_string())
        } else {
            None
        };
        PromRule {
            name,
            vigil_name,
            record,
            expr: s("expr"),
            for_: s("for"),
            keep_firing_for: s("keep_firing_for"),
            labels: map("labels"),
            annotations: map("annotations"),
            interval,
            original,
            notes,
            absent: Vec::new(),
            problem,
        }
    }

    fn duration(&self, what: &str, d: &str) -> Result<String, String> {
        text::prom_duration(d)
            .map(text::duration_ms)
            .ok_or_else(|| format!("`{what}: {d}` is not a duration"))
    }

    fn record_body(&self, expr: &str) -> Result<String, String> {
        let Some(name) = text::metric_name(&self.vigil_name) else {
            return Err(format!("the record name `{}`", self.vigil_name));
        };
        let mut pairs = Vec::new();
        for (k, v) in &self.labels {
            if !text::is_ident(k) {
                return Err(format!("the label name `{k}`"));
            }
            if v.contains("{{") {
                return Err(format!("a templated label value (`{k}: {v}`)"));
            }
            pairs.push(format!("{k} = {}", text::string(v)));
        }
        let labels = if pairs.is_empty() {
            String::new()
        } else {
            format!(" labels {{ {} }}", pairs.join(", "))
        };
        Ok(format!("record {name} = {expr}{labels}\n"))
    }

    /// The template of an annotation, and what it left out.
    fn template(&self, key: &str, notes: &mut Vec<String>) -> Option<String> {
        let src = self.annotations.get(key)?;
        let t = template::translate(src, &self.absent);
        if !t.dropped.is_empty() {
            notes.push(format!(
                "annotation `{key}`: left out {} (no Vigil placeholder says it)",
                t.dropped.join(" ")
            ));
        }
        Some(t.text)
    }

    /// The rule's text and what it gave up.
    fn translate(&self) -> Result<(String, Vec<String>), String> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        let src = self.expr.as_deref().unwrap_or_default();
        if self.record {
            return Ok((self.record_body(&promql::translate(src)?)?, Vec::new()));
        }
        let expr = promql::condition(src)?;
        let mut notes = Vec::new();
        if expr.starts_with("present(") && self.annotations.values().any(|a| a.contains("$value")) {
            notes.push(
                "`$value` of a bare expression: `present(..)` holds for its series without \
                 their values"
                    .to_string(),
            );
        }
        let mut out = format!("rule {} {{\n", self.vigil_name);
        let mut labels = self.labels.clone();
        if self.vigil_name != self.name {
            labels
                .entry("alertname".into())
                .or_insert_with(|| self.name.clone());
        }
        if let Some(sev) = labels
            .get("severity")
            .filter(|s| matches!(s.as_str(), "info" | "warning" | "high" | "critical"))
        {
            out.push_str(&format!("  severity {sev}\n"));
            labels.remove("severity");
        }
        if !labels.is_empty() {
            let mut pairs = Vec::new();
            for (k, v) in &labels {
                if !text::is_ident(k) {
                    return Err(format!("the label name `{k}`"));
                }
                if v.contains("{{") {
                    return Err(format!("a templated label value (`{k}: {v}`)"));
                }
                pairs.push(format!("{k} = {}", text::string(v)));
            }
            out.push_str(&format!("  labels {{ {} }}\n", pairs.join(", ")));
        }
        out.push_str(&format!("  when {expr}"));
        if let Some(f) = &self.for_ {
            let d = self.duration("for", f)?;
            if d != "0s" {
                out.push_str(&format!(" for {d}"));
            }
        }
        out.push('\n');
        if let Some(k) = &self.keep_firing_for {
            let d = self.duration("keep_firing_for", k)?;
            if d != "0s" {
                out.push_str(&format!("  keep_firing {d}\n"));
            }
        }
        if !self.absent.is_empty() {
            // Prometheus renders a label the alert does not carry as the empty string.
            out.push_str(&format!(
                "  # left out of the templates, as Prometheus renders them empty: {}\n",
                self.absent.join(", ")
            ));
        }
        if let Some(i) = &self.interval {
            out.push_str(&format!("  interval {}\n", self.duration("interval", i)?));
        }
        let description = self
            .template("description", &mut notes)
            .or_else(|| self.template("message", &mut notes));
        if let Some(s) = self.template("summary", &mut notes) {
            out.push_str(&format!("  summary {}\n", text::string(&s)));
        }
        if let Some(d) = description {
            out.push_str(&format!("  description {}\n", text::string(&d)));
        }
        let mut more = Vec::new();
        for k in self.annotations.keys() {
            let used = k == "summary"
                || k == "description"
                || (k == "message" && !self.annotations.contains_key("description"));
            if used {
                continue;
            }
            if !text::is_ident(k) {
                let v = one_line(&self.annotations[k]);
                out.push_str(&format!("  # annotation {k}: {v}\n"));
                notes.push(format!("annotation `{k}` kept as a comment (not a name)"));
                continue;
            }
            if let Some(t) = self.template(k, &mut notes) {
                more.push(format!("{k} = {}", text::string(&t)));
            }
        }
        if !more.is_empty() {
            out.push_str(&format!("  annotations {{ {} }}\n", more.join(", ")));
        }
        out.push_str("}\n");
        Ok((out, notes))
    }
}

impl Translation for PromRule {
    fn name(&self) -> &str {
        &self.name
    }
    fn original(&self) -> &str {
        &self.original
    }
    fn body(&self) -> Result<String, String> {
        self.translate().map(|(b, _)| b)
    }
    fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        if let Ok((_, more)) = self.translate() {
            notes.extend(more);
        }
        notes
    }
    fn repair(&mut self, code: &str, message: &str) -> bool {
        // V0208: "`{{ name }}` will not be set on this alert".
        if code != "V0208" {
            return false;
        }
        let Some(name) = message
            .strip_prefix("`{{ ")
            .and_then(|m| m.split(" }}`").next())
        else {
            return false;
        };
        if self.absent.iter().any(|a| a == name) {
            return false;
        }
        self.absent.push(name.to_string());
        true
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
