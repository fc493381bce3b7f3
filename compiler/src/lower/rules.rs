//! Rules: each rule's clauses to programs (filter with `except` tables, `when` levels, `recover`,
//! values, sequence steps, `until`) and the `RuleMeta` the alert state machine reads; records
//! and the package interval.

use super::*;

impl<'a> Lowerer<'a> {
    /// `interval d`: the shortest of the packages' intervals.
    pub(super) fn interval(&mut self, fi: usize, e: &'a Expr) -> Result<(), LowerError> {
        let sc = self.root_scope(fi);
        let v = self.constant(&sc, e)?;
        self.ir.interval = Some(self.ir.interval.map_or(v, |i: f64| i.min(v)));
        Ok(())
    }

    /// `record name = expr`: a series computed at every evaluation.
    pub(super) fn record(
        &mut self,
        fi: usize,
        name: &ast::Ident,
        expr: &'a Expr,
        labels: &[(ast::Ident, Expr)],
    ) -> Result<(), LowerError> {
        let sc = self.decl_scope(fi, &self.root_scope(fi));
        let plan = self.plan(&sc, expr)?;
        let labels = labels
            .iter()
            .filter_map(|(k, v)| match &v.kind {
                ast::ExprKind::Str(s) => Some((k.name.clone(), s.clone())),
                _ => None,
            })
            .collect();
        self.ir.records.push(crate::ir::Record {
            name: name.name.clone(),
            plan,
            labels,
        });
        Ok(())
    }

    /// A rule: its programs, its clauses as a [`RuleMeta`], and for event rules the plan of
    /// its aggregates, sequence and throttle.
    pub(super) fn rule(&mut self, fi: usize, r: &'a ast::Rule) -> Result<(), LowerError> {
        let file = &self.ck.files[fi];
        let key = (file.package.clone(), Namespace::Rule, r.name.name.clone());
        if self.disabled.contains(&key) {
            return Ok(());
        }
        let id = format!("{}.{}", file.package, r.name.name);
        self.cur_rule = id.clone();
        self.cur_aggs.clear();
        let (mut sc, excepts, has_filter) = self.rule_scope(fi, r);
        let event_rule = has_filter
            || !excepts.is_empty()
            || r.clauses
                .iter()
                .any(|c| matches!(c.kind, ast::ClauseKind::Sequence(_)));
        let filter = if has_filter || !excepts.is_empty() {
            Some(self.filter(&mut sc, r, &excepts)?)
        } else {
            None
        };
        let mut meta = new_meta(id, event_rule);
        // The package's `defaults` first; the rule's own clauses then override them.
        let package = &self.ck.files[fi].package;
        let defaults: Vec<(usize, &'a ast::Clause)> = self
            .ck
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| &f.package == package)
            .flat_map(|(i, f)| f.module.decls.iter().map(move |d| (i, d)))
            .filter_map(|(i, d)| match &d.kind {
                ast::DeclKind::Defaults(cs) => Some(cs.iter().map(move |c| (i, c))),
                _ => None,
            })
            .flatten()
            .collect();
        for (dfi, c) in defaults {
            let dsc = self.decl_scope(dfi, &self.root_scope(dfi));
            self.clause(&dsc, &c.kind, &mut meta)?;
        }
        let mut plan = events::EventPlan::default();
        let mut global_recover = None;
        for c in &r.clauses {
            match &c.kind {
                ast::ClauseKind::When {
                    level,
                    cond,
                    recover,
                    for_,
                } => {
                    let lvl = level.map(|(s, _)| s);
                    let level = self.level(
                        &mut sc,
                        lvl,
                        cond,
                        recover.as_ref(),
                        for_.as_ref(),
                        event_rule,
                    )?;
                    meta.levels.push(level);
                }
                ast::ClauseKind::Recover(e) => {
                    global_recover =
                        Some(self.condition(&mut sc, e, Role::Recover(None), event_rule)?);
                }
                ast::ClauseKind::Sequence(seq) => {
                    plan.sequence = Some(self.sequence(&mut sc, seq)?)
                }
                ast::ClauseKind::Throttle { count, per, by } => {
                    plan.throttle = Some(events::Throttle {
                        count: count.clamp(1.0, u32::MAX as f64) as u32,
                        per: self.constant(&sc, per)?,
                        keys: self.keys(&sc, by)?,
                    });
                }
                kind => self.clause(&sc, kind, &mut meta)?,
            }
        }
        if let Some(g) = global_recover {
            for l in &mut meta.levels {
                l.recover.get_or_insert(g);
            }
        }
        settle_levels(&mut meta);
        if event_rule {
            plan.filter = filter;
            plan.aggregates = std::mem::take(&mut self.cur_aggs);
            meta.events = Some(plan);
        }
        self.ir.rules.push(meta);
        Ok(())
    }

