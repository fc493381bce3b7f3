//! A fast path for the common JSON-lines sample, `{"ts":..,"metric":"..","labels":{..},
//! "value":..}`: a single pass over the bytes, no allocation. Anything it does not handle
//! exactly as serde would (escapes, other keys, events, duplicate keys, numbers it cannot
//! read exactly) returns `None`, and the caller parses the line with serde instead. A property
//! test checks both paths agree on generated lines.

use crate::Record;
use crate::json::valid_metric;
use crate::record::put_label;
use crate::series_keys::{SeriesKey, SeriesKeys};

/// Lines with more labels take the serde path.
pub const MAX_LABELS: usize = 12;

#[derive(Debug, PartialEq)]
pub enum TsText<'a> {
    Ms(i64),
    Text(&'a str),
}

/// The first byte from `i` that ends a run of plain string text: a quote, a backslash or a
/// control character (which JSON forbids unescaped). Eight bytes at a time: most strings in
/// events are short, where a SIMD search's setup costs more than it saves.
#[inline]
pub fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        // A zero byte in `quote`/`slash`, or a byte under 0x20 in `x`: the lowest flagged
        // byte is exact (borrows only run upwards).
        let hits = (quote.wrapping_sub(ONES) & !quote
            | slash.wrapping_sub(ONES) & !slash
            | x.wrapping_sub(ONES * 0x20) & !x)
            & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|j| i + j)
}

/// The escape after a backslash at `i - 1`: the character it stands for and where the text
/// goes on; `None` for what serde_json refuses in a string (an unknown escape, bad hex, a
/// surrogate not in a pair). One decoder for every reader that meets escapes.
pub fn unescape(b: &[u8], i: usize) -> Option<(char, usize)> {
    let c = match *b.get(i)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let n = hex4(b, i + 1)?;
            return match n {
                0xDC00..=0xDFFF => None,
                // A surrogate pair: `\uD83D\uDE00`.
                0xD800..=0xDBFF => {
                    if b.get(i + 5..i + 7)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(b, i + 7)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let c = 0x1_0000 + ((n - 0xD800) << 10) + (low - 0xDC00);
                    Some((char::from_u32(c)?, i + 11))
                }
                n => Some((char::from_u32(n)?, i + 5)),
            };
        }
        _ => return None,
    };
    Some((c, i + 1))
}

/// Four hex digits at `i`.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4)?
        .iter()
        .try_fold(0u32, |n, &d| Some(n << 4 | (d as char).to_digit(16)?))
}

/// `s` without JSON's white space (space, tab, line feed, carriage return) at either end.
/// Not `str::trim`: that also takes Unicode spaces, which JSON does not allow between tokens,
/// and it decodes characters to do so.
#[inline]
pub fn trim_ws(s: &str) -> &str {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let b = s.as_bytes();
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    // Both ends are next to ASCII bytes (or the text's ends): character boundaries.
    s.get(start..end).unwrap_or_default()
}

