//! Records in a compact binary form: what the daemon's write-ahead log holds for input that
//! did not arrive as lines (remote_write), so logging a sample costs a copy, not a JSON text.
//! Little-endian: per record a tag byte, then strings as `u32` length and UTF-8 bytes,
//! numbers as 8 bytes (values by their bits, so NaN payloads such as the staleness marker
//! survive). Decoding checks every length and refuses what it cannot read whole.

use crate::Record;
use std::collections::VecDeque;

const SAMPLE: u8 = 0;
const STALE: u8 = 1;
const SERIES: u8 = 2;
const EVENT: u8 = 3;
const RAW: u8 = 4;

/// Appends `records` to `out`.
pub fn encode<'a>(records: impl IntoIterator<Item = &'a Record>, out: &mut Vec<u8>) {
    for r in records {
        match r {
            Record::Sample {
                metric,
                labels,
                ts,
                value,
            } => {
                out.push(SAMPLE);
                series(metric, labels, out);
                out.extend_from_slice(&ts.to_le_bytes());
                out.extend_from_slice(&value.to_bits().to_le_bytes());
            }
            Record::Stale { metric, labels, ts } => {
                out.push(STALE);
                series(metric, labels, out);
                out.extend_from_slice(&ts.to_le_bytes());
            }
            Record::Series {
                metric,
                labels,
                points,
            } => {
                out.push(SERIES);
                series(metric, labels, out);
                out.extend_from_slice(&(points.len() as u32).to_le_bytes());
                for (t, v) in points {
                    out.extend_from_slice(&t.to_le_bytes());
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
            Record::Event { ts, event } => {
                out.push(EVENT);
                out.extend_from_slice(&ts.to_le_bytes());
                text(&event.to_string(), out);
            }
            // Written as the sample it names (its line read in full): the form is the same
            // whichever way the line was read.
            Record::Keyed { line, .. } => {
                if let Ok(rs) = crate::parse_line(line, crate::Format::Json) {
                    encode(&rs, out);
                }
            }
            Record::Raw { ts, line, start } => {
                out.push(RAW);
                out.extend_from_slice(&ts.to_le_bytes());
                out.extend_from_slice(&(*start as u32).to_le_bytes());
                text(line, out);
            }
        }
    }
}

fn series(metric: &str, labels: &[(String, String)], out: &mut Vec<u8>) {
    text(metric, out);
    out.extend_from_slice(&(labels.len() as u32).to_le_bytes());
    for (k, v) in labels {
        text(k, out);
        text(v, out);
    }
}

fn text(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// [`encode`], snappy-compressed (block format): what the daemon's log holds, so a
/// remote_write request costs the disk about what it cost the network.
pub fn encode_packed<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<u8> {
    let mut raw = Vec::new();
    encode(records, &mut raw);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// The records of [`encode_packed`]'s output.
pub fn decode_packed(data: &[u8], out: &mut VecDeque<Record>) -> Result<(), String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| format!("not snappy-compressed: {e}"))?;
    decode(&raw, out)
}

/// The records of `data` (all of it), or where and why it cannot be read.
pub fn decode(data: &[u8], out: &mut VecDeque<Record>) -> Result<(), String> {
    let mut r = Reader { data, at: 0 };
    while r.at < data.len() {
        let at = r.at;
        let rec = r
            .record()
            .ok_or_else(|| format!("unreadable record at byte {at}"))?;
        out.push_back(rec);
    }
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let b = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
    fn text(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        Some(std::str::from_utf8(self.bytes(n)?).ok()?.to_string())
    }
    fn series(&mut self) -> Option<(String, Vec<(String, String)>)> {
        let metric = self.text()?;
        let n = self.u32()? as usize;
        // Each label takes at least 8 bytes: a length that says otherwise is damage.
        if n > (self.data.len() - self.at) / 8 {
            return None;
        }
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            labels.push((self.text()?, self.text()?));
        }
        Some((metric, labels))
    }
    fn record(&mut self) -> Option<Record> {
        Some(match self.u8()? {
            SAMPLE => {
                let (metric, labels) = self.series()?;
                let ts = self.u64()? as i64;
                let value = f64::from_bits(self.u64()?);
                Record::Sample {
                    metric,
                    labels,
                    ts,
                    value,
                }
            }
            STALE => {
                let (metric, labels) = self.series()?;
                let ts = self.u64()? as i64;
                Record::Stale { metric, labels, ts }
            }
            SERIES => {
                let (metric, labels) = self.series()?;
                let n = self.u32()? as usize;
                if n > (self.data.len() - self.at) / 16 {
                    return None;
                }
                let mut points = Vec::with_capacity(n);
                for _ in 0..n {
                    points.push((self.u64()? as i64, f64::from_bits(self.u64()?)));
                }
                Record::Series {
                    metric,
                    labels,
                    points,
                }
            }
            EVENT => {
                let ts = self.u64()? as i64;
                let event = serde_json::from_str(&self.text()?).ok()?;
                Record::Event { ts, event }
            }
            RAW => {
                let ts = self.u64()? as i64;
                let start = self.u32()? as usize;
                let line = self.text()?;
                Record::Raw { ts, line, start }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &Record, b: &Record) -> bool {
        // Values compare by bits (NaN payloads included).
        let mut x = Vec::new();
        let mut y = Vec::new();
        encode([a], &mut x);
        encode([b], &mut y);
        x == y && format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        /// Every record reads back as itself; any prefix that cuts a record is refused, never
        /// misread or a panic.
        #[test]
        fn records_read_back_and_cut_ones_are_refused(
            metric in "\\PC{0,8}",
            labels in proptest::collection::vec(("[a-z]{1,3}", "\\PC{0,6}"), 0..4),
            points in proptest::collection::vec((any::<i64>(), any::<u64>()), 0..5),
            ts in any::<i64>(),
            cut in any::<usize>(),
        ) {
            let points: Vec<(i64, f64)> = points.into_iter().map(|(t, v)| (t, f64::from_bits(v))).collect();
            let recs = vec![
                Record::Series { metric: metric.clone(), labels: labels.clone(), points },
                Record::Sample { metric: metric.clone(), labels: labels.clone(), ts, value: 1.5 },
                Record::Stale { metric, labels, ts },
                Record::Event { ts, event: serde_json::json!({"a": [1, "b"]}) },
                Record::Raw { ts, line: "{\"event\":{}}".into(), start: 9 },
            ];
            let mut bytes = Vec::new();
            encode(&recs, &mut bytes);
            let mut back = VecDeque::new();
            decode(&bytes, &mut back).unwrap();
            prop_assert_eq!(back.len(), recs.len());
            let mut unpacked = VecDeque::new();
            decode_packed(&encode_packed(&recs), &mut unpacked).unwrap();
            prop_assert_eq!(format!("{unpacked:?}"), format!("{back:?}"));
            for (a, b) in recs.iter().zip(&back) {
                prop_assert!(same(a, b), "{:?} != {:?}", a, b);
            }
            let cut = cut % bytes.len();
            let mut part = VecDeque::new();
            // A cut inside a record is an error; a cut between records reads the ones before.
            if decode(&bytes[..cut], &mut part).is_ok() {
                prop_assert!(part.len() < recs.len());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes, &mut VecDeque::new());
        }
    }
}
