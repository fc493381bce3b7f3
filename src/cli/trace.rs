//! Printing `--trace` (replay) and `-v` (test) traces: an evaluation of a rule for one label
//! set, then each part of its condition indented under the `and`/`or`/`not` it belongs to.

use std::io::Write;
use vigil_engine::engine::Trace;

/// One trace, as text (`human`) or one JSON line.
pub fn write(out: &mut impl Write, t: &Trace, human: bool) -> std::io::Result<()> {
    if !human {
        let parts: Vec<serde_json::Value> = t
            .parts
            .iter()
            .map(|p| serde_json::json!({"depth": p.depth, "text": p.text, "held": p.held}))
            .collect();
        let line = serde_json::json!({
            "ts": t.at,
            "trace": t.rule,
            "condition": if t.recover { "recover when" } else { "when" },
            "severity": t.severity.map(|s| s.to_string()),
            "labels": t.labels,
            "held": t.held,
            "parts": parts,
        });
        return writeln!(out, "{line}");
    }
    let p = super::printable;
    let level = t.severity.map(|s| format!(" ({s})")).unwrap_or_default();
    writeln!(
        out,
        "{}  trace    {}{level} {} {}",
        super::replay::rfc3339(t.at),
        p(&t.rule),
        p(&vigil_vocab::render_labels(&t.labels)),
        verdict(t)
    )?;
    parts(out, t, 4)
}

/// `when: holds`, `recover when: does not hold`.
pub fn verdict(t: &Trace) -> String {
    let which = if t.recover { "recover when" } else { "when" };
    let held = if t.held { "holds" } else { "does not hold" };
    format!("{which}: {held}")
}

/// The condition's parts, one per line after `margin` spaces, indented by depth.
pub fn parts(out: &mut impl Write, t: &Trace, margin: usize) -> std::io::Result<()> {
    for part in &t.parts {
        writeln!(
            out,
            "{:indent$}{}  {}",
            "",
            if part.held { "yes" } else { "no " },
            super::printable(&part.text),
            indent = margin + 2 * part.depth
        )?;
    }
    Ok(())
}
