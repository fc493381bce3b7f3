//! Go to definition and find references, across imports and the workspace's files that
//! import the document.

use super::*;

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