/// The integer of milliseconds at `i`, and where it ends. JSON's integer grammar read
/// directly: `-?(0|[1-9][0-9]*)`, at most 18 digits (so no overflow); a fraction or exponent
/// is left to serde.
#[inline]
fn integer_ms(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let neg = b.get(i) == Some(&b'-');
    let start = i + usize::from(neg);
    let mut i = start;
    let mut v: i64 = 0;
    while let Some(&d) = b.get(i)
        && d.is_ascii_digit()
    {
        if i - start == 18 {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
        i += 1;
    }
    let digits = i - start;
    if digits == 0
        || (digits > 1 && b[start] == b'0')
        || matches!(b.get(i), Some(b'.' | b'e' | b'E'))
    {
        return None;
    }
    Some((if neg { -v } else { v }, i))
}

/// `{"ts":<ms>,"event":{` without white space, as `Record::to_json_line` writes event lines
/// (the daemon's sources and log): the time and where the object starts, read by comparing
/// bytes (what the general readers find on it). `None` for any other form: the general
/// readers decide.
#[inline]
fn compact_event_start(b: &[u8]) -> Option<(i64, usize)> {
    const OPEN: &[u8] = br#"{"ts":"#;
    const EVENT: &[u8] = br#","event":{"#;
    if !b.starts_with(OPEN) {
        return None;
    }
    let (ms, end) = integer_ms(b, OPEN.len())?;
    b[end..]
        .starts_with(EVENT)
        .then_some((ms, end + EVENT.len() - 1))
}

struct P<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> P<'a> {
    fn new(line: &'a str) -> P<'a> {
        P {
            s: line,
            b: line.as_bytes(),
            i: 0,
        }
    }
    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }
    /// A string without escapes or control characters.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = string_end(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // `start` and the quote are ASCII, so these are char boundaries.
        self.s.get(start..end)
    }
    /// After a member: `,` (more follow, `Some(false)`) or `}` (the object ends, `Some(true)`).
    #[inline]
    fn member_end(&mut self) -> Option<bool> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        match c {
            b',' => Some(false),
            b'}' => Some(true),
            _ => None,
        }
    }
    /// A `ts` value: RFC 3339 text, or integer milliseconds (serde reads other numbers as
    /// floats and rounds: those take the serde path).
    fn ts(&mut self) -> Option<TsText<'a>> {
        self.ws();
        if self.b.get(self.i) == Some(&b'"') {
            return Some(TsText::Text(self.string()?));
        }
        let (ms, end) = integer_ms(self.b, self.i)?;
        self.i = end;
        Some(TsText::Ms(ms))
    }
    /// A sample's numeric value, read as serde reads it: integers as i64 (beyond i64 the paths
    /// differ: left to serde), `-0` as the float -0.0, other numbers as f64.
    fn value(&mut self) -> Option<f64> {
        let t = self.number()?;
        let integral = !t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'));
        Some(if integral {
            let i = t.parse::<i64>().ok()?;
            if i == 0 && t.starts_with('-') {
                -0.0
            } else {
                i as f64
            }
        } else {
            t.parse::<f64>().ok()?
        })
    }
    /// A labels object of plain strings into `out`'s first entries (their buffers reused);
    /// how many. A repeated name (serde keeps both, the engine the last) or more than
    /// [`MAX_LABELS`] is left to serde.
    fn labels(&mut self, out: &mut Vec<(String, String)>) -> Option<usize> {
        self.eat(b'{')?;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(0);
        }
        let mut n = 0;
        loop {
            let k = self.string()?;
            self.eat(b':')?;
            let v = self.string()?;
            if n == MAX_LABELS || out[..n].iter().any(|(x, _)| x == k) {
                return None;
            }
            put_label(out, n, k, v);
            n += 1;
            if self.member_end()? {
                return Some(n);
            }
        }
    }
    /// The text of a JSON number.
    fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        while self.i < self.b.len()
            && matches!(
                self.b[self.i],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
            )
        {
            self.i += 1;
        }
        let t = self.s.get(start..self.i)?;
        valid_json_number(t).then_some(t)
    }
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub fn valid_json_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let d = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == d {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let d = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == d {
            return false;
        }
    }
    i == b.len()
}

/// The common event line `{"ts": .., "event": {...}}` (in that order): its time and where the
/// event object starts. The object itself is read by the engine, which also checks that only
/// the closing `}` follows it; anything else takes the serde path.
pub fn event_start(line: &str) -> Option<(TsText<'_>, usize)> {
    match compact_event_start(line.as_bytes()) {
        Some((ms, start)) => Some((TsText::Ms(ms), start)),
        None => spaced_event_start(line),
    }
}

/// [`event_start`] in any spacing.
fn spaced_event_start(line: &str) -> Option<(TsText<'_>, usize)> {
    let (mut p, ts) = time_first(line)?;
    p.eat(b',')?;
    if p.string()? != "event" {
        return None;
    }
    p.eat(b':')?;
    p.ws();
    (p.b.get(p.i) == Some(&b'{')).then_some((ts, p.i))
}

/// A line that opens `{"ts": <time>`: the time, and the reader just after it.
fn time_first(line: &str) -> Option<(P<'_>, TsText<'_>)> {
    let mut p = P::new(line);
    p.eat(b'{')?;
    if p.string()? != "ts" {
        return None;
    }
    p.eat(b':')?;
    let ts = p.ts()?;
    Some((p, ts))
}

/// `{"event":{...}}` without a time (it takes the arrival time): where the event object
/// starts, when nothing but white space follows it (a `ts` after the event, or any other
/// member, is left to serde). The object is skipped, not validated: its reader does that.
pub fn untimed_event_start(line: &str) -> Option<usize> {
    let mut p = P::new(line);
    p.eat(b'{')?;
    if p.string()? != "event" {
        return None;
    }
    p.eat(b':')?;
    p.ws();
    if p.b.get(p.i) != Some(&b'{') {
        return None;
    }
    let start = p.i;
    p.i = container_end(p.b, start)?;
    p.eat(b'}')?;
    p.ws();
    (p.i == p.b.len()).then_some(start)
}

