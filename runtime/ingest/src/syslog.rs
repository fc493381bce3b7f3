//! Syslog messages (RFC 5424 and RFC 3164) to events, with an ArcSight CEF payload split into
//! its header and extension fields. An event looks like
//! `{"facility": 4, "severity": 6, "host": "web1", "app": "sshd", "pid": "42", "msgid": "-",
//!   "message": "...", "cef": {"vendor": .., "product": .., "signature_id": .., "name": ..,
//!   "severity": .., "ext": {"src": "10.0.0.1", ..}}}` (`cef` only when the message is CEF).
//! RFC 3164 carries no year or zone: the arrival's year and UTC are assumed.

use serde_json::{Map, Value, json};

/// One syslog message (without framing) to `(time ms, event)`; `now` stands in for a missing
/// time and gives RFC 3164's year.
pub fn parse(msg: &str, now: i64) -> Result<(i64, Value), String> {
    let msg = msg.trim_end_matches(['\r', '\n', '\0']);
    let rest = msg
        .strip_prefix('<')
        .ok_or("a syslog message starts with `<PRI>`")?;
    let close = rest
        .find('>')
        .filter(|&i| (1..=3).contains(&i))
        .ok_or("bad `<PRI>`")?;
    let pri: u32 = rest[..close]
        .parse()
        .map_err(|_| "bad `<PRI>`".to_string())?;
    if pri > 191 {
        return Err(format!("PRI {pri} is out of range (0-191)"));
    }
    let body = &rest[close + 1..];
    let mut ev = Map::new();
    ev.insert("facility".into(), json!(pri / 8));
    ev.insert("severity".into(), json!(pri % 8));
    let ts = if let Some(r) = body.strip_prefix("1 ") {
        rfc5424(r, now, &mut ev)?
    } else {
        rfc3164(body, now, &mut ev)
    };
    if let Some(Value::String(m)) = ev.get("message")
        && let Some(cef) = cef(m)
    {
        ev.insert("cef".into(), cef);
    }
    Ok((ts, Value::Object(ev)))
}

/// `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG` after `<PRI>1 `.
fn rfc5424(r: &str, now: i64, ev: &mut Map<String, Value>) -> Result<i64, String> {
    let mut parts = r.splitn(6, ' ');
    let mut next = |what: &str| {
        parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or(format!("RFC 5424: missing {what}"))
    };
    let time = next("TIMESTAMP")?;
    let ts = if time == "-" {
        now
    } else {
        crate::rfc3339(time).map_err(|e| format!("RFC 5424 TIMESTAMP: {e}"))?
    };
    for key in ["host", "app", "pid", "msgid"] {
        let v = next(key)?;
        ev.insert(key.into(), json!(v));
    }
    let rest = parts.next().unwrap_or("");
    let (sd, msg) = structured_data(rest)?;
    if !sd.is_empty() {
        ev.insert("sd".into(), Value::Object(sd));
    }
    // A UTF-8 byte-order mark may start the message.
    ev.insert("message".into(), json!(msg.trim_start_matches('\u{feff}')));
    Ok(ts)
}

