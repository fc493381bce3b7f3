//! PromQL (parsed by `promql-parser`) to Vigil's series algebra.
//!
//! The mapping is one to one where Vigil has the construct: selectors, `offset` (`ago`),
//! `rate(x[5m])` (`rate(x, 5m)`), `*_over_time`, aggregations `by`/`without`, arithmetic,
//! comparisons, `and`/`or`/`unless` with `on`/`ignoring` and `group_left`/`group_right`,
//! `histogram_quantile` over summed bucket rates, `predict_linear`, `absent`. Anything else is
//! an error naming the construct, so the rule is kept untranslated rather than approximated.

use crate::text;
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{
    self, AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset,
    VectorMatchCardinality, VectorSelector,
};

/// Vigil text for a PromQL expression.
pub fn translate(src: &str) -> Result<String, String> {
    let expr = parser::parse(src).map_err(|e| format!("PromQL does not parse: {e}"))?;
    Ok(Tr.expr(&expr)?.text)
}

/// An alerting rule's condition: as [`translate`], except that a constant (`1`, `vector(1)`),
/// which Prometheus fires for always (a dead man's switch such as `Watchdog`), is `true`, and
/// an expression that is not a condition (`count(a) unless count(b)`, `min(x == 0)`), which
/// fires for every series it yields, is `present(..)`.
pub fn condition(src: &str) -> Result<String, String> {
    let expr = parser::parse(src).map_err(|e| format!("PromQL does not parse: {e}"))?;
    let mut e = &expr;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    let constant = match e {
        Expr::NumberLiteral(_) => true,
        Expr::Call(c) if c.func.name == "vector" => {
            c.args.args.first().is_some_and(|a| fold(a).is_some())
        }
        _ => false,
    };
    if constant {
        return Ok("true".into());
    }
    let text = Tr.expr(&expr)?.text;
    Ok(if is_condition(e) {
        text
    } else {
        format!("present({text})")
    })
}

/// A comparison, or a set operator between conditions: what Vigil reads as a condition with
/// PromQL's meaning. Anything else is a series of values.
fn is_condition(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => is_condition(&p.expr),
        Expr::Binary(b) if b.op.is_comparison_operator() => true,
        Expr::Binary(b) if b.op.is_set_operator() => is_condition(&b.lhs) && is_condition(&b.rhs),
        Expr::Call(c) => matches!(c.func.name, "absent" | "absent_over_time"),
        _ => false,
    }
}

/// A translated operand and whether it needs brackets inside an operator.
struct Out {
    text: String,
    /// A binary operation: bracketed wherever it is an operand.
    compound: bool,
}

impl Out {
    fn atom(text: String) -> Out {
        Out {
            text,
            compound: false,
        }
    }
    fn operand(self) -> String {
        if self.compound {
            format!("({})", self.text)
        } else {
            self.text
        }
    }
}

#[derive(Default)]
struct Tr;

type R<T> = Result<T, String>;

impl Tr {
    fn expr(&self, e: &Expr) -> R<Out> {
        match e {
            Expr::NumberLiteral(n) => number(n.val).map(Out::atom),
            Expr::StringLiteral(_) => Err("a string value".into()),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Unary(u) => Ok(Out::atom(format!("-{}", self.expr(&u.expr)?.operand()))),
            Expr::VectorSelector(vs) => self.instant(vs),
            Expr::MatrixSelector(_) => Err("a range vector outside a function".into()),
            Expr::Subquery(_) => Err("a subquery (Vigil runs none: write a record)".into()),
            Expr::Call(c) => self.call(c),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
            Expr::Extension(_) => Err("a parser extension".into()),
        }
    }

    /// `m{..}`, or `last(m{..}, ago d)` with an offset.
    fn instant(&self, vs: &VectorSelector) -> R<Out> {
        let sel = selector(vs)?;
        Ok(Out::atom(match offset(vs)? {
            Some(ago) => format!("last({sel}, ago {ago})"),
            None => sel,
        }))
    }

