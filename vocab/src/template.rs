//! Rendering summary templates (`CPU at {{ value | round(1) }}% on {{ host }}`) for an alert:
//! what `vigil replay` prints today and notifiers will send. The checker has already refused
//! unknown names and malformed placeholders (V0208, V0217); a name the caller cannot give
//! here (a `let` of the condition) is left as written, never guessed.

use std::borrow::Cow;

/// A value a placeholder reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `value`, a numeric event field.
    Num(f64),
    /// A label, the rule, the severity, a text event field.
    Str(Cow<'a, str>),
}

/// Renders `template`, asking `lookup` for each name (`value`, `host`, `event.user`).
pub fn render<'a>(template: &str, lookup: &dyn Fn(&str) -> Option<Value<'a>>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else {
            rest = &rest[open..];
            break;
        };
        let inner = &rest[open + 2..close];
        match placeholder(inner, lookup) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[open..close + 2]),
        }
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// An event field as a placeholder reads it: `proc.name`, `proc.aname[2]` (an array element),
/// `steps.child.event.pid`; `None` when the event has no such field or it is null.
pub fn event_field<'a>(event: &'a serde_json::Value, path: &str) -> Option<Value<'a>> {
    let mut v = event;
    for part in path.split('.') {
        let (name, mut idx) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        v = v.get(name)?;
        while let Some(rest) = idx.strip_prefix('[') {
            let (n, after) = rest.split_once(']')?;
            v = v.get(n.parse::<usize>().ok()?)?;
            idx = after;
        }
    }
    match v {
        serde_json::Value::String(s) => Some(Value::Str(s.as_str().into())),
        serde_json::Value::Number(n) => n.as_f64().map(Value::Num),
        serde_json::Value::Bool(b) => Some(Value::Str(b.to_string().into())),
        serde_json::Value::Null => None,
        other => Some(Value::Str(other.to_string().into())),
    }
}

/// `name | filter(arg) | ...`; `None` when the name has no value and no `default` gives one.
fn placeholder<'a>(inner: &str, lookup: &dyn Fn(&str) -> Option<Value<'a>>) -> Option<String> {
    let mut parts = inner.split('|').map(str::trim);
    let name = parts.next()?;
    let mut v = lookup(name);
    for f in parts {
        let (fname, arg) = match f.split_once('(') {
            Some((n, a)) => (
                n.trim(),
                Some(a.trim_end_matches(')').trim().trim_matches('"')),
            ),
            None => (f, None),
        };
        v = match (fname, v) {
            ("default", None) => Some(Value::Str(Cow::Owned(arg.unwrap_or("").to_string()))),
            ("default", Some(Value::Str(s))) if s.is_empty() => {
                Some(Value::Str(Cow::Owned(arg.unwrap_or("").to_string())))
            }
            // Text around a value that may be missing: nothing at all without it (Go's
            // `{{ with $labels.x }}on {{ . }}{{ end }}`).
            ("prefix" | "suffix", None) => Some(Value::Str(Cow::Borrowed(""))),
            ("prefix" | "suffix", Some(Value::Str(s))) if s.is_empty() => {
                Some(Value::Str(Cow::Borrowed("")))
            }
            ("prefix", Some(x)) => Some(Value::Str(Cow::Owned(format!(
                "{}{}",
                arg.unwrap_or(""),
                render_value(x)
            )))),
            ("suffix", Some(x)) => Some(Value::Str(Cow::Owned(format!(
                "{}{}",
                render_value(x),
                arg.unwrap_or("")
            )))),
            (_, None) => None,
            (f, Some(x)) => Some(filter(f, arg, x)),
        };
    }
    v.map(render_value)
}

/// A value as a placeholder writes it.
fn render_value(v: Value<'_>) -> String {
    match v {
        Value::Num(n) => number(n),
        Value::Str(s) => s.into_owned(),
    }
}

fn filter<'a>(name: &str, arg: Option<&str>, v: Value<'a>) -> Value<'a> {
    let text = |s: String| Value::Str(Cow::Owned(s));
    match (name, v) {
        ("round", Value::Num(n)) => {
            let digits = arg
                .and_then(|a| a.parse::<i32>().ok())
                .unwrap_or(0)
                .clamp(0, 12);
            let scale = 10f64.powi(digits);
            Value::Num((n * scale).round() / scale)
        }
        ("humanize", Value::Num(n)) => {
            text(humanize(n, 1000.0, &["", "k", "M", "G", "T", "P", "E"]))
        }
        ("bytes", Value::Num(n)) => text(humanize(
            n,
            1024.0,
            &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        )),
        ("percent", Value::Num(n)) => text(format!("{}%", number((n * 1000.0).round() / 10.0))),
        ("sig", Value::Num(n)) => {
            let digits = arg.and_then(|a| a.parse::<usize>().ok()).unwrap_or(6);
            text(significant(n, digits.clamp(1, 17)))
        }
        ("duration", Value::Num(n)) => text(duration(n)),
        ("upper", Value::Str(s)) => text(s.to_uppercase()),
        ("lower", Value::Str(s)) => text(s.to_lowercase()),
        ("title", Value::Str(s)) => text(title(&s)),
        (_, v) => v,
    }
}

