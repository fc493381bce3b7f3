//! Diagnostics as you type (the codes and help of `vigil check`), and the quick fix for
//! "did you mean".

use super::*;

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
