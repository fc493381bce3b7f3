//! The TextMate grammar in `editors/vscode`: valid JSON, its patterns compile (those the
//! `regex` crate can read: Oniguruma's look-around aside), and it knows every keyword of the
//! language grammar and every declaration keyword.

use serde_json::Value;
use std::path::PathBuf;

fn grammar() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("editors/vscode/syntaxes/vigil.tmLanguage.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("the grammar")).expect("JSON")
}

fn patterns(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(k.as_str(), "match" | "begin" | "end") {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    patterns(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| patterns(x, out)),
        _ => {}
    }
}

#[test]
fn the_grammar_compiles_and_knows_every_keyword() {
    let g = grammar();
    assert_eq!(g["scopeName"], "source.vigil");
    let mut ps = Vec::new();
    patterns(&g, &mut ps);
    assert!(ps.len() > 10);
    let mut all = String::new();
    for p in &ps {
        if !p.contains("(?<=") && !p.contains("(?=") {
            regex::Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        all.push_str(p);
        all.push('\n');
    }
    let pest = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("grammar/vigil.pest"),
    )
    .expect("the language grammar");
    let kw = pest
        .split("keyword = @{")
        .nth(1)
        .and_then(|r| r.split("~ !ident_char").next())
        .expect("the keyword rule");
    let words: Vec<&str> = kw.split('"').skip(1).step_by(2).collect();
    assert!(words.len() > 20);
    for w in words.iter().chain(vigil_compiler::syntax::TOP_LEVEL) {
        let word =
            regex::Regex::new(&format!(r"(^|[^A-Za-z_]){w}([^A-Za-z_]|$)")).expect("a regex");
        assert!(
            word.is_match(&all),
            "the TextMate grammar does not know `{w}`"
        );
    }
}
