//! V1001-V1005, V1025: declarations and imports nothing uses.

use crate::diag::{Code, Diagnostic};
use crate::resolve::Namespace;
use crate::syntax::ast::DeclKind;
use crate::typeck::Checker;

pub(super) fn check(ck: &mut Checker) {
    let mut found = Vec::new();
    for (key, sym) in &ck.syms.map {
        if sym.open || ck.used.contains(key) {
            continue;
        }
        // Packs imported from elsewhere are libraries: their unused names are for others.
        if !ck.files[sym.file].root {
            continue;
        }
        let decl = &ck.files[sym.file].module.decls[sym.decl];
        let (code, what) = match (&decl.kind, key.1) {
            (DeclKind::Const { .. }, _) => (Code::UnusedConst, "const"),
            (DeclKind::List { .. }, _) => (Code::UnusedList, "list"),
            (DeclKind::Macro { .. }, _) => (Code::UnusedMacro, "macro"),
            (_, Namespace::Notifier) => (Code::UnusedNotifier, "notifier"),
            (_, Namespace::Playbook) => (Code::UnusedPlaybook, "playbook"),
            _ => continue,
        };
        found.push(
            Diagnostic::new(code, sym.span, format!("{what} `{}` is never used", key.2))
                .label("unused"),
        );
    }
    for (fi, f) in ck.files.iter().enumerate() {
        if !f.root {
            continue;
        }
        for (local, pkg, span) in &f.imports {
            if !ck.used_imports.contains(&(fi, pkg.clone())) {
                found.push(
                    Diagnostic::new(
                        Code::UnusedImport,
                        *span,
                        format!("nothing from `{local}` is used"),
                    )
                    .label("unused import")
                    .help(format!("use it as `{local}.name`, or remove the import")),
                );
            }
        }
    }
    ck.diags.extend(found);
}
