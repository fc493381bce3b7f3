//! JSON values whose objects give each key once. `serde_json::Value` keeps the last of a
//! repeated key; other readers keep the first, so `{"user":"root","user":"alice"}` means
//! different things to Vigil and to the tools around it (a known way to slip past detection).
//! Every event Vigil parses in full goes through here and is refused instead.

mod scan;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value read strictly: a key given twice in an object is an error naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct Strict(pub Value);

/// Parses `text` strictly (see [`Strict`]).
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format_args!(
                    "key `{k}` given twice in one object (readers disagree on which counts)"
                )));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Checks that `text` is JSON whose objects give each key once, as [`parse`] does, without
/// building the value (the daemon checks every line it accepts this way). A one-pass scan
/// decides; serde, the reference, explains a refusal (and has the last word).
pub fn validate(text: &str) -> Result<(), serde_json::Error> {
    if scan::valid(text) {
        return Ok(());
    }
    serde_json::from_str::<Valid>(text).map(|_| ())
}

/// [`validate`], and for the untimed event line `{"event":{..}}` where its object starts
/// (what [`crate::fast_json::untimed_event_start`] finds), in one pass: the daemon checks
/// every line it accepts, so it need not also skip through the object to find its end.
pub fn untimed_event(text: &str) -> Result<Option<usize>, serde_json::Error> {
    match scan::untimed_event(text) {
        Some(found) => Ok(found),
        None => {
            serde_json::from_str::<Valid>(text).map(|_| crate::fast_json::untimed_event_start(text))
        }
    }
}

/// The reference for [`validate`]: serde's reading of `text`.
fn serde_valid(text: &str) -> bool {
    serde_json::from_str::<Valid>(text).is_ok()
}

/// A value checked and dropped.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Valid, D::Error> {
        d.deserialize_any(ValidVisitor)
    }
}

/// An object key, borrowed from the text unless it had escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct K;
        impl<'de> Visitor<'de> for K {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(s.to_string().into()))
            }
        }
        d.deserialize_str(K)
    }
}

struct ValidVisitor;

impl<'de> Visitor<'de> for ValidVisitor {
    type Value = Valid;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_none<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Valid, D::Error> {
        Valid::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        let mut keys = crate::seen::Seen::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if let Some(k) = keys.repeat(k) {
                return Err(de::Error::custom(format_args!(
                    "key `{k}` given twice in one object (readers disagree on which counts)"
                )));
            }
            map.next_value::<Valid>()?;
        }
        Ok(Valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `validate` accepts and refuses exactly what `parse` does.
    #[test]
    fn validating_agrees_with_parsing() {
        for text in [
            r#"{"a":{"user":"root","user":"alice"}}"#,
            r#"[{"k":1},{"k":1,"k":2}]"#,
            r#"{"a\u0062":1,"ab":2}"#,
            r#"{"a":[1,-2,3.5,1e300,18446744073709551615],"b":null,"c":"\u00e9\n","d":{"user":"x"}}"#,
            r#"[]"#,
            r#""s""#,
            r#"{"a":1,}"#,
            r#"{"a":"\ud800"}"#,
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]",
        ] {
            assert_eq!(validate(text).is_ok(), parse(text).is_ok(), "{text}");
        }
    }

