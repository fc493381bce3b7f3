//! Where the command line and the language server find what they are not told: the folder
//! of the shipped packs (`import "std/..."`), and the values of secrets. One module, so the
//! language server does not reach into the command line for them.

use std::path::PathBuf;

mod packs {
    include!(concat!(env!("OUT_DIR"), "/packs.rs"));
}

/// The folder shipped packs are imported from: the flag, else `$VIGIL_RULES`, else the
/// `rules/` folder of the project this binary was built from, else the packs built into the
/// binary, written once to a cache folder (an installed `vigil` works from anywhere). The
/// word `builtin` (as the flag or the variable) asks for the built-in packs.
pub fn rules_root(explicit: Option<PathBuf>) -> Option<PathBuf> {
    let named = explicit.or_else(|| std::env::var_os("VIGIL_RULES").map(PathBuf::from));
    if named.as_deref() == Some(std::path::Path::new("builtin")) {
        return embedded_packs();
    }
    named
        .or_else(|| {
            let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
            here.is_dir().then_some(here)
        })
        .or_else(embedded_packs)
}

/// The built-in packs as files: `$XDG_CACHE_HOME/vigil/packs-VERSION-HASH` (else
/// `~/.cache/...`, else the temporary folder), written whole before it is used (a folder
/// renamed into place), so concurrent runs never see half of it.
fn embedded_packs() -> Option<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    packs::PACKS.hash(&mut h);
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("vigil");
    let dir = base.join(format!(
        "packs-{}-{:016x}",
        env!("CARGO_PKG_VERSION"),
        h.finish()
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    let tmp = base.join(format!(".packs-{}-{}", std::process::id(), h.finish()));
    let written = (|| -> std::io::Result<()> {
        for (rel, text) in packs::PACKS {
            let p = tmp.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, text)?;
        }
        std::fs::rename(&tmp, &dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir.is_dir().then_some(dir)
}

/// The value of a secret the rules name (`env("NAME")`), from this process's environment:
/// looked up when rules are loaded, never stored in what they compile to.
pub fn secret(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    /// The binary carries every shipped pack, byte for byte.
    #[test]
    fn the_packs_are_built_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let system = super::packs::PACKS
            .iter()
            .find(|(p, _)| *p == "std/system.rules");
        let disk = std::fs::read_to_string(root.join("std/system.rules")).expect("shipped");
        assert_eq!(system.map(|s| s.1), Some(disk.as_str()));
        let on_disk = vigil_compiler::resolve::collect(&root)
            .expect("readable")
            .len();
        assert_eq!(super::packs::PACKS.len(), on_disk);
    }
}
