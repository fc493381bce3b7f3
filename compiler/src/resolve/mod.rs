//! Resolution: which files make the program, which package each belongs to, and which
//! declaration every name means.

mod loader;
mod symbols;
pub mod suggest;

pub use loader::{add_file, load, LoadError, Loaded, LoadedFile};

/// Adds an in-memory root file.
pub fn loader_add(l: &mut Loaded, path: std::path::PathBuf, text: String, std_root: Option<&std::path::Path>) {
    add_file(l, path, text, true, std_root);
}
pub use symbols::{Namespace, SymKey, Symbols};
