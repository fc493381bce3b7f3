//! One imported file: render the items as a package, check it with the compiler, and keep
//! every item the checker refuses as a `# vigil import: not translated:` block.

use crate::text;
use serde::Serialize;
use std::ops::Range;

/// One thing of the source (a rule, a route, a detection) and what it became.
pub trait Translation {
    /// The name reports use (`KubePodCrashLooping`).
    fn name(&self) -> &str;
    /// The source's own text, kept in comments when not translated.
    fn original(&self) -> &str;
    /// Vigil text for the item, or why there is none.
    fn body(&self) -> Result<String, String>;
    /// What the translation gave up (a renamed rule, an annotation with no place).
    fn notes(&self) -> Vec<String>;
    /// Another attempt after the checker refused the body with this code and message: true
    /// when the item changed itself (it records a note saying what it gave up).
    fn repair(&mut self, _code: &str, _message: &str) -> bool {
        false
    }
}

/// An item translated once, up front (what most sources need: no repair after checking).
pub struct Item {
    pub name: String,
    pub original: String,
    pub body: Result<String, String>,
    pub notes: Vec<String>,
}

impl Translation for Item {
    fn name(&self) -> &str {
        &self.name
    }
    fn original(&self) -> &str {
        &self.original
    }
    fn body(&self) -> Result<String, String> {
        self.body.clone()
    }
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

/// How fully one item came across.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Imported,
    Partly,
    NotTranslated,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemReport {
    pub name: String,
    pub status: Status,
    /// What was given up (partly) or why nothing was translated.
    pub reasons: Vec<String>,
}

/// One input file: the `.rules` text written and each item's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub source: String,
    pub package: String,
    #[serde(skip)]
    pub text: String,
    /// The file name to write, when not `PACKAGE.rules` (tests share their rules' package).
    pub file: Option<String>,
    pub items: Vec<ItemReport>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    pub imported: usize,
    pub partly: usize,
    pub not_translated: usize,
}

impl Summary {
    pub fn add(&mut self, file: &FileReport) {
        for it in &file.items {
            match it.status {
                Status::Imported => self.imported += 1,
                Status::Partly => self.partly += 1,
                Status::NotTranslated => self.not_translated += 1,
            }
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "imported {}, partly {}, not translated {}",
            self.imported, self.partly, self.not_translated
        )
    }
}

/// What the package starts with besides its name (a comment saying where it came from).
pub struct Header {
    pub source: String,
    pub tool: &'static str,
    pub package: String,
    /// Declarations every item may use (package defaults), placed after `package`.
    pub preamble: String,
    /// Files checked alongside (name, text): the rules a translated test runs.
    pub context: Vec<(String, String)>,
}

struct State<T> {
    item: T,
    refused: Option<String>,
}

/// Checks the rendered package until the checker accepts it, moving each refused item to a
/// not-translated block (after letting it repair itself), then formats it.
pub fn finish<T: Translation>(header: Header, items: Vec<T>) -> FileReport {
    let mut states: Vec<State<T>> = items
        .into_iter()
        .map(|item| State {
            refused: item.body().err(),
            item,
        })
        .collect();
    let name = format!("{}.rules", header.package);
    // Every round refuses or repairs at least one item (a repair gives something up for
    // good), or stops; the bound is a second guard.
    let mut text;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let (t, spans) = render(&header, &states);
        text = t;
        let mut all: Vec<(&str, &str)> = h_context(&header);
        all.push((&name, &text));
        let checked = vigil_compiler::check_sources(&all, None);
        let ours = checked.sources.find(std::path::Path::new(&name));
        let mut changed = false;
        let mut stray = None;
        // Each item's first finding per round: a repair can change what else is reported.
        let mut touched = vec![false; states.len()];
        for d in checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && Some(d.span.file) == ours)
        {
            let at = d.span.start as usize;
            let Some(i) = spans
                .iter()
                .position(|s| s.as_ref().is_some_and(|r| r.contains(&at)))
            else {
                stray = Some(format!("{}: {}", d.code.as_str(), d.message));
                continue;
            };
            let st = &mut states[i];
            if st.refused.is_some() || touched[i] {
                continue;
            }
            touched[i] = true;
            let code = d.code.as_str();
            if st.item.repair(code, &d.message) {
                if let Err(e) = st.item.body() {
                    st.refused = Some(e);
                }
            } else {
                st.refused = Some(format!("{code}: {}", d.message));
            }
            changed = true;
        }
        if !changed {
            let open: Vec<&mut State<T>> =
                states.iter_mut().filter(|s| s.refused.is_none()).collect();
            match stray {
                // A finding outside every item (the preamble): nothing can be kept.
                Some(why) if !open.is_empty() => {
                    for st in open {
                        st.refused = Some(format!("the package does not check: {why}"));
                    }
                    continue;
                }
                _ => break,
            }
        }
        if rounds > states.len() + 2 {
            break;
        }
    }
    let formatted = vigil_compiler::fmt::format(&text).unwrap_or(text);
    let items = states
        .iter()
        .map(|st| match &st.refused {
            Some(why) => ItemReport {
                name: st.item.name().to_string(),
                status: Status::NotTranslated,
                reasons: vec![why.clone()],
            },
            None => {
                let notes = st.item.notes();
                ItemReport {
                    name: st.item.name().to_string(),
                    status: if notes.is_empty() {
                        Status::Imported
                    } else {
                        Status::Partly
                    },
                    reasons: notes,
                }
            }
        })
        .collect();
    FileReport {
        source: header.source,
        package: header.package,
        file: None,
        text: formatted,
        items,
    }
}

