//! Vigil's compiler front end: `.rules` text to a checked program, with diagnostics as data.
//!
//! Stages, each a module with one-way dependencies: [`syntax`] (pest grammar to AST) ->
//! [`resolve`] (files, packages, imports, symbols, graphs) -> [`typeck`] (types, units, label
//! sets, templates) -> [`lint`] (warnings). Nothing here prints; the CLI renders.

#![deny(unsafe_code)]

pub mod diag;
pub mod eval;
pub mod fmt;
pub mod ir;
pub mod lint;
pub mod list_file;
pub mod lower;
pub mod resolve;
pub mod retention;
pub mod series_notation;
pub mod source;
pub mod syntax;
pub mod typeck;

use diag::Diagnostic;
use source::SourceMap;
use std::path::{Path, PathBuf};

/// The result of checking: every file read, every finding, sorted by place.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<resolve::LoadedFile>,
    pub syms: resolve::Symbols,
    /// The unit of every numeric expression, for evaluation's percent scaling.
    pub units: std::collections::HashMap<source::Span, typeck::types::Unit>,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Checks files and folders (recursively `*.rules`). `std_root` holds the shipped packs.
pub fn check_paths(
    paths: &[PathBuf],
    std_root: Option<&Path>,
) -> Result<Checked, resolve::LoadError> {
    let loaded = resolve::load(paths, std_root)?;
    Ok(finish(loaded))
}

/// Checks one in-memory file (tests, benchmarks, the language server).
pub fn check_source(name: &str, text: &str, std_root: Option<&Path>) -> Checked {
    let mut loaded = resolve::Loaded::default();
    resolve::loader_add(&mut loaded, PathBuf::from(name), text.to_string(), std_root);
    finish(loaded)
}

/// Checks several in-memory files together, as one folder (a package spread over files: rules
/// in one, their tests in another).
pub fn check_sources(files: &[(&str, &str)], std_root: Option<&Path>) -> Checked {
    let mut loaded = resolve::Loaded::default();
    for (name, text) in files {
        resolve::loader_add(&mut loaded, PathBuf::from(name), text.to_string(), std_root);
    }
    finish(loaded)
}

fn finish(loaded: resolve::Loaded) -> Checked {
    let resolve::Loaded {
        sources,
        files,
        mut diags,
    } = loaded;
    let syms = resolve::Symbols::build(&files, &mut diags);
    let mut ck = typeck::Checker::new(&files, &sources, &syms);
    ck.run();
    lint::program(&mut ck);
    diags.extend(std::mem::take(&mut ck.diags));
    let units = std::mem::take(&mut ck.units);
    drop(ck);
    let mut checked = Checked {
        sources,
        diagnostics: diags,
        files,
        syms,
        units,
    };
    // A program the checker accepts is lowered too, so no error first appears at run time.
    if checked.errors() == 0 {
        let found = lower::diagnostics(&checked);
        checked.diagnostics.extend(found);
    }
    lint::suppress::apply(&checked.sources, &checked.files, &mut checked.diagnostics);
    let mut all = diag::Diagnostics {
        items: std::mem::take(&mut checked.diagnostics),
    };
    all.sort();
    checked.diagnostics = all.items;
    checked
}
