//! Resolution: which files make the program, which package each belongs to, and which
//! declaration every name means.

mod loader;
pub mod suggest;
mod symbols;

pub use loader::{
    LoadError, Loaded, LoadedFile, MAX_FILE_BYTES, MAX_WALK, add_file, collect, load,
    read_rules_file,
};

/// Adds an in-memory root file.
pub fn loader_add(
    l: &mut Loaded,
    path: std::path::PathBuf,
    text: String,
    std_root: Option<&std::path::Path>,
) {
    add_file(l, path, text, true, std_root);
}
pub use symbols::{Namespace, Sym, SymKey, Symbols, declared_name};
