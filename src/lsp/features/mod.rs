//! What the server answers, computed from a fresh check of the document (with its imports
//! read from disk): the checker is fast enough to run on every change.

mod complete;
mod diagnostics;
mod hover;
mod navigate;
mod outline;

pub use complete::completion;
pub use diagnostics::{code_actions, diagnostics};
pub use hover::hover;
pub use navigate::{definition, references};
pub use outline::{formatting, symbols};

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