/// One past the bracket closing the object or array that opens at `i`, strings skipped
/// (escapes included); `None` when the text ends first.
fn container_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    if i >= b.len() {
                        return None;
                    }
                    let e = string_end(b, i)?;
                    match b[e] {
                        b'"' => {
                            i = e + 1;
                            break;
                        }
                        b'\\' => i = e + 2,
                        _ => i = e + 1,
                    }
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// What the one-pass reader made of a line's start.
pub enum Head<'a> {
    /// A sample, written into the record (as [`Record::Keyed`] when read by its key), with
    /// its time.
    Sample(TsText<'a>),
    /// `{"ts": .., "event": {`: the time and where the event object starts, as
    /// [`event_start`] gives them.
    Event(TsText<'a>, usize),
    /// Neither: other readers decide.
    Other,
}

/// Reads the common sample shape straight into `rec` (its strings keep their buffers) with
/// its time; `rec` may be half-written when it is not a sample (the caller overwrites it).
/// Nothing is staged on the way: labels go from the line to the record's strings. An event
/// line is declined at its first other key, before `rec` is touched, and a timed one is
/// recognised there, so its start is read once.
///
/// With `keys`, a sample whose series text (between its time and its value) was read in full
/// and accepted before becomes a [`Record::Keyed`] without its labels being read; one that was
/// not is read in full, and its key learnt.
pub fn head_into<'a>(line: &'a str, rec: &mut Record, keys: Option<&mut SeriesKeys>) -> Head<'a> {
    let Some(keys) = keys else {
        return head(line, rec).unwrap_or(Head::Other);
    };
    match keyed(line) {
        Some((ts, key, value)) if keys.knows(key) => match rec.keyed_parts() {
            Some((k, _, v, l)) => {
                (*k, *v) = (key, value);
                l.clear();
                l.push_str(line);
                Head::Sample(ts)
            }
            None => Head::Other,
        },
        Some((_, key, _)) => match head(line, rec) {
            Some(h @ Head::Sample(_)) => {
                keys.learn(key);
                h
            }
            h => h.unwrap_or(Head::Other),
        },
        None => head(line, rec).unwrap_or(Head::Other),
    }
}

/// A sample line `{"ts": .., <series>, "value": ..}` (its time first, its value last): its
/// time, the key of `<series>` (unread: the key is of its text, whatever it holds) and its
/// value. Whether that text was accepted before is the caller's question: if so, this line
/// reads as that one did, since the one-pass reader reads its time and value alike and the
/// text between them the same way whatever they are.
fn keyed(line: &str) -> Option<(TsText<'_>, SeriesKey, f64)> {
    // A sample line ends in its number: an event line (`..}}`) is turned away unread.
    let last = trim_ws(trim_ws(line).strip_suffix('}')?).bytes().last()?;
    if !last.is_ascii_digit() {
        return None;
    }
    let (p, ts) = time_first(line)?;
    let from = p.i;
    // From the end: `, "value": <number> }`.
    let b = p.b;
    let mut end = b.len();
    let trim = |mut e: usize| {
        while e > from && matches!(b[e - 1], b' ' | b'\t' | b'\n' | b'\r') {
            e -= 1;
        }
        e
    };
    end = trim(end);
    if end <= from || b[end - 1] != b'}' {
        return None;
    }
    end = trim(end - 1);
    let mut num = end;
    while num > from && matches!(b[num - 1], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
        num -= 1;
    }
    let colon = trim(num);
    if colon <= from || b[colon - 1] != b':' {
        return None;
    }
    let name = trim(colon - 1);
    let to = name.checked_sub(br#""value""#.len())?;
    if to <= from || &b[to..name] != br#""value""# {
        return None;
    }
    let comma = trim(to);
    if comma <= from || b[comma - 1] != b',' {
        return None;
    }
    let mut v = P {
        i: num,
        ..P::new(line)
    };
    let value = v.value()?;
    if trim(v.i) != end {
        return None;
    }
    Some((ts, SeriesKeys::key(line.get(from..comma - 1)?), value))
}

