//! Expressions: literals, fields, names (lets, binds, consts, lists, macros, rules, metrics),
//! operators and quantifiers, each to a node or a constant still to be placed.

use super::*;

impl<'a> Lowerer<'a> {
    pub(super) fn expr(&mut self, sc: &mut Scope<'a>, e: &'a Expr) -> Result<Low, LowerError> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Number(n) | ExprKind::Duration(n) | ExprKind::Bytes(n) => self.num(*n),
            ExprKind::Percent(p) => Low::Pct(*p),
            ExprKind::Str(s) => Low::Str(s.clone()),
            ExprKind::Regex(r) => Low::Regex(r.clone()),
            ExprKind::Bool(b) => Low::Node(self.ir.add(Node::Bool(*b)), T::Bool),
            ExprKind::List(items) => self.list(sc, items)?,
            ExprKind::Spread(name) => self.name(sc, &name.name, span)?,
            ExprKind::Ref { name, matchers } if matchers.is_empty() => self.name(sc, name, span)?,
            ExprKind::Ref { .. } => self.series_leaf(sc, e, T::Num)?,
            ExprKind::Field(path) => {
                let segs = if crate::syntax::ast::is_all_strings(path) {
                    vec![PathSeg::Strings]
                } else {
                    path.iter().map(|p| PathSeg::Key(p.name.clone())).collect()
                };
                let id = self.ir.layout.slot(SlotSource::Field(segs));
                self.dyn_slot(SlotRef { depth: 0, id })
            }
            ExprKind::AlertField(path) => {
                let id = self.ir.layout.slot(SlotSource::Alert(
                    path.iter().map(|p| p.name.clone()).collect(),
                ));
                self.dyn_slot(SlotRef { depth: 0, id })
            }
            ExprKind::Index(inner, i) => self.index(sc, inner, *i as usize, span)?,
            ExprKind::Unary(UnOp::Neg, inner) => {
                let l = self.expr(sc, inner)?;
                if let Low::Pct(p) = l {
                    return Ok(Low::Pct(-p));
                }
                let n = self.number(l, None, inner.span)?;
                let id = self.ir.add(Node::Math(Math::Neg, n));
                self.fold(id, T::Num)
            }
            ExprKind::Unary(UnOp::Not, inner) => {
                let l = self.expr(sc, inner)?;
                let b = self.boolean(l, inner.span)?;
                let id = self.not(b);
                Low::Node(id, T::Bool)
            }
            // A comparison or set operator the checker read as a series of values (PromQL's
            // filters) is computed by the metric engine as one series.
            ExprKind::Binary { op, .. } if self.is_value_filter(e, *op) => {
                self.series_leaf(sc, e, T::Num)?
            }
            ExprKind::Binary { op, lhs, rhs, .. } => self.binary(sc, *op, lhs, rhs, span)?,
            ExprKind::In { .. } => self.in_test(sc, e)?,
            ExprKind::StrTest { .. } => self.str_test(sc, e)?,
            ExprKind::Is { .. } => self.series_leaf(sc, e, T::Bool)?,
            ExprKind::Call { .. } => self.call(sc, e)?,
            ExprKind::Exists(path) => {
                let segs = path.iter().map(|p| PathSeg::Key(p.name.clone())).collect();
                let id = self.ir.layout.slot(SlotSource::Field(segs));
                let n = self.ir.add(Node::Exists(SlotRef { depth: 0, id }));
                Low::Node(n, T::Bool)
            }
            ExprKind::Quantifier { .. } => self.quantifier(sc, e)?,
            ExprKind::Selection { quant, pattern } => self.selection(sc, *quant, pattern)?,
        })
    }

    /// A list, spreads and encoders spliced in.
    fn list(&mut self, sc: &mut Scope<'a>, items: &'a [Expr]) -> Result<Low, LowerError> {
        let mut out = Vec::new();
        for it in items {
            match self.expr(sc, it)? {
                Low::List(inner) if matches!(it.kind, ExprKind::Spread(_)) => out.extend(inner),
                // Encoders inside a list splice too: `[...windash("-x"), "y"]`.
                Low::List(inner) if matches!(it.kind, ExprKind::Call { .. }) => out.extend(inner),
                l => out.push(l),
            }
        }
        Ok(Low::List(out))
    }

    /// `x[i]`: an element of a constant list, or an indexed field path.
    fn index(
        &mut self,
        sc: &mut Scope<'a>,
        inner: &'a Expr,
        idx: usize,
        span: Span,
    ) -> Result<Low, LowerError> {
        match self.expr(sc, inner)? {
            Low::List(items) => match items.get(idx) {
                Some(it) => Ok(it.clone()),
                None => fail(
                    Code::ListIndexOutOfRange,
                    span,
                    format!("index {idx} is past the list's end"),
                ),
            },
            Low::Node(n, T::Dyn) => {
                let Node::Slot(r, _) = *self.ir.node(n) else {
                    return fail(Code::EventFieldRequired, span, "only fields can be indexed");
                };
                let layout = self.ir.layout_for_mut(&sc.opened, r.depth as usize);
                let SlotSource::Field(mut segs) = layout.slots[r.id as usize].source.clone() else {
                    return fail(Code::EventFieldRequired, span, "only fields can be indexed");
                };
                segs.push(PathSeg::Index(idx));
                let id = layout.slot(SlotSource::Field(segs));
                Ok(self.dyn_slot(SlotRef { depth: r.depth, id }))
            }
            _ => fail(
                Code::EventFieldRequired,
                span,
                "only fields and lists can be indexed",
            ),
        }
    }

    /// `x contains [any|all] p`, `startswith`, `matches`, ...: constant patterns compiled
    /// into a table, or a field as the pattern.
    fn str_test(&mut self, sc: &mut Scope<'a>, e: &'a Expr) -> Result<Low, LowerError> {
        let ExprKind::StrTest {
            negated,
            op,
            quant,
            nocase,
            lhs,
            rhs,
        } = &e.kind
        else {
            return err(e.span, "not a string operator");
        };
        let nocase = *nocase || sc.nocase;
        let l = self.expr(sc, lhs)?;
        let all = *quant == Some(Quant::All);
        // Patterns from a file list: looked up at run time (no recompile when it changes).
        let from_file = crate::ir::lists::ListTest::Text {
            op: text_op(*op),
            all,
            nocase,
        };
        if let Some(id) = self.file_list_test(sc, &l, rhs, from_file, *negated, true) {
            return Ok(Low::Node(id, T::Bool));
        }
        let r = self.expr(sc, rhs)?;
        let pats = match r {
            Low::Str(s) | Low::Regex(s) => vec![s],
            Low::List(items) => items
                .into_iter()
                .map(|i| match i {
                    Low::Str(s) | Low::Regex(s) => Ok(s),
                    _ => err(rhs.span, "string operators take strings or regexes"),
                })
                .collect::<Result<_, _>>()?,
            Low::Node(rn, T::Dyn) if quant.is_none() => {
                // A field as the pattern (the checker allows it for these operators).
                let (Low::Node(ln, _), Node::Slot(rhs_slot, _)) = (&l, self.ir.node(rn).clone())
                else {
                    return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                };
                let Node::Slot(lhs_slot, _) = *self.ir.node(*ln) else {
                    return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                };
                let id = self.ir.add(Node::TextField {
                    op: text_op(*op),
                    nocase,
                    negated: *negated,
                    lhs: lhs_slot,
                    rhs: rhs_slot,
                });
                return Ok(Low::Node(id, T::Bool));
            }
            _ => {
                return fail(
                    Code::ConstantRequired,
                    rhs.span,
                    format!("`{}` needs a constant pattern here", op.word()),
                );
            }
        };
        let path = sc.opened.clone();
        let test = TextSpec {
            op: text_op(*op),
            all,
            nocase,
            negated: *negated,
            elements: true,
        };
        self.text(&path, l, test, pats, e.span)
    }

    /// `any|all x in xs where p`: over a constant list, one condition per element; over an
    /// array field, a quantifier whose body reads the element's frame.
    fn quantifier(&mut self, sc: &mut Scope<'a>, e: &'a Expr) -> Result<Low, LowerError> {
        let ExprKind::Quantifier {
            quant,
            var,
            over,
            pred,
        } = &e.kind
        else {
            return err(e.span, "not a quantifier");
        };
        let all = *quant == Quant::All;
        match self.expr(sc, over)? {
            Low::List(items) => {
                let mut parts = Vec::new();
                for it in items {
                    sc.binds.push((var.name.clone(), Bind::Const(it)));
                    let l = self.expr(sc, pred);
                    sc.binds.pop();
                    parts.push(self.boolean(l?, pred.span)?);
                }
                let id = if all { self.and(parts) } else { self.or(parts) };
                Ok(Low::Node(id, T::Bool))
            }
            Low::Node(n, T::Dyn) => {
                let Node::Slot(r, _) = *self.ir.node(n) else {
                    return fail(
                        Code::EventFieldRequired,
                        over.span,
                        "quantifiers range over array fields or lists",
                    );
                };
                self.ir
                    .layout_for_mut(&sc.opened, r.depth as usize)
                    .elem_mut(r.id);
                if sc.opened.len() + 1 >= crate::eval::MAX_DEPTH {
                    return fail(
                        Code::QuantifiersTooDeep,
                        e.span,
                        "quantifiers nest too deeply to evaluate",
                    );
                }
                sc.opened.push(r);
                let depth = sc.opened.len() as u8;
                sc.binds.push((var.name.clone(), Bind::Elem(depth)));
                let body = self.expr(sc, pred);
                sc.binds.pop();
                sc.opened.pop();
                let body = self.boolean(body?, pred.span)?;
                let id = self.ir.add(Node::Quant {
                    all,
                    slot: r,
                    body,
                    depth,
                });
                Ok(Low::Node(id, T::Bool))
            }
            _ => fail(
                Code::EventFieldRequired,
                over.span,
                "quantifiers range over array fields or lists",
            ),
        }
    }

    /// `1 of sel*` / `all of sel*`: the rule's lets whose names match, as one condition.
    fn selection(
        &mut self,
        sc: &mut Scope<'a>,
        quant: Quant,
        pattern: &ast::Ident,
    ) -> Result<Low, LowerError> {
        let pat = pattern.name.replace('*', ".*");
        let re = regex::Regex::new(&format!("^{pat}$")).map_err(|e| LowerError {
            code: Code::CannotEvaluate,
            message: e.to_string(),
            span: pattern.span,
        })?;
        let mut names: Vec<&String> = sc.lets.keys().filter(|k| re.is_match(k)).collect();
        names.sort();
        let names: Vec<String> = names.into_iter().cloned().collect();
        let mut parts = Vec::new();
        for n in names {
            let l = self.name(sc, &n, pattern.span)?;
            parts.push(self.boolean(l, pattern.span)?);
        }
        let id = if quant == Quant::All {
            self.and(parts)
        } else {
            self.or(parts)
        };
        Ok(Low::Node(id, T::Bool))
    }

    pub(super) fn num(&mut self, n: f64) -> Low {
        Low::Node(self.ir.add(Node::Num(n.to_bits())), T::Num)
    }

    pub(super) fn dyn_slot(&mut self, r: SlotRef) -> Low {
        Low::Node(self.ir.add(Node::Slot(r, Kind::Any)), T::Dyn)
    }

    /// A name in expression position.
    pub(super) fn name(
        &mut self,
        sc: &mut Scope<'a>,
        name: &str,
        span: Span,
    ) -> Result<Low, LowerError> {
        let (head, rest) = match name.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (name, None),
        };
        if let Some((_, b)) = sc.binds.iter().rev().find(|(v, _)| v == head) {
            return match b.clone() {
                Bind::Elem(depth) => {
                    let segs = rest
                        .map(|r| r.split('.').map(|s| PathSeg::Key(s.to_string())).collect())
                        .unwrap_or_default();
                    let layout = self.ir.layout_for_mut(&sc.opened, depth as usize);
                    let id = layout.slot(SlotSource::Field(segs));
                    Ok(self.dyn_slot(SlotRef { depth, id }))
                }
                Bind::Const(l) if rest.is_none() => Ok(l),
                Bind::Const(_) => err(span, format!("`{head}` is a constant; it has no fields")),
            };
        }
        if let Some(&e) = sc.lets.get(name) {
            return self.expr(sc, e);
        }
        let ck = self.ck;
        if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Value, name) {
            return self.value_decl(sc, key, span);
        }
        if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Rule, name) {
            let id = self.series_slot(series::SeriesExpr::RuleState(format!(
                "{}.{}",
                key.0, key.2
            )));
            let n = self
                .ir
                .add(Node::Slot(SlotRef { depth: 0, id }, Kind::Bool));
            return Ok(Low::Node(n, T::Bool));
        }
        // A metric selector.
        let sel = self.selector(name, &[]);
        let id = self.series_slot(series::SeriesExpr::Instant { sel, offset: 0.0 });
        let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, Kind::Num));
        Ok(Low::Node(n, T::Num))
    }

    pub(super) fn value_decl(
        &mut self,
        sc: &mut Scope<'a>,
        key: SymKey,
        span: Span,
    ) -> Result<Low, LowerError> {
        let ck = self.ck;
        let sym = ck.syms.map[&key];
        let decl = &ck.files[sym.file].module.decls[sym.decl];
        let (file, expr) = match (self.overrides.get(&key), &decl.kind) {
            (Some(&(f, e)), _) => (f, e),
            (None, DeclKind::Const { value, .. }) => (sym.file, value),
            (None, DeclKind::List { items, file, .. }) => {
                if file.is_some() {
                    self.inlined_lists.insert(key.clone());
                }
                (sym.file, items)
            }
            (None, DeclKind::Macro { body, .. }) => (sym.file, body),
            (None, DeclKind::Record { name, .. }) => {
                // A recorded series is computed by the metric engine, shared by its readers.
                let sel = self.selector(&name.name, &[]);
                let id = self.series_slot(series::SeriesExpr::Instant { sel, offset: 0.0 });
                let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, Kind::Num));
                return Ok(Low::Node(n, T::Num));
            }
            _ => return err(span, format!("`{}` is not a value", key.2)),
        };
        let mut dsc = Scope {
            file,
            lets: HashMap::new(),
            binds: Vec::new(),
            nocase: sc.nocase || self.file_nocase[file],
            opened: sc.opened.clone(),
        };
        let mut v = self.expr(&mut dsc, expr)?;
        if let (Low::List(items), Some(ext)) = (&mut v, self.extends.get(&key).cloned()) {
            for (f, e) in ext {
                let mut esc = Scope {
                    file: f,
                    lets: HashMap::new(),
                    binds: Vec::new(),
                    nocase: false,
                    opened: Vec::new(),
                };
                if let Low::List(more) = self.expr(&mut esc, e)? {
                    items.extend(more);
                }
            }
        }
        Ok(v)
    }

    /// A value the metric engine supplies per series (or the event engine per key).
    pub(super) fn series_leaf(
        &mut self,
        sc: &Scope<'a>,
        e: &'a Expr,
        t: T,
    ) -> Result<Low, LowerError> {
        let id = if let ExprKind::Call { over: Some(_), .. } = &e.kind {
            self.event_agg(sc, e)?
        } else {
            let plan = self.plan(sc, e)?;
            self.series_slot(plan)
        };
        let kind = if t == T::Bool { Kind::Bool } else { Kind::Num };
        let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, kind));
        Ok(Low::Node(n, t))
    }
}
