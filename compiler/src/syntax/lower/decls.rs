//! Declarations: packages, imports, constants, metrics, lists, macros, schemas, calendars,
//! records, exceptions, open/extend/override/disable, rules, notifiers, routes, playbooks.

use super::*;
use pest::iterators::Pairs;

impl Lower<'_> {
    pub fn decl(&mut self, p: P) -> Decl {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let kind = match rule {
            R::package_decl => DeclKind::Package(self.ident(next(&mut it))),
            R::import_decl => {
                let path = self.string(next(&mut it));
                DeclKind::Import {
                    path,
                    alias: it.next().map(|a| self.ident(a)),
                }
            }
            R::interval_decl => DeclKind::Interval(self.expr_any(next(&mut it))),
            R::defaults_decl => DeclKind::Defaults(it.map(|c| self.clause(c)).collect()),
            R::strings_decl => DeclKind::StringsNocase,
            R::open_decl => {
                let _kw = next(&mut it);
                let mut inner = self.decl(next(&mut it));
                inner.open = true;
                inner.span = span;
                return inner;
            }
            R::const_decl => DeclKind::Const {
                name: self.ident(next(&mut it)),
                value: self.expr(next(&mut it)),
            },
            R::metric_decl => self.metric(it),
            R::list_decl => self.list(it),
            R::macro_decl => DeclKind::Macro {
                name: self.ident(next(&mut it)),
                body: self.expr(next(&mut it)),
            },
            R::schema_decl => {
                let name = self.ident(next(&mut it));
                DeclKind::Schema {
                    name,
                    fields: self.schema_body(next(&mut it)),
                }
            }
            R::calendar_decl => self.calendar(it),
            R::record_decl => DeclKind::Record {
                name: self.metric_name(next(&mut it)),
                expr: self.expr(next(&mut it)),
                labels: it.next().map(|b| self.object(b)).unwrap_or_default(),
            },
            R::exception_decl => self.exception(it),
            R::extend_decl => self.extend(it),
            R::override_decl => self.override_(it),
            R::disable_decl => {
                let kind = target_kind(next(&mut it).as_str());
                DeclKind::Disable {
                    kind,
                    target: self.ident(next(&mut it)),
                }
            }
            R::rule_decl => self.rule(it),
            R::notifier_decl => self.notifier(it),
            R::route_decl => DeclKind::Route(self.route_body(next(&mut it))),
            R::inhibit_decl => self.inhibit(it),
            R::playbook_decl => self.playbook(it),
            R::test_decl => self.test(it),
            other => unreachable!("grammar: unexpected declaration {other:?}"),
        };
        Decl {
            kind,
            span,
            open: false,
        }
    }

    /// `metric name: unit[(arg)] [labels [..]]`.
    fn metric(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.metric_name(next(&mut it));
        let mut unit = next(&mut it).into_inner();
        let u = self.ident(next(&mut unit));
        let unit_arg = unit.next().map(|a| self.ident(a));
        let labels = it.next().map(|l| self.label_list(l));
        DeclKind::Metric {
            name,
            unit: u,
            unit_arg,
            labels,
        }
    }

    /// `calendar name = sessions(tz, ...[, holidays "file"])`.
    fn calendar(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.ident(next(&mut it));
        let tz = self.string(next(&mut it));
        let mut sessions = Vec::new();
        let mut holidays = None;
        for q in it {
            match q.as_rule() {
                R::session_spec => sessions.push(self.session(q)),
                _ => holidays = Some(self.string(q)),
            }
        }
        DeclKind::Calendar {
            name,
            tz,
            sessions,
            holidays,
            holidays_text: None,
        }
    }

    /// `exception name(p: type, ..) = body values [..]`.
    fn exception(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.ident(next(&mut it));
        let mut params = Vec::new();
        let mut body = None;
        let mut values = Vec::new();
        for q in it {
            match q.as_rule() {
                R::param => {
                    let mut pi = q.into_inner();
                    params.push((self.ident(next(&mut pi)), self.ident(next(&mut pi))));
                }
                R::tuple_list => values = self.tuples(q),
                _ => body = Some(self.expr(q)),
            }
        }
        DeclKind::Exception {
            name,
            params,
            body: body.expect("grammar: exception body"),
            values,
        }
    }

    /// `extend list x += [..]`, `extend exception x += [(..)]`.
    fn extend(&mut self, mut it: Pairs<R>) -> DeclKind {
        let q = next(&mut it);
        let r = q.as_rule();
        let mut qi = q.into_inner();
        let target = self.ident(next(&mut qi));
        let v = next(&mut qi);
        if r == R::extend_list {
            DeclKind::ExtendList {
                target,
                items: self.expr_any(v),
            }
        } else {
            DeclKind::ExtendException {
                target,
                values: self.tuples(v),
            }
        }
    }

    /// `inhibit source -> target [equal [..]]`.
    fn inhibit(&mut self, mut it: Pairs<R>) -> DeclKind {
        let source = self.label_cond(next(&mut it));
        let mut it = it.peekable();
        let unless = it.next_if(|p| p.as_rule() == R::unless_kw).is_some();
        let target = self.label_cond(next(&mut it));
        let equal = it.next().map(|l| self.label_list(l)).unwrap_or_default();
        DeclKind::Inhibit {
            source,
            unless,
            target,
            equal,
        }
    }

    /// `list name[: type] = [..]`.
    fn list(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.ident(next(&mut it));
        let mut rest: Vec<P> = it.collect();
        let value = rest.pop().expect("grammar: list literal");
        let (items, file) = if value.as_rule() == R::list_file {
            let lit = self.string(next(&mut value.into_inner()));
            let items = Expr {
                kind: ExprKind::List(Vec::new()),
                span: lit.span,
            };
            (items, Some(lit))
        } else {
            (self.expr_any(value), None)
        };
        let elem = rest.pop().map(|e| self.ident(e));
        DeclKind::List {
            name,
            elem,
            items,
            file,
        }
    }

    /// `override kind pkg.x = value`.
    fn override_(&mut self, mut it: Pairs<R>) -> DeclKind {
        let kind = target_kind(next(&mut it).as_str());
        let target = self.ident(next(&mut it));
        DeclKind::Override {
            kind,
            target,
            value: self.expr_any(next(&mut it)),
        }
    }

    /// `notifier name = kind(arg = value, ..)`.
    fn notifier(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.ident(next(&mut it));
        let kind = self.ident(next(&mut it));
        let args = it.map(|nv| self.pair_of(nv)).collect();
        DeclKind::Notifier { name, kind, args }
    }

    /// `playbook name { steps }`.
    fn playbook(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.ident(next(&mut it));
        DeclKind::Playbook {
            name,
            items: it.map(|q| self.playbook_item(q)).collect(),
        }
    }

    /// `test "name" { items }`.
    fn test(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.string(next(&mut it));
        DeclKind::Test(Test {
            name,
            items: it.map(|q| self.test_item(q)).collect(),
        })
    }

    /// `rule name { clauses }`.
    fn rule(&mut self, mut it: Pairs<R>) -> DeclKind {
        let name = self.ident(next(&mut it));
        let clauses = it.map(|c| self.clause(c)).collect();
        DeclKind::Rule(Rule { name, clauses })
    }

    pub(super) fn session(&self, p: P) -> Session {
        let span = self.span(&p);
        let parts: Vec<P> = p.into_inner().collect();
        let mut idents: Vec<Ident> = parts.into_iter().map(|q| self.ident(q)).collect();
        let close = idents.pop().expect("grammar: close");
        let open = idents.pop().expect("grammar: open");
        let to_day = if idents.len() > 1 { idents.pop() } else { None };
        let from_day = idents.pop().expect("grammar: day");
        Session {
            from_day,
            to_day,
            open,
            close,
            span,
        }
    }

    pub(super) fn schema_body(&mut self, p: P) -> Vec<SchemaField> {
        p.into_inner()
            .map(|f| {
                let mut fi = f.into_inner();
                let name = self.ident(next(&mut fi));
                SchemaField {
                    name,
                    ty: self.field_type(next(&mut fi)),
                }
            })
            .collect()
    }

    pub(super) fn field_type(&mut self, p: P) -> FieldType {
        let q = p.into_inner().next().expect("grammar: field type");
        match q.as_rule() {
            R::schema_body => FieldType::Object(self.schema_body(q)),
            R::field_type => FieldType::Array(Box::new(self.field_type(q))),
            _ => FieldType::Named(self.ident(q)),
        }
    }

    pub(super) fn tuples(&mut self, p: P) -> Vec<Tuple> {
        p.into_inner()
            .map(|t| {
                let span = self.span(&t);
                Tuple {
                    values: t.into_inner().map(|e| self.expr(e)).collect(),
                    span,
                }
            })
            .collect()
    }

    pub(super) fn pair_of(&mut self, p: P) -> (Ident, Expr) {
        let mut it = p.into_inner();
        let name = self.ident(next(&mut it));
        (name, self.expr(next(&mut it)))
    }

    pub(super) fn label_list(&self, p: P) -> Vec<Ident> {
        p.into_inner().map(|l| self.ident(l)).collect()
    }

    pub(super) fn object(&mut self, p: P) -> Vec<(Ident, Expr)> {
        p.into_inner().map(|q| self.pair_of(q)).collect()
    }
}
