//! Types with units and statically inferred label sets.

use std::collections::BTreeSet;
use std::fmt;

/// The unit of a number. `Unknown` is a metric whose unit neither its name nor a `metric`
/// declaration gives; it is compatible with everything, and a lint asks for a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Number,
    Percent,
    Ratio,
    Duration,
    Bytes,
    Unknown,
}

impl Unit {
    pub fn word(self) -> &'static str {
        match self {
            Unit::Number => "number",
            Unit::Percent => "percentage",
            Unit::Ratio => "ratio",
            Unit::Duration => "duration",
            Unit::Bytes => "byte size",
            Unit::Unknown => "number of unknown unit",
        }
    }
    /// Percent and ratio are one dimension (`80%` is 0.8 against a ratio).
    fn dimension(self) -> Option<u8> {
        match self {
            Unit::Percent | Unit::Ratio => Some(1),
            Unit::Duration => Some(2),
            Unit::Bytes => Some(3),
            Unit::Number | Unit::Unknown => None,
        }
    }
    /// Whether two quantities may be compared or added.
    pub fn compatible(self, other: Unit) -> bool {
        match (self.dimension(), other.dimension()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
    /// The unit of a sum or comparison operand pair: the more specific one.
    pub fn join(self, other: Unit) -> Unit {
        match (self, other) {
            (Unit::Number | Unit::Unknown, u) | (u, Unit::Number | Unit::Unknown)
                if u != Unit::Unknown =>
            {
                u
            }
            (a, _) => a,
        }
    }
    /// The part of a metric's name that says its unit: after the last `:` (recording-rule
    /// names), without `_bucket`/`_sum` and `_total` (`http_latency_ms_sum` is `http_latency_ms`).
    pub fn unit_stem(name: &str) -> &str {
        let n = name.rsplit(':').next().unwrap_or(name);
        let n = n
            .strip_suffix("_bucket")
            .or_else(|| n.strip_suffix("_sum"))
            .unwrap_or(n);
        n.strip_suffix("_total").unwrap_or(n)
    }
    /// The unit a metric's name implies, as Prometheus names them.
    pub fn from_metric_name(name: &str) -> Option<Unit> {
        let n = Unit::unit_stem(name);
        Some(
            if n.ends_with("_seconds")
                || n.ends_with("_ms")
                || n.ends_with("_milliseconds")
                || n.ends_with("_timestamp")
            {
                Unit::Duration
            } else if n.ends_with("_bytes") {
                Unit::Bytes
            } else if n.ends_with("_ratio") {
                Unit::Ratio
            } else if n.ends_with("_percent") || n.ends_with("_pct") {
                Unit::Percent
            } else if name.ends_with("_total") || n.ends_with("_count") || name == "up" {
                Unit::Number
            } else {
                return None;
            },
        )
    }
}

/// The labels a series expression is known to carry. `open` means more labels may exist that
/// the checker cannot see (a raw selector without a declared label list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels {
    pub known: BTreeSet<String>,
    pub open: bool,
}

impl Labels {
    pub fn open(known: impl IntoIterator<Item = String>) -> Labels {
        Labels {
            known: known.into_iter().collect(),
            open: true,
        }
    }
    pub fn closed(known: impl IntoIterator<Item = String>) -> Labels {
        Labels {
            known: known.into_iter().collect(),
            open: false,
        }
    }
    /// Whether a label may be present.
    pub fn may_have(&self, l: &str) -> bool {
        self.open || self.known.contains(l)
    }
    pub fn union(&self, other: &Labels) -> Labels {
        Labels {
            known: self.known.union(&other.known).cloned().collect(),
            open: self.open || other.open,
        }
    }
}

/// The kind of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Bool,
    Num(Unit),
    Str,
    Regex,
    Ip,
    Cidr,
    List(Box<Ty>),
    /// An event field without a declared schema: checked at run time (mismatch is false).
    Dynamic,
    /// An object (the whole event, or an element of an array of objects).
    Object,
    /// `trend(x, w)`: only usable with `is increasing|decreasing|changing`.
    Trend,
    /// `holt_winters(x, period)`: only usable in `outside(x, forecast ...)`.
    Forecast,
    /// Something already reported; suppresses cascades.
    Error,
}

impl Ty {
    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::Num(_) | Ty::Dynamic | Ty::Error)
    }
    pub fn is_boolish(&self) -> bool {
        matches!(self, Ty::Bool | Ty::Dynamic | Ty::Error)
    }
    pub fn is_stringish(&self) -> bool {
        matches!(self, Ty::Str | Ty::Dynamic | Ty::Error)
    }
    pub fn unit(&self) -> Unit {
        match self {
            Ty::Num(u) => *u,
            _ => Unit::Number,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Bool => write!(f, "bool"),
            Ty::Num(u) => write!(f, "{}", u.word()),
            Ty::Str => write!(f, "string"),
            Ty::Regex => write!(f, "regex"),
            Ty::Ip => write!(f, "ip"),
            Ty::Cidr => write!(f, "cidr"),
            Ty::List(t) => write!(f, "list of {t}"),
            Ty::Dynamic => write!(f, "event field"),
            Ty::Object => write!(f, "object"),
            Ty::Trend => write!(f, "trend"),
            Ty::Forecast => write!(f, "forecast"),
            Ty::Error => write!(f, "error"),
        }
    }
}

/// How a value varies: a constant, one value per series, or one value per event.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Scalar,
    Series(Labels),
    Event,
}

/// A checked expression's type, shape, and facts the lints use.
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub ty: Ty,
    pub shape: Shape,
    /// Constant-folded value, when the expression depends on no data.
    pub konst: Option<Konst>,
    /// An anomaly score: usable bare as a condition ("above the method's bound").
    pub score: bool,
    /// Names of rules whose states this expression reads (composite conditions).
    pub reads_rules: bool,
    /// A stored series (a selector or a recorded series): what window functions can read.
    pub stored: bool,
}

/// A folded constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Konst {
    Num(f64),
    Bool(bool),
    Str(String),
}

impl Val {
    pub fn scalar(ty: Ty) -> Val {
        Val {
            ty,
            shape: Shape::Scalar,
            konst: None,
            score: false,
            reads_rules: false,
            stored: false,
        }
    }
    pub fn konst(ty: Ty, k: Konst) -> Val {
        Val {
            konst: Some(k),
            ..Val::scalar(ty)
        }
    }
    pub fn error() -> Val {
        Val::scalar(Ty::Error)
    }
    pub fn with_shape(mut self, shape: Shape) -> Val {
        self.shape = shape;
        self
    }
    pub fn labels(&self) -> Option<&Labels> {
        match &self.shape {
            Shape::Series(l) => Some(l),
            _ => None,
        }
    }
    pub fn labels_mut(&mut self) -> Option<&mut Labels> {
        match &mut self.shape {
            Shape::Series(l) => Some(l),
            _ => None,
        }
    }
}
