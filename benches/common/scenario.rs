//! Writing a bench's input with one of the scenario scripts in `benches/`.

use std::path::Path;
use std::process::Command;

/// Runs `python3 benches/SCRIPT OUT N`; false when python3 or the script fails.
pub fn write(script: &str, out: &Path, n: usize) -> bool {
    Command::new("python3")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("benches")
                .join(script),
        )
        .arg(out)
        .arg(n.to_string())
        .status()
        .is_ok_and(|s| s.success())
}
