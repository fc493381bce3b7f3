//! Completion: keywords, functions, names in scope (imported ones qualified), declared
//! label names.

use super::*;

/// Words that start clauses and expressions (declarations' come from the parser's list).
const KEYWORDS: &[&str] = &[
    "severity",
    "labels",
    "let",
    "on",
    "event",
    "where",
    "when",
    "for",
    "recover",
    "keep_firing",
    "no_data",
    "flapping",
    "throttle",
    "cooldown",
    "delay",
    "except",
    "summary",
    "description",
    "annotations",
    "notify",
    "sequence",
    "within",
    "by",
    "without",
    "over",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "startswith",
    "endswith",
    "matches",
    "glob",
    "under",
    "nocase",
    "any",
    "all",
    "exists",
    "cidr",
    "is",
    "info",
    "warning",
    "high",
    "critical",
    "expect",
    "series",
    "events",
    "advance",
    "firing",
    "pending",
    "resolved",
];

pub fn completion(
    uri: &Uri,
    text: &str,
    _pos: Position,
    root: Option<&Path>,
) -> CompletionResponse {
    let (checked, fi) = check(uri, text, root);
    let mut items: Vec<CompletionItem> = vigil_compiler::syntax::TOP_LEVEL
        .iter()
        .chain(KEYWORDS)
        .map(|k| CompletionItem {
            label: (*k).to_string(),
            kind: Some(CompletionItemKind::KEYWORD),
            ..CompletionItem::default()
        })
        .collect();
    for b in vigil_compiler::typeck::functions::BUILTINS {
        items.push(CompletionItem {
            label: b.name.to_string(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(b.signature.to_string()),
            documentation: Some(Documentation::String(b.doc.to_string())),
            ..CompletionItem::default()
        });
    }
    if let Some(fi) = fi {
        let file = &checked.files[fi];
        let mut names: Vec<(String, Namespace)> = Vec::new();
        for (key, _) in checked.syms.map.iter() {
            if key.0 == file.package {
                names.push((key.2.clone(), key.1));
            } else if let Some((alias, _, _)) = file.imports.iter().find(|(_, p, _)| *p == key.0) {
                names.push((format!("{alias}.{}", key.2), key.1));
            }
        }
        names.sort();
        names.dedup();
        for (name, ns) in names {
            items.push(CompletionItem {
                label: name,
                kind: Some(match ns {
                    Namespace::Value => CompletionItemKind::CONSTANT,
                    Namespace::Rule => CompletionItemKind::EVENT,
                    Namespace::Metric => CompletionItemKind::FIELD,
                    _ => CompletionItemKind::REFERENCE,
                }),
                ..CompletionItem::default()
            });
        }
        // Label names the rule set declares on its metrics.
        let mut labels: Vec<String> = Vec::new();
        for f in &checked.files {
            for d in &f.module.decls {
                if let DeclKind::Metric {
                    labels: Some(ls), ..
                } = &d.kind
                {
                    labels.extend(ls.iter().map(|l| l.name.clone()));
                }
            }
        }
        labels.sort();
        labels.dedup();
        for l in labels {
            items.push(CompletionItem {
                label: l,
                kind: Some(CompletionItemKind::PROPERTY),
                detail: Some("label".into()),
                ..CompletionItem::default()
            });
        }
    }
    CompletionResponse::Array(items)
}
