//! Fills a frame straight from an event object's JSON text: only the fields some rule reads
//! are looked at, the rest is skipped without being parsed into values. Anything this reader
//! does not handle exactly as `Frame::fill_json` would (escaped strings or keys on the way,
//! arrays the rules read, a field given twice) makes it decline, and the caller parses the
//! event with serde instead. A property test checks both readers fill the same frames.

use vigil_compiler::eval::{Frame, SlotVal};
use vigil_compiler::ir::{Ir, PathSeg, SlotSource};

/// The field paths of a rule set's frame, as a tree.
#[derive(Debug, Default)]
pub struct RawLayout {
    root: Node,
    /// False when some field needs what this reader does not do (array indices, quantifiers).
    usable: bool,
}

#[derive(Debug, Default)]
struct Node {
    slot: Option<(u32, bool)>,
    children: Vec<(String, Node)>,
}

impl RawLayout {
    pub fn new(ir: &Ir) -> RawLayout {
        let mut l = RawLayout {
            root: Node::default(),
            usable: true,
        };
        for (i, info) in ir.layout.slots.iter().enumerate() {
            let SlotSource::Field(path) = &info.source else {
                continue;
            };
            // A field with an element layout is read per element when it holds an array;
            // arrays make the reader decline, so that needs nothing here.
            if path.is_empty() {
                l.usable = false;
                continue;
            }
            let mut node = &mut l.root;
            for seg in path {
                let PathSeg::Key(k) = seg else {
                    l.usable = false;
                    break;
                };
                let pos = match node.children.iter().position(|(n, _)| n == k) {
                    Some(p) => p,
                    None => {
                        node.children.push((k.clone(), Node::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[pos].1;
            }
            node.slot = Some((i as u32, info.needs_sym));
        }
        l
    }

    /// Fills `frame` from the object text; false (frame unspecified) when the caller must use
    /// serde.
    pub fn fill<'a>(&self, ir: &Ir, text: &'a str, frame: &mut Frame<'a>) -> bool {
        frame.reset(ir);
        self.fill_object(ir, text, frame)
            .is_some_and(|end| text[end..].trim().is_empty())
    }

    /// Fills `frame`, which must have every slot missing (new, reset or recycled), from the
    /// object at the start of `text` (whatever follows it); returns where the object ends, or
    /// `None` when the caller must use serde.
    pub fn fill_object<'a>(&self, ir: &Ir, text: &'a str, frame: &mut Frame<'a>) -> Option<usize> {
        if !self.usable {
            return None;
        }
        let mut r = Reader {
            s: text,
            b: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        r.object(ir, &self.root, frame)?;
        Some(r.i)
    }
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// Objects open around the reader's position.
    depth: u32,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    /// A string without escapes or control characters (else `None`: decline).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' || rest[..end].iter().any(|&c| c < 0x20) {
            return None;
        }
        let s = self.s.get(self.i..self.i + end)?;
        self.i += end + 1;
        Some(s)
    }
    /// The text of a literal (`true`, `false`, `null`, a number): up to the next delimiter.
    fn scalar(&mut self) -> &'a str {
        let start = self.i;
        while self.i < self.b.len()
            && !matches!(
                self.b[self.i],
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            )
        {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// Skips any value, checking it is valid JSON as serde_json would (control characters,
    /// escapes, numbers, nesting up to serde's 128 levels) so that a line this reader takes
    /// is never one serde refuses.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                loop {
                    let rest = self.b.get(self.i..)?;
                    let j = memchr::memchr2(b'"', b'\\', rest)?;
                    if rest[..j].iter().any(|&c| c < 0x20) {
                        return None;
                    }
                    self.i += j + 1;
                    if rest[j] == b'"' {
                        return Some(());
                    }
                    match rest.get(j + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = rest.get(j + 2..j + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
            }
            b'{' | b'[' => {
                if depth + 1 > MAX_DEPTH {
                    return None;
                }
                let close = if self.b[self.i] == b'{' { b'}' } else { b']' };
                self.i += 1;
                if self.eat(close).is_some() {
                    return Some(());
                }
                loop {
                    if close == b'}' {
                        self.string_any()?;
                        self.eat(b':')?;
                    }
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                let t = self.scalar();
                (matches!(t, "true" | "false" | "null") || number(t).is_some()).then_some(())
            }
        }
    }
    /// A key we do not look up (escapes allowed).
    fn string_any(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.skip(0)
    }

    fn object(&mut self, ir: &Ir, node: &Node, frame: &mut Frame<'a>) -> Option<()> {
        self.eat(b'{')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let done = self.members(ir, node, frame);
        self.depth -= 1;
        done
    }

    fn members(&mut self, ir: &Ir, node: &Node, frame: &mut Frame<'a>) -> Option<()> {
        if self.eat(b'}').is_some() {
            return Some(());
        }
        // Fields this object level reads, by position in `node.children`: each at most once.
        let mut seen: u64 = 0;
        loop {
            let key_start = self.i;
            let child = match self.peek()? {
                b'"' => match self.string() {
                    Some(k) => node.children.iter().position(|(n, _)| n == k),
                    None => {
                        // An escaped key might spell a field we read: let serde decide.
                        self.i = key_start;
                        return None;
                    }
                },
                _ => return None,
            };
            self.eat(b':')?;
            match child {
                None => self.skip(self.depth)?,
                Some(pos) => {
                    if pos >= 64 || seen & (1 << pos) != 0 {
                        return None;
                    }
                    seen |= 1 << pos;
                    let n = &node.children[pos].1;
                    self.value(ir, n, frame)?;
                }
            }
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, ir: &Ir, node: &Node, frame: &mut Frame<'a>) -> Option<()> {
        let c = self.peek()?;
        let v = match c {
            b'"' => {
                let s = self.string()?;
                let sym = match node.slot {
                    Some((_, true)) => ir.strings.lookup(s),
                    _ => vigil_compiler::ir::NO_SYM,
                };
                SlotVal::string(s, sym)
            }
            b'{' => {
                self.object(ir, node, frame)?;
                SlotVal::object()
            }
            b'[' => {
                if node.slot.is_some() || !node.children.is_empty() {
                    return None;
                }
                self.skip(self.depth)?;
                return Some(());
            }
            _ => match self.scalar() {
                "true" => SlotVal::boolean(true),
                "false" => SlotVal::boolean(false),
                "null" => SlotVal::missing(),
                t => SlotVal::number(number(t)?),
            },
        };
        if let Some((slot, _)) = node.slot {
            frame.set(slot, v);
        }
        Some(())
    }
}

/// A JSON number as serde_json reads it (integers exactly where they fit, `-0` as -0.0).
fn number(t: &str) -> Option<f64> {
    if !vigil_ingest::fast_json::valid_json_number(t) {
        return None;
    }
    if !t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        if let Ok(i) = t.parse::<i64>() {
            return Some(if i == 0 && t.starts_with('-') {
                -0.0
            } else {
                i as f64
            });
        }
        if let Ok(u) = t.parse::<u64>() {
            return Some(u as f64);
        }
    }
    // serde_json refuses numbers out of f64's range (`1e400`) rather than reading infinity.
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The most containers serde_json reads open at once (its recursion limit is 128): deeper
/// values are refused there, so they are declined here.
const MAX_DEPTH: u32 = 127;

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(src: &str) -> vigil_compiler::eval::RuleSet {
        let ck = vigil_compiler::check_source("t.rules", src, None);
        assert_eq!(ck.errors(), 0, "{:?}", ck.diagnostics);
        vigil_compiler::eval::RuleSet::from_checked(&ck, vigil_compiler::eval::Engine::Interp)
            .expect("compiles")
    }

    #[test]
    fn reads_the_fields_rules_use() {
        let rs = rules(
            "rule r {\n  severity high\n  on event where event.type == \"proc\" and event.proc.name in [\"sh\"] and event.n > 2\n}\n",
        );
        let l = RawLayout::new(rs.ir());
        assert!(l.usable);
        let text = r#"{"type":"proc","x":[1,{"a":"\"q"}],"proc":{"name":"sh","pid":7},"n":3.5}"#;
        let mut f = rs.frame();
        assert!(l.fill(rs.ir(), text, &mut f));
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut g = rs.frame();
        g.fill_json(rs.ir(), &v);
        assert_eq!(show(&f), show(&g));
        // What it leaves to serde: a field given twice, an escaped key, an escaped value it
        // reads, an array where it reads a field.
        for declined in [
            r#"{"type":"proc","type":"x"}"#,
            r#"{"\u0074ype":"proc"}"#,
            r#"{"type":"pr\u006fc"}"#,
            r#"{"type":"proc","proc":[{"name":"sh"}]}"#,
        ] {
            assert!(!l.fill(rs.ir(), declined, &mut f), "{declined}");
        }
    }

    /// What serde refuses, this reader never takes: control characters, bad escapes, numbers
    /// out of range, nesting past serde's limit (and a million levels without overflowing).
    #[test]
    fn never_takes_what_serde_refuses() {
        let rs = rules("rule r {\n  severity high\n  on event where event.type == \"proc\"\n}\n");
        let l = RawLayout::new(rs.ir());
        let mut f = rs.frame();
        let nested = |d: usize| {
            format!(
                r#"{{"type":"proc","x":{}1{}}}"#,
                "[".repeat(d),
                "]".repeat(d)
            )
        };
        let mut cases: Vec<String> = [
            "{\"type\":\"proc\",\"u\":\"a\u{1}b\"}",
            r#"{"type":"proc","u":"a\qb"}"#,
            r#"{"type":"proc","u":"a\u12g4"}"#,
            r#"{"type":"proc","u":"a\u00e9"}"#,
            r#"{"type":"proc","n":1e400}"#,
            r#"{"type":"proc","n":-1e308}"#,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.extend((120..132).map(nested));
        for text in &cases {
            let serde = serde_json::from_str::<serde_json::Value>(text).is_ok();
            let mut f = rs.frame();
            let ours = l.fill(rs.ir(), text, &mut f);
            assert!(!ours || serde, "took what serde refuses: {text:.60}");
        }
        let (shallow, deep) = (nested(100), nested(1_000_000));
        assert!(l.fill(rs.ir(), &shallow, &mut f));
        let mut g = rs.frame();
        assert!(!l.fill(rs.ir(), &deep, &mut g));
    }

    /// Slot values as comparable text (strings by content, not address).
    pub(crate) fn show(f: &Frame) -> Vec<String> {
        f.slots()
            .iter()
            .map(|v| {
                format!(
                    "{} {:?} {:?} {:?} {:?}",
                    v.tag(),
                    v.as_num().map(f64::to_bits),
                    v.as_bool(),
                    v.as_str(),
                    v.sym()
                )
            })
            .collect()
    }

    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,6}".prop_map(|s| format!("\"{s}\"")),
            Just("\"a\\\"b\"".to_string()),
            Just("\"\\u00e9t\u{e9}\"".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(|x| format!("{x:e}")),
            Just("-0".to_string()),
            Just("18446744073709551616".to_string()),
            Just("1.5e300".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            "type", "a", "b", "c", "proc", "name", "n", "x\\u0061"
                        ]),
                        inner.clone()
                    ),
                    0..4
                )
                .prop_map(|kv| {
                    let m: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\": {v}"))
                        .collect();
                    format!("{{{}}}", m.join(", "))
                }),
                prop::collection::vec(inner, 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            ]
        })
    }

    fn object() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["type", "a", "b", "proc", "n", "zz", "\\u0074ype"]),
                value(),
            ),
            0..6,
        )
        .prop_map(|kv| {
            let m: Vec<String> = kv
                .into_iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", m.join(","))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn agrees_with_serde_whenever_it_reads(text in object()) {
            let rs = rules(
                "rule r {\n  severity high\n  on event where event.type == \"x\" and (event.a > 1 or event.proc.name == \"sh\" or event.b.c contains \"q\" or exists event.n)\n}\n",
            );
            let l = RawLayout::new(rs.ir());
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                return Ok(());
            };
            let mut f = rs.frame();
            if l.fill(rs.ir(), &text, &mut f) {
                let mut g = rs.frame();
                g.fill_json(rs.ir(), &v);
                prop_assert_eq!(show(&f), show(&g), "{}", text);
            }
        }
    }
}
