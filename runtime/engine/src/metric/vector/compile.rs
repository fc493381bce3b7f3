//! Compiling series plans into vector expressions: selectors registered in the store (with
//! how far back they reach), label names interned, sliding accumulators shared per window.

use super::{LabelSel, VExpr};
use crate::labels::{Labels, Sym};
use crate::metric::rollup::{Cols, RollupSpec};
use crate::metric::store::Store;
use crate::time::ms;
use std::collections::HashMap;
use vigil_compiler::ir::series::*;

/// What compiling a plan needs from the engine.
pub struct Compile<'a> {
    pub store: &'a mut Store,
    pub labels: &'a mut Labels,
    pub rule: &'a str,
    pub rule_index: &'a HashMap<String, usize>,
    pub lateness_s: f64,
    /// Sliding accumulators so far: one per (selector, range, offset), shared by the
    /// functions over that window.
    pub accs: &'a mut Vec<AccSpec>,
    /// Windows over buckets so far, the same way.
    pub spans: &'a mut Vec<AccSpec>,
    /// How often the plan is evaluated, ms (the gcd over the rules reading it): the grid of
    /// long windows' buckets.
    pub interval: i64,
    /// The rule set's calendars, for seasonal baselines (`season xnys`).
    pub calendars: &'a std::collections::BTreeMap<String, vigil_vocab::calendar::Calendar>,
    /// Set when a plan reads `ALERTS{..}` (the engine then keeps the alerts as series).
    pub reads_alerts: bool,
}

/// The window an accumulator slides over, and the functions it serves.
#[derive(Debug, Clone)]
pub struct AccSpec {
    /// The selector's text: rules that select alike share one accumulator per series (their
    /// selectors accept the same series in the same order, so positions line up).
    pub selector: String,
    pub range: i64,
    pub offset: i64,
    pub funcs: Vec<WindowFn>,
}

/// The accumulator (or span) list entry for a window, shared by the functions over it.
fn share(
    list: &mut Vec<AccSpec>,
    func: WindowFn,
    (selector, range, offset): (&str, i64, i64),
) -> usize {
    let found = list
        .iter()
        .position(|a| (a.selector.as_str(), a.range, a.offset) == (selector, range, offset));
    let i = found.unwrap_or_else(|| {
        list.push(AccSpec {
            selector: selector.to_string(),
            range,
            offset,
            funcs: Vec::new(),
        });
        list.len() - 1
    });
    if !list[i].funcs.contains(&func) {
        list[i].funcs.push(func);
    }
    i
}

