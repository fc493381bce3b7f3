//! Spelling Vigil's tokens: strings, names, durations and numbers.

/// A Vigil string literal (`"..."` with `\\ \" \n \t \r` escapes).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An identifier made from any name: letters, digits and `_`, not starting with a digit.
pub fn ident(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "r_");
    }
    out
}

/// Whether `name` is already a plain identifier (so it needs no renaming).
pub fn is_ident(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Prometheus metric name as Vigil writes it: bare when it is words joined by single colons
/// (`job:error_ratio`), else in backquotes (`` `:node_memory:sum` ``); `None` for a name
/// Prometheus would not accept either.
pub fn metric_name(name: &str) -> Option<String> {
    if name.split(':').all(is_ident) {
        return Some(name.to_string());
    }
    let prom = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    prom.then(|| format!("`{name}`"))
}

/// `event.a.b` for a dotted field name; a segment that is not a word is backquoted
/// (``event.`cs-uri-query` ``). `None` for an empty segment or one with a backquote.
pub fn event_path(dotted: &str) -> Option<String> {
    let mut out = String::from("event");
    for seg in dotted.split('.') {
        if is_ident(seg) {
            out.push('.');
            out.push_str(seg);
        } else if !seg.is_empty() && !seg.contains(['`', '\n']) {
            out.push_str(&format!(".`{seg}`"));
        } else {
            return None;
        }
    }
    Some(out)
}

/// A duration in the largest unit that divides it exactly (`90s` stays `90s`, `3600s` is `1h`).
pub fn duration_ms(ms: u128) -> String {
    const UNITS: &[(u128, &str)] = &[
        (604_800_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    if ms == 0 {
        return "0s".into();
    }
    for (size, unit) in UNITS {
        if ms.is_multiple_of(*size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A number as Vigil reads it back exactly; `None` for infinities and NaN.
pub fn number(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return Some(format!("{}", v as i64));
    }
    let s = format!("{v}");
    Some(if s.contains('e') { format!("{v:e}") } else { s })
}

/// Prometheus's duration notation (`1h30m`, `5m`, `1d`, `0s`) in milliseconds.
pub fn prom_duration(s: &str) -> Option<u128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let mult = match rest.chars().next()? {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                'w' => 604_800_000,
                'y' => 31_536_000_000,
                _ => return None,
            };
            (mult, 1)
        };
        total += n * unit;
        rest = &rest[len..];
    }
    Some(total)
}

/// `text` as `#` comment lines.
pub fn comment(text: &str) -> String {
    let mut out = String::new();
    for line in text.trim_end().lines() {
        if line.trim().is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str(&format!("#   {}\n", line.trim_end()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_prometheus_notation() {
        assert_eq!(prom_duration("1h30m"), Some(5_400_000));
        assert_eq!(duration_ms(5_400_000), "90m");
        assert_eq!(prom_duration("0s").map(duration_ms).as_deref(), Some("0s"));
        assert_eq!(prom_duration("1d").map(duration_ms).as_deref(), Some("1d"));
        assert_eq!(
            prom_duration("250ms").map(duration_ms).as_deref(),
            Some("250ms")
        );
        assert_eq!(prom_duration("5x"), None);
    }

    #[test]
    fn strings_and_numbers_are_spelled_to_read_back() {
        assert_eq!(string("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(number(0.01).as_deref(), Some("0.01"));
        assert_eq!(number(604800.0).as_deref(), Some("604800"));
        assert_eq!(number(f64::INFINITY), None);
        assert_eq!(ident("Kube-API.x"), "Kube_API_x");
        assert_eq!(event_path("a.cs-uri").as_deref(), Some("event.a.`cs-uri`"));
        assert_eq!(event_path("a..b"), None);
    }
}