    fn call(&self, c: &Call) -> R<Out> {
        let name = c.func.name;
        let args = &c.args.args;
        let window = |i: usize, vigil: &str| -> R<Out> {
            let (sel, range, ago) = range_arg(args.get(i).map(|b| b.as_ref()), name)?;
            Ok(Out::atom(match ago {
                Some(ago) => format!("{vigil}({sel}, {range}, ago {ago})"),
                None => format!("{vigil}({sel}, {range})"),
            }))
        };
        match name {
            "rate" | "irate" | "increase" | "delta" | "changes" | "deriv" => window(0, name),
            "avg_over_time" | "sum_over_time" | "min_over_time" | "max_over_time"
            | "count_over_time" | "last_over_time" | "stddev_over_time" => {
                window(0, name.trim_end_matches("_over_time"))
            }
            "stdvar_over_time" => window(0, "variance"),
            "absent_over_time" => window(0, "absent"),
            "quantile_over_time" => {
                let q = self.constant(args.first().map(|b| b.as_ref()), name)?;
                let (sel, range, ago) = range_arg(args.get(1).map(|b| b.as_ref()), name)?;
                let ago = ago.map(|a| format!(", ago {a}")).unwrap_or_default();
                Ok(Out::atom(format!("quantile({q}, {sel}, {range}{ago})")))
            }
            "predict_linear" => {
                let (sel, range, ago) = range_arg(args.first().map(|b| b.as_ref()), name)?;
                let secs = self.seconds(args.get(1).map(|b| b.as_ref()), name)?;
                let ago = ago.map(|a| format!(", ago {a}")).unwrap_or_default();
                Ok(Out::atom(format!(
                    "predict({sel}, {range}, ahead {}{ago})",
                    text::duration_ms((secs * 1000.0) as u128)
                )))
            }
            "absent" => match args.first().map(|b| b.as_ref()) {
                Some(Expr::VectorSelector(vs)) if vs.offset.is_none() => {
                    Ok(Out::atom(format!("absent({})", selector(vs)?)))
                }
                Some(e) => Ok(Out::atom(format!("absent({})", self.expr(e)?.text))),
                None => Err("`absent` without its argument".into()),
            },
            "histogram_quantile" => self.histogram_quantile(args),
            "abs" | "ln" | "log10" => {
                let x = self.expr(arg(args, 0, name)?)?;
                Ok(Out::atom(format!("{name}({})", x.text)))
            }
            "round" => {
                let x = self.expr(arg(args, 0, name)?)?;
                match args.get(1) {
                    Some(to) => {
                        let to = self.constant(Some(to), name)?;
                        Ok(Out::atom(format!("round({}, {to})", x.text)))
                    }
                    None => Ok(Out::atom(format!("round({})", x.text))),
                }
            }
            "clamp" => {
                let x = self.expr(arg(args, 0, name)?)?;
                let lo = self.constant(args.get(1).map(|b| b.as_ref()), name)?;
                let hi = self.constant(args.get(2).map(|b| b.as_ref()), name)?;
                Ok(Out::atom(format!("clamp({}, {lo}, {hi})", x.text)))
            }
            "time" => Ok(Out::atom("time()".into())),
            // Ordering does not change which series an alert or a record has.
            "sort" | "sort_desc" => self.expr(arg(args, 0, name)?),
            "label_replace" | "label_join" => {
                let x = self.expr(arg(args, 0, name)?)?;
                let mut out = vec![x.text];
                for a in &args[1..] {
                    match a.as_ref() {
                        Expr::StringLiteral(s) => out.push(text::string(&s.val)),
                        _ => return Err(format!("`{name}` with a computed argument")),
                    }
                }
                Ok(Out::atom(format!("{name}({})", out.join(", "))))
            }
            _ => Err(format!("the function `{name}`")),
        }
    }

    /// `histogram_quantile(q, sum by (le, ..) (rate(x_bucket[w])))` as
    /// `histogram_quantile(q, x, w) by [..]` (Vigil sums the bucket rates per group itself);
    /// over anything else with `le`, PromQL's form `histogram_quantile(q, buckets)`.
    fn histogram_quantile(&self, args: &[Box<Expr>]) -> R<Out> {
        let q = self.constant(args.first().map(|b| b.as_ref()), "histogram_quantile")?;
        let inner = arg(args, 1, "histogram_quantile")?;
        match self.bucket_rates(&q, inner) {
            Ok(out) => Ok(out),
            Err(_) => Ok(Out::atom(format!(
                "histogram_quantile({q}, {})",
                self.expr(inner)?.text
            ))),
        }
    }

