//! An audit entry and its canonical encoding: the bytes that are hashed, chained and put in
//! the Merkle tree. Object keys sorted, no white space, numbers as serde writes them, so the
//! same entry always gives the same bytes (whatever the JSON library's map order).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One record: its position (from 1), when (epoch ms), what kind, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub ts: i64,
    /// `alert`, `notification`, `silence`, `reload`, `api`, `app`, `recovery`, ...
    pub kind: String,
    pub data: Value,
}

impl Entry {
    /// The canonical bytes.
    pub fn canonical(&self) -> Vec<u8> {
        let v = serde_json::json!({
            "data": self.data,
            "kind": self.kind,
            "seq": self.seq,
            "ts": self.ts,
        });
        let mut out = Vec::with_capacity(128);
        canonical(&v, &mut out);
        out
    }
}

/// `v` with object keys sorted at every level and no white space.
pub fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Serialising a string cannot fail.
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let e = Entry {
            seq: 1,
            ts: 2,
            kind: "alert".into(),
            data: serde_json::json!({"z": 1, "a": {"y": [true, null], "b": "x"}}),
        };
        assert_eq!(
            String::from_utf8(e.canonical()).unwrap(),
            r#"{"data":{"a":{"b":"x","y":[true,null]},"z":1},"kind":"alert","seq":1,"ts":2}"#
        );
    }
}
