//! `vigil import falco`: Falco rule files (rules, macros, lists) as event rules.
//!
//! Falco's fields become event fields through a mapping ([`Mapping`]: by default `evt.type`
//! is `event.type`, which the rule index keys on, and every other field keeps its dotted name
//! under `event.`; a user's file overrides any of them). Conditions are parsed by
//! [`condition`] and written as Vigil filters; `output` becomes the summary, `priority` the
//! severity, `desc` the description and `tags` an annotation. Several files load in order,
//! as Falco loads them: a later file may use an earlier one's macros and lists, and
//! `append: true` adds to them.

pub mod condition;
pub mod merge;

use crate::output::{self, FileReport, Header, Item};
use crate::text;
use crate::yaml::{scalars, str_of as s};
use serde_norway::Value;
use std::collections::BTreeMap;

/// Falco field name to Vigil event path (without `event.`).
#[derive(Clone, Debug)]
pub struct Mapping {
    fields: BTreeMap<String, String>,
}

impl Default for Mapping {
    fn default() -> Self {
        let mut fields = BTreeMap::new();
        fields.insert("evt.type".to_string(), "type".to_string());
        Mapping { fields }
    }
}

impl Mapping {
    /// The default mapping with a user's overrides: a YAML map `falco.field: vigil.path`.
    pub fn with_overrides(yaml: &str) -> Result<Mapping, String> {
        let v: BTreeMap<String, String> = serde_norway::from_str(yaml)
            .map_err(|e| format!("the field mapping is not a YAML map of names: {e}"))?;
        let mut m = Mapping::default();
        for (k, path) in v {
            let path = path.strip_prefix("event.").unwrap_or(&path).to_string();
            if path.is_empty() || !path.split('.').all(text::is_ident) {
                return Err(format!(
                    "the mapping of `{k}` is not an event path: `{path}`"
                ));
            }
            m.fields.insert(k, path);
        }
        Ok(m)
    }

    /// `event.PATH` of a Falco field, or why there is none.
    pub fn path(&self, field: &str) -> Result<String, String> {
        if let Some(p) = self.fields.get(field) {
            return Ok(format!("event.{p}"));
        }
        if field.split('.').all(text::is_ident) {
            Ok(format!("event.{field}"))
        } else {
            Err(format!("the field `{field}` (map it with --mapping)"))
        }
    }
}