    /// `histogram_quantile(q, x, w) by [..]` when `inner` sums the rates of `x_bucket`.
    fn bucket_rates(&self, q: &str, mut inner: &Expr) -> R<Out> {
        while let Expr::Paren(p) = inner {
            inner = &p.expr;
        }
        let (rate, group) = match inner {
            Expr::Aggregate(a) if a.op.to_string() == "sum" => {
                let mut e = a.expr.as_ref();
                while let Expr::Paren(p) = e {
                    e = &p.expr;
                }
                let group = match &a.modifier {
                    Some(LabelModifier::Include(ls)) => {
                        if !ls.labels.iter().any(|l| l == "le") {
                            return Err("`histogram_quantile` over a sum without `le`".into());
                        }
                        let keep: Vec<&str> = ls
                            .labels
                            .iter()
                            .map(String::as_str)
                            .filter(|l| *l != "le")
                            .collect();
                        format!(" by [{}]", keep.join(", "))
                    }
                    Some(LabelModifier::Exclude(ls)) => {
                        if ls.labels.iter().any(|l| l == "le") {
                            return Err("`histogram_quantile` over a sum without `le`".into());
                        }
                        format!(" without [{}]", ls.labels.join(", "))
                    }
                    None => return Err("`histogram_quantile` over a sum without `le`".into()),
                };
                (e, group)
            }
            e => (e, String::new()),
        };
        let Expr::Call(c) = rate else {
            return Err("`histogram_quantile` over something other than bucket rates".into());
        };
        if c.func.name != "rate" {
            return Err(format!(
                "`histogram_quantile` over `{}` of buckets (Vigil's reads their rates)",
                c.func.name
            ));
        }
        let Some(Expr::MatrixSelector(ms)) = c.args.args.first().map(|b| b.as_ref()) else {
            return Err(
                "`histogram_quantile` over a rate of something other than a selector".into(),
            );
        };
        let Some(family) = ms
            .vs
            .name
            .as_deref()
            .and_then(|n| n.strip_suffix("_bucket"))
        else {
            return Err("`histogram_quantile` over a series not named `*_bucket`".into());
        };
        let mut vs = ms.vs.clone();
        vs.name = Some(family.to_string());
        let sel = selector(&vs)?;
        let range = text::duration_ms(ms.range.as_millis());
        let ago = offset(&ms.vs)?
            .map(|a| format!(", ago {a}"))
            .unwrap_or_default();
        Ok(Out::atom(format!(
            "histogram_quantile({q}, {sel}, {range}{ago}){group}"
        )))
    }

    fn aggregate(&self, a: &AggregateExpr) -> R<Out> {
        let op = a.op.to_string();
        let vigil = match op.as_str() {
            "sum" | "avg" | "min" | "max" | "count" | "stddev" | "quantile" | "topk"
            | "bottomk" | "group" => op.as_str(),
            "stdvar" => "variance",
            _ => return Err(format!("the aggregation `{op}`")),
        };
        let inner = self.expr(&a.expr)?;
        let param = match &a.param {
            Some(p) => format!("{}, ", self.constant(Some(p), &op)?),
            None => String::new(),
        };
        let group = match &a.modifier {
            Some(LabelModifier::Include(ls)) => format!("by [{}]", ls.labels.join(", ")),
            Some(LabelModifier::Exclude(ls)) => format!("without [{}]", ls.labels.join(", ")),
            None => "by []".into(),
        };
        Ok(Out::atom(format!("{vigil}({param}{}) {group}", inner.text)))
    }

