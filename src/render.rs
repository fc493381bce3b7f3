//! Human rendering of diagnostics with miette (colour when the output is a terminal).

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Severity,
};
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
    for d in diags {
        let file = sources.get(d.span.file);
        if has_long_line(d, &file.text) {
            plain(&mut out, d, sources);
            continue;
        }
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(d.label.clone()).filter(|l| !l.is_empty()),
            (d.span.start as usize, d.span.len()),
        )];
        for s in d.secondary.iter().filter(|s| s.span.file == d.span.file) {
            labels.push(LabeledSpan::new_with_span(
                Some(s.message.clone()),
                (s.span.start as usize, s.span.len()),
            ));
        }
        let md = MietteDiagnostic::new(d.message.clone())
            .with_code(d.code.as_str())
            .with_severity(match d.level() {
                Level::Error => Severity::Error,
                Level::Warning => Severity::Warning,
            })
            .with_labels(labels)
            .with_help(d.help_or_default());
        let report = miette::Report::new(md)
            .with_source_code(NamedSource::new(file.name.clone(), file.text.clone()));
        let _ = handler.render_report(&mut out, report.as_ref());
        out.push('\n');
    }
    out
}

/// Lines longer than this are not drawn as snippets: the graphical renderer cannot place
/// labels past column 65,535, and such a line is unreadable on a terminal anyway.
const MAX_SNIPPET_LINE: usize = 4096;

/// Whether a label of `d` sits on a line too long to draw.
fn has_long_line(d: &Diagnostic, text: &str) -> bool {
    let spans = std::iter::once(d.span).chain(
        d.secondary
            .iter()
            .filter(|s| s.span.file == d.span.file)
            .map(|s| s.span),
    );
    spans.into_iter().any(|s| {
        let at = (s.start as usize).min(text.len());
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        end - start > MAX_SNIPPET_LINE || s.len() > MAX_SNIPPET_LINE
    })
}

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