    /// A rule's scope (its lets, `strings nocase`), its `except` tables, and whether it has
    /// an `on event` clause.
    fn rule_scope(&self, fi: usize, r: &'a ast::Rule) -> (Scope<'a>, Vec<&'a ast::Ident>, bool) {
        let mut sc = Scope {
            file: fi,
            lets: HashMap::new(),
            binds: Vec::new(),
            nocase: self.file_nocase[fi],
            opened: Vec::new(),
        };
        let mut excepts = Vec::new();
        let mut has_filter = false;
        for c in &r.clauses {
            match &c.kind {
                ast::ClauseKind::Let { name, value } => {
                    sc.lets.insert(name.name.clone(), value);
                }
                ast::ClauseKind::StringsNocase => sc.nocase = true,
                ast::ClauseKind::Except(names) => excepts.extend(names),
                ast::ClauseKind::OnEvent(_) => has_filter = true,
                _ => {}
            }
        }
        (sc, excepts, has_filter)
    }

    /// The program of the current rule for `role`.
    fn program(
        &mut self,
        role: Role,
        root: NodeId,
        kind: Kind,
        rows: Option<series::Rows>,
    ) -> usize {
        self.ir.programs.push(Program {
            rule: self.cur_rule.clone(),
            role,
            root,
            kind,
            rows,
        });
        self.ir.programs.len() - 1
    }