    fn binary(&self, b: &BinaryExpr) -> R<Out> {
        let op = b.op.to_string();
        let lhs = self.expr(&b.lhs)?.operand();
        // `x or vector(0)`: Vigil's value `or` reads a constant as a series without labels.
        let rhs = match (op.as_str(), constant_vector(&b.rhs)) {
            ("or", Some(v)) => number(v)?,
            _ => self.expr(&b.rhs)?.operand(),
        };
        let m = b.modifier.as_ref();
        if m.is_some_and(|m| m.return_bool) {
            return Err("a comparison with `bool` (Vigil keeps comparisons as filters)".into());
        }
        let vigil_op = match op.as_str() {
            "+" | "-" | "*" | "/" | "==" | "!=" | ">" | "<" | ">=" | "<=" | "and" | "or" => {
                op.clone()
            }
            "unless" => "and not".into(),
            other => return Err(format!("the operator `{other}`")),
        };
        let mut matching = String::new();
        if let Some(m) = m {
            match &m.matching {
                Some(LabelModifier::Include(ls)) => {
                    matching = format!(" on [{}]", ls.labels.join(", "))
                }
                Some(LabelModifier::Exclude(ls)) if !ls.labels.is_empty() => {
                    matching = format!(" ignoring [{}]", ls.labels.join(", "))
                }
                _ => {}
            }
            match &m.card {
                VectorMatchCardinality::ManyToOne(ls) | VectorMatchCardinality::OneToMany(ls) => {
                    let side = if matches!(m.card, VectorMatchCardinality::ManyToOne(_)) {
                        "group_left"
                    } else {
                        "group_right"
                    };
                    if matching.is_empty() {
                        matching = " ignoring []".into();
                    }
                    matching.push_str(&format!(" {side}"));
                    if !ls.labels.is_empty() {
                        matching.push_str(&format!(" [{}]", ls.labels.join(", ")));
                    }
                }
                _ => {}
            }
        }
        Ok(Out {
            text: format!("{lhs} {vigil_op} {rhs}{matching}"),
            compound: true,
        })
    }

    /// A constant argument (a number, or arithmetic on numbers such as `24*60*60`).
    fn constant(&self, e: Option<&Expr>, func: &str) -> R<String> {
        let v = self.seconds(e, func)?;
        number(v)
    }

    fn seconds(&self, e: Option<&Expr>, func: &str) -> R<f64> {
        let e = e.ok_or_else(|| format!("`{func}` without its arguments"))?;
        fold(e).ok_or_else(|| format!("a non-constant parameter of `{func}`"))
    }
}

/// `c` of `vector(c)` (in brackets or not), for a constant `c`.
fn constant_vector(e: &Expr) -> Option<f64> {
    match e {
        Expr::Paren(p) => constant_vector(&p.expr),
        Expr::Call(c) if c.func.name == "vector" => c.args.args.first().and_then(|a| fold(a)),
        _ => None,
    }
}

