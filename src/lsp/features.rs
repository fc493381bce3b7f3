//! What the server answers, computed from a fresh check of the document (with its imports
//! read from disk): the checker is fast enough to run on every change.

use super::text;
use lsp_types::*;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use vigil_compiler::Checked;
use vigil_compiler::resolve::{Namespace, Sym, SymKey};
use vigil_compiler::syntax::ast::DeclKind;

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into()]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    }
}

/// The file path of a `file:` URI.
pub fn path_of(uri: &Uri) -> PathBuf {
    let s = uri.as_str();
    let p = s.strip_prefix("file://").unwrap_or(s);
    PathBuf::from(percent_decode(p))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn uri_of(path: &Path) -> Option<Uri> {
    let abs = std::path::absolute(path).ok()?;
    let mut s = String::from("file://");
    for c in abs.to_string_lossy().chars() {
        if c.is_ascii_alphanumeric() || "/-._~".contains(c) {
            s.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                s.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Uri::from_str(&s).ok()
}

/// The document checked, and its index among the checked files.
fn check(uri: &Uri, text: &str, root: Option<&Path>) -> (Checked, Option<usize>) {
    let path = path_of(uri);
    let checked = vigil_compiler::check_source(&path.to_string_lossy(), text, root);
    let fi = checked
        .sources
        .find(&stored(&path))
        .and_then(|id| checked.files.iter().position(|f| f.id == id));
    (checked, fi)
}

/// The path the loader keys a file by (canonical when the file exists).
fn stored(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

pub fn diagnostics(uri: &Uri, text: &str, root: Option<&Path>) -> Vec<Diagnostic> {
    let (checked, _) = check(uri, text, root);
    let Some(id) = checked.sources.find(&stored(&path_of(uri))) else {
        return Vec::new();
    };
    checked
        .diagnostics
        .iter()
        .filter(|d| d.span.file == id)
        .map(|d| {
            let help = d.help_or_default();
            let replace = did_you_mean(&help);
            // Spans may take in the white space after a token; editors underline the token.
            let start = d.span.start as usize;
            let end = start
                + text
                    .get(start..d.span.end as usize)
                    .map_or(0, |t| t.trim_end().len());
            Diagnostic {
                range: text::range(text, start, end),
                severity: Some(if d.is_error() {
                    DiagnosticSeverity::ERROR
                } else {
                    DiagnosticSeverity::WARNING
                }),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("vigil".into()),
                message: if help.is_empty() {
                    d.message.clone()
                } else {
                    format!("{}\nhelp: {help}", d.message)
                },
                data: replace.map(|r| serde_json::json!({ "replace": r })),
                ..Diagnostic::default()
            }
        })
        .collect()
}

/// The name in a "did you mean `x`?" help.
fn did_you_mean(help: &str) -> Option<String> {
    let rest = help.split("did you mean `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// Namespaces a bare name may live in, most likely first.
const NAMESPACES: &[Namespace] = &[
    Namespace::Value,
    Namespace::Rule,
    Namespace::Notifier,
    Namespace::Playbook,
    Namespace::Exception,
    Namespace::Calendar,
    Namespace::Schema,
    Namespace::Metric,
];

fn resolve(checked: &Checked, fi: usize, name: &str) -> Option<(SymKey, Sym)> {
    NAMESPACES.iter().find_map(|&ns| {
        let key = checked.syms.resolve(&checked.files, fi, ns, name)?;
        let sym = checked.syms.map.get(&key).copied()?;
        Some((key, sym))
    })
}

fn location(checked: &Checked, span: vigil_compiler::source::Span) -> Option<Location> {
    let f = checked.sources.get(span.file);
    Some(Location {
        uri: uri_of(&f.path)?,
        range: text::range(&f.text, span.start as usize, span.end as usize),
    })
}

pub fn definition(
    uri: &Uri,
    text: &str,
    pos: Position,
    root: Option<&Path>,
) -> Option<GotoDefinitionResponse> {
    let (checked, fi) = check(uri, text, root);
    let (s, e) = text::word_at(text, text::offset(text, pos))?;
    let (_, sym) = resolve(&checked, fi?, &text[s..e])?;
    Some(GotoDefinitionResponse::Scalar(location(
        &checked, sym.span,
    )?))
}

/// Uses of the name under the cursor: in the document and what it imports, and in every
/// file of the workspace (as saved) that resolves the name to the same declaration.
pub fn references(
    uri: &Uri,
    text: &str,
    pos: Position,
    root: Option<&Path>,
    workspace: Option<&Path>,
) -> Option<Vec<Location>> {
    let (checked, fi) = check(uri, text, root);
    let (s, e) = text::word_at(text, text::offset(text, pos))?;
    let (key, _) = resolve(&checked, fi?, &text[s..e])?;
    let mut out = Vec::new();
    uses(&checked, &key, None, &mut out);
    if let Some(ws) = workspace
        && let Ok(all) = vigil_compiler::check_paths(&[ws.to_path_buf()], root)
    {
        // The document itself was searched as edited, not as saved.
        uses(&all, &key, Some(&path_of(uri)), &mut out);
    }
    out.sort_by(|a, b| {
        (a.uri.as_str(), a.range.start.line, a.range.start.character).cmp(&(
            b.uri.as_str(),
            b.range.start.line,
            b.range.start.character,
        ))
    });
    out.dedup();
    Some(out)
}

/// Every word in `checked`'s files (but `skip`) that resolves to `key`.
fn uses(checked: &Checked, key: &SymKey, skip: Option<&Path>, out: &mut Vec<Location>) {
    for (i, f) in checked.files.iter().enumerate() {
        let src = checked.sources.get(f.id);
        let same =
            |p: &Path| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&src.path).ok();
        if skip.is_some_and(same) {
            continue;
        }
        let (Some(tokens), Some(uri)) = (
            vigil_compiler::syntax::lex::lex(&src.text),
            uri_of(&src.path),
        ) else {
            continue;
        };
        let base = src.text.as_ptr() as usize;
        for t in tokens {
            if t.kind != vigil_compiler::syntax::lex::Kind::Word {
                continue;
            }
            if resolve(checked, i, t.text).is_some_and(|(k, _)| &k == key) {
                let start = t.text.as_ptr() as usize - base;
                out.push(Location {
                    uri: uri.clone(),
                    range: text::range(&src.text, start, start + t.text.len()),
                });
            }
        }
    }
}

pub fn hover(uri: &Uri, text: &str, pos: Position, root: Option<&Path>) -> Option<Hover> {
    let (s, e) = text::word_at(text, text::offset(text, pos))?;
    let word = &text[s..e];
    let call = text[e..].trim_start().starts_with('(');
    let markdown = if let Some(b) = vigil_compiler::typeck::functions::lookup(word).filter(|_| call)
    {
        format!("```vigil\n{}\n```\n{}", b.signature, b.doc)
    } else {
        let (checked, fi) = check(uri, text, root);
        let Some((key, sym)) = resolve(&checked, fi?, word) else {
            // An undeclared metric: what the rule set says of it.
            let labels = metric_labels(&checked, word);
            if labels.is_empty() && !mentions_metric(&checked, word) {
                return None;
            }
            return Some(Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: format!(
                        "metric `{word}`

labels the rules use: {}",
                        shown(&labels)
                    ),
                }),
                range: Some(text::range(text, s, e)),
            });
        };
        let decl = &checked.files[sym.file].module.decls[sym.decl];
        let source = checked.sources.snippet(decl.span).trim_end();
        let shown: Vec<&str> = source.lines().take(14).collect();
        let more = if source.lines().count() > 14 {
            "\n…"
        } else {
            ""
        };
        let what = match decl.kind {
            DeclKind::Rule(_) => "rule",
            DeclKind::Const { .. } => "const",
            DeclKind::List { .. } => "list",
            DeclKind::Macro { .. } => "macro",
            DeclKind::Metric { .. } => "metric",
            _ => "",
        };
        let extra = if matches!(decl.kind, DeclKind::Metric { .. }) {
            format!(
                "\n\nlabels the rules use: {}",
                self::shown(&metric_labels(&checked, &key.2))
            )
        } else {
            String::new()
        };
        format!(
            "{what} `{}.{}`\n```vigil\n{}{more}\n```{extra}",
            key.0,
            key.2,
            shown.join("\n")
        )
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(text::range(text, s, e)),
    })
}

fn shown(labels: &std::collections::BTreeSet<String>) -> String {
    if labels.is_empty() {
        "none seen".into()
    } else {
        labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every expression of every rule, record and declaration body in the checked files.
fn expressions(checked: &Checked, f: &mut dyn FnMut(&vigil_compiler::syntax::ast::Expr)) {
    use vigil_compiler::syntax::ast::ClauseKind as C;
    for file in &checked.files {
        for d in &file.module.decls {
            match &d.kind {
                DeclKind::Rule(r) => {
                    for c in &r.clauses {
                        match &c.kind {
                            C::When {
                                cond,
                                for_,
                                recover,
                                ..
                            } => {
                                f(cond);
                                for e in for_.iter().chain(recover) {
                                    f(e);
                                }
                            }
                            C::Let { value, .. } => f(value),
                            C::Recover(e) | C::OnEvent(Some(e)) => f(e),
                            _ => {}
                        }
                    }
                }
                DeclKind::Record { expr, .. } => f(expr),
                DeclKind::Const { value, .. } | DeclKind::Macro { body: value, .. } => f(value),
                _ => {}
            }
        }
    }
}

fn mentions(e: &vigil_compiler::syntax::ast::Expr, metric: &str) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if let vigil_compiler::syntax::ast::ExprKind::Ref { name, .. } = &x.kind {
            found |= name == metric;
        }
    });
    found
}

