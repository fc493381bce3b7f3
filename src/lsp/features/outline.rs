//! The outline of a document, and formatting through `vigil fmt`.

use super::*;

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
