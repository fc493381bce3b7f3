//! `vigil explain CODE`: the registry's long text with a wrong and a right example.

use super::{out, outln};
use vigil_compiler::diag::{Code, Level};

pub fn run(code: Option<&str>, list: bool) -> i32 {
    if list || code.is_none() {
        for c in Code::ALL {
            let i = c.info();
            let lvl = if i.level == Level::Error {
                "error  "
            } else {
                "warning"
            };
            outln!("{}  {lvl}  {}", i.code, i.name);
        }
        return 0;
    }
    let text = code.unwrap_or_default();
    let Some(c) = Code::parse(text) else {
        eprintln!("error: unknown code `{text}`; `vigil explain --list` shows them all");
        return 2;
    };
    out!("{}", explain_text(c));
    0
}

/// The full explanation of a code, as `vigil explain` prints it.
pub fn explain_text(c: Code) -> String {
    let i = c.info();
    let level = if i.level == Level::Error {
        "error"
    } else {
        "warning"
    };
    format!(
        "{code} ({level}): {name}\n\n{explain}\n\nHelp: {help}\n\nWrong:\n\n{wrong}\nRight:\n\n{right}",
        code = i.code,
        name = i.name,
        explain = i.explanation,
        help = i.help,
        wrong = indent(i.wrong),
        right = indent(i.right),
    )
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect()
}