    /// The scan and serde at the edges of what serde_json takes: nesting, number range,
    /// leading zeros, surrogates, escaped keys, control characters, trailing text.
    #[test]
    fn the_scan_agrees_with_serde_at_the_edges() {
        let nested = |n: usize, open: &str, close: &str| open.repeat(n) + &close.repeat(n);
        let long = "9".repeat(400);
        let mut cases: Vec<String> = [
            "",
            " ",
            "1",
            " 1 ",
            "1 2",
            "-",
            "-0",
            "-01",
            "01",
            "0.",
            "0.1",
            ".1",
            "1e",
            "1e+",
            "1E-5",
            "1.5e308",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "1e309",
            "-1e309",
            "0e99999",
            "1e-99999",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "18446744073709551616",
            "tru",
            "true",
            "truex",
            "nul",
            "null",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{}",
            "{ }",
            "[ ]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:1}",
            "{\"a\":}",
            "{\"a\":1,\"a\":1}",
            "{\"a\":{\"a\":1},\"b\":{\"a\":2}}",
            "[{\"k\":1},{\"k\":2}]",
            r#"{"a\u0062":1,"ab":2}"#,
            r#"{"a\/":1,"a/":2}"#,
            r#"{"\u00e9":1,"é":2}"#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800\ud800\udc00""#,
            r#""\ud83d\ude00x""#,
            r#""\uD83D\uDE00""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\x""#,
            r#""\""#,
            "\"a\tb\"",
            "\"a\u{1}b\"",
            "\"a\u{7f}b\"",
            r#""\/\b\f\n\r\t\"\\""#,
            "\"é\"",
            "[\"a\",{\"b\":[null,true,false]}]",
            "{\"a\":1}x",
            "{\"a\":1}}",
            "[1]]",
            "\t\r\n[1]\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.push(long.clone());
        cases.push(format!("{long}.5"));
        cases.push(format!("{long}e2"));
        cases.push(format!("0.{long}e-400"));
        for n in [126, 127, 128, 129] {
            cases.push(nested(n, "[", "]"));
            cases.push(nested(n - 1, "[", "]").replacen("[]", "[{}]", 1));
            cases.push(nested(n - 1, "{\"a\":", "}").replacen(":}", ":1}", 1));
            cases.push(nested(n - 1, "[", "]").replacen("[]", "[1]", 1));
        }
        // Objects around the size where keys move to a set, a key repeated at each place,
        // with objects inside them that grow past it too.
        let object = |n: usize, repeat: Option<(usize, usize)>, inner: &str| {
            let mut members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{inner}")).collect();
            if let Some((at, of)) = repeat {
                members.insert(at, format!("\"k{of}\":0"));
            }
            format!("{{{}}}", members.join(","))
        };
        for n in [15, 16, 17, 18, 40] {
            let inner = object(20, None, "1");
            cases.push(object(n, None, &inner));
            for at in [0, n / 2, n] {
                for of in [0, n - 1] {
                    cases.push(object(n, Some((at, of)), "1"));
                    cases.push(object(n, None, &object(n, Some((at, of)), "1")));
                }
            }
        }
        for text in &cases {
            assert_eq!(scan::valid(text), serde_valid(text), "{text:?}");
        }
    }

    /// A line of one object with a hundred thousand keys is read in one pass, not compared
    /// key by key (which took seconds): accepted, and refused for a key repeated at its end,
    /// with serde's explanation.
    #[test]
    fn an_object_of_many_keys_is_checked_in_linear_time() {
        let members: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":1")).collect();
        let text = format!("{{\"event\":{{{}}}}}", members.join(","));
        assert!(validate(&text).is_ok());
        let repeated = format!("{},\"k99\":2}}}}", &text[..text.len() - 2]);
        let e = validate(&repeated).unwrap_err();
        assert!(e.to_string().starts_with("key `k99` given twice"), "{e}");
        assert!(parse(&repeated).is_err());
    }

    fn json_ish() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:e}")),
            "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,4})?",
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            "\"([a-c]|\\\\u[dD][89abAB][0-9a-f]{2}|\\\\u[dD][c-fC-F][0-9]{2}|\\\\u00[0-7][0-9]|\\\\[nt\\\\/bfrx\"])*\"",
        ];
        leaf.prop_recursive(4, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-c]|a\\\\u0062|b", inner), 0..5).prop_map(|v| {
                    let members: Vec<String> =
                        v.iter().map(|(k, x)| format!("\"{k}\" : {x}")).collect();
                    format!("{{ {} }}", members.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        /// On generated values (repeated and escaped keys, surrogates, numbers of every
        /// form) and on them broken by one edit, the scan accepts exactly what serde does.
        #[test]
        fn the_scan_accepts_exactly_what_serde_accepts(
            text in json_ish(),
            edit in 0usize..4,
            at in any::<proptest::sample::Index>(),
            byte in proptest::sample::select(b"{}[]\",:\\ 0-eE.+tnu\x01\x7fD".to_vec()),
        ) {
            let mut b = text.clone().into_bytes();
            let i = at.index(b.len() + 1);
            match edit {
                0 => {}
                1 => b.insert(i, byte),
                2 if i < b.len() => { b.remove(i); }
                _ => b.truncate(i),
            }
            if let Ok(t) = String::from_utf8(b) {
                proptest::prop_assert_eq!(scan::valid(&t), serde_valid(&t), "{:?}", t);
            }
        }

        /// The untimed event line's object is found where the one-pass reader finds it, on
        /// every line serde takes; the others are refused.
        #[test]
        fn the_scan_finds_the_untimed_event_where_the_reader_does(
            x in json_ish(),
            shape in 0usize..6,
            edit in 0usize..3,
            at in any::<proptest::sample::Index>(),
            byte in proptest::sample::select(b"{}[]\",: ev".to_vec()),
        ) {
            let line = match shape {
                0 => format!("{{\"event\":{x}}}"),
                1 => format!(" {{ \"event\" : {{\"a\":{x}}} }} "),
                2 => format!("{{\"event\":{{\"a\":{x}}},\"ts\":1}}"),
                3 => format!("{{\"ev\\u0065nt\":{{\"a\":{x}}}}}"),
                4 => format!("[{{\"event\":{{\"a\":{x}}}}}]"),
                _ => format!("{{\"event\":{{\"a\":{x},\"event\":{{}}}}}}"),
            };
            let mut b = line.into_bytes();
            let i = at.index(b.len() + 1);
            match edit {
                0 => {}
                1 => b.insert(i, byte),
                _ if i < b.len() => { b.remove(i); }
                _ => {}
            }
            if let Ok(t) = String::from_utf8(b) {
                let want = serde_valid(&t).then(|| crate::fast_json::untimed_event_start(&t));
                proptest::prop_assert_eq!(untimed_event(&t).ok(), want, "{:?}", t);
            }
        }

        /// Short texts over JSON's own alphabet, where most mistakes live.
        #[test]
        fn the_scan_agrees_on_short_texts(t in "[\\[\\]{}\",:0-9eE.+\\- \\\\ntfrulsaD]{0,16}") {
            proptest::prop_assert_eq!(scan::valid(&t), serde_valid(&t), "{:?}", t);
        }
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_refused_and_the_rest_reads_as_serde_does() {
        let e = parse(r#"{"a":{"user":"root","user":"alice"}}"#).unwrap_err();
        assert!(e.to_string().starts_with("key `user` given twice"), "{e}");
        assert!(parse(r#"[{"k":1},{"k":1,"k":2}]"#).is_err());
        for text in [
            r#"{"a":[1,-2,3.5,1e300,18446744073709551615],"b":null,"c":"\u00e9\n","d":{"user":"x"}}"#,
            r#"[]"#,
            r#""s""#,
        ] {
            let serde: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text).unwrap(), serde, "{text}");
        }
    }
}