/// One pass.
fn head<'a>(line: &'a str, rec: &mut Record) -> Option<Head<'a>> {
    if let Some((ms, start)) = compact_event_start(line.as_bytes()) {
        return Some(Head::Event(TsText::Ms(ms), start));
    }
    let mut p = P::new(line);
    p.eat(b'{')?;
    let (mut ts, mut metric, mut value, mut n_labels) = (None, None, None, None);
    loop {
        let key = p.string()?;
        p.eat(b':')?;
        match key {
            "ts" if ts.is_none() => ts = Some(p.ts()?),
            // Only the time read before it: the shape `event_start` takes.
            "event" if metric.is_none() && value.is_none() && n_labels.is_none() => {
                let ts = ts?;
                p.ws();
                return (p.b.get(p.i) == Some(&b'{')).then_some(Head::Event(ts, p.i));
            }
            "metric" if metric.is_none() => metric = Some(p.string()?),
            "value" if value.is_none() => value = Some(p.value()?),
            "labels" if n_labels.is_none() => n_labels = Some(p.labels(rec.sample_parts()?.1)?),
            _ => return None,
        }
        if p.member_end()? {
            break;
        }
    }
    p.ws();
    let metric = metric.filter(|m| valid_metric(m))?;
    if p.i != p.b.len() {
        return None;
    }
    let (m, labels, _, v) = rec.sample_parts()?;
    m.clear();
    m.push_str(metric);
    labels.truncate(n_labels.unwrap_or(0));
    *v = value?;
    ts.map(Head::Sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `head_into` finds a timed event line's start exactly where `event_start` does, and
    /// only there.
    #[test]
    fn the_head_finds_what_event_start_finds() {
        for line in [
            r#"{"ts":1,"event":{"a":1}}"#,
            r#"{ "ts" : "2026-01-01T00:00:00Z" , "event" : {}}"#,
            r#"{"ts":-5,"event":{"a":1},"x":2}"#,
            r#"{"event":{"a":1},"ts":1}"#,
            r#"{"event":{"a":1}}"#,
            r#"{"ts":1,"event":5}"#,
            r#"{"ts":1,"ts":2,"event":{}}"#,
            r#"{"ts":1.5,"event":{}}"#,
            r#"{"ts":1,"metric":"m","event":{}}"#,
            r#"{"ts":1,"metric":"up","value":1}"#,
            r#"{"ts":1,"event" {}}"#,
            r#"["ts",1]"#,
        ] {
            let mut rec = Record::Sample {
                metric: String::new(),
                labels: Vec::new(),
                ts: 0,
                value: 0.0,
            };
            let head = match head_into(line, &mut rec, None) {
                Head::Event(ts, start) => Some((ts, start)),
                _ => None,
            };
            assert_eq!(head, event_start(line), "{line}");
        }
    }

    proptest::proptest! {
        /// The compact prefix reads what the general reader reads, and takes every compact
        /// line the general reader takes.
        #[test]
        fn the_compact_start_reads_what_the_general_reader_reads(
            ts in "-?[0-9]{0,20}(\\.[0-9]|e3)?",
            tail in proptest::sample::select(vec![
                r#","event":{}}"#, r#","event":{"a":1}}"#, r#","event" :{}}"#, r#", "event":{}}"#,
                r#","event":5}"#, r#","events":{}}"#, r#","event":"#, r#","#, "", r#"}"#,
            ]),
            space in proptest::bool::ANY,
        ) {
            let line = format!("{{\"ts\":{}{ts}{tail}", if space { " " } else { "" });
            let compact = compact_event_start(line.as_bytes())
                .map(|(ms, start)| (TsText::Ms(ms), start));
            let general = spaced_event_start(&line);
            if compact.is_some() {
                proptest::prop_assert_eq!(&compact, &general, "{}", line);
            } else if !space && !tail.contains(' ') {
                proptest::prop_assert_eq!(general, None, "{}", line);
            }
        }
    }

    #[test]
    fn only_json_white_space_is_trimmed() {
        assert_eq!(trim_ws(" \t{\"a\":1}\r\n"), "{\"a\":1}");
        assert_eq!(trim_ws("\u{a0}{}\u{2028}"), "\u{a0}{}\u{2028}");
        assert_eq!(trim_ws("\u{c}{}"), "\u{c}{}");
        assert_eq!(trim_ws(" \n "), "");
        assert_eq!(trim_ws(""), "");
        assert_eq!(trim_ws(" é "), "é");
    }

    #[test]
    fn the_string_scanner_finds_what_a_byte_loop_finds() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet = [
            b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, b'0', 0x00, 0x21, 0x5d,
        ];
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|k| {
                    let r = seed.rotate_left(k as u32 * 5);
                    if r.is_multiple_of(4) {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    } else {
                        b'x'
                    }
                })
                .collect();
            for from in 0..=len {
                let want = bytes[from..]
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                    .map(|j| from + j);
                assert_eq!(string_end(&bytes, from), want, "{bytes:?} from {from}");
            }
        }
    }
}