    /// The filter: every `on event where` and no `except` table's row.
    fn filter(
        &mut self,
        sc: &mut Scope<'a>,
        r: &'a ast::Rule,
        excepts: &[&'a ast::Ident],
    ) -> Result<usize, LowerError> {
        let mut parts = Vec::new();
        for c in &r.clauses {
            if let ast::ClauseKind::OnEvent(Some(e)) = &c.kind {
                let l = self.expr(sc, e)?;
                parts.push(self.boolean(l, e.span)?);
            }
        }
        for name in excepts {
            let table = self.exception(sc, name)?;
            let not = self.ir.add(Node::Not(table));
            parts.push(not);
        }
        let root = self.and(parts);
        Ok(self.program(Role::Filter, root, Kind::Bool, None))
    }

    /// A condition's program (with how its series join into rows, for metric rules).
    fn condition(
        &mut self,
        sc: &mut Scope<'a>,
        e: &'a Expr,
        role: Role,
        event_rule: bool,
    ) -> Result<usize, LowerError> {
        let l = self.expr(sc, e)?;
        let root = self.boolean(l, e.span)?;
        let rows = if event_rule {
            None
        } else {
            Some(self.rows(sc, e)?)
        };
        Ok(self.program(role, root, Kind::Bool, rows))
    }

    /// One `when` level: its condition, `recover when`, the value it reports, `for`.
    fn level(
        &mut self,
        sc: &mut Scope<'a>,
        lvl: Option<vigil_vocab::Severity>,
        cond: &'a Expr,
        recover: Option<&'a Expr>,
        for_: Option<&'a Expr>,
        event_rule: bool,
    ) -> Result<Level, LowerError> {
        let when = self.condition(sc, cond, Role::When(lvl), event_rule)?;
        let recover = match recover {
            Some(rc) => Some(self.condition(sc, rc, Role::Recover(lvl), event_rule)?),
            None => None,
        };
        let value = match self.value_operand(sc, cond) {
            Some(v) => self.value_program(sc, lvl, v)?,
            _ => None,
        };
        let value_alt = match (value, self.or_value_operand(sc, cond)) {
            (Some(_), Some(v)) => self.value_program(sc, lvl, v)?,
            _ => None,
        };
        let for_ = match for_ {
            Some(f) => self.constant(sc, f)?,
            None => 0.0,
        };
        Ok(Level {
            severity: lvl,
            when,
            recover,
            value,
            value_alt,
            for_,
        })
    }

    /// `sequence by .. within .. { steps } until ..`: each step's program and key, `until`.
    fn sequence(
        &mut self,
        sc: &mut Scope<'a>,
        seq: &'a ast::Sequence,
    ) -> Result<events::SequencePlan, LowerError> {
        let mut steps = Vec::new();
        for s in &seq.steps {
            let l = self.expr(sc, &s.cond)?;
            let root = self.boolean(l, s.cond.span)?;
            let program = self.program(Role::Step(s.name.name.clone()), root, Kind::Bool, None);
            let key = match &s.key {
                Some(k) => Some(self.field_slot(sc, k)?),
                None => None,
            };
            steps.push(events::StepPlan {
                name: s.name.name.clone(),
                program,
                missing: s.missing,
                key,
                repeat: s.repeat.unwrap_or(1.0).clamp(1.0, 1000.0) as u32,
            });
        }
        let mut until = None;
        if !seq.until.is_empty() {
            let mut parts = Vec::new();
            for u in &seq.until {
                let l = self.expr(sc, u)?;
                parts.push(self.boolean(l, u.span)?);
            }
            let root = self.or(parts);
            until = Some(self.program(Role::Until, root, Kind::Bool, None));
        }
        Ok(events::SequencePlan {
            any_order: seq.any_order,
            keys: self.keys(sc, &seq.by)?,
            within: match &seq.within {
                Some(w) => self.constant(sc, w)?,
                None => f64::INFINITY,
            },
            steps,
            until,
        })
    }

    /// The clauses the alert state machine reads (severity, labels, timings, policies).
    fn clause(
        &mut self,
        sc: &Scope<'a>,
        kind: &'a ast::ClauseKind,
        meta: &mut RuleMeta,
    ) -> Result<(), LowerError> {
        match kind {
            ast::ClauseKind::Severity(s) => meta.severity = Some(*s),
            ast::ClauseKind::Labels(ls) => {
                for (k, v) in ls {
                    if let ExprKind::Str(s) = &v.kind {
                        meta.labels.push((k.name.clone(), s.clone()));
                    }
                }
            }
            ast::ClauseKind::KeepFiring(e) => meta.keep_firing = self.constant(sc, e)?,
            ast::ClauseKind::Cooldown(e) => meta.cooldown = self.constant(sc, e)?,
            ast::ClauseKind::Delay(e) => meta.delay = self.constant(sc, e)?,
            ast::ClauseKind::Interval(e) => meta.interval = Some(self.constant(sc, e)?),
            ast::ClauseKind::NoData { after, action } => {
                meta.no_data = Some((self.constant(sc, after)?, *action))
            }
            ast::ClauseKind::Flapping { low, high, over } => {
                meta.flapping = Some((*low, *high, self.constant(sc, over)?))
            }
            ast::ClauseKind::Summary(s) => meta.summary = Some(s.value.clone()),
            _ => {}
        }
        Ok(())
    }

    /// The left operand of a condition's first comparison (what `{{ value }}` reports),
    /// looking through `and`/`or` and lets.
    pub(super) fn value_operand(&self, sc: &Scope<'a>, e: &'a Expr) -> Option<&'a Expr> {
        match &e.kind {
            ExprKind::Binary { op, lhs, .. } if op.is_comparison() => Some(lhs),
            ExprKind::Binary {
                op: BinOp::And | BinOp::Or,
                lhs,
                rhs,
                ..
            } => self
                .value_operand(sc, lhs)
                .or_else(|| self.value_operand(sc, rhs)),
            ExprKind::Ref { name, matchers } if matchers.is_empty() => {
                sc.lets.get(name).and_then(|le| self.value_operand(sc, le))
            }
            _ => None,
        }
    }

