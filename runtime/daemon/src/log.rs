//! The daemon's log on stderr (`tracing`), as human lines or JSON lines (`log_format`). Text
//! that came from outside (label values, rule diagnostics, request details) is escaped in
//! human lines: a newline or an ANSI escape in a label cannot forge a log line or colour a
//! terminal (JSON lines escape it by themselves).

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Sets up the log once (later calls keep the first); `json` for JSON lines.
pub fn init(json: bool) {
    JSON.store(json, Ordering::Relaxed);
    let base = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let _ = if json {
        base.json().try_init()
    } else {
        base.try_init()
    };
}

/// `s` with control characters written as escapes (`\n`, `\u{1b}`).
pub fn clean(s: &str) -> String {
    vigil_vocab::printable(s).into_owned()
}

fn text(msg: &str) -> String {
    if JSON.load(Ordering::Relaxed) {
        msg.to_string()
    } else {
        clean(msg)
    }
}

pub fn info(msg: &str) {
    tracing::info!("{}", text(msg));
}

pub fn error(msg: &str) {
    tracing::error!("{}", text(msg));
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            super::clean("a\nvigil: fake\u{1b}[31mred\u{7}"),
            "a\\nvigil: fake\\u{1b}[31mred\\u{7}"
        );
    }
}