fn mentions_metric(checked: &Checked, metric: &str) -> bool {
    let mut found = false;
    expressions(checked, &mut |e| found |= mentions(e, metric));
    found
}

/// Label names the rule set uses with a metric: its declaration's, its matchers', and the
/// `by`/`without`/`on`/`ignoring` lists over expressions that read it.
fn metric_labels(checked: &Checked, metric: &str) -> std::collections::BTreeSet<String> {
    use vigil_compiler::syntax::ast::{ExprKind, Grouping};
    let mut out = std::collections::BTreeSet::new();
    for file in &checked.files {
        for d in &file.module.decls {
            if let DeclKind::Metric {
                name,
                labels: Some(ls),
                ..
            } = &d.kind
                && name.name == metric
            {
                out.extend(ls.iter().map(|l| l.name.clone()));
            }
        }
    }
    expressions(checked, &mut |e| {
        e.walk(&mut |x| match &x.kind {
            ExprKind::Ref { name, matchers } if name == metric => {
                out.extend(matchers.iter().map(|m| m.label.name.clone()));
            }
            ExprKind::Call {
                args,
                group: Some(Grouping::By(ls, _) | Grouping::Without(ls, _)),
                ..
            } if args.iter().any(|a| mentions(&a.value, metric)) => {
                out.extend(ls.iter().map(|l| l.name.clone()));
            }
            ExprKind::Binary {
                lhs,
                rhs,
                matching: Some(m),
                ..
            } if mentions(lhs, metric) || mentions(rhs, metric) => {
                out.extend(m.labels.iter().map(|l| l.name.clone()));
            }
            _ => {}
        });
    });
    out
}

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
    "notify",
    "sequence",
    "within",
    "by",
    "without",
    "over",
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

