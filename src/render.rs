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
