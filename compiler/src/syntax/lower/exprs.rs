//! Expressions: precedence chains, postfix tails (comparisons, `in`, string operators,
//! `is`), literals, calls, quantifiers and selections.

use super::*;

impl Lower<'_> {
    /// Lowers an `expr` pair. A tree deeper than [`crate::syntax::MAX_EXPR_DEPTH`] is
    /// refused (V0002) and stands as `false`, so no later pass recurses that deep.
    pub fn expr(&mut self, p: P) -> Expr {
        let e = self.expr_any(p);
        let Some(at) = e.deeper_than(crate::syntax::MAX_EXPR_DEPTH) else {
            return e;
        };
        self.diags.push(
            Diagnostic::new(Code::NestingTooDeep, at, "expression nested too deeply")
                .label(format!(
                    "more than {} operators deep",
                    crate::syntax::MAX_EXPR_DEPTH
                ))
                .help("split the expression with `let` bindings, macros or `in [..]` lists"),
        );
        self.drop_decl = true;
        Expr {
            kind: ExprKind::Bool(false),
            span: e.span,
        }
    }

    /// Lowers any expression-level pair (`expr`, `or_expr`, ..., `primary` alternatives).
    pub(super) fn expr_any(&mut self, p: P) -> Expr {
        let span = self.span(&p);
        let rule = p.as_rule();
        match rule {
            R::expr => self.expr_any(next(&mut p.into_inner())),
            R::or_expr | R::and_expr | R::add_expr | R::mul_expr => self.binary_chain(p),
            R::not_expr => self.nots(p),
            R::unary => self.negations(p),
            R::postfix => self.indexed(p),
            R::cmp_expr => {
                let mut it = p.into_inner();
                let lhs = self.expr_any(next(&mut it));
                match it.next() {
                    None => lhs,
                    Some(tail) => self.cmp_tail(lhs, tail, span),
                }
            }
            R::number => Expr {
                kind: ExprKind::Number(self.num(p)),
                span,
            },
            R::percent => Expr {
                kind: ExprKind::Percent(self.num(next(&mut p.into_inner()))),
                span,
            },
            R::duration => self.duration(p, span),
            R::bytesize => self.bytesize(p, span),
            R::string => {
                let s = self.string(p);
                Expr {
                    kind: ExprKind::Str(s.value),
                    span,
                }
            }
            R::regex => {
                let s = self.regex_lit(p);
                Expr {
                    kind: ExprKind::Regex(s.value),
                    span,
                }
            }
            R::boolean => Expr {
                kind: ExprKind::Bool(p.as_str() == "true"),
                span,
            },
            R::list_lit => Expr {
                kind: ExprKind::List(p.into_inner().map(|q| self.expr_any(q)).collect()),
                span,
            },
            R::spread => Expr {
                kind: ExprKind::Spread(self.ident(next(&mut p.into_inner()))),
                span,
            },
            R::selector => self.selector(p, span),
            R::field_path => Expr {
                kind: ExprKind::Field(
                    p.into_inner()
                        .map(|q| {
                            let all = q.as_rule() == R::all_strings;
                            let mut id = self.ident(q);
                            if all {
                                id.name = "*".into();
                            } else if let Some(inner) = id.name.strip_prefix('`') {
                                id.name = inner.trim_end_matches('`').to_string();
                            }
                            id
                        })
                        .collect(),
                ),
                span,
            },
            R::alert_path => Expr {
                kind: ExprKind::AlertField(p.into_inner().map(|q| self.ident(q)).collect()),
                span,
            },
            R::exists_expr => self.exists(p, span),
            R::quantifier => self.quantifier(p, span),
            R::selection => self.selection(p, span),
            R::call_expr => self.call(p, span),
            other => unreachable!("grammar: unexpected expression {other:?}"),
        }
    }

    /// `not not x`.
    fn nots(&mut self, p: P) -> Expr {
        let parts: Vec<P> = p.into_inner().collect();
        let nots = parts.len() - 1;
        let mut it = parts.into_iter().rev();
        let mut e = self.expr_any(it.next().expect("grammar: operand"));
        for op in it.take(nots) {
            let s = self.span(&op).to(e.span);
            e = Expr {
                kind: ExprKind::Unary(UnOp::Not, Box::new(e)),
                span: s,
            };
        }
        e
    }

    /// `- - x`.
    fn negations(&mut self, p: P) -> Expr {
        let parts: Vec<P> = p.into_inner().collect();
        let mut it = parts.into_iter().rev();
        let mut e = self.expr_any(it.next().expect("grammar: operand"));
        for op in it {
            let s = self.span(&op).to(e.span);
            e = Expr {
                kind: ExprKind::Unary(UnOp::Neg, Box::new(e)),
                span: s,
            };
        }
        e
    }

    /// `x[0][1]`.
    fn indexed(&mut self, p: P) -> Expr {
        let mut it = p.into_inner();
        let mut e = self.expr_any(next(&mut it));
        for idx in it {
            let s = e.span.to(self.span(&idx));
            let n = self.num(next(&mut idx.into_inner()));
            e = Expr {
                kind: ExprKind::Index(Box::new(e), n),
                span: s,
            };
        }
        e
    }

    /// `1m30s`: seconds.
    fn duration(&mut self, p: P, span: Span) -> Expr {
        let mut it = p.into_inner();
        let mut total = 0.0;
        while let Some(n) = it.next() {
            let n = self.num(n);
            // The grammar admits only the units `duration_unit` knows.
            let mult = crate::syntax::duration_unit(next(&mut it).as_str()).unwrap_or(1.0);
            total += n * mult;
        }
        Expr {
            kind: ExprKind::Duration(total),
            span,
        }
    }

    /// `10MiB`: bytes.
    fn bytesize(&mut self, p: P, span: Span) -> Expr {
        let mut it = p.into_inner();
        let n = self.num(next(&mut it));
        let mult: f64 = match next(&mut it).as_str() {
            "KiB" => 1024.0,
            "MiB" => 1024f64.powi(2),
            "GiB" => 1024f64.powi(3),
            "TiB" => 1024f64.powi(4),
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            _ => 1.0,
        };
        Expr {
            kind: ExprKind::Bytes(n * mult),
            span,
        }
    }

    /// `name{label="v", ...}`.
    fn selector(&mut self, p: P, span: Span) -> Expr {
        let mut it = p.into_inner();
        let name = super::unquote_metric(next(&mut it).as_str());
        let matchers = it
            .next()
            .map(|m| {
                m.into_inner()
                    .map(|mm| {
                        let mut mi = mm.into_inner();
                        let label = self.ident(next(&mut mi));
                        let op = match_op(next(&mut mi).as_str());
                        Matcher {
                            label,
                            op,
                            value: self.string(next(&mut mi)),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Expr {
            kind: ExprKind::Ref { name, matchers },
            span,
        }
    }

    /// `any|all v in xs where p`.
    fn quantifier(&mut self, p: P, span: Span) -> Expr {
        let mut it = p.into_inner();
        let quant = quant(next(&mut it).as_str());
        let var = self.ident(next(&mut it));
        let over = Box::new(self.expr_any(next(&mut it)));
        let pred = Box::new(self.expr_any(next(&mut it)));
        Expr {
            kind: ExprKind::Quantifier {
                quant,
                var,
                over,
                pred,
            },
            span,
        }
    }

    /// `f(args) [by ..] [over w]`.
    fn call(&mut self, p: P, span: Span) -> Expr {
        let mut it = p.into_inner();
        let call = next(&mut it);
        let mut ci = call.into_inner();
        let func = self.ident(next(&mut ci));
        let args = ci
            .map(|a| {
                if a.as_rule() == R::named_arg {
                    let mut ai = a.into_inner();
                    let name = self.ident(next(&mut ai));
                    Arg {
                        name: Some(name),
                        value: self.expr_any(next(&mut ai)),
                    }
                } else {
                    Arg {
                        name: None,
                        value: self.expr_any(a),
                    }
                }
            })
            .collect();
        let (mut group, mut over) = (None, None);
        for q in it {
            match q.as_rule() {
                R::call_group => {
                    let gspan = self.span(&q);
                    let mut gi = q.into_inner();
                    let without = next(&mut gi).as_str() == "without";
                    let what = next(&mut gi);
                    group = Some(if what.as_rule() == R::label_list {
                        let labels = self.label_list(what);
                        if without {
                            Grouping::Without(labels, gspan)
                        } else {
                            Grouping::By(labels, gspan)
                        }
                    } else {
                        Grouping::Fields(self.group_keys(what), gspan)
                    });
                }
                _ => over = Some(Box::new(self.expr_any(next(&mut q.into_inner())))),
            }
        }
        Expr {
            kind: ExprKind::Call {
                func,
                args,
                group,
                over,
            },
            span,
        }
    }

    /// `1 of sel*`, `all of sel*`.
    fn selection(&mut self, p: P, span: Span) -> Expr {
        let mut it = p.into_inner();
        let quant = quant(next(&mut it).as_str());
        Expr {
            kind: ExprKind::Selection {
                quant,
                pattern: self.ident(next(&mut it)),
            },
            span,
        }
    }

    /// `exists event.x`.
    fn exists(&mut self, p: P, span: Span) -> Expr {
        let f = next(&mut p.into_inner());
        Expr {
            kind: ExprKind::Exists(f.into_inner().map(|q| self.ident(q)).collect()),
            span,
        }
    }

    pub(super) fn binary_chain(&mut self, p: P) -> Expr {
        let mut it = p.into_inner().peekable();
        let mut lhs = self.expr_any(next(&mut it));
        while let Some(op) = it.next() {
            let op = bin_op(op.as_str());
            let rhs = self.expr_any(next(&mut it));
            let mut span = lhs.span.to(rhs.span);
            let matching = if it.peek().map(|q| q.as_rule()) == Some(R::matching) {
                let m = self.matching(next(&mut it));
                span = span.to(m.span);
                Some(m)
            } else {
                None
            };
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    matching,
                },
                span,
            };
        }
        lhs
    }

    pub(super) fn matching(&self, p: P) -> Matching {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let ignoring = next(&mut it).as_str() == "ignoring";
        let labels = self.label_list(next(&mut it));
        let group = it.next().map(|g| {
            let span = self.span(&g);
            let mut parts = g.into_inner();
            let left = next(&mut parts).as_str() == "group_left";
            let extra = parts.next().map(|l| self.label_list(l)).unwrap_or_default();
            Group { left, extra, span }
        });
        Matching {
            ignoring,
            labels,
            group,
            span,
        }
    }

    pub(super) fn cmp_tail(&mut self, lhs: Expr, tail: P, span: Span) -> Expr {
        let rule = tail.as_rule();
        let mut it = tail.into_inner().peekable();
        let kind = match rule {
            R::cmp_binary => {
                let op = bin_op(next(&mut it).as_str());
                let rhs = self.expr_any(next(&mut it));
                let matching = it.next().map(|m| self.matching(m));
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    matching,
                }
            }
            R::in_test => {
                let (mut negated, mut nocase, mut cidr) = (false, false, false);
                let mut rhs = None;
                for q in it {
                    match q.as_rule() {
                        R::negate => negated = true,
                        R::nocase => nocase = true,
                        R::cidr_kw => cidr = true,
                        _ => rhs = Some(self.expr_any(q)),
                    }
                }
                ExprKind::In {
                    negated,
                    nocase,
                    cidr,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs.expect("grammar: in rhs")),
                }
            }
            R::str_test => {
                let (mut negated, mut nocase, mut q_, mut op) =
                    (false, false, None, StrOp::Contains);
                let mut rhs = None;
                for q in it {
                    match q.as_rule() {
                        R::negate => negated = true,
                        R::nocase => nocase = true,
                        R::quant => q_ = Some(quant(q.as_str())),
                        R::str_op => op = str_op(q.as_str()),
                        _ => rhs = Some(self.expr_any(q)),
                    }
                }
                let rhs = Box::new(rhs.expect("grammar: string test rhs"));
                ExprKind::StrTest {
                    negated,
                    op,
                    quant: q_,
                    nocase,
                    lhs: Box::new(lhs),
                    rhs,
                }
            }
            _ => {
                let what = self.ident(next(&mut it));
                let p = it.next().map(|n| self.num(n));
                ExprKind::Is {
                    lhs: Box::new(lhs),
                    what,
                    p,
                }
            }
        };
        Expr { kind, span }
    }
}
