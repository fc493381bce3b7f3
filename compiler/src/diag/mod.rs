//! Diagnostics as data: the compiler returns them, only the CLI renders them.

mod codes;
mod render;

pub use codes::{Code, CodeInfo, Level};
pub use render::{Located, to_json, to_sarif};

use crate::source::Span;
use serde::Serialize;

/// A secondary location with its own message.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One finding: an error or a warning, with its code, where, and how to fix it.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// Text shown under the primary span.
    pub label: String,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose level comes from its code's registry entry.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            help: None,
        }
    }
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.label = text.into();
        self
    }
    pub fn with(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: text.into(),
        });
        self
    }
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }
    /// Help from a registry default when none was given.
    pub fn help_or_default(&self) -> String {
        self.help
            .clone()
            .unwrap_or_else(|| self.code.info().help.to_string())
    }
    pub fn level(&self) -> Level {
        self.code.info().level
    }
    pub fn is_error(&self) -> bool {
        self.level() == Level::Error
    }
}

/// A list of diagnostics that stages append to.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn errors(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.items.len() - self.errors()
    }
    /// Stable order for output: by file, position, then code.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (a.span.file, a.span.start, a.code.as_str()).cmp(&(
                b.span.file,
                b.span.start,
                b.code.as_str(),
            ))
        });
        self.items
            .dedup_by(|a, b| a.span == b.span && a.code == b.code && a.message == b.message);
    }
}
