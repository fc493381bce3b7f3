//! Human rendering of diagnostics with miette (colour when the output is a terminal).

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, MietteError,
    MietteSpanContents, Severity, SourceCode, SourceSpan, SpanContents,
};
use std::collections::HashMap;
use std::sync::Arc;
use vigil_compiler::diag::{Diagnostic, Level};
use vigil_compiler::source::SourceMap;

/// Renders diagnostics as miette reports, one after another.
pub fn human(diags: &[Diagnostic], sources: &SourceMap, colour: bool) -> String {
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    // One indexed copy of each file, shared by its diagnostics (not one copy per diagnostic).
    let mut indexed: HashMap<vigil_compiler::source::FileId, Arc<Windowed>> = HashMap::new();
    for d in diags {
        let file = sources.get(d.span.file);
        if has_long_line(d, sources) {
            plain(&mut out, d, sources);
            continue;
        }
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(safe(&d.label)).filter(|l| !l.is_empty()),
            (d.span.start as usize, d.span.len()),
        )];
        for s in d.secondary.iter().filter(|s| s.span.file == d.span.file) {
            labels.push(LabeledSpan::new_with_span(
                Some(safe(&s.message)),
                (s.span.start as usize, s.span.len()),
            ));
        }
        let md = MietteDiagnostic::new(safe(&d.message))
            .with_code(d.code.as_str())
            .with_severity(match d.level() {
                Level::Error => Severity::Error,
                Level::Warning => Severity::Warning,
            })
            .with_labels(labels)
            .with_help(safe(&d.help_or_default()));
        let source = indexed
            .entry(d.span.file)
            .or_insert_with(|| Arc::new(Windowed::new(&file.name, &file.text)))
            .clone();
        let report = miette::Report::new(md).with_source_code(source);
        let _ = handler.render_report(&mut out, report.as_ref());
        out.push('\n');
    }
    out
}

/// A file for miette that finds a span's lines through a line index, so rendering many
/// diagnostics of one large file stays linear (miette's own reader scans from the start).
struct Windowed {
    name: String,
    text: Arc<str>,
    /// Byte offset of each line's start.
    starts: Vec<usize>,
}

impl Windowed {
    fn new(name: &str, text: &str) -> Windowed {
        // Control characters in the source (an ESC in a string) are drawn as `?`: one byte for
        // one, so every offset still holds, and the file cannot drive the terminal.
        let text: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_control() && !matches!(c, '\n' | '\t' | '\r') {
                    '?'
                } else {
                    c
                }
            })
            .collect();
        let text = text.as_str();
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        Windowed {
            name: name.to_string(),
            text: text.into(),
            starts,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }
}

impl SourceCode for Windowed {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let end = span.offset() + span.len();
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self.line_of(span.offset()).saturating_sub(before);
        let last = self.line_of(end.saturating_sub(1).max(span.offset())) + after + 1;
        let from = self.starts[first];
        let to = self
            .starts
            .get(last + 1)
            .copied()
            .unwrap_or(self.text.len());
        let window = &self.text.as_bytes()[from..to];
        let local = SourceSpan::new((span.offset() - from).into(), span.len());
        let c = window.read_span(&local, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            SourceSpan::new((c.span().offset() + from).into(), c.span().len()),
            c.line() + first,
            c.column(),
            c.line_count() + first,
        )))
    }
}

/// Lines longer than this are not drawn as snippets: the graphical renderer cannot place
/// labels past column 65,535, and such a line is unreadable on a terminal anyway.
const MAX_SNIPPET_LINE: usize = 4096;

/// Whether a label of `d` sits on a line too long to draw.
fn has_long_line(d: &Diagnostic, sources: &SourceMap) -> bool {
    let file = sources.get(d.span.file);
    let spans = std::iter::once(d.span).chain(
        d.secondary
            .iter()
            .filter(|s| s.span.file == d.span.file)
            .map(|s| s.span),
    );
    spans.into_iter().any(|s| {
        file.line_range(s.start as usize).len() > MAX_SNIPPET_LINE || s.len() > MAX_SNIPPET_LINE
    })
}

/// Diagnostic text with control characters escaped (names and strings come from files).
fn safe(s: &str) -> String {
    printable(s).into_owned()
}

pub use vigil_vocab::printable;

/// A diagnostic without a snippet: code, message, `file:line:col` with the label, help.
fn plain(out: &mut String, d: &Diagnostic, sources: &SourceMap) {
    use std::fmt::Write as _;
    let file = sources.get(d.span.file);
    let (line, col) = file.line_col(d.span.start as usize);
    let mark = match d.level() {
        Level::Error => "×",
        Level::Warning => "⚠",
    };
    let _ = writeln!(out, "{}\n\n  {mark} {}", d.code.as_str(), d.message);
    let _ = writeln!(out, "  at {}:{line}:{col}: {}", file.name, d.label);
    for s in &d.secondary {
        let f = sources.get(s.span.file);
        let (l, c) = f.line_col(s.span.start as usize);
        let _ = writeln!(out, "  at {}:{l}:{c}: {}", f.name, s.message);
    }
    let _ = writeln!(out, "  help: {}\n", d.help_or_default());
}

/// The closing line: "2 errors, 1 warning" or "no problems".
pub fn summary(errors: usize, warnings: usize, files: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if errors == 0 && warnings == 0 {
        format!("checked {}: no problems", plural(files, "file"))
    } else {
        format!(
            "checked {}: {}, {}",
            plural(files, "file"),
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}