/// What the files loaded so far declare: macro and list names with their package, and every
/// list, macro and rule as merged so far (a later file's `append` or `override` changes them).
#[derive(Default)]
pub struct Loaded {
    names: BTreeMap<String, (String, Kind)>,
    defs: BTreeMap<(&'static str, String), (String, Value)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Macro,
    List,
}

/// Imports several rule files in Falco's load order.
pub fn import_all(
    inputs: &[(String, String)],
    mapping: &Mapping,
) -> Vec<Result<FileReport, String>> {
    let mut loaded = Loaded::default();
    let mut context: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for (source, yaml) in inputs {
        let r = import_one(source, yaml, mapping, &mut loaded, &context);
        if let Ok(rep) = &r {
            context.push((format!("{}.rules", rep.package), rep.text.clone()));
        }
        out.push(r);
    }
    out
}

fn import_one(
    source: &str,
    yaml: &str,
    mapping: &Mapping,
    loaded: &mut Loaded,
    context: &[(String, String)],
) -> Result<FileReport, String> {
    let doc: Value =
        serde_norway::from_str(yaml).map_err(|e| format!("{source}: not YAML: {e}"))?;
    let list = doc
        .as_sequence()
        .ok_or_else(|| format!("{source}: not a Falco rules file (a YAML list)"))?;
    let package = crate::prometheus::package_name(source);
    // Names this file declares, first: a macro may use one declared below it.
    for it in list {
        for (key, kind) in [("macro", Kind::Macro), ("list", Kind::List)] {
            // An `append`/`override` entry changes the earlier declaration, not a new one.
            if let Some(n) = s(it, key)
                && merge::changes(it, key).is_none()
            {
                loaded.names.insert(n.to_string(), (package.clone(), kind));
            }
        }
    }
    let mut items: Vec<Item> = Vec::new();
    let mut imports: Vec<String> = Vec::new();
    // Where this file defines each list, macro and rule (an append in the same file changes
    // that item).
    let mut here: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    for it in list {
        let original = serde_norway::to_string(it).unwrap_or_default();
        let Some((kind, n)) = ["list", "macro", "rule"]
            .into_iter()
            .find_map(|k| s(it, k).map(|n| (k, n.to_string())))
        else {
            if it.get("required_engine_version").is_none()
                && it.get("required_plugin_versions").is_none()
            {
                items.push(Item {
                    name: "item".into(),
                    original,
                    body: Err("neither a rule, a macro nor a list".into()),
                    notes: Vec::new(),
                });
            }
            // Versions of Falco's engine and plugins: nothing to run.
            continue;
        };
        let key = (kind, n.clone());
        let cx = condition::Cx {
            mapping,
            package: &package,
            loaded: &loaded.names,
        };
        let Some(modes) = merge::changes(it, kind) else {
            let mut notes = Vec::new();
            let body = declare(kind, it, &n, &cx, &mut imports, &mut notes);
            loaded
                .defs
                .insert(key.clone(), (package.clone(), it.clone()));
            here.insert(key, items.len());
            items.push(Item {
                name: format!("{kind} {n}"),
                original,
                body,
                notes,
            });
            continue;
        };
        let Some((owner, base)) = loaded.defs.get(&key).cloned() else {
            items.push(Item {
                name: format!("{kind} {n}"),
                original,
                body: Err(format!(
                    "`append`/`override` of a {kind} no earlier file declares"
                )),
                notes: Vec::new(),
            });
            continue;
        };
        let merged = merge::merge(&base, it, &modes);
        let id = text::ident(&n);
        let body = if owner == package
            && let Some(&at) = here.get(&key)
        {
            // Declared in this file: the declaration itself changes.
            let mut notes = Vec::new();
            items[at].body = declare(kind, &merged, &n, &cx, &mut imports, &mut notes);
            items[at].notes = notes;
            Ok(format!("# merged into the {kind} `{n}` above\n"))
        } else {
            imports.push(owner.clone());
            match kind {
                "list" if modes.get("items") == Some(&merge::Mode::Append) => {
                    let added = scalars(it, "items");
                    condition::list_items(&added, &cx, &mut imports)
                        .map(|v| format!("extend list {owner}.{id} += [{}]\n", v.join(", ")))
                }
                "list" => list_values(&merged, &cx, &mut imports)
                    .map(|v| format!("override list {owner}.{id} = [{}]\n", v.join(", "))),
                "macro" => {
                    let cond = s(&merged, "condition").unwrap_or_default();
                    condition::translate(cond, &cx, &mut imports)
                        .map(|e| format!("override macro {owner}.{id} = {e}\n"))
                }
                _ => {
                    // A rule changed by a later file: the earlier one is disabled and the
                    // merged rule declared here.
                    let mut notes = Vec::new();
                    let r = rule_decl(&merged, &n, &cx, &mut imports, &mut notes);
                    here.insert(key.clone(), items.len());
                    r.map(|r| format!("disable rule {owner}.{id}\n{r}"))
                }
            }
        };
        let new_owner = if kind == "rule" && owner != package {
            package.clone()
        } else {
            owner
        };
        loaded.defs.insert(key, (new_owner, merged));
        items.push(Item {
            name: format!("{kind} {n}"),
            original,
            body,
            notes: Vec::new(),
        });
    }
    imports.sort();
    imports.dedup();
    let preamble: String = imports
        .iter()
        .filter(|p| **p != package)
        .map(|p| format!("import \"./{p}\"\n"))
        .collect();
    Ok(output::finish(
        Header {
            source: source.to_string(),
            tool: "falco",
            package,
            preamble,
            context: context.to_vec(),
        },
        items,
    ))
}

fn declare(
    kind: &str,
    it: &Value,
    name: &str,
    cx: &condition::Cx,
    imports: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    match kind {
        "macro" => macro_decl(it, name, cx, imports),
        "list" => list_decl(it, name, cx, imports),
        _ => rule_decl(it, name, cx, imports, notes),
    }
}

fn list_values(
    it: &Value,
    cx: &condition::Cx,
    imports: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    match it.get("items") {
        None | Some(Value::Sequence(_)) => {}
        Some(_) => return Err("`items` is not a list".into()),
    }
    condition::list_items(&scalars(it, "items"), cx, imports)
}

fn macro_decl(
    it: &Value,
    name: &str,
    cx: &condition::Cx,
    imports: &mut Vec<String>,
) -> Result<String, String> {
    let cond = s(it, "condition").ok_or("a macro without a condition")?;
    let expr = condition::translate(cond, cx, imports)?;
    // `open`: a later file (or the user) may override it, as Falco's `append` does.
    Ok(format!("open macro {} = {expr}\n", text::ident(name)))
}

fn list_decl(
    it: &Value,
    name: &str,
    cx: &condition::Cx,
    imports: &mut Vec<String>,
) -> Result<String, String> {
    let values = list_values(it, cx, imports)?;
    // `open`: users add their own entries with `extend list`, as Falco users append.
    Ok(format!(
        "open list {} = [{}]\n",
        text::ident(name),
        values.join(", ")
    ))
}

fn severity(priority: &str) -> &'static str {
    match priority.to_ascii_uppercase().as_str() {
        "EMERGENCY" | "ALERT" | "CRITICAL" => "critical",
        "ERROR" => "high",
        "WARNING" => "warning",
        _ => "info",
    }
}

