//! Helpers shared by the checker's test suites.

/// What `vigil check` reports for `src`, as `CODE@line`.
pub fn codes(src: &str) -> Vec<String> {
    let checked = vigil_compiler::check_source("test.rules", src, None);
    checked
        .diagnostics
        .iter()
        .map(|d| {
            let line = checked
                .sources
                .get(d.span.file)
                .line_col(d.span.start as usize)
                .0;
            format!("{}@{line}", d.code.as_str())
        })
        .collect()
}
