//! Compiled string operators and CIDR tries: built once per rule set, read by both engines
//! (the JIT calls into them through helpers), so the two cannot disagree on a string.

use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};
use memchr::memmem;
use regex::{Regex, RegexSet};
use std::collections::HashSet;
use std::net::IpAddr;

/// Past this many patterns, equality and `endswith` look strings up in hash sets instead of
/// trying each pattern (a feed of a million entries is one lookup, not a million).
const SCAN_AT_MOST: usize = 8;

/// A string operator with its constant operand(s): `contains any [..]`, `matches /re/`,
/// `in nocase [..]`, `glob`, `under`, ...
#[derive(Debug)]
pub struct TextTest {
    pub op: TextOp,
    /// Every pattern must match (`contains all`), not any.
    pub all: bool,
    pub nocase: bool,
    /// The patterns as written, for array membership and display.
    pub patterns: Vec<String>,
    matcher: Matcher,
    /// `contains any` over an array's elements is membership: over many patterns, a set.
    members: Option<Matcher>,
}

/// The operator: the language's string operators, and `in`/`==` under `nocase` as
/// [`TextOp::Equals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Glob,
    Under,
    Equals,
}

#[derive(Debug)]
enum Matcher {
    /// No pattern: `any []` is false, `all []` is true.
    Const(bool),
    Finder(Box<memmem::Finder<'static>>),
    Ac(AhoCorasick),
    AcPrefix(AhoCorasick),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    Regex(Regex),
    RegexSet(RegexSet),
    Nocase(Vec<String>),
    Exact(Vec<String>),
    /// Lower-cased patterns (`nocase_eq` is equality of lower-cased strings).
    NocaseSet(HashSet<String>),
    ExactSet(HashSet<String>),
    /// Suffixes by byte length: a string's last `len` bytes looked up in each set.
    SuffixSets(Vec<(usize, HashSet<Box<[u8]>>)>),
    /// `nocase` over ASCII patterns: the string folded by [`ascii_fold`], then the
    /// case-sensitive matcher of the lower-cased patterns (no regex to outgrow).
    AsciiFold(Box<Matcher>),
    All(Vec<Matcher>),
}

impl TextTest {
    /// Compiles an operator. Errors are regexes the checker let through (it checks them, so
    /// this only fails on size limits) and are reported with the rule.
    pub fn new(op: TextOp, all: bool, nocase: bool, patterns: Vec<String>) -> Result<Self, String> {
        let matcher = if all && patterns.len() > 1 {
            let parts = patterns
                .iter()
                .map(|p| build(op, nocase, std::slice::from_ref(p)))
                .collect::<Result<Vec<_>, _>>()?;
            Matcher::All(parts)
        } else if patterns.is_empty() {
            Matcher::Const(all)
        } else {
            build(op, nocase, &patterns)?
        };
        let members = (op == TextOp::Contains && !all && patterns.len() > SCAN_AT_MOST)
            .then(|| build(TextOp::Equals, nocase, &patterns))
            .transpose()?;
        Ok(TextTest {
            op,
            all,
            nocase,
            patterns,
            matcher,
            members,
        })
    }

    /// Tests one string.
    pub fn test(&self, s: &str) -> bool {
        self.matcher.test(s)
    }

    /// Tests an array's string elements: `contains` is membership (an element equals a
    /// pattern; with `all`, every pattern is some element); every other operator holds when
    /// it holds for some element.
    pub fn test_elements<'a>(&self, elems: impl Iterator<Item = &'a str> + Clone) -> bool {
        if let Some(set) = &self.members {
            let mut elems = elems;
            return elems.any(|e| set.test(e));
        }
        if self.op == TextOp::Contains {
            let eq = |e: &str, p: &str| {
                if self.nocase { nocase_eq(e, p) } else { e == p }
            };
            return if self.all {
                self.patterns
                    .iter()
                    .all(|p| elems.clone().any(|e| eq(e, p)))
            } else {
                elems
                    .clone()
                    .any(|e| self.patterns.iter().any(|p| eq(e, p)))
            };
        }
        let mut elems = elems;
        elems.any(|e| self.test(e))
    }
}