fn rule_decl(
    it: &Value,
    name: &str,
    cx: &condition::Cx,
    imports: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    if let Some(src) = s(it, "source").filter(|s| *s != "syscall") {
        notes.push(format!(
            "source `{src}`: its events must carry Falco's fields as mapped"
        ));
    }
    let cond = s(it, "condition").ok_or("a rule without a condition")?;
    // Exceptions are conditions the rule must not meet, as Falco expands them.
    let cond = format!("{cond}{}", merge::exceptions(it)?);
    let filter = condition::translate(&cond, cx, imports)?;
    let ident = text::ident(name);
    let mut out = String::new();
    let enabled = it.get("enabled").and_then(Value::as_bool) != Some(false);
    // `open`: a later file's `append`/`override` disables it and declares the merged rule.
    out.push_str(&format!("open rule {ident} {{\n"));
    out.push_str(&format!(
        "  severity {}\n",
        severity(s(it, "priority").unwrap_or("WARNING"))
    ));
    out.push_str(&format!(
        "  labels {{ falco_rule = {} }}\n",
        text::string(name)
    ));
    out.push_str(&format!("  on event where {filter}\n"));
    if let Some(o) = s(it, "output") {
        let (t, dropped) = condition::output(o.trim(), cx);
        if !dropped.is_empty() {
            notes.push(format!(
                "output fields left out: {} (templates cannot index arrays yet)",
                dropped.join(" ")
            ));
        }
        out.push_str(&format!("  summary {}\n", text::string(&t)));
    }
    if let Some(d) = s(it, "desc") {
        out.push_str(&format!("  description {}\n", text::string(d.trim())));
    }
    let tags = scalars(it, "tags");
    if !tags.is_empty() {
        out.push_str(&format!(
            "  annotations {{ tags = {} }}\n",
            text::string(&tags.join(","))
        ));
    }
    out.push_str("}\n");
    if !enabled {
        // Disabled in Falco: declared (users may enable it by removing this line).
        out.push_str(&format!("disable rule {}.{ident}\n", cx.package));
    }
    Ok(out)
}
