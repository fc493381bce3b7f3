//! Vigil's compiler front end: `.rules` text to a checked program, with diagnostics as data.
//!
//! Stages, each a module with one-way dependencies: [`syntax`] (pest grammar to AST) ->
//! [`resolve`] (files, packages, imports, symbols, graphs) -> [`typeck`] (types, units, label
//! sets, templates) -> [`lint`] (warnings). Nothing here prints; the CLI renders.

#![forbid(unsafe_code)]

pub mod diag;
pub mod source;
pub mod syntax;
