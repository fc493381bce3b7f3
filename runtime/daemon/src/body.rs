//! Request bodies: decompressed (gzip, zstd) within a limit, so a small compression bomb
//! stops at the limit instead of filling memory.

use std::io::Read;

/// Why a body was not read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    #[error("Content-Encoding `{0}` is not supported (use gzip, zstd or none)")]
    Encoding(String),
    #[error("the body is larger than {0} bytes once decompressed")]
    TooLarge(usize),
    #[error("the body is not valid {0}: {1}")]
    Corrupt(&'static str, String),
}

/// `raw` decoded as `encoding` says, at most `limit` bytes.
pub fn decode(raw: &[u8], encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, BodyError> {
    let enc = encoding.unwrap_or("identity").trim().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match enc.as_str() {
        "" | "identity" => {
            if raw.len() > limit {
                return Err(BodyError::TooLarge(limit));
            }
            return Ok(raw.to_vec());
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(raw)
                .map_err(|e| BodyError::Corrupt("zstd", e.to_string()))?,
        ),
        other => return Err(BodyError::Encoding(other.to_string())),
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            BodyError::Corrupt(if enc == "zstd" { "zstd" } else { "gzip" }, e.to_string())
        })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn bodies_decode_within_their_limit() {
        let text = b"{\"ts\":1,\"metric\":\"x\",\"value\":1}\n".repeat(10);
        assert_eq!(decode(&gzip(&text), Some("gzip"), 1 << 20).unwrap(), text);
        let z = zstd::stream::encode_all(&text[..], 3).unwrap();
        assert_eq!(decode(&z, Some("zstd"), 1 << 20).unwrap(), text);
        assert_eq!(decode(&text, None, 1 << 20).unwrap(), text);
        // A bomb: 64 MiB of zeros in about 64 KiB, refused at 1 MiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 17);
        assert_eq!(
            decode(&bomb, Some("gzip"), 1 << 20),
            Err(BodyError::TooLarge(1 << 20))
        );
        assert!(matches!(
            decode(b"not gzip", Some("gzip"), 100),
            Err(BodyError::Corrupt(..))
        ));
        assert!(matches!(
            decode(b"x", Some("br"), 100),
            Err(BodyError::Encoding(_))
        ));
        assert!(matches!(
            decode(&text, None, 10),
            Err(BodyError::TooLarge(10))
        ));
    }
}