fn h_context(h: &Header) -> Vec<(&str, &str)> {
    h.context
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect()
}

/// The package text and the byte range of each translated item in it.
fn render<T: Translation>(h: &Header, states: &[State<T>]) -> (String, Vec<Option<Range<usize>>>) {
    let mut out = format!(
        "# Imported by `vigil import {}` from {}.\npackage {}\n",
        h.tool, h.source, h.package
    );
    if !h.preamble.is_empty() {
        out.push('\n');
        out.push_str(&h.preamble);
    }
    let mut spans = Vec::with_capacity(states.len());
    for st in states {
        out.push('\n');
        match (&st.refused, st.item.body()) {
            (None, Ok(body)) => {
                for note in st.item.notes() {
                    out.push_str(&format!("# vigil import: partly: {}\n", one_line(&note)));
                }
                let start = out.len();
                out.push_str(body.trim_end());
                out.push('\n');
                spans.push(Some(start..out.len()));
            }
            (refused, body) => {
                let why = refused.clone().or(body.err()).unwrap_or_default();
                out.push_str(&format!(
                    "# vigil import: not translated: {} ({})\n",
                    one_line(&why),
                    st.item.name()
                ));
                out.push_str(&text::comment(st.item.original()));
                spans.push(None);
            }
        }
    }
    (out, spans)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain(&'static str, &'static str);

    impl Translation for Plain {
        fn name(&self) -> &str {
            self.0
        }
        fn original(&self) -> &str {
            "original: text"
        }
        fn body(&self) -> Result<String, String> {
            Ok(self.1.to_string())
        }
        fn notes(&self) -> Vec<String> {
            Vec::new()
        }
    }

    fn header(preamble: &str) -> Header {
        Header {
            source: "in.yml".into(),
            tool: "test",
            package: "p".into(),
            preamble: preamble.into(),
            context: Vec::new(),
        }
    }

    #[test]
    fn refused_items_are_kept_with_the_checkers_reason() {
        let r = finish(
            header(""),
            vec![
                Plain("good", "const a = 1\n"),
                Plain(
                    "bad",
                    "rule r {\n  severity warning\n  when nope_unknown_fn(1) > 0\n}\n",
                ),
            ],
        );
        assert_eq!(r.items[0].status, Status::Imported);
        assert_eq!(r.items[1].status, Status::NotTranslated);
        assert!(
            r.text.contains("# vigil import: not translated: V"),
            "{}",
            r.text
        );
        assert!(r.text.contains("#   original: text"), "{}", r.text);
        assert!(vigil_compiler::check_source("p.rules", &r.text, None).errors() == 0);
    }

    #[test]
    fn a_finding_outside_every_item_ends_instead_of_looping() {
        let r = finish(
            header("import \"./nowhere\"\n"),
            vec![Plain("a", "const a = 1\n")],
        );
        assert_eq!(r.items[0].status, Status::NotTranslated);
        assert!(
            r.items[0].reasons[0].contains("does not check"),
            "{:?}",
            r.items
        );
    }
}
