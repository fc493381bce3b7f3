//! List files (`list x = file("...")`): how one is read and what its entries are, shared by
//! the loader (which reads them with the rules) and a running rule set (which re-reads one
//! when it changes, without recompiling), so both read a file alike.

use std::path::Path;

/// The largest list file read (a feed of a million addresses is about 20 MiB).
pub const MAX_LIST_FILE: u64 = 64 << 20;

/// A file a declaration reads (a list, a calendar's holidays), at most `MAX_LIST_FILE` bytes
/// of UTF-8 text; why not, in words.
pub fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_LIST_FILE + 1).read_to_end(&mut buf))
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_LIST_FILE {
        return Err(format!("it is larger than {} MiB", MAX_LIST_FILE >> 20));
    }
    String::from_utf8(buf).map_err(|e| {
        format!(
            "it is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A list file's entries with their line numbers (from 1): one per line, trimmed; blank
/// lines and lines starting with `#` skipped.
pub fn entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Whether `s` is an address or a network (`10.0.0.0/8`, `::1`, `2001:db8::/32`) with a
/// prefix no longer than its address.
pub fn valid_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_skip_blanks_and_comments_and_keep_line_numbers() {
        let text = "# feed\n\n 10.0.0.0/8 \n#x\nevil.example\r\n";
        let got: Vec<_> = entries(text).collect();
        assert_eq!(got, [(3, "10.0.0.0/8"), (5, "evil.example")]);
    }

    #[test]
    fn cidrs_are_checked_by_prefix_length() {
        assert!(valid_cidr("10.0.0.0/8") && valid_cidr("::1") && valid_cidr("2001:db8::/128"));
        assert!(!valid_cidr("10.0.0.0/33") && !valid_cidr("10.0.0/8") && !valid_cidr("x"));
    }
}