/// The value of a constant expression.
fn fold(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => fold(&p.expr),
        Expr::Unary(u) => fold(&u.expr).map(|v| -v),
        Expr::Binary(b) => {
            let (l, r) = (fold(&b.lhs)?, fold(&b.rhs)?);
            match b.op.to_string().as_str() {
                "+" => Some(l + r),
                "-" => Some(l - r),
                "*" => Some(l * r),
                "/" => Some(l / r),
                "^" => Some(l.powf(r)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn number(v: f64) -> R<String> {
    text::number(v).ok_or_else(|| format!("the number {v}"))
}

fn arg<'e>(args: &'e [Box<Expr>], i: usize, func: &str) -> R<&'e Expr> {
    args.get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| format!("`{func}` without its arguments"))
}

/// A range argument `x[5m] offset 1h`: the selector, the window and the offset.
fn range_arg(e: Option<&Expr>, func: &str) -> R<(String, String, Option<String>)> {
    match e {
        Some(Expr::MatrixSelector(MatrixSelector { vs, range })) => Ok((
            selector(vs)?,
            text::duration_ms(range.as_millis()),
            offset(vs)?,
        )),
        Some(Expr::Subquery(_)) => Err(format!(
            "`{func}` over a subquery (Vigil runs none: write a record and use it)"
        )),
        _ => Err(format!("`{func}` of something other than a range selector")),
    }
}

fn offset(vs: &VectorSelector) -> R<Option<String>> {
    if vs.at.is_some() {
        return Err("the `@` modifier".into());
    }
    match &vs.offset {
        None => Ok(None),
        Some(Offset::Pos(d)) => Ok(Some(text::duration_ms(d.as_millis()))),
        Some(Offset::Neg(_)) => Err("a negative offset".into()),
    }
}

/// `name{label="v", ...}`; the metric name is required (Vigil selects by metric).
fn selector(vs: &VectorSelector) -> R<String> {
    let name = match &vs.name {
        Some(n) => n.clone(),
        None => {
            let named: Vec<&Matcher> = vs
                .matchers
                .matchers
                .iter()
                .filter(|m| m.name == "__name__")
                .collect();
            match named.as_slice() {
                [m] if matches!(m.op, MatchOp::Equal) => m.value.clone(),
                _ => return Err("a selector without a metric name".into()),
            }
        }
    };
    if name == "ALERTS_FOR_STATE" {
        // When each pending alert became active: Vigil has no such series.
        return Err(format!("`{name}`"));
    }
    let name = text::metric_name(&name).ok_or_else(|| format!("the metric name `{name}`"))?;
    if !vs.matchers.or_matchers.is_empty() {
        return Err("a selector with `or` matchers".into());
    }
    let mut parts = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            if vs.name.is_some() || !matches!(m.op, MatchOp::Equal) {
                return Err("a matcher on `__name__`".into());
            }
            continue;
        }
        let op = match m.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Re(_) => "=~",
            MatchOp::NotRe(_) => "!~",
        };
        parts.push(format!("{}{op}{}", m.name, text::string(&m.value)));
    }
    Ok(if parts.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", parts.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[track_caller]
    fn ok(promql: &str, vigil: &str) {
        assert_eq!(translate(promql).as_deref(), Ok(vigil), "{promql}");
    }

    #[test]
    fn the_common_forms_map_one_to_one() {
        ok(r#"up{job="api"} == 0"#, r#"up{job="api"} == 0"#);
        ok(
            "sum by (job) (rate(errors_total[5m])) / sum by (job) (rate(requests_total[5m])) > 0.05",
            "(sum(rate(errors_total, 5m)) by [job] / sum(rate(requests_total, 5m)) by [job]) > 0.05",
        );
        ok(
            "max_over_time(x[5m] offset 1h) > 0",
            "max(x, 5m, ago 1h) > 0",
        );
        ok(
            "a == 1 and on (cluster, node) b == 0",
            "(a == 1) and (b == 0) on [cluster, node]",
        );
        ok("a unless b", "a and not b");
        // Set operators and comparisons keep PromQL's meaning on values; `or vector(c)` is a
        // value `or` with a constant.
        ok(
            "sum(rate(e[5m])) or vector(0)",
            "sum(rate(e, 5m)) by [] or 0",
        );
        ok(
            "x - (y > 0) unless on(a) z",
            "(x - (y > 0)) and not z on [a]",
        );
        // A name a bare Vigil word cannot spell is backquoted.
        ok(
            r#"count(node_namespace_pod:kube_pod_info:{node="n"}) + :mem:sum"#,
            r#"count(`node_namespace_pod:kube_pod_info:`{node="n"}) by [] + `:mem:sum`"#,
        );
        ok(
            "a * on (ns) group_left (node) b",
            "a * b on [ns] group_left [node]",
        );
        ok(
            "predict_linear(free[6h], 4 * 60 * 60) < 0",
            "predict(free, 6h, ahead 4h) < 0",
        );
        ok(
            "histogram_quantile(0.99, sum by (le, svc) (rate(lat_seconds_bucket[5m]))) > 1",
            "histogram_quantile(0.99, lat_seconds, 5m) by [svc] > 1",
        );
        ok("sum(x)", "sum(x) by []");
        ok("topk by (ns) (1, x)", "topk(1, x) by [ns]");
        ok(
            r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
            r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
        );
        ok("stdvar without (i) (x)", "variance(x) without [i]");
        ok(r#"absent(up{job="a"})"#, r#"absent(up{job="a"})"#);
        assert_eq!(super::condition("vector(1)").as_deref(), Ok("true"));
        assert_eq!(super::condition("(1)").as_deref(), Ok("true"));
    }

    #[test]
    fn what_vigil_cannot_say_is_refused_with_the_reason() {
        for (q, why) in [
            ("rate(x[5m:1m])", "subquery"),
            ("count_values(\"v\", x)", "count_values"),
            ("x > bool 1", "bool"),
            ("vector(1) + x", "vector"),
            ("x % 2", "%"),
            ("{job=\"a\"}", "metric name"),
        ] {
            let err = translate(q).unwrap_err();
            assert!(err.contains(why), "{q}: {err}");
        }
    }
}