    fn value_program(
        &mut self,
        sc: &mut Scope<'a>,
        lvl: Option<vigil_vocab::Severity>,
        v: &'a Expr,
    ) -> Result<Option<usize>, LowerError> {
        let l = self.expr(sc, v)?;
        Ok(match self.number(l, None, v.span) {
            Ok(root) => Some(self.program(Role::Value(lvl), root, Kind::Num, None)),
            Err(_) => None,
        })
    }

    /// In a condition `A or B` (through `and` and lets), the value operand of `B`.
    fn or_value_operand(&self, sc: &Scope<'a>, e: &'a Expr) -> Option<&'a Expr> {
        match &e.kind {
            ExprKind::Binary {
                op: BinOp::Or, rhs, ..
            } => self.value_operand(sc, rhs),
            ExprKind::Binary {
                op: BinOp::And,
                lhs,
                ..
            } => self.or_value_operand(sc, lhs),
            ExprKind::Ref { name, matchers } if matchers.is_empty() => sc
                .lets
                .get(name)
                .and_then(|le| self.or_value_operand(sc, le)),
            _ => None,
        }
    }

    /// An exception table as one condition: any row's body holds.
    pub(super) fn exception(
        &mut self,
        sc: &mut Scope<'a>,
        name: &ast::Ident,
    ) -> Result<NodeId, LowerError> {
        let ck = self.ck;
        let Some(key) = ck
            .syms
            .resolve(&ck.files, sc.file, Namespace::Exception, &name.name)
        else {
            return err(name.span, format!("unknown exception `{}`", name.name));
        };
        let sym = ck.syms.map[&key];
        let DeclKind::Exception {
            params,
            body,
            values,
            ..
        } = &ck.files[sym.file].module.decls[sym.decl].kind
        else {
            return err(name.span, "not an exception");
        };
        let mut rows: Vec<(usize, &ast::Tuple)> = values.iter().map(|t| (sym.file, t)).collect();
        rows.extend(self.exception_rows.get(&key).cloned().unwrap_or_default());
        let mut alts = Vec::new();
        for (rf, row) in rows {
            let mut rsc = Scope {
                file: rf,
                lets: HashMap::new(),
                binds: Vec::new(),
                nocase: sc.nocase,
                opened: Vec::new(),
            };
            let mut binds = Vec::new();
            for ((p, _), v) in params.iter().zip(&row.values) {
                binds.push((p.name.clone(), Bind::Const(self.expr(&mut rsc, v)?)));
            }
            let mut bsc = Scope {
                file: sym.file,
                lets: HashMap::new(),
                binds,
                nocase: sc.nocase || self.file_nocase[sym.file],
                opened: Vec::new(),
            };
            let l = self.expr(&mut bsc, body)?;
            alts.push(self.boolean(l, body.span)?);
        }
        Ok(self.or(alts))
    }
}

/// A rule's clauses before any is read.
fn new_meta(id: String, event_rule: bool) -> RuleMeta {
    RuleMeta {
        id,
        kind: if event_rule {
            RuleKind::Event
        } else {
            RuleKind::Metric
        },
        severity: None,
        labels: Vec::new(),
        levels: Vec::new(),
        keep_firing: 0.0,
        cooldown: 0.0,
        delay: 0.0,
        interval: None,
        no_data: None,
        flapping: None,
        summary: None,
        events: None,
    }
}

/// Levels without a severity take the rule's; levels are ordered by severity.
fn settle_levels(meta: &mut RuleMeta) {
    for l in &mut meta.levels {
        if l.severity.is_none() {
            l.severity = meta.severity;
        }
    }
    meta.levels.sort_by_key(|l| l.severity);
}