fn build(op: TextOp, nocase: bool, pats: &[String]) -> Result<Matcher, String> {
    let esc = |p: &String| regex::escape(p);
    let alt = |f: &dyn Fn(&String) -> String| pats.iter().map(f).collect::<Vec<_>>().join("|");
    let flags = if nocase { "(?i)" } else { "" };
    let re = |s: String| {
        Regex::new(&s)
            .map(Matcher::Regex)
            .map_err(|e| too_big(e, op, nocase, pats.len()))
    };
    match op {
        TextOp::Contains | TextOp::StartsWith | TextOp::EndsWith
            if nocase && pats.len() > SCAN_AT_MOST && pats.iter().all(|p| p.is_ascii()) =>
        {
            let lower: Vec<String> = pats.iter().map(|p| p.to_ascii_lowercase()).collect();
            Ok(Matcher::AsciiFold(Box::new(build(op, false, &lower)?)))
        }
        TextOp::Equals if pats.len() > SCAN_AT_MOST => Ok(if nocase {
            Matcher::NocaseSet(pats.iter().map(|p| lower(p)).collect())
        } else {
            Matcher::ExactSet(pats.iter().cloned().collect())
        }),
        TextOp::Equals => Ok(if nocase {
            Matcher::Nocase(pats.to_vec())
        } else {
            Matcher::Exact(pats.to_vec())
        }),
        TextOp::Contains if nocase => re(format!("(?i)(?:{})", alt(&esc))),
        TextOp::Contains if pats.len() == 1 => Ok(Matcher::Finder(Box::new(
            memmem::Finder::new(pats[0].as_bytes()).into_owned(),
        ))),
        TextOp::Contains => AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(pats)
            .map(Matcher::Ac)
            .map_err(|e| e.to_string()),
        TextOp::StartsWith if nocase => re(format!("(?i)\\A(?:{})", alt(&esc))),
        TextOp::StartsWith if pats.len() <= 4 => Ok(Matcher::Prefixes(pats.to_vec())),
        TextOp::StartsWith => AhoCorasick::builder()
            .start_kind(StartKind::Anchored)
            .build(pats)
            .map(Matcher::AcPrefix)
            .map_err(|e| e.to_string()),
        TextOp::EndsWith if nocase => re(format!("(?i)(?:{})\\z", alt(&esc))),
        TextOp::EndsWith if pats.len() > SCAN_AT_MOST => {
            let mut by_len: std::collections::BTreeMap<usize, HashSet<Box<[u8]>>> =
                Default::default();
            for p in pats {
                by_len
                    .entry(p.len())
                    .or_default()
                    .insert(p.as_bytes().into());
            }
            Ok(Matcher::SuffixSets(by_len.into_iter().collect()))
        }
        TextOp::EndsWith => Ok(Matcher::Suffixes(pats.to_vec())),
        TextOp::Matches if pats.len() == 1 => re(format!("{flags}{}", pats[0])),
        TextOp::Matches => RegexSet::new(pats.iter().map(|p| format!("{flags}{p}")))
            .map(Matcher::RegexSet)
            .map_err(|e| too_big(e, op, nocase, pats.len())),
        TextOp::Glob => re(format!("(?s){flags}\\A(?:{})\\z", alt(&|p| glob(p)))),
        TextOp::Under => re(format!(
            "(?s){flags}\\A(?:{})",
            alt(&|p| {
                let p = p.trim_end_matches('/');
                format!("{}(?:/|\\z)", regex::escape(p))
            })
        )),
    }
}

