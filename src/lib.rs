//! The `vigil` command line: argument parsing and rendering. The compiler returns diagnostics
//! as data; this crate is the only place that prints them.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod lsp;
pub mod render;
