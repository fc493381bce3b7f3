//! Times as inputs write them: epoch milliseconds or RFC 3339.

use serde_json::Value;

/// `ts` as epoch ms (a number) or an RFC 3339 string.
pub fn timestamp(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.round() as i64))
            .ok_or_else(|| "`ts` is out of range".to_string()),
        Value::String(s) => rfc3339(s),
        _ => Err("`ts` must be epoch milliseconds or an RFC 3339 string".into()),
    }
}

/// `2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.250+01:00`, `2026-11-23 10:00:00Z`.
/// Strict: every field is digits in its range (the day within its month), the offset within
/// ±23:59; anything else is refused rather than reinterpreted.
pub fn rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not an RFC 3339 time (like 2026-11-23T10:00:00Z)");
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad());
    }
    // Fixed-width unsigned decimal fields, read from bytes (no sign, no char boundaries).
    let num = |at: usize, len: usize| -> Result<i64, String> {
        let digits = b.get(at..at + len).ok_or_else(bad)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        Ok(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 2)?,
        num(8, 2)?,
        num(11, 2)?,
        num(14, 2)?,
        num(17, 2)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return Err(bad());
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        // Milliseconds: the first three digits, padded; finer digits are dropped.
        let frac = &b[start..i.min(start + 3)];
        ms = frac.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'))
            * 10i64.pow(3 - frac.len() as u32);
    }
    let offset = match &b[i..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hh, mm) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if hh > 23 || mm > 59 {
                return Err(bad());
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    Ok(((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A point in time as a command line or query writes it: RFC 3339, or a duration back from
/// `now` (`30h` is thirty hours ago).
pub fn at_or_ago(text: &str, now: i64) -> Result<i64, String> {
    match crate::duration::parse_ms(text) {
        Some(ms) => Ok(now - ms),
        None => rfc3339(text),
    }
}

/// Epoch milliseconds as RFC 3339 UTC (`2026-11-23T10:04:00Z`, milliseconds when present).
pub fn format_rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let frac = if milli == 0 {
        String::new()
    } else {
        format!(".{milli:03}")
    };
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(rfc3339("2026-11-23T10:00:00.25Z"), Ok(1_795_428_000_250));
        assert_eq!(rfc3339("2026-11-23T11:00:00+01:00"), Ok(1_795_428_000_000));
        assert!(rfc3339("2026-13-23T11:00:00Z").is_err());
    }

    #[test]
    fn refuses_what_it_would_reinterpret() {
        for t in [
            "2026-11-23T10:00:00+1\u{e9}00",
            "2026-11-23T10:00:00+99:99",
            "2026-11-23T10:00:00+24:00",
            "2026-02-31T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-11-23T-1:-1:-1Z",
            "2026-11-23T+1:00:00Z",
            "+026-11-23T10:00:00Z",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:00\u{e9}",
        ] {
            assert!(rfc3339(t).is_err(), "{t}");
        }
        assert!(rfc3339("2024-02-29T10:00:00Z").is_ok());
    }

    use proptest::prelude::*;

    proptest! {
        /// Agrees with jiff (the reference) on every time both read, and never reads one jiff
        /// refuses (offsets to ±23:59: RFC 3339's hours, where jiff also takes 24 and 25).
        #[test]
        fn agrees_with_jiff(
            y in 1000i64..9999, mo in 0i64..14, d in 0i64..33, h in 0i64..25, mi in 0i64..61,
            se in 0i64..60, frac in proptest::option::of("[0-9]{1,3}"),
            off in prop_oneof![Just("Z".to_string()), (0i64..24, 0i64..61, any::<bool>())
                .prop_map(|(hh, mm, neg)| format!("{}{hh:02}:{mm:02}", if neg { '-' } else { '+' }))],
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{frac}{off}");
            let ours = rfc3339(&t).ok();
            let theirs = t.parse::<jiff::Timestamp>().ok().map(|ts| ts.as_millisecond());
            prop_assert_eq!(ours, theirs, "{}", t);
        }

        #[test]
        fn never_panics(t in "[0-9T:+.Z\\- \u{e9}]{15,32}") {
            let _ = rfc3339(&t);
        }
    }
}
