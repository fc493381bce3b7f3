//! `vigil import`: other tools' rules as Vigil `.rules` text.
//!
//! Each source kind has a module that turns one input file into [`output::Item`]s (a
//! translation, or the reason there is none, always with the original text). [`output`]
//! renders a package from them and checks it with the real compiler: an item the checker
//! refuses is kept as a `# vigil import: not translated:` block with the checker's reason, so
//! what is written always passes `vigil check` and nothing is dropped silently.

#![deny(unsafe_code)]

pub mod alertmanager;
pub mod falco;
pub mod output;
pub mod prometheus;
pub mod promtool;
pub mod sigma;
pub mod text;
pub mod yaml;

pub use output::{FileReport, ItemReport, Status, Summary};
