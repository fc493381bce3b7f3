//! JSON values whose objects give each key once. `serde_json::Value` keeps the last of a
//! repeated key; other readers keep the first, so `{"user":"root","user":"alice"}` means
//! different things to Vigil and to the tools around it (a known way to slip past detection).
//! Every event Vigil parses in full goes through here and is refused instead.

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
/// building the value (the daemon checks every line it accepts this way).
pub fn validate(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<Valid>(text).map(|_| ())
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
        let mut keys: Vec<Key<'de>> = Vec::new();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            if keys.iter().any(|have| have.0 == k.0) {
                return Err(de::Error::custom(format_args!(
                    "key `{}` given twice in one object (readers disagree on which counts)",
                    k.0
                )));
            }
            keys.push(k);
            map.next_value::<Valid>()?;
        }
        Ok(Valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
