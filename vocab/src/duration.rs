//! Durations as the language writes them (`15s`, `1m`, `500ms`, `1h30m` is not one): shared by
//! the checker, the command line and the daemon's configuration.

/// Seconds in one `unit` (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`).
pub fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        "w" => 7.0 * 86400.0,
        _ => return None,
    })
}

/// `1m`, `15s`, `500ms`, `1.5h` to whole milliseconds; `None` unless positive.
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let v = (n * unit_seconds(unit)? * 1000.0).round();
    (v > 0.0 && v < 9.2e18).then_some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn durations() {
        assert_eq!(parse_ms("15s"), Some(15_000));
        assert_eq!(parse_ms(" 1.5m "), Some(90_000));
        assert_eq!(parse_ms("500ms"), Some(500));
        assert_eq!(parse_ms("0s"), None);
        assert_eq!(parse_ms("5"), None);
        assert_eq!(parse_ms("5y"), None);
        assert_eq!(parse_ms("1e300w"), None);
    }
}