impl Compile<'_> {
    fn sel(&mut self, s: &Selector, reach: f64) -> Result<usize, String> {
        self.store
            .selector(self.labels, s, reach + self.lateness_s, self.rule)
            .map_err(|e| format!("selector `{}`: {e}", s.metric))
    }
    fn grouping(&mut self, g: &Grouping) -> LabelSel {
        match g {
            Grouping::By(v) => LabelSel::grouping(true, self.names(v)),
            Grouping::Without(v) => LabelSel::grouping(false, self.names(v)),
        }
    }
    fn names(&mut self, v: &[String]) -> Vec<Sym> {
        v.iter().map(|n| self.labels.sym(n)).collect()
    }
    fn rule(&self, r: &str) -> Result<usize, String> {
        self.rule_index
            .get(r)
            .copied()
            .ok_or_else(|| format!("rule `{r}` is not evaluated over series"))
    }

    /// Both operands of a binary operation, and its matching.
    #[allow(clippy::type_complexity)]
    fn pair(
        &mut self,
        lhs: &SeriesExpr,
        rhs: &SeriesExpr,
        matching: Option<&LabelMatch>,
    ) -> Result<(Box<VExpr>, Box<VExpr>, Option<LabelSel>), String> {
        Ok((
            Box::new(self.expr(lhs)?),
            Box::new(self.expr(rhs)?),
            matching.map(|m| LabelSel::matching(m, self.labels)),
        ))
    }

    pub fn expr(&mut self, e: &SeriesExpr) -> Result<VExpr, String> {
        let reach = e.reach();
        Ok(match e {
            SeriesExpr::Instant { sel, offset } => VExpr::Instant {
                sel: self.sel(sel, reach)?,
                offset: ms(*offset),
            },
            SeriesExpr::Window {
                func,
                sel,
                range,
                offset,
                arg,
            } => self.window(*func, sel, (*range, *offset), *arg, reach)?,
            SeriesExpr::Aggregate {
                op,
                param,
                inner,
                group,
            } => {
                let group = self.grouping(group);
                VExpr::Agg {
                    op: *op,
                    param: *param,
                    inner: Box::new(self.expr(inner)?),
                    group,
                }
            }
            SeriesExpr::Filter { inner, op, value } => VExpr::Filter {
                inner: Box::new(self.expr(inner)?),
                op: *op,
                value: *value,
            },
            SeriesExpr::Arith {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let (lhs, rhs, matching) = self.pair(lhs, rhs, matching.as_ref())?;
                VExpr::Arith {
                    op: *op,
                    lhs,
                    rhs,
                    matching,
                }
            }
            SeriesExpr::Compare {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let (lhs, rhs, matching) = self.pair(lhs, rhs, matching.as_ref())?;
                VExpr::Compare {
                    op: *op,
                    lhs,
                    rhs,
                    matching,
                }
            }
            SeriesExpr::Set {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let (lhs, rhs, matching) = self.pair(lhs, rhs, matching.as_ref())?;
                VExpr::Set {
                    op: *op,
                    lhs,
                    rhs,
                    matching,
                }
            }
            SeriesExpr::Present(inner) => VExpr::Present(Box::new(self.expr(inner)?)),
            SeriesExpr::Alerts(sel) => {
                self.reads_alerts = true;
                VExpr::Alerts(self.sel(sel, 0.0)?)
            }
            SeriesExpr::AbsentOf(inner) => {
                VExpr::AbsentOf(Box::new(self.expr(inner)?), self.labels.intern(Vec::new()))
            }
            SeriesExpr::BucketQuantile { q, inner } => VExpr::BucketQuantile {
                q: *q,
                inner: Box::new(self.expr(inner)?),
                le: self.labels.sym("le"),
            },
            SeriesExpr::Scalar(v) => VExpr::Scalar(*v),
            SeriesExpr::Histogram { .. } => self.histogram(e, reach)?,
            SeriesExpr::Trend { .. } | SeriesExpr::Anomaly { .. } | SeriesExpr::Outside { .. } => {
                self.detector(e, reach)?
            }
            SeriesExpr::Absent {
                sel,
                range,
                instant,
            } => self.absent(sel, *range, *instant, reach)?,
            SeriesExpr::Time => VExpr::Time,
            SeriesExpr::Relabel { inner, dst, how } => VExpr::Relabel {
                inner: Box::new(self.expr(inner)?),
                dst: self.labels.sym(dst),
                how: match how {
                    Relabel::Replace {
                        replacement,
                        src,
                        regex,
                    } => super::VRelabel::Replace {
                        re: regex::Regex::new(&format!("^(?:{regex})$"))
                            .map_err(|e| format!("label_replace: {e}"))?,
                        replacement: replacement.clone(),
                        src: self.labels.sym(src),
                    },
                    Relabel::Join { sep, srcs } => super::VRelabel::Join {
                        sep: sep.clone(),
                        srcs: srcs.iter().map(|s| self.labels.sym(s)).collect(),
                    },
                },
            },
            SeriesExpr::RuleState(r) => VExpr::RuleState(self.rule(r)?),
            SeriesExpr::Score(t) => VExpr::Score(
                t.iter()
                    .map(|(w, r)| Ok((*w, self.rule(r)?)))
                    .collect::<Result<_, String>>()?,
            ),
            SeriesExpr::AtLeast(n, rs) => VExpr::AtLeast(
                *n,
                rs.iter()
                    .map(|r| self.rule(r))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    /// Trend tests, anomaly scores and forecast bands over one series.
    fn detector(&mut self, e: &SeriesExpr, reach: f64) -> Result<VExpr, String> {
        Ok(match e {
            SeriesExpr::Trend {
                dir,
                method,
                p,
                sel,
                range,
            } => VExpr::Trend {
                dir: *dir,
                method: *method,
                p: *p,
                sel: self.sel(sel, reach)?,
                range: ms(*range),
            },
            SeriesExpr::Anomaly {
                method,
                sel,
                range,
                season,
                calendar,
                bands,
                flag,
            } => VExpr::Anomaly {
                method: *method,
                sel: self.sel(sel, reach + 300.0)?,
                range: ms(*range),
                season: season.map(ms),
                calendar: match calendar {
                    Some(name) => Some(
                        self.calendars
                            .get(name)
                            .cloned()
                            .ok_or_else(|| format!("calendar `{name}` is not declared"))?,
                    ),
                    None => None,
                },
                bands: *bands,
                flag: *flag,
            },
            SeriesExpr::Outside { sel, period, bands } => VExpr::Outside {
                sel: self.sel(sel, reach)?,
                period: ms(*period),
                bands: *bands,
            },
            _ => return Err("not a detector".into()),
        })
    }

    /// A window function, with the accumulator its window shares when it slides.
    fn window(
        &mut self,
        func: WindowFn,
        sel: &Selector,
        (range, offset): (f64, f64),
        arg: f64,
        reach: f64,
    ) -> Result<VExpr, String> {
        let change = func == WindowFn::Change;
        let (range_ms, offset_ms) = (ms(range), ms(offset));
        let keep = Keep::grid(func.bucketable(), self.interval, range_ms, offset_ms);
        let (sel_id, acc, span) = if let Keep::Buckets { width, .. } = keep {
            // Raw samples only until their bucket is sealed (and for the instant lookback).
            let sel_id = self.sel(sel, offset + 300.0)?;
            self.store.rollup(
                sel_id,
                RollupSpec {
                    width,
                    // One evaluation step more, so the window a span slides from is still kept.
                    reach: range_ms + offset_ms + self.interval + width,
                    cols: Cols::of(func),
                },
            );
            let text = self.store.selectors[sel_id].text().to_string();
            let span = share(self.spans, func, (&text, range_ms, offset_ms));
            (sel_id, None, Some(span))
        } else {
            let sel_id = self.sel(sel, reach + if change { 300.0 } else { 0.0 })?;
            let text = self.store.selectors[sel_id].text().to_string();
            let acc = crate::metric::incremental::supported(func)
                .then(|| share(self.accs, func, (&text, range_ms, offset_ms)));
            (sel_id, acc, None)
        };
        Ok(VExpr::Window {
            func,
            sel: sel_id,
            range: range_ms,
            offset: offset_ms,
            arg,
            change,
            acc,
            span,
        })
    }

    /// `histogram_quantile`/`histogram_fraction`: over the `_bucket` family, summed per group
    /// and `le`.
    fn histogram(&mut self, e: &SeriesExpr, reach: f64) -> Result<VExpr, String> {
        let SeriesExpr::Histogram {
            fraction,
            value,
            sel,
            range,
            offset,
            group,
        } = e
        else {
            return Err("not a histogram".into());
        };
        let mut bucket = sel.clone();
        bucket.metric = format!("{}_bucket", sel.metric);
        bucket.scale = 1.0;
        let le = self.labels.sym("le");
        // Buckets are summed per group and `le`.
        let group = group.as_ref().map(|g| {
            let mut g = self.grouping(g);
            if g.keep {
                g.names.push(le);
            }
            g
        });
        Ok(VExpr::Hist {
            fraction: *fraction,
            value: *value,
            sel: self.sel(&bucket, reach)?,
            range: ms(*range),
            offset: ms(*offset),
            group,
            le,
        })
    }

    /// `absent(x[, w])`: the labels its alert carries are the selector's equality matchers.
    fn absent(
        &mut self,
        sel: &Selector,
        range: f64,
        instant: bool,
        reach: f64,
    ) -> Result<VExpr, String> {
        let eq: Vec<(&str, &str)> = sel
            .matchers
            .iter()
            .filter(|m| m.1 == vigil_vocab::MatchOp::Eq)
            .map(|m| (m.0.as_str(), m.2.as_str()))
            .collect();
        let labels = self.labels.intern_strs(eq);
        Ok(VExpr::Absent {
            sel: self.sel(sel, reach)?,
            range: ms(range),
            instant,
            labels,
        })
    }
}
