//! "Did you mean": the closest known name within a small edit distance.

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match name.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    let len = name.chars().count();
    let mut hist = [0i32; 128];
    candidates
        .into_iter()
        .filter(|c| *c != name)
        // Cheap lower bounds of the edit distance rule most candidates out before it is
        // computed (thousands of names in scope, each searched for every distinct typo): the
        // difference in length, and half the difference of the letters used (an edit changes
        // at most two letter counts; a transposition none).
        .filter(|c| {
            c.len().abs_diff(name.len()) <= limit * 4 && c.chars().count().abs_diff(len) <= limit
        })
        .filter(|c| {
            !name.is_ascii() || !c.is_ascii() || letters_apart(&mut hist, name, c) <= 2 * limit
        })
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// How many letter counts differ between two ASCII strings (summed); `hist` is left zeroed.
fn letters_apart(hist: &mut [i32; 128], a: &str, b: &str) -> usize {
    for c in a.bytes() {
        hist[usize::from(c & 0x7f)] += 1;
    }
    for c in b.bytes() {
        hist[usize::from(c & 0x7f)] -= 1;
    }
    let mut apart = 0;
    for c in a.bytes().chain(b.bytes()) {
        let h = &mut hist[usize::from(c & 0x7f)];
        apart += h.unsigned_abs() as usize;
        *h = 0;
    }
    apart
}

/// A help line for an unknown name, or the fallback.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    fallback: &str,
) -> String {
    match closest(name, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => fallback.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_near_names_only() {
        assert_eq!(
            closest("cpu_limt", ["cpu_limit", "mem_limit"]),
            Some("cpu_limit")
        );
        assert_eq!(closest("xyz", ["cpu_limit"]), None);
        assert_eq!(closest("high_cpu", ["high_cpu"]), None);
        // Transpositions and substitutions pass the letter bound.
        assert_eq!(closest("hgih_cpu", ["high_cpu"]), Some("high_cpu"));
        assert_eq!(closest("cpu_limxt", ["cpu_limit"]), Some("cpu_limit"));
    }

    /// The bounds never rule out a name the distance would have offered.
    #[test]
    fn bounds_agree_with_the_distance() {
        let names = [
            "cpu",
            "cpu_limit",
            "cpu_limt",
            "limit_cpu",
            "c1",
            "nope",
            "nope1",
            "high_cpu",
            "hgih_cpu",
            "abc",
            "acb",
            "bca",
        ];
        for a in names {
            for b in names {
                let d = strsim::damerau_levenshtein(a, b);
                let mut hist = [0i32; 128];
                assert!(letters_apart(&mut hist, a, b).div_ceil(2) <= d, "{a} {b}");
                assert!(hist.iter().all(|&h| h == 0));
            }
        }
    }
}
