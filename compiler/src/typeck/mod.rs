//! Type checking: types, units, label sets, references between declarations, templates.
//!
//! The checker walks every declaration once. Macros and rules are checked on demand and
//! memoised, so a composite that names a rule sees that rule's inferred labels, and a cycle
//! (macro or rule graph) is found where the walk meets a declaration it is still inside.

mod decls;
mod expr;
pub mod functions;
mod rules;
mod template;
pub mod types;

use crate::diag::Diagnostic;
use crate::resolve::{LoadedFile, Namespace, SymKey, Symbols};
use crate::source::SourceMap;
use std::collections::{HashMap, HashSet};
use types::{Labels, Val};

pub use expr::Ctx as ExprCtx;
pub(crate) use expr::is_duration_literal;
pub use rules::RuleInfo;

/// The default metric evaluation interval when neither the file nor the rule gives one.
pub const DEFAULT_INTERVAL_SECS: f64 = 15.0;

/// Checks everything loaded; returns what lints need to know (usage, rule facts).
pub struct Checker<'a> {
    pub files: &'a [LoadedFile],
    pub sources: &'a SourceMap,
    pub syms: &'a Symbols,
    pub diags: Vec<Diagnostic>,
    /// Declarations referenced from somewhere else.
    pub used: HashSet<SymKey>,
    /// Imported packages (importer file index, package) that the importer used.
    pub used_imports: HashSet<(usize, String)>,
    macros: HashMap<SymKey, Val>,
    pub(crate) macro_stack: Vec<SymKey>,
    pub rules: HashMap<SymKey, RuleInfo>,
    rule_stack: Vec<SymKey>,
    /// The unit of every numeric expression checked, by span.
    pub units: HashMap<crate::source::Span, types::Unit>,
    /// Each file's `interval`, read once (every rule of the file asks).
    intervals: Vec<Option<f64>>,
    /// "Did you mean" for an unknown name, per (file, event scope, name): a typo repeated in
    /// thousands of places costs one search of the names in scope.
    pub(crate) near_memo: HashMap<(usize, bool, String), Option<String>>,
    /// Every label name the rule set mentions (matchers, `by`/`without`, `on`/`ignoring`,
    /// declared label lists, rule labels): what a template on an open label set may name.
    pub(crate) mentioned: HashSet<String>,
    /// Placeholders of open-label rules naming none of the rule's known names, decided once
    /// every declaration has been seen: `(name, where, the rule's names)`.
    pub(crate) open_placeholders: Vec<(String, crate::source::Span, Vec<String>)>,
}

impl<'a> Checker<'a> {
    pub fn new(files: &'a [LoadedFile], sources: &'a SourceMap, syms: &'a Symbols) -> Self {
        Checker {
            files,
            sources,
            syms,
            diags: Vec::new(),
            used: HashSet::new(),
            used_imports: HashSet::new(),
            macros: HashMap::new(),
            macro_stack: Vec::new(),
            rules: HashMap::new(),
            rule_stack: Vec::new(),
            units: HashMap::new(),
            near_memo: HashMap::new(),
            mentioned: HashSet::new(),
            open_placeholders: Vec::new(),
            intervals: files
                .iter()
                .map(|f| {
                    f.module.decls.iter().find_map(|d| match &d.kind {
                        crate::syntax::ast::DeclKind::Interval(e) => rules::konst_secs(e),
                        _ => None,
                    })
                })
                .collect(),
        }
    }

    /// Checks every declaration of every file.
    pub fn run(&mut self) {
        for fi in 0..self.files.len() {
            for di in 0..self.files[fi].module.decls.len() {
                self.decl(fi, di);
            }
        }
        self.open_placeholder_lints();
    }

    /// Resolves a possibly qualified name (`pkg.name`) as seen from file `fi`.
    pub(crate) fn resolve(&mut self, fi: usize, ns: Namespace, name: &str) -> Option<SymKey> {
        let key = self.syms.resolve(self.files, fi, ns, name)?;
        if name.contains('.') {
            self.used_imports.insert((fi, key.0.clone()));
        }
        Some(key)
    }

    /// Names a suggestion may offer from file `fi`'s package.
    pub(crate) fn candidates(&self, fi: usize, ns: &[Namespace]) -> Vec<String> {
        let pkg = &self.files[fi].package;
        ns.iter()
            .flat_map(|n| self.syms.names(pkg, *n))
            .map(str::to_string)
            .collect()
    }

    /// Labels a rule's alerts carry, for composites and templates.
    pub(crate) fn rule_labels(&mut self, key: &SymKey) -> Labels {
        self.rule(key.clone())
            .map(|r| r.labels.clone())
            .unwrap_or_else(|| Labels::open([]))
    }
}