/// A number as people read it: integers without a fraction, others to at most 4 decimals.
pub fn number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{:.4}", n);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Prometheus's `humanize`: three significant decimals with an SI (or binary) prefix.
/// `n` to `p` significant digits as Go's `%.pg` writes it (Prometheus's `printf "%.4g"`):
/// plain notation unless the exponent is below -4 or at least `p`, trailing zeros dropped.
pub fn significant(n: f64, p: usize) -> String {
    if !n.is_finite() {
        return number(n);
    }
    if n == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", p - 1, n);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        trim(&format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, n))
    }
}

fn humanize(n: f64, base: f64, units: &[&str]) -> String {
    if !n.is_finite() || n == 0.0 {
        return format!("{}{}", number(n), units[0]);
    }
    let mut v = n;
    let mut i = 0;
    while v.abs() >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", number((v * 1000.0).round() / 1000.0), units[i])
}

/// Seconds as `1d2h3m4s` (milliseconds below a second): the `duration` filter, and how
/// durations are written back in messages and traces.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return number(secs);
    }
    if secs.abs() < 1.0 {
        return format!("{}ms", number((secs * 1000.0).round()));
    }
    let sign = if secs < 0.0 { "-" } else { "" };
    let mut s = secs.abs().round() as u64;
    let mut out = String::from(sign);
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits_as_go_writes_them() {
        // Go: fmt.Sprintf("%.4g", x) for each.
        for (x, want) in [
            (0.5, "0.5"),
            (12.3456, "12.35"),
            (123456.0, "1.235e+05"),
            (0.000012345, "1.234e-05"),
            (0.0012345, "0.001234"),
            (1234.0, "1234"),
            (-2.5, "-2.5"),
            (0.0, "0"),
        ] {
            assert_eq!(significant(x, 4), want, "{x}");
        }
    }

    #[test]
    fn prefix_and_suffix_vanish_with_their_value() {
        let lookup = |n: &str| match n {
            "cluster" => Some(Value::Str("k1".into())),
            "empty" => Some(Value::Str("".into())),
            "value" => Some(Value::Num(2.5)),
            _ => None,
        };
        let t = r#"on{{ cluster | prefix(" cluster ") | suffix(",") }} done"#;
        assert_eq!(render(t, &lookup), "on cluster k1, done");
        let t = r#"on{{ zone | prefix(" zone ") | suffix(",") }} done"#;
        assert_eq!(render(t, &lookup), "on done");
        assert_eq!(render(r#"{{ empty | prefix("x") }}"#, &lookup), "");
        assert_eq!(render(r#"{{ value | suffix("s") }}"#, &lookup), "2.5s");
    }

    #[test]
    fn event_fields_index_arrays() {
        let e = serde_json::json!({"proc": {"aname": ["bash", "runc"], "pid": 7}});
        assert_eq!(
            event_field(&e, "proc.aname[1]"),
            Some(Value::Str("runc".into()))
        );
        assert_eq!(event_field(&e, "proc.pid"), Some(Value::Num(7.0)));
        assert_eq!(event_field(&e, "proc.aname[5]"), None);
        assert_eq!(event_field(&e, "proc.aname[x]"), None);
    }

    fn lookup(name: &str) -> Option<Value<'static>> {
        match name {
            "value" => Some(Value::Num(88.759_999)),
            "host" => Some(Value::Str("trade-2".into())),
            "bytes" => Some(Value::Num(1_572_864.0)),
            "secs" => Some(Value::Num(93.0)),
            "ratio" => Some(Value::Num(0.1234)),
            "empty" => Some(Value::Str("".into())),
            _ => None,
        }
    }

    #[test]
    fn renders_names_and_filters() {
        let r = |t: &str| render(t, &lookup);
        assert_eq!(
            r("CPU at {{ value | round(1) }}% on {{ host }}"),
            "CPU at 88.8% on trade-2"
        );
        assert_eq!(
            r("{{ bytes | bytes }} {{ secs | duration }} {{ ratio | percent }}"),
            "1.5MiB 1m33s 12.3%"
        );
        assert_eq!(
            r("{{ host | upper }} {{ value | humanize }}"),
            "TRADE-2 88.76"
        );
        assert_eq!(
            r("{{ empty | default(\"none\") }} {{ missing | default(\"-\") }}"),
            "none -"
        );
        // A name the caller cannot give stays as written.
        assert_eq!(r("n={{ count }}"), "n={{ count }}");
        assert_eq!(r("unclosed {{ value"), "unclosed {{ value");
    }
}
