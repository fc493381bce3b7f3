//! The built-in functions: names, arity and one-line docs (for errors, hover and the reference).

/// How a function uses its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FnKind {
    /// `f(series, window)`: one value per series over a sliding window.
    Window,
    /// `f(expr) by [..]` across series, or `f(event.x) by event.k over W` across events.
    Aggregate,
    /// Plain maths and helpers.
    Scalar,
    /// `f(series, ...)` of a whole vector: its series with their labels rewritten, or read as
    /// present.
    Vector,
}

/// A built-in function.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: FnKind,
    pub min: usize,
    pub max: usize,
    pub signature: &'static str,
    pub doc: &'static str,
}

macro_rules! builtins {
    ($($name:literal $kind:ident $min:literal..$max:literal $sig:literal $doc:literal;)*) => {
        /// Every built-in, in documentation order.
        pub const BUILTINS: &[Builtin] = &[$(Builtin {
            name: $name, kind: FnKind::$kind, min: $min, max: $max, signature: $sig, doc: $doc,
        },)*];
    };
}

builtins! {
    "avg" Window 2..3 "avg(x, w)" "mean of the samples in the window";
    "sum" Window 2..3 "sum(x, w)" "sum of the samples in the window";
    "min" Window 2..3 "min(x, w)" "smallest sample in the window (or min(a, b) of two numbers)";
    "max" Window 2..3 "max(x, w)" "largest sample in the window (or max(a, b) of two numbers)";
    "count" Window 2..3 "count(x, w)" "number of samples in the window";
    "last" Window 1..3 "last(x[, w])" "latest sample (within the lookback, default 5m)";
    "first" Window 2..3 "first(x, w)" "oldest sample in the window";
    "rate" Window 2..3 "rate(x, w)" "per-second increase of a counter, extrapolated as Prometheus does";
    "irate" Window 2..3 "irate(x, w)" "per-second increase between the last two samples";
    "increase" Window 2..3 "increase(x, w)" "increase of a counter over the window";
    "delta" Window 2..3 "delta(x, w)" "difference between last and first sample of a gauge";
    "stddev" Window 2..3 "stddev(x, w)" "population standard deviation";
    "variance" Window 2..3 "variance(x, w)" "population variance";
    "changes" Window 2..3 "changes(x, w)" "number of times the value changed";
    "absent" Window 1..2 "absent(x[, w])" "true when the series has no sample in the window";
    "slope" Window 2..3 "slope(x, w)" "least-squares slope per second";
    "deriv" Window 2..3 "deriv(x, w)" "same as slope (PromQL's name)";
    "predict" Window 3..3 "predict(x, w, ahead d)" "linear extrapolation d ahead";
    "quantile" Window 3..4 "quantile(q, x, w)" "q-quantile of the samples, interpolated at rank q(n-1)";
    "ewma" Window 2..2 "ewma(x, alpha)" "exponentially weighted moving average";
    "zscore" Window 2..3 "zscore(x, w)" "(last - mean) / stddev over the window";
    "trend" Window 2..3 "trend(x, w[, method regression|mann_kendall])" "significance-tested trend: use with `is increasing|decreasing|changing`";
    "change" Window 2..2 "change(x, w)" "relative change against the value w ago (a ratio)";
    "anomaly" Window 2..5 "anomaly(x, w, method m, season s, bands k)" "anomaly score; bare, it means above the method's bound";
    "holt_winters" Window 2..2 "holt_winters(x, period)" "Holt-Winters forecast band, for outside()";
    "outside" Window 2..2 "outside(x, forecast f)" "true when x leaves the forecast band";
    "histogram_quantile" Window 2..3 "histogram_quantile(q, x, w)" "quantile from the x_bucket family, Prometheus interpolation (or of any series with `le`: histogram_quantile(q, buckets))";
    "histogram_fraction" Window 3..3 "histogram_fraction(le v, x, w)" "fraction of observations at or below v";
    "distinct" Aggregate 1..1 "distinct(event.f) by k over w" "number of distinct values (Sigma value_count)";
    "share" Aggregate 1..1 "share(event.f) by k over w" "how rare this value is in its group (0..1)";
    "first_seen" Aggregate 0..0 "first_seen() by k over w" "true for an event whose key had no event in the window before it (Elastic's new_terms)";
    "count_distinct" Aggregate 1..1 "count_distinct(x) by [l]" "number of distinct values across series";
    "topk" Aggregate 2..2 "topk(k, x) by [l]" "the k largest series of each group, with their own labels";
    "bottomk" Aggregate 2..2 "bottomk(k, x) by [l]" "the k smallest series of each group, with their own labels";
    "group" Aggregate 1..1 "group(x) by [l]" "1 for each group that has a series";
    "label_replace" Vector 5..5 "label_replace(x, dst, replacement, src, regex)" "x with label dst set from src where the regex matches (PromQL's)";
    "label_join" Vector 3..64 "label_join(x, dst, sep, src...)" "x with label dst set to the src labels' values joined by sep";
    "present" Vector 1..1 "present(x)" "true for every series x has, whatever its value (PromQL's alert on a bare expression)";
    "abs" Scalar 1..1 "abs(x)" "absolute value";
    "clamp" Scalar 3..3 "clamp(x, lo, hi)" "x limited to [lo, hi]";
    "round" Scalar 1..2 "round(x[, to])" "x rounded to a multiple of to (default 1)";
    "ln" Scalar 1..1 "ln(x)" "natural logarithm";
    "log10" Scalar 1..1 "log10(x)" "decimal logarithm";
    "time" Scalar 0..0 "time()" "evaluation time, seconds since the Unix epoch";
    "score" Scalar 1..1 "score(w1 * rule1 + ...)" "weighted sum of rule states (1 when firing)";
    "at_least" Scalar 2..2 "at_least(n, [rules])" "true when at least n of the rules fire";
    "env" Scalar 1..1 "env(\"NAME\")" "a secret from the environment, looked up when the rules are loaded (never stored in compiled rules)";
    "base64offset" Scalar 1..1 "base64offset(s)" "the three base64 encodings of s at each offset (a list)";
    "utf16le" Scalar 1..1 "utf16le(s)" "s encoded as UTF-16LE (a list of one string)";
    "windash" Scalar 1..1 "windash(s)" "s with each leading - also written /, en dash, em dash (a list)";
}

/// Cross-series aggregate names (`sum(x) by [..]`); window functions of the same name take two
/// arguments.
pub const SERIES_AGGREGATES: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "variance",
    "quantile",
    "count_distinct",
    "topk",
    "bottomk",
    "group",
];

/// Event aggregate names (`count() by event.k over w`).
pub const EVENT_AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "distinct",
    "share",
    "first_seen",
];

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
