//! The symbol table: every named declaration by package, namespace and name.

use super::loader::LoadedFile;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{DeclKind, Ident};
use std::collections::{BTreeSet, HashMap};

/// Names live in separate namespaces: a notifier and a rule may share a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Usable in expressions: const, list, macro, record.
    Value,
    Rule,
    Notifier,
    Playbook,
    Calendar,
    Exception,
    Schema,
    Metric,
}

/// (package, namespace, name).
pub type SymKey = (String, Namespace, String);

/// Where a declaration is: `files[file].module.decls[decl]`.
#[derive(Debug, Clone, Copy)]
pub struct Sym {
    pub file: usize,
    pub decl: usize,
    pub span: Span,
    pub open: bool,
}

#[derive(Debug, Default)]
pub struct Symbols {
    pub map: HashMap<SymKey, Sym>,
    pub packages: BTreeSet<String>,
    /// Rules declared twice in one package: (second, first) name spans.
    pub duplicate_rules: Vec<(Span, Span, String)>,
    /// The names of each package's namespaces, sorted: suggestions are offered for every
    /// unknown name, so they must not cost a scan of all symbols each.
    by_space: HashMap<String, HashMap<Namespace, Vec<String>>>,
}

impl Symbols {
    pub fn build(files: &[LoadedFile], diags: &mut Vec<Diagnostic>) -> Symbols {
        let mut s = Symbols::default();
        for (fi, f) in files.iter().enumerate() {
            s.packages.insert(f.package.clone());
            let mut seen_other = false;
            let mut seen_package = false;
            for (di, d) in f.module.decls.iter().enumerate() {
                if let DeclKind::Package(p) = &d.kind {
                    if seen_other || seen_package {
                        diags.push(
                            Diagnostic::new(
                                Code::PackageMisplaced,
                                p.span,
                                "`package` must come first, once per file",
                            )
                            .label(if seen_package {
                                "second package declaration"
                            } else {
                                "after other declarations"
                            }),
                        );
                    }
                    seen_package = true;
                    continue;
                }
                if !matches!(d.kind, DeclKind::Import { .. }) {
                    seen_other = true;
                }
                let Some((ns, name)) = declared_name(&d.kind) else {
                    continue;
                };
                let key = (f.package.clone(), ns, name.name.clone());
                let sym = Sym {
                    file: fi,
                    decl: di,
                    span: name.span,
                    open: d.open,
                };
                let record = |d: &DeclKind| matches!(d, DeclKind::Record { .. });
                match s.map.get(&key) {
                    // One series recorded by several declarations (distinct labels).
                    Some(prev)
                        if record(&d.kind)
                            && record(&files[prev.file].module.decls[prev.decl].kind) => {}
                    Some(prev) if ns == Namespace::Rule => {
                        s.duplicate_rules
                            .push((name.span, prev.span, name.name.clone()));
                    }
                    Some(prev) => diags.push(
                        Diagnostic::new(
                            Code::DuplicateDecl,
                            name.span,
                            format!("`{}` is declared twice", name.name),
                        )
                        .label("declared again here")
                        .with(prev.span, "first declared here"),
                    ),
                    None => {
                        s.map.insert(key, sym);
                    }
                }
            }
        }
        for (pkg, ns, name) in s.map.keys() {
            s.by_space
                .entry(pkg.clone())
                .or_default()
                .entry(*ns)
                .or_default()
                .push(name.clone());
        }
        for spaces in s.by_space.values_mut() {
            for names in spaces.values_mut() {
                names.sort_unstable();
            }
        }
        s
    }

    pub fn get(&self, pkg: &str, ns: Namespace, name: &str) -> Option<Sym> {
        self.map
            .get(&(pkg.to_string(), ns, name.to_string()))
            .copied()
    }

    /// Resolves a possibly qualified name (`pkg.name`) as seen from file `fi`.
    pub fn resolve(
        &self,
        files: &[LoadedFile],
        fi: usize,
        ns: Namespace,
        name: &str,
    ) -> Option<SymKey> {
        let file = &files[fi];
        if let Some((pkg, rest)) = name.split_once('.') {
            let target = file
                .imports
                .iter()
                .find(|(local, _, _)| local == pkg)
                .map(|(_, p, _)| p.clone())
                .or_else(|| self.packages.contains(pkg).then(|| pkg.to_string()))?;
            let key = (target, ns, rest.to_string());
            return self.map.contains_key(&key).then_some(key);
        }
        let key = (file.package.clone(), ns, name.to_string());
        self.map.contains_key(&key).then_some(key)
    }

    /// Names in one package and namespace, for suggestions.
    pub fn names(&self, pkg: &str, ns: Namespace) -> Vec<&str> {
        self.by_space
            .get(pkg)
            .and_then(|spaces| spaces.get(&ns))
            .map_or_else(Vec::new, |v| v.iter().map(String::as_str).collect())
    }
}

/// The namespace and name a declaration introduces, if any.
pub fn declared_name(kind: &DeclKind) -> Option<(Namespace, &Ident)> {
    Some(match kind {
        DeclKind::Const { name, .. }
        | DeclKind::List { name, .. }
        | DeclKind::Macro { name, .. } => (Namespace::Value, name),
        DeclKind::Record { name, .. } => (Namespace::Value, name),
        DeclKind::Metric { name, .. } => (Namespace::Metric, name),
        DeclKind::Schema { name, .. } => (Namespace::Schema, name),
        DeclKind::Calendar { name, .. } => (Namespace::Calendar, name),
        DeclKind::Exception { name, .. } => (Namespace::Exception, name),
        DeclKind::Rule(r) => (Namespace::Rule, &r.name),
        DeclKind::Notifier { name, .. } => (Namespace::Notifier, name),
        DeclKind::Playbook { name, .. } => (Namespace::Playbook, name),
        _ => return None,
    })
}