/// A regex error as the rule's author can act on it: past the size limit, what made the regex
/// that large and what does not have the limit.
fn too_big(e: regex::Error, op: TextOp, nocase: bool, n: usize) -> String {
    let regex::Error::CompiledTooBig(limit) = e else {
        return e.to_string();
    };
    let foldable = matches!(op, TextOp::Contains | TextOp::StartsWith | TextOp::EndsWith);
    // The variants are named as the language's keywords.
    let op = format!("{op:?}").to_lowercase();
    let how = if nocase && foldable {
        " (a `nocase` list of ASCII strings has no such limit: this one has other characters)"
    } else {
        ""
    };
    let limit = limit >> 20;
    let nocase = if nocase { " nocase" } else { "" };
    if n == 1 {
        return format!("`{op}{nocase}` compiles into a regex larger than its limit of {limit} MB");
    }
    format!(
        "`{op} any{nocase}` over {n} patterns compiles into one regex larger than its limit of \
         {limit} MB{how}; split the list"
    )
}

impl Matcher {
    fn test(&self, s: &str) -> bool {
        match self {
            Matcher::Const(b) => *b,
            Matcher::Finder(f) => f.find(s.as_bytes()).is_some(),
            Matcher::Ac(ac) => ac.is_match(s),
            Matcher::AcPrefix(ac) => ac.is_match(Input::new(s).anchored(Anchored::Yes)),
            Matcher::Prefixes(v) => v.iter().any(|p| s.starts_with(p.as_str())),
            Matcher::Suffixes(v) => v.iter().any(|p| s.ends_with(p.as_str())),
            Matcher::Regex(r) => r.is_match(s),
            Matcher::RegexSet(r) => r.is_match(s),
            Matcher::Nocase(v) => v.iter().any(|p| nocase_eq(s, p)),
            Matcher::Exact(v) => v.iter().any(|p| s == p),
            Matcher::NocaseSet(set) => LOWER.with_borrow_mut(|buf| {
                buf.clear();
                buf.extend(s.chars().flat_map(char::to_lowercase));
                set.contains(buf.as_str())
            }),
            Matcher::ExactSet(set) => set.contains(s),
            Matcher::SuffixSets(v) => {
                let b = s.as_bytes();
                v.iter()
                    .take_while(|(len, _)| *len <= b.len())
                    .any(|(len, set)| set.contains(&b[b.len() - len..]))
            }
            Matcher::AsciiFold(m) => {
                if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                    return m.test(s);
                }
                LOWER.with_borrow_mut(|buf| {
                    buf.clear();
                    buf.extend(s.chars().map(ascii_fold));
                    m.test(buf)
                })
            }
            Matcher::All(v) => v.iter().all(|m| m.test(s)),
        }
    }
}

/// A character as case-insensitive matching of ASCII patterns sees it: ASCII letters
/// lower-cased, and the two other characters whose simple case folding reaches an ASCII
/// letter (the Kelvin sign is `k`, the long s is `s`, as `(?i)` regexes match them); every
/// other character matches no ASCII pattern character under any case, and stays as it is.
fn ascii_fold(c: char) -> char {
    match c {
        '\u{212A}' => 'k',
        '\u{17F}' => 's',
        c => c.to_ascii_lowercase(),
    }
}

