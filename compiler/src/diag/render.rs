//! Machine formats (JSON and SARIF 2.1.0). Human rendering lives in the CLI, with miette.

use super::{Diagnostic, Level};
use crate::source::SourceMap;
use serde::Serialize;
use serde_json::{Value, json};

/// A diagnostic with its span turned into file, line and column (1-based, columns in characters).
#[derive(Debug, Clone, Serialize)]
pub struct Located {
    pub code: &'static str,
    pub severity: Level,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub help: String,
}

impl Located {
    pub fn new(d: &Diagnostic, sources: &SourceMap) -> Located {
        let file = sources.get(d.span.file);
        let (line, column) = file.line_col(d.span.start as usize);
        let (end_line, end_column) = file.line_col(d.span.end as usize);
        Located {
            code: d.code.as_str(),
            severity: d.level(),
            message: d.message.clone(),
            file: file.name.clone(),
            line,
            column,
            end_line,
            end_column,
            help: d.help_or_default(),
        }
    }
}

/// `{"diagnostics":[...],"errors":N,"warnings":N}`: the contract of `vigil check --format json`.
pub fn to_json(diags: &[Diagnostic], sources: &SourceMap) -> Value {
    let located: Vec<Located> = diags.iter().map(|d| Located::new(d, sources)).collect();
    let errors = diags.iter().filter(|d| d.is_error()).count();
    json!({ "diagnostics": located, "errors": errors, "warnings": diags.len() - errors })
}

/// A SARIF 2.1.0 log with one run, so code-scanning tools show findings inline.
pub fn to_sarif(diags: &[Diagnostic], sources: &SourceMap) -> Value {
    let mut used: Vec<&'static str> = diags.iter().map(|d| d.code.as_str()).collect();
    used.sort_unstable();
    used.dedup();
    let rules: Vec<Value> = used
        .iter()
        .filter_map(|c| super::Code::parse(c))
        .map(|c| {
            let i = c.info();
            json!({
                "id": i.code,
                "name": i.name,
                "shortDescription": { "text": i.name.replace('-', " ") },
                "fullDescription": { "text": i.explanation },
                "help": { "text": i.help },
                "defaultConfiguration": { "level": sarif_level(i.level) },
            })
        })
        .collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let l = Located::new(d, sources);
            json!({
                "ruleId": l.code,
                "ruleIndex": used.iter().position(|c| *c == l.code),
                "level": sarif_level(l.severity),
                "message": { "text": format!("{}\nhelp: {}", l.message, l.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": l.file.replace('\\', "/") },
                        "region": {
                            "startLine": l.line, "startColumn": l.column,
                            "endLine": l.end_line, "endColumn": l.end_column,
                        }
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "vigil",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    })
}

fn sarif_level(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
    }
}