#[allow(deprecated)]
pub fn symbols(uri: &Uri, text: &str, root: Option<&Path>) -> Option<DocumentSymbolResponse> {
    let (checked, fi) = check(uri, text, root);
    let file = &checked.files[fi?];
    let mut out = Vec::new();
    for d in &file.module.decls {
        let Some((ns, name)) = vigil_compiler::resolve::declared_name(&d.kind) else {
            continue;
        };
        let kind = match ns {
            Namespace::Rule => SymbolKind::EVENT,
            Namespace::Value => SymbolKind::CONSTANT,
            Namespace::Notifier | Namespace::Playbook => SymbolKind::FUNCTION,
            Namespace::Metric => SymbolKind::FIELD,
            Namespace::Schema => SymbolKind::STRUCT,
            _ => SymbolKind::OBJECT,
        };
        out.push(DocumentSymbol {
            name: name.name.clone(),
            detail: None,
            kind,
            tags: None,
            deprecated: None,
            range: text::range(text, d.span.start as usize, d.span.end as usize),
            selection_range: text::range(text, name.span.start as usize, name.span.end as usize),
            children: None,
        });
    }
    Some(DocumentSymbolResponse::Nested(out))
}

pub fn formatting(text: &str) -> Option<Vec<TextEdit>> {
    let out = vigil_compiler::fmt::format(text).ok()?;
    if out == text {
        return Some(Vec::new());
    }
    Some(vec![TextEdit {
        range: text::range(text, 0, text.len()),
        new_text: out,
    }])
}

/// Quick fixes: "did you mean" suggestions carried by the diagnostics.
// `WorkspaceEdit` is keyed by `Uri`, which lsp-types defines: the lint's concern (a key
// mutated while in the map) cannot arise here.
#[allow(clippy::mutable_key_type)]
pub fn code_actions(p: &CodeActionParams) -> Vec<CodeActionOrCommand> {
    let mut out = Vec::new();
    for d in &p.context.diagnostics {
        let Some(new) = d
            .data
            .as_ref()
            .and_then(|v| v.get("replace"))
            .and_then(|v| v.as_str())
        else {
            continue;
        };
        let mut changes = std::collections::HashMap::new();
        changes.insert(
            p.text_document.uri.clone(),
            vec![TextEdit {
                range: d.range,
                new_text: new.to_string(),
            }],
        );
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("replace with `{new}`"),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            }),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    out
}