thread_local! {
    /// A string lower-cased for a [`Matcher::NocaseSet`] lookup or folded for a
    /// [`Matcher::AsciiFold`] test, reused (neither holds the other).
    static LOWER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `s` lower-cased as [`nocase_eq`] compares.
fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Case-insensitive equality by Unicode lower-casing, without allocating.
pub fn nocase_eq(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// A glob as a regex body: `*` is any run of characters (including `/`), `?` is one.
fn glob(p: &str) -> String {
    let mut out = String::new();
    for c in p.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// A set of CIDR prefixes as two binary tries (IPv4, IPv6): lookup walks at most 32 or 128
/// bits, whatever the number of prefixes.
#[derive(Debug, Default, Clone)]
pub struct CidrTrie {
    v4: Trie,
    v6: Trie,
}

#[derive(Debug, Clone)]
struct Trie {
    /// Children by bit; 0 is "none" (the root is never a child).
    next: Vec<[u32; 2]>,
    terminal: Vec<bool>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            next: vec![[0, 0]],
            terminal: vec![false],
        }
    }
}

impl Trie {
    fn insert(&mut self, bits: u128, width: u32, len: u32) {
        let mut n = 0usize;
        for i in 0..len.min(width) {
            if self.terminal[n] {
                return;
            }
            let b = ((bits >> (width - 1 - i)) & 1) as usize;
            if self.next[n][b] == 0 {
                self.next.push([0, 0]);
                self.terminal.push(false);
                self.next[n][b] = (self.next.len() - 1) as u32;
            }
            n = self.next[n][b] as usize;
        }
        self.terminal[n] = true;
    }
    fn contains(&self, bits: u128, width: u32) -> bool {
        let mut n = 0usize;
        for i in 0..width {
            if self.terminal[n] {
                return true;
            }
            let b = ((bits >> (width - 1 - i)) & 1) as usize;
            n = self.next[n][b] as usize;
            if n == 0 {
                return false;
            }
        }
        self.terminal[n]
    }
}

impl CidrTrie {
    /// Builds from `a.b.c.d/n`, `x::/n` or bare addresses; the checker validated them.
    pub fn new<'a>(cidrs: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut t = CidrTrie::default();
        for c in cidrs {
            let (addr, len) = match c.split_once('/') {
                Some((a, l)) => (a, Some(l.parse::<u32>().map_err(|e| format!("{c}: {e}"))?)),
                None => (c, None),
            };
            match addr
                .trim()
                .parse::<IpAddr>()
                .map_err(|e| format!("{c}: {e}"))?
            {
                IpAddr::V4(a) => t.v4.insert(u32::from(a) as u128, 32, len.unwrap_or(32)),
                IpAddr::V6(a) => t.v6.insert(u128::from(a), 128, len.unwrap_or(128)),
            }
        }
        Ok(t)
    }

    /// Whether `s` parses as an IP address inside one of the prefixes. IPv4-mapped IPv6
    /// addresses (`::ffff:10.0.0.1`) are read as IPv4.
    pub fn contains(&self, s: &str) -> bool {
        self.lookup(s) == Some(true)
    }

    /// Like [`contains`](Self::contains), but `None` when `s` is not an IP address (so `not in
    /// cidr` is false for it too: a type mismatch, not a non-member).
    pub fn lookup(&self, s: &str) -> Option<bool> {
        Some(match s.trim().parse::<IpAddr>().ok()?.to_canonical() {
            IpAddr::V4(a) => self.v4.contains(u32::from(a) as u128, 32),
            IpAddr::V6(a) => self.v6.contains(u128::from(a), 128),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hash-set lookups answer as trying each pattern does, Unicode case included.
    #[test]
    fn sets_answer_as_scans() {
        let mut pats: Vec<String> = ["Straße", "İstanbul", "KELVIN", "ǅ", "", "a.b", "é", "Σ"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        pats.extend((0..20).map(|i| format!("x{i}.example.COM")));
        let inputs = [
            "strasse",
            "straße",
            "STRASSE",
            "i̇stanbul",
            "istanbul",
            "kelvin",
            "\u{212A}elvin",
            "ǆ",
            "ǅ",
            "Ǆ",
            "",
            "a.b",
            "xa.b",
            "É",
            "σ",
            "ς",
            "X3.example.com",
            "x3.example.COM",
            "sub.x19.example.COM",
            "example.COM",
            "\u{e9}",
            "e\u{301}",
        ];
        for nocase in [false, true] {
            for op in [TextOp::Equals, TextOp::EndsWith] {
                let set = build(op, nocase, &pats).unwrap();
                let scan: Vec<Matcher> = pats
                    .iter()
                    .map(|p| build(op, nocase, std::slice::from_ref(p)).unwrap())
                    .collect();
                for s in inputs {
                    let want = scan.iter().any(|m| m.test(s));
                    assert_eq!(set.test(s), want, "{op:?} nocase={nocase} {s:?}");
                }
            }
        }
    }

    /// The characters that a case-insensitive regex matches with an ASCII letter are those
    /// letters' two cases and the two [`ascii_fold`] maps (checked against the regex crate
    /// over every character).
    #[test]
    fn ascii_fold_is_regex_case_folding() {
        let letter = Regex::new("(?i)^[a-z]$").unwrap();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let mut b = [0; 4];
            let folded = ascii_fold(c);
            if letter.is_match(c.encode_utf8(&mut b)) {
                assert!(folded.is_ascii_lowercase(), "{c:?}");
                let one = Regex::new(&format!("(?i)^{folded}$")).unwrap();
                assert!(one.is_match(c.encode_utf8(&mut b)), "{c:?} as {folded:?}");
            } else {
                assert!(!folded.is_ascii_alphabetic(), "{c:?}");
            }
        }
    }

    /// `nocase` over many ASCII patterns answers as the case-insensitive regex does, on
    /// strings mixing cases, the Kelvin sign, the long s and other non-ASCII letters.
    #[test]
    fn ascii_fold_answers_as_the_regex() {
        let pats: Vec<String> = [
            "EVIL.example",
            "kit",
            "Ss",
            "x-",
            ".exe",
            "\\Tmp\\",
            "a",
            "q.k",
            "zz9",
            "Sk",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let inputs = [
            "evil.EXAMPLE.org",
            "\u{212A}it",
            "\u{17F}\u{17F}",
            "\u{17F}S",
            "ß",
            "İ",
            "c:\\tmp\\x.EXE",
            "c:\\TMP\\",
            "ǅ",
            "",
            "Q.\u{212A}",
            "s\u{212A}",
            "ZZ9",
            "zz",
            "é-X-",
        ];
        for op in [TextOp::Contains, TextOp::StartsWith, TextOp::EndsWith] {
            let fold = build(op, true, &pats).unwrap();
            assert!(matches!(fold, Matcher::AsciiFold(_)), "{op:?}");
            let alt = pats
                .iter()
                .map(|p| regex::escape(p))
                .collect::<Vec<_>>()
                .join("|");
            let re = Regex::new(&match op {
                TextOp::Contains => format!("(?i)(?:{alt})"),
                TextOp::StartsWith => format!("(?i)\\A(?:{alt})"),
                _ => format!("(?i)(?:{alt})\\z"),
            })
            .unwrap();
            for s in inputs {
                for s in [s.to_string(), format!("{s}{s}"), format!("x{s}")] {
                    assert_eq!(fold.test(&s), re.is_match(&s), "{op:?} {s:?}");
                }
            }
        }
    }

    /// A list too large for one regex says why and what to do.
    #[test]
    fn a_list_past_the_regex_limit_says_why() {
        let pats: Vec<String> = (0..20_000).map(|i| format!("Hôte{i}.example")).collect();
        let why = TextTest::new(TextOp::EndsWith, false, true, pats).unwrap_err();
        assert_eq!(
            why,
            "`endswith any nocase` over 20000 patterns compiles into one regex larger than its \
             limit of 10 MB (a `nocase` list of ASCII strings has no such limit: this one has \
             other characters); split the list"
        );
    }

    /// A feed past what one regex can hold compiles when its patterns are ASCII.
    #[test]
    fn large_ascii_nocase_feeds_compile() {
        let pats: Vec<String> = (0..300_000)
            .map(|i| format!("Host{i}.Example.COM"))
            .collect();
        for (op, hit) in [
            (TextOp::Contains, "www.HOST299999.example.com/x"),
            (TextOp::StartsWith, "HOST299999.example.com/x"),
            (TextOp::EndsWith, "www.host299999.EXAMPLE.com"),
        ] {
            let m = TextTest::new(op, false, true, pats.clone()).unwrap();
            assert!(m.test(hit), "{op:?}");
            assert!(!m.test("host12.example.co"), "{op:?}");
        }
    }

    fn t(op: TextOp, all: bool, nocase: bool, pats: &[&str]) -> TextTest {
        TextTest::new(
            op,
            all,
            nocase,
            pats.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn string_operators() {
        assert!(t(TextOp::Contains, false, false, &["bc"]).test("abcd"));
        assert!(t(TextOp::Contains, false, false, &["x", "cd"]).test("abcd"));
        assert!(!t(TextOp::Contains, true, false, &["x", "cd"]).test("abcd"));
        assert!(t(TextOp::Contains, false, true, &["BC"]).test("abcd"));
        assert!(t(TextOp::StartsWith, false, false, &["zz", "ab"]).test("abcd"));
        assert!(!t(TextOp::StartsWith, false, false, &["bc"]).test("abcd"));
        assert!(t(TextOp::EndsWith, false, true, &["\\DLLHOST.EXE"]).test("c:\\x\\dllhost.exe"));
        assert!(t(TextOp::Glob, false, false, &["/home/*/.ssh/*"]).test("/home/a/b/.ssh/id"));
        assert!(t(TextOp::Glob, false, false, &["a?c"]).test("abc"));
        assert!(!t(TextOp::Glob, false, false, &["a?c"]).test("abbc"));
        assert!(t(TextOp::Under, false, false, &["/etc/apt"]).test("/etc/apt/sources"));
        assert!(t(TextOp::Under, false, false, &["/etc/apt/"]).test("/etc/apt"));
        assert!(!t(TextOp::Under, false, false, &["/etc/apt"]).test("/etc/aptitude"));
        assert!(t(TextOp::Matches, false, false, &["^a.c", "zz"]).test("abcd"));
        assert!(!t(TextOp::Contains, false, false, &[]).test("abcd"));
        assert!(t(TextOp::Contains, true, false, &[]).test("abcd"));
    }

    #[test]
    fn array_membership() {
        let c = t(TextOp::Contains, false, false, &["root"]);
        assert!(c.test_elements(["a", "root"].into_iter()));
        assert!(!c.test_elements(["rooted"].into_iter()));
        let all = t(TextOp::Contains, true, true, &["A", "b"]);
        assert!(all.test_elements(["a", "B"].into_iter()));
        assert!(!all.test_elements(["a"].into_iter()));
        // Over many patterns membership is a set lookup, with the same answers.
        let mut many = vec!["Root", "Straße", "\u{212A}"];
        let more: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
        many.extend(more.iter().map(String::as_str));
        for nocase in [false, true] {
            let set = t(TextOp::Contains, false, nocase, &many);
            assert!(set.members.is_some());
            for e in [
                "root", "ROOT", "Root", "straße", "STRASSE", "k", "\u{212A}", "u19", "u2",
            ] {
                let want = many
                    .iter()
                    .any(|p| if nocase { nocase_eq(e, p) } else { e == *p });
                assert_eq!(
                    set.test_elements([e, "zz"].into_iter()),
                    want,
                    "{e} {nocase}"
                );
            }
        }
    }

    #[test]
    fn cidr_trie() {
        let t = CidrTrie::new(["10.0.0.0/8", "192.168.1.0/24", "fe80::/10", "1.2.3.4"]).unwrap();
        assert!(t.contains("10.200.0.1"));
        assert!(t.contains("::ffff:10.0.0.1"));
        assert!(t.contains("192.168.1.77"));
        assert!(!t.contains("192.168.2.1"));
        assert!(t.contains("1.2.3.4"));
        assert!(!t.contains("1.2.3.5"));
        assert!(t.contains("fe80::1"));
        assert!(!t.contains("not an ip"));
        let all = CidrTrie::new(["0.0.0.0/0"]).unwrap();
        assert!(all.contains("8.8.8.8"));
    }
}
