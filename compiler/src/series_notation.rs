//! promtool's series notation for test inputs: `1 2 3`, `0+10x5`, `5-1x3`, `7x4`, `_`, `_x3`, `stale`.

/// One expanded value: a sample, a missing step, or a staleness marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    Value(f64),
    Missing,
    Stale,
}

/// The most points one series may expand to: a test of a million steps is already far past
/// what a rule test needs, and the notation must not ask for memory it cannot have.
pub const MAX_POINTS: usize = 1_000_000;

/// Expands the notation; on error says which token could not be read, or that the series is
/// longer than [`MAX_POINTS`].
pub fn parse(text: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    let too_long = |tok: &str| {
        format!(
            "`{tok}` makes the series longer than {MAX_POINTS} points, the limit of a test series"
        )
    };
    let bad = |tok: &str| format!("cannot read `{tok}` in series values");
    for tok in text.split_whitespace() {
        if out.len() >= MAX_POINTS {
            return Err(too_long(tok));
        }
        if tok == "stale" {
            out.push(Point::Stale);
            continue;
        }
        if tok == "_" {
            out.push(Point::Missing);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| bad(tok))?;
            if n > MAX_POINTS - out.len() {
                return Err(too_long(tok));
            }
            out.extend(std::iter::repeat_n(Point::Missing, n));
            continue;
        }
        let (head, times) = match tok.rsplit_once('x') {
            Some((h, n)) => (h, Some(n.parse::<usize>().map_err(|_| bad(tok))?)),
            None => (tok, None),
        };
        // `a+b` or `a-b` (a may itself be negative or use an exponent).
        let split = head
            .char_indices()
            .skip(1)
            .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let (start, step) = match split {
            Some(i) => {
                let s: f64 = head[..i].parse().map_err(|_| bad(tok))?;
                let d: f64 = head[i + 1..].parse().map_err(|_| bad(tok))?;
                (s, if &head[i..=i] == "-" { -d } else { d })
            }
            None => (head.parse::<f64>().map_err(|_| bad(tok))?, 0.0),
        };
        match times {
            // promtool: `a+bxN` is N+1 values a, a+b, ..., a+N*b.
            Some(n) if n >= MAX_POINTS - out.len() => return Err(too_long(tok)),
            Some(n) => out.extend((0..=n).map(|k| Point::Value(start + step * k as f64))),
            None if split.is_some() => return Err(bad(tok)),
            None => out.push(Point::Value(start)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_promtool() {
        assert_eq!(
            parse("0+10x2").unwrap(),
            vec![Point::Value(0.0), Point::Value(10.0), Point::Value(20.0)]
        );
        assert_eq!(
            parse("5-1x1 _ stale").unwrap(),
            vec![
                Point::Value(5.0),
                Point::Value(4.0),
                Point::Missing,
                Point::Stale
            ]
        );
        assert_eq!(parse("95x2").unwrap().len(), 3);
        assert_eq!(
            parse("-1 1e3").unwrap(),
            vec![Point::Value(-1.0), Point::Value(1000.0)]
        );
        assert_eq!(
            parse("1 two"),
            Err("cannot read `two` in series values".to_string())
        );
        assert_eq!(
            parse("1+2"),
            Err("cannot read `1+2` in series values".to_string())
        );
    }

    #[test]
    fn expansion_is_bounded() {
        for text in [
            "1x18446744073709551615",
            "0+1x1000000000",
            "_x18446744073709551615",
            "1x999999 1x5",
            "_x999999 _x999999",
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains("longer than 1000000 points"), "{text}: {err}");
        }
        assert_eq!(parse("1x999998").map(|p| p.len()), Ok(999_999));
    }
}