/// `-` or `[id k="v" ...]...` then the message; structured data as `{id: {k: v}}`.
fn structured_data(s: &str) -> Result<(Map<String, Value>, &str), String> {
    let mut out = Map::new();
    if let Some(r) = s.strip_prefix('-') {
        return Ok((out, r.strip_prefix(' ').unwrap_or(r)));
    }
    let mut rest = s;
    while let Some(r) = rest.strip_prefix('[') {
        let id_end = r
            .find([' ', ']'])
            .ok_or("RFC 5424: unclosed structured data")?;
        let id = &r[..id_end];
        let mut params = Map::new();
        let mut r = &r[id_end..];
        loop {
            r = r.trim_start_matches(' ');
            if let Some(after) = r.strip_prefix(']') {
                r = after;
                break;
            }
            let eq = r
                .find('=')
                .ok_or("RFC 5424: structured data parameter without `=`")?;
            let name = &r[..eq];
            let q = r[eq + 1..]
                .strip_prefix('"')
                .ok_or("RFC 5424: structured data value not quoted")?;
            let mut value = String::new();
            let mut chars = q.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => {
                        if let Some((_, c)) = chars.next() {
                            if !matches!(c, '"' | '\\' | ']') {
                                value.push('\\');
                            }
                            value.push(c);
                        }
                    }
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => return Err("RFC 5424: unterminated structured data value".into()),
                }
            };
            params.insert(name.to_string(), json!(value));
            r = &q[end + 1..];
        }
        out.insert(id.to_string(), Value::Object(params));
        rest = r;
    }
    Ok((out, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// `Mmm dd hh:mm:ss HOSTNAME TAG[pid]: MSG`; anything else is all message (as relays do).
fn rfc3164(body: &str, now: i64, ev: &mut Map<String, Value>) -> i64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let stamp = body.get(..15).and_then(|s| {
        let month = MONTHS.iter().position(|m| s.starts_with(m))? + 1;
        let day: u32 = s.get(4..6)?.trim().parse().ok()?;
        let (h, m, sec) = (
            s.get(7..9)?.parse::<u32>().ok()?,
            s.get(10..12)?.parse::<u32>().ok()?,
            s.get(13..15)?.parse::<u32>().ok()?,
        );
        (s.as_bytes().get(9) == Some(&b':')).then_some(())?;
        let year = crate::format_rfc3339(now).get(..4)?.to_string();
        crate::rfc3339(&format!(
            "{year}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z"
        ))
        .ok()
    });
    let Some(ts) = stamp else {
        ev.insert("message".into(), json!(body));
        return now;
    };
    let rest = body[15..].trim_start();
    let (host, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    ev.insert("host".into(), json!(host));
    // TAG: up to 32 alphanumerics, then `[pid]` and/or `:`.
    let tag_end = rest
        .find(|c: char| !(c.is_alphanumeric() || "-_./".contains(c)))
        .unwrap_or(rest.len());
    let (tag, after) = rest.split_at(tag_end);
    let mut msg = after;
    // A CEF payload right after the host has no tag (`CEF:` is not one).
    if tag != "CEF" && !tag.is_empty() && (after.starts_with('[') || after.starts_with(':')) {
        ev.insert("app".into(), json!(tag));
        if let Some(r) = after.strip_prefix('[')
            && let Some((pid, r)) = r.split_once(']')
        {
            ev.insert("pid".into(), json!(pid));
            msg = r;
        }
        msg = msg.strip_prefix(':').unwrap_or(msg);
    } else {
        msg = rest;
    }
    ev.insert("message".into(), json!(msg.trim_start()));
    ts
}

/// `CEF:0|vendor|product|version|signature id|name|severity|k=v k2=v two words`, anywhere in
/// the message (relays prefix their own text). `None` when the message is not CEF.
pub fn cef(message: &str) -> Option<Value> {
    let start = message.find("CEF:")?;
    let s = &message[start + 4..];
    // Seven `|`-separated header fields (`\|` and `\\` escaped), then the extension.
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 7 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    let ext_start = ext_start?;
    let mut out = Map::new();
    for (k, v) in [
        "version",
        "vendor",
        "product",
        "product_version",
        "signature_id",
        "name",
        "severity",
    ]
    .iter()
    .zip(&fields)
    {
        out.insert((*k).into(), json!(v));
    }
    out.insert("ext".into(), Value::Object(cef_extension(&s[ext_start..])));
    Some(Value::Object(out))
}

/// `k=v k2=v with spaces`: a value runs to the space before the next `key=` (`\=`, `\\`,
/// `\n`, `\r` escaped).
fn cef_extension(s: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let b = s.as_bytes();
    // Positions of unescaped `=` whose key (the word before) is a plain identifier. The last
    // space and the last byte no key may hold are tracked as the scan goes, so a message of
    // many `=` and no spaces is not re-read from its start at each one.
    let key_byte = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    let mut keys = Vec::new();
    let (mut last_space, mut last_bad): (Option<usize>, Option<usize>) = (None, None);
    let mut i = 0;
    while i < b.len() {
        let escaped = b[i] == b'\\';
        let step = if escaped { 2 } else { 1 };
        if !escaped && b[i] == b'=' {
            let kstart = last_space.map_or(0, |p| p + 1);
            if kstart < i && last_bad.is_none_or(|p| p < kstart) {
                keys.push((kstart, i));
            }
        }
        for (j, &c) in b.iter().enumerate().skip(i).take(step) {
            if c == b' ' {
                last_space = Some(j);
            }
            if !key_byte(c) {
                last_bad = Some(j);
            }
        }
        i += step;
    }
    for (n, &(kstart, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(s.len(), |&(next, _)| next);
        let raw = s[eq + 1..end].trim_end();
        let mut v = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => v.push('\n'),
                    Some('r') => v.push('\r'),
                    Some(o) => v.push(o),
                    None => {}
                }
            } else {
                v.push(c);
            }
        }
        out.insert(s[kstart..eq].to_string(), json!(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z

    #[test]
    fn rfc5424_messages() {
        let (ts, ev) = parse(
            r#"<34>1 2026-11-23T10:04:00.5Z web1 sshd 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App\"x\]"][meta a="b"] Failed password for bob"#,
            NOW,
        )
        .unwrap();
        assert_eq!(ts, NOW + 240_500);
        assert_eq!(ev["facility"], 4);
        assert_eq!(ev["severity"], 2);
        assert_eq!(ev["host"], "web1");
        assert_eq!(ev["app"], "sshd");
        assert_eq!(ev["pid"], "4242");
        assert_eq!(ev["msgid"], "ID47");
        assert_eq!(ev["sd"]["exampleSDID@32473"]["eventSource"], "App\"x]");
        assert_eq!(ev["sd"]["meta"]["a"], "b");
        assert_eq!(ev["message"], "Failed password for bob");
        let (ts, ev) = parse("<13>1 - - - - - -", NOW).unwrap();
        assert_eq!(ts, NOW);
        assert_eq!(ev["message"], "");
    }

    #[test]
    fn rfc3164_messages() {
        let (ts, ev) = parse(
            "<38>Nov 23 10:04:00 web1 sshd[4242]: Accepted key for bob",
            NOW,
        )
        .unwrap();
        assert_eq!(ts, NOW + 240_000);
        assert_eq!(ev["host"], "web1");
        assert_eq!(ev["app"], "sshd");
        assert_eq!(ev["pid"], "4242");
        assert_eq!(ev["message"], "Accepted key for bob");
        let (ts, ev) = parse("<38>Nov  3 01:02:03 h cron: job done", NOW).unwrap();
        assert_eq!(crate::format_rfc3339(ts), "2026-11-03T01:02:03Z");
        assert_eq!(ev["app"], "cron");
        let (ts, ev) = parse("<38>no header at all", NOW).unwrap();
        assert_eq!(ts, NOW);
        assert_eq!(ev["message"], "no header at all");
        assert!(parse("no pri", NOW).is_err());
        assert!(parse("<999>x", NOW).is_err());
    }

    #[test]
    fn cef_payloads() {
        let (_, ev) = parse(
            r"<134>Nov 23 10:04:00 fw1 CEF:0|Acme|Firewall|1.0|100|Port scan \| detected|7|src=10.0.0.5 dst=10.0.0.9 msg=many ports in a row spt=4000 cs1=a\=b",
            NOW,
        )
        .unwrap();
        let c = &ev["cef"];
        assert_eq!(c["vendor"], "Acme");
        assert_eq!(c["name"], "Port scan | detected");
        assert_eq!(c["severity"], "7");
        assert_eq!(c["ext"]["src"], "10.0.0.5");
        assert_eq!(c["ext"]["msg"], "many ports in a row");
        assert_eq!(c["ext"]["spt"], "4000");
        assert_eq!(c["ext"]["cs1"], "a=b");
        assert!(cef("plain text").is_none());
        assert!(cef("CEF:0|too|few").is_none());
    }

    /// The extension's keys as they were found before the scan tracked its last space: by
    /// searching back from each `=` (quadratic on a message of many `=` and no spaces).
    fn keys_by_searching_back(s: &str) -> Vec<String> {
        let b = s.as_bytes();
        let mut keys = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == b'=' {
                let kstart = s[..i].rfind(' ').map_or(0, |p| p + 1);
                let key = &s[kstart..i];
                if !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
                {
                    keys.push(key.to_string());
                }
            }
            i += 1;
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Forty thousand `=` without a space: read in one pass (it took seconds).
    #[test]
    fn an_extension_of_many_equals_signs_reads_in_one_pass() {
        // Only the first `a` is a key: the words after it hold an `=`, so they are its value.
        let s = "a=".repeat(40_000);
        let m = cef_extension(&s);
        assert_eq!(m.len(), 1);
        assert_eq!(m["a"].as_str().map(str::len), Some(s.len() - 2));
    }

    proptest! {
        /// The extension has the keys the search back from each `=` found.
        #[test]
        fn extension_keys_are_those_found_by_searching_back(s in "[a= \\\\._é-]{0,40}") {
            let got: Vec<String> = cef_extension(&s).keys().cloned().collect();
            prop_assert_eq!(got, keys_by_searching_back(&s), "{:?}", s);
        }

        /// Any text: an event or an error, never a panic.
        #[test]
        fn never_panics(s in "\\PC{0,200}", pri in 0u32..200) {
            let _ = parse(&s, NOW);
            let _ = parse(&format!("<{pri}>{s}"), NOW);
            let _ = parse(&format!("<{pri}>1 {s}"), NOW);
            let _ = cef(&format!("CEF:{s}"));
        }
    }
}
