//! Where the command line and the language server find what they are not told: the folder
//! of the shipped packs (`import "std/..."`), and the values of secrets. One module, so the
//! language server does not reach into the command line for them.

use std::path::PathBuf;

/// The folder shipped packs are imported from: the flag, else `$VIGIL_RULES`, else the
/// `rules/` folder of the project this binary was built from.
pub fn rules_root(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit
        .or_else(|| std::env::var_os("VIGIL_RULES").map(PathBuf::from))
        .or_else(|| {
            let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
            here.is_dir().then_some(here)
        })
}

/// The value of a secret the rules name (`env("NAME")`), from this process's environment:
/// looked up when rules are loaded, never stored in what they compile to.
pub fn secret(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
