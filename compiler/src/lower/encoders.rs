//! Compile-time encoders (Sigma's modifiers): each turns a string into the list of strings a
//! rule should look for.

/// Sigma's `base64offset`: the three base64 encodings of `s` at byte offsets 0, 1 and 2 within
/// a longer encoded text, with the characters that depend on unknown neighbours cut off.
pub fn base64offset(s: &str) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    let v = s.as_bytes();
    (0..3)
        .map(|i| {
            let mut data = vec![b' '; i];
            data.extend_from_slice(v);
            let enc = base64(&data);
            let cut = END[(v.len() + i) % 3];
            let end = enc.len().saturating_sub(cut);
            enc.get(START[i]..end.max(START[i]))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// `s` encoded as UTF-16LE, each code unit's bytes as characters (how Sigma searches for
/// PowerShell's `-EncodedCommand` payloads after decoding to text).
pub fn utf16le(s: &str) -> Vec<String> {
    let mut out = String::new();
    for u in s.encode_utf16() {
        let [lo, hi] = u.to_le_bytes();
        out.push(char::from(lo));
        out.push(char::from(hi));
    }
    vec![out]
}

/// Sigma's `windash`: every `-` that starts a word also written `/`, en dash, em dash and
/// horizontal bar, in every combination (capped at 3 dashes, 625 variants).
pub fn windash(s: &str) -> Vec<String> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let chars: Vec<char> = s.chars().collect();
    let spots: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i] == '-' && (i == 0 || chars[i - 1].is_whitespace()))
        .take(3)
        .collect();
    let mut out = Vec::new();
    let total = DASHES.len().pow(spots.len() as u32);
    for mut combo in 0..total {
        let mut c = chars.clone();
        for &at in &spots {
            c[at] = DASHES[combo % DASHES.len()];
            combo /= DASHES.len();
        }
        out.push(c.into_iter().collect());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_matches_sigma() {
        // pySigma: base64offset of "/bin/bash" gives L2Jpbi9iYXNo, 9iaW4vYmFza, vYmluL2Jhc2
        assert_eq!(
            base64offset("/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
        assert_eq!(base64(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn utf16_and_windash() {
        assert_eq!(utf16le("ab"), ["a\0b\0"]);
        let w = windash("cmd -enc x");
        assert_eq!(w.len(), 5);
        assert!(w.contains(&"cmd /enc x".to_string()));
        assert_eq!(windash("plain"), ["plain"]);
    }
}
