//! One pass over JSON text deciding what [`super::validate`] decides, without serde: the
//! daemon checks every event line it accepts, on the threads that answer requests, and with
//! serde's visitor calls and a key list allocated per object that check was the largest single
//! part of their work per event (this pass takes about three quarters of its time). It says
//! yes or no (and, for an untimed event line, where its event starts); a no is explained by
//! serde (see `validate`).

use crate::fast_json::{string_end, unescape};
// Past this many keys an object's keys are checked in a hash set, as `crate::seen::Seen`
// does; here one stack holds every open object's keys, so a line allocates once.
use crate::seen::FEW as FEW_KEYS;
use std::borrow::Cow;
use std::collections::HashSet;

/// serde_json's nesting limit: a container opened at this depth is refused.
const DEPTH: usize = 128;

/// Whether `text` is one JSON value whose objects give each key once, read as serde_json
/// reads it (its number range and nesting limit included).
pub fn valid(text: &str) -> bool {
    scan(text).is_some()
}

/// [`valid`], and for `{"event":{..}}` alone (the key unescaped) where the event object
/// starts: what `fast_json::untimed_event_start` finds, in the same pass. `None`: not valid.
pub fn untimed_event(text: &str) -> Option<Option<usize>> {
    let top = scan(text)?;
    // One member at the outermost level: the value is an object.
    let shape = top.members == 1 && top.event && text.as_bytes()[top.first_value] == b'{';
    Some(shape.then_some(top.first_value))
}

/// What the scan saw of the outermost object.
#[derive(Default)]
struct Top {
    members: usize,
    /// Its first key is `event`, without escapes.
    event: bool,
    /// Where its first value starts.
    first_value: usize,
}

fn scan(text: &str) -> Option<Top> {
    let mut scan = Scan {
        s: text,
        b: text.as_bytes(),
        i: 0,
        open: [0; DEPTH],
        firsts: [0; DEPTH],
        depth: 0,
        keys: Vec::with_capacity(32),
        many: Vec::new(),
        top: Top::default(),
    };
    scan.run()?;
    Some(scan.top)
}

struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// The containers open (`{` or `[`), `depth` of them, innermost last; for an object,
    /// where its keys start in `keys`. Arrays: the nesting limit bounds them.
    open: [u8; DEPTH],
    firsts: [usize; DEPTH],
    depth: usize,
    /// The keys of the objects open, innermost last, decoded.
    keys: Vec<Cow<'a, str>>,
    /// Open objects past [`FEW_KEYS`] keys, by depth, with their keys (moved out of `keys`).
    many: Vec<(usize, HashSet<Cow<'a, str>>)>,
    top: Top,
}

impl<'a> Scan<'a> {
    fn run(&mut self) -> Option<()> {
        self.ws();
        loop {
            // A container opened: its first value (after its first key) is next.
            if self.value()? {
                continue;
            }
            // Closes what ends here; stops at the next value (after `,` or `:`).
            loop {
                self.ws();
                let Some(inner) = self.depth.checked_sub(1).map(|d| self.open[d]) else {
                    return (self.i == self.b.len()).then_some(());
                };
                match (inner, self.b.get(self.i)?) {
                    (b'[', b',') => {
                        self.i += 1;
                        self.ws();
                        break;
                    }
                    (b'{', b',') => {
                        self.i += 1;
                        self.ws();
                        self.key()?;
                        break;
                    }
                    (b'[', b']') | (b'{', b'}') => self.close(),
                    _ => return None,
                }
            }
        }
    }

    /// A value at `i`: a scalar is read; a container is opened (its first member's key
    /// read: true), or read whole when empty.
    fn value(&mut self) -> Option<bool> {
        match *self.b.get(self.i)? {
            c @ (b'{' | b'[') => {
                if self.depth + 1 >= DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                let end = if c == b'{' { b'}' } else { b']' };
                if self.b.get(self.i) == Some(&end) {
                    self.i += 1;
                    return Some(false);
                }
                self.open[self.depth] = c;
                self.firsts[self.depth] = self.keys.len();
                self.depth += 1;
                if c == b'{' {
                    self.key()?;
                }
                return Some(true);
            }
            b'"' => self.string(false).map(drop),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
        .map(|()| false)
    }

    fn close(&mut self) {
        self.depth -= 1;
        if self.many.last().is_some_and(|(d, _)| *d == self.depth) {
            self.many.pop();
        }
        self.keys.truncate(self.firsts[self.depth]);
        self.i += 1;
    }

    /// A key, not yet given in its object, and its colon; `i` is then at the value.
    fn key(&mut self) -> Option<()> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let k = self.string(true)?;
        let depth = self.depth - 1;
        let outermost = depth == 0;
        if outermost {
            self.top.members += 1;
            if self.top.members == 1 {
                self.top.event = matches!(k, Cow::Borrowed("event"));
            }
        }
        let first = self.firsts[depth];
        match self.many.last_mut() {
            Some((d, set)) if *d == depth => {
                if !set.insert(k) {
                    return None;
                }
            }
            _ => {
                if self.keys[first..].contains(&k) {
                    return None;
                }
                self.keys.push(k);
                if self.keys.len() - first > FEW_KEYS {
                    let set = self.keys.drain(first..).collect();
                    self.many.push((depth, set));
                }
            }
        }
        self.ws();
        if self.b.get(self.i) != Some(&b':') {
            return None;
        }
        self.i += 1;
        self.ws();
        if outermost && self.top.members == 1 {
            self.top.first_value = self.i;
        }
        Some(())
    }

    /// A string at `i` (its quote), decoded when `decode` (keys; a value is only checked, and
    /// its raw text given); escapes as serde_json allows them in text (surrogates only in
    /// pairs), no raw control characters.
    fn string(&mut self, decode: bool) -> Option<Cow<'a, str>> {
        let start = self.i + 1;
        let mut i = start;
        let mut decoded: Option<String> = None;
        loop {
            // Most strings in events are short: a byte loop first, the wide search after.
            let mut e = i;
            while e < i + 16
                && self
                    .b
                    .get(e)
                    .is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20)
            {
                e += 1;
            }
            let e = if e < i + 16 {
                e
            } else {
                string_end(self.b, e)?
            };
            if e >= self.b.len() {
                return None;
            }
            match self.b[e] {
                b'"' => {
                    self.i = e + 1;
                    return Some(match decoded {
                        None => Cow::Borrowed(&self.s[start..e]),
                        Some(mut d) => {
                            d.push_str(&self.s[i..e]);
                            Cow::Owned(d)
                        }
                    });
                }
                b'\\' => {
                    let (c, next) = unescape(self.b, e + 1)?;
                    if decode {
                        let d = decoded.get_or_insert_with(String::new);
                        d.push_str(&self.s[i..e]);
                        d.push(c);
                    }
                    i = next;
                }
                _ => return None,
            }
        }
    }

    fn word(&mut self, w: &str) -> Option<()> {
        if !self.b[self.i..].starts_with(w.as_bytes()) {
            return None;
        }
        self.i += w.len();
        Some(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Without an exponent the
    /// value fits an f64 unless it has hundreds of digits; the rest is left to serde_json,
    /// whose range decides (it refuses what overflows).
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        let b = self.b;
        let mut i = start + usize::from(b[start] == b'-');
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i),
            _ => return None,
        }
        let int_end = i;
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        let mut exponent = false;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
            exponent = true;
        }
        // `01`: serde_json refuses a digit after a leading zero.
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        self.i = i;
        if exponent || int_end - start > 300 {
            return super::serde_valid(&self.s[start..i]).then_some(());
        }
        Some(())
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
}
