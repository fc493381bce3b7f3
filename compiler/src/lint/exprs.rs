//! Expression lints: matchers (V1020, V1021), units and counters in comparisons (V1014-V1017,
//! V1026), windows too short for the interval (V1019) or too long to keep (V1031).

use crate::diag::{Code, Diagnostic};
use crate::retention::{Keep, MAX_BUCKETS, MAX_SERIES_SAMPLES};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind, MatchOp, Matcher};
use crate::typeck::Checker;
use crate::typeck::types::{Konst, Shape, Ty, Unit, Val};

/// V1020: `=~` without regex syntax; V1021: anchors in an always-anchored matcher.
pub fn regex_matcher(ck: &mut Checker, m: &Matcher) {
    let v = &m.value.value;
    if v.starts_with('^') || v.ends_with('$') {
        ck.diags.push(
            Diagnostic::new(
                Code::RegexAnchored,
                m.value.span,
                "label matcher regexes are always anchored",
            )
            .label("redundant anchor"),
        );
    } else if !v.chars().any(|c| ".*+?()[]{}|\\^$".contains(c)) {
        let op = if m.op == MatchOp::Re { "=" } else { "!=" };
        ck.diags.push(
            Diagnostic::new(
                Code::RegexWithoutMeta,
                m.value.span,
                format!("this regex matches only the string \"{v}\""),
            )
            .label("no regex syntax")
            .help(format!("write `{}{op}\"{v}\"`", m.label.name)),
        );
    }
}

/// Lints on a comparison's operands.
pub fn comparison(ck: &mut Checker, op: BinOp, l: &Val, r: &Val, lhs: &Expr, rhs: &Expr) {
    for (side, other, e) in [(l, r, rhs), (r, l, lhs)] {
        if let ExprKind::Percent(p) = &e.kind
            && *p > 100.0
        {
            ck.diags.push(
                Diagnostic::new(
                    Code::PercentAbove100,
                    e.span,
                    format!("{p}% is more than everything"),
                )
                .label("above 100%"),
            );
        }
        // A series of unknown unit against a unit-bearing constant.
        let series_unknown =
            matches!(side.ty, Ty::Num(Unit::Unknown)) && matches!(side.shape, Shape::Series(_));
        if series_unknown
            && matches!(
                other.ty,
                Ty::Num(Unit::Percent | Unit::Duration | Unit::Bytes)
            )
            && other.konst.is_some()
        {
            let metric = first_metric(if std::ptr::eq(side, l) { lhs } else { rhs })
                .unwrap_or_else(|| "NAME".into());
            ck.diags.push(
                Diagnostic::new(
                    Code::UnknownMetricUnit,
                    e.span,
                    format!("`{metric}` has no known unit, compared with a {}", other.ty),
                )
                .label("unit assumed")
                .help(format!(
                    "declare it: `metric {metric}: {}`",
                    suggest_unit(&other.ty)
                )),
            );
        }
    }
    // V1017: a raw counter compared with a threshold.
    for (v, e) in [(l, lhs), (r, rhs)] {
        if let ExprKind::Ref { name, .. } = &e.kind
            && name.ends_with("_total")
            && matches!(v.shape, Shape::Series(_))
        {
            ck.diags.push(
                Diagnostic::new(
                    Code::CounterWithoutRate,
                    e.span,
                    format!("`{name}` is a counter compared by its raw value"),
                )
                .label("counter")
                .help(format!(
                    "wrap it: `rate({name}, 5m)` or `increase({name}, 1h)`"
                )),
            );
        }
    }
    // V1026: exact equality against a fractional number.
    if matches!(op, BinOp::Eq | BinOp::Ne) {
        for (series, k, e) in [(l, r, rhs), (r, l, lhs)] {
            if let (Shape::Series(_), Some(Konst::Num(n))) = (&series.shape, &k.konst)
                && n.fract() != 0.0
                && matches!(series.ty, Ty::Num(_))
            {
                ck.diags.push(
                    Diagnostic::new(
                        Code::FloatEquality,
                        e.span,
                        format!("samples rarely equal {n} exactly"),
                    )
                    .label("exact float comparison"),
                );
            }
        }
    }
}

/// V1019: `rate(x, w)` with `w` under two evaluation intervals.
pub fn short_window(ck: &mut Checker, func: &str, secs: f64, interval: f64, span: Span) {
    if secs < 2.0 * interval {
        ck.diags.push(
            Diagnostic::new(
                Code::WindowTooShort,
                span,
                format!(
                    "`{func}` over {secs}s sees fewer than two samples at a {interval}s interval"
                ),
            )
            .label("window too short")
            .help(format!("use at least {}s", 2.0 * interval)),
        );
    }
}

/// V1031: a window the engine cannot keep whole: raw samples past the cap (at one per
/// evaluation interval) for a function that needs them, or more buckets than a series keeps.
pub fn long_window(
    ck: &mut Checker,
    func: &str,
    (secs, interval): (f64, f64),
    keep: Keep,
    span: Span,
) {
    // An interval under 1s is an error of its own (V0238).
    if interval < 1.0 {
        return;
    }
    let (message, label) = match keep {
        Keep::Buckets { .. } => return,
        Keep::Raw => {
            let cap = MAX_SERIES_SAMPLES as f64;
            let needed = (secs / interval).ceil();
            if needed <= cap {
                return;
            }
            (
                format!(
                    "`{func}` needs every raw sample of this window: {needed:.0} at one per {interval}s; a series keeps {cap:.0}"
                ),
                format!("sees only the newest {}", whole_units(cap * interval)),
            )
        }
        Keep::TooManyBuckets { width, count } => (
            format!(
                "this window needs {count} buckets of {}ms to be exact at every evaluation; a series keeps {MAX_BUCKETS}",
                width
            ),
            format!("sees only the newest {} raw samples", MAX_SERIES_SAMPLES),
        ),
    };
    ck.diags
        .push(Diagnostic::new(Code::WindowBeyondSampleCap, span, message).label(label));
}

/// Seconds rounded down to their largest unit (`11d`, `90s`), for messages.
fn whole_units(secs: f64) -> String {
    for (unit, n) in [("d", 86_400.0), ("h", 3_600.0), ("m", 60.0)] {
        if secs >= n {
            return format!("{:.0}{unit}", (secs / n).floor());
        }
    }
    format!("{secs:.0}s")
}

/// V1016: `rate` on something that is not a counter.
pub fn rate_on_gauge(ck: &mut Checker, func: &str, series: &Expr) {
    if let ExprKind::Ref { name, .. } = &series.kind {
        let counter = name.ends_with("_total")
            || name.ends_with("_count")
            || name.ends_with("_sum")
            || name.ends_with("_bucket");
        if !counter && !name.contains(':') {
            ck.diags.push(
                Diagnostic::new(
                    Code::RateOnNonCounter,
                    series.span,
                    format!("`{func}` on `{name}`, which is not a counter"),
                )
                .label("not a counter"),
            );
        }
    }
}

fn first_metric(e: &Expr) -> Option<String> {
    let mut found = None;
    e.walk(&mut |x| {
        if let (None, ExprKind::Ref { name, .. }) = (&found, &x.kind) {
            found = Some(name.clone());
        }
    });
    found
}

fn suggest_unit(t: &Ty) -> &'static str {
    match t {
        Ty::Num(Unit::Percent) => "percent",
        Ty::Num(Unit::Duration) => "duration(ms)",
        Ty::Num(Unit::Bytes) => "bytes",
        _ => "number",
    }
}
