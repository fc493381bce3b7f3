//! promtool's series notation for test inputs: `1 2 3`, `0+10x5`, `5-1x3`, `7x4`, `_`, `_x3`, `stale`.

/// One expanded value: a sample, a missing step, or a staleness marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    Value(f64),
    Missing,
    Stale,
}

/// Expands the notation; on error returns the token that could not be read.
pub fn parse(text: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        if tok == "stale" {
            out.push(Point::Stale);
            continue;
        }
        if tok == "_" {
            out.push(Point::Missing);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| tok.to_string())?;
            out.extend(std::iter::repeat_n(Point::Missing, n));
            continue;
        }
        let (head, times) = match tok.rsplit_once('x') {
            Some((h, n)) => (h, Some(n.parse::<usize>().map_err(|_| tok.to_string())?)),
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
                let s: f64 = head[..i].parse().map_err(|_| tok.to_string())?;
                let d: f64 = head[i + 1..].parse().map_err(|_| tok.to_string())?;
                (s, if &head[i..=i] == "-" { -d } else { d })
            }
            None => (head.parse::<f64>().map_err(|_| tok.to_string())?, 0.0),
        };
        match times {
            // promtool: `a+bxN` is N+1 values a, a+b, ..., a+N*b.
            Some(n) => out.extend((0..=n).map(|k| Point::Value(start + step * k as f64))),
            None if split.is_some() => return Err(tok.to_string()),
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
        assert_eq!(parse("1 two"), Err("two".to_string()));
        assert_eq!(parse("1+2"), Err("1+2".to_string()));
    }
}
