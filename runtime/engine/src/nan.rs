//! Serde helpers for floats that may be NaN or infinite: stored as `null` / `"+Inf"` /
//! `"-Inf"` so snapshots survive JSON (which has no such numbers).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::VecDeque;

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum F {
    Num(f64),
    Text(String),
    Null,
}

fn to(v: f64) -> F {
    if v.is_nan() {
        F::Null
    } else if v.is_infinite() {
        F::Text(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        F::Num(v)
    }
}

fn from(f: F) -> f64 {
    match f {
        F::Num(v) => v,
        F::Text(t) if t == "+Inf" => f64::INFINITY,
        F::Text(t) if t == "-Inf" => f64::NEG_INFINITY,
        _ => f64::NAN,
    }
}

pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    to(*v).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(from(F::deserialize(d)?))
}

pub mod samples {
    use super::*;

    pub fn serialize<S: Serializer>(v: &VecDeque<(i64, f64)>, s: S) -> Result<S::Ok, S::Error> {
        let out: Vec<(i64, F)> = v.iter().map(|(t, x)| (*t, to(*x))).collect();
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<(i64, f64)>, D::Error> {
        let v: Vec<(i64, F)> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|(t, x)| (t, from(x))).collect())
    }
}

pub mod floats {
    use super::*;

    pub fn serialize<S: Serializer>(v: &VecDeque<f64>, s: S) -> Result<S::Ok, S::Error> {
        let out: Vec<F> = v.iter().map(|x| to(*x)).collect();
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<f64>, D::Error> {
        let v: Vec<F> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(from).collect())
    }
}
