//! Names in expressions: lets, quantifier variables, consts, lists, macros, records, rules,
//! metric selectors, and event fields (checked against the rule's schema).

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn value_ref(
        &mut self,
        cx: &mut Ctx,
        name: &str,
        matchers: &[Matcher],
        span: Span,
    ) -> Val {
        if matchers.is_empty() {
            if let Some((head, _)) = name.split_once('.')
                && cx.quant_vars.iter().any(|v| v == head)
            {
                return Val::scalar(Ty::Dynamic).with_shape(Shape::Event);
            }
            if cx.quant_vars.iter().any(|v| v == name) {
                return Val::scalar(Ty::Dynamic).with_shape(Shape::Event);
            }
            if let Some(t) = cx.params.get(name) {
                return Val::scalar(t.clone());
            }
            if let Some((v, _)) = cx.lets.get(name) {
                cx.lets_used.insert(name.to_string());
                return v.clone();
            }
            if let Some(key) = self.resolve(cx.file, Namespace::Value, name) {
                self.used.insert(key.clone());
                return self.value_decl(key, span);
            }
            if let Some(key) = self.resolve(cx.file, Namespace::Rule, name) {
                self.used.insert(key.clone());
                cx.saw_rule_ref.get_or_insert(span);
                let labels = self.rule_labels(&key);
                return Val {
                    reads_rules: true,
                    ..Val::scalar(Ty::Bool).with_shape(Shape::Series(labels))
                };
            }
            let declared_metric = self.resolve(cx.file, Namespace::Metric, name).is_some();
            // Rule names are offered only where a metric cannot stand (event filters).
            let namespaces: &[Namespace] = if cx.event {
                &[Namespace::Value, Namespace::Rule]
            } else {
                &[Namespace::Value]
            };
            let memo_key = (cx.file, cx.event, name.to_string());
            let global = match self.near_memo.get(&memo_key) {
                Some(n) => n.clone(),
                None => {
                    let pkg = &self.files[cx.file].package;
                    let syms = self.syms;
                    let cands = namespaces.iter().flat_map(|n| syms.names(pkg, *n));
                    let n = crate::resolve::suggest::closest(name, cands).map(str::to_string);
                    self.near_memo.insert(memo_key, n.clone());
                    n
                }
            };
            // The rule's own `let` names, then the names in scope.
            let near = crate::resolve::suggest::closest(name, cx.lets.keys().map(String::as_str))
                .map(str::to_string)
                .or(global);
            if !declared_metric && (near.is_some() || name.contains('.')) {
                // The suggested name is what the user meant: do not also call it unused.
                if let Some(n) = &near
                    && let Some(key) = self.resolve(cx.file, Namespace::Value, n)
                {
                    self.used.insert(key);
                }
                let help = match &near {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "declare it, or import the package that does".to_string(),
                };
                self.err(
                    Diagnostic::new(Code::UnknownName, span, format!("unknown name `{name}`"))
                        .label("not found")
                        .help(help),
                );
                return Val::error();
            }
        }
        self.selector(cx, name, matchers, span)
    }

    /// The unit (and its argument) of the `metric NAME: unit` declaration `name` resolves to.
    pub(super) fn metric_unit_decl(
        &mut self,
        file: usize,
        name: &str,
    ) -> Option<(&'a Ident, Option<&'a Ident>)> {
        let key = self.resolve(file, Namespace::Metric, name)?;
        let sym = self.syms.map[&key];
        let files: &'a [crate::resolve::LoadedFile] = self.files;
        match &files[sym.file].module.decls[sym.decl].kind {
            DeclKind::Metric { unit, unit_arg, .. } => Some((unit, unit_arg.as_ref())),
            _ => None,
        }
    }

    /// A metric selector: one value per matching series.
    pub(super) fn selector(
        &mut self,
        cx: &mut Ctx,
        name: &str,
        matchers: &[Matcher],
        span: Span,
    ) -> Val {
        if matchers.is_empty() && matches!(name, "NaN" | "nan" | "Inf" | "inf") {
            // PromQL's literals: here they would silently be a metric of that name.
            self.err(
                Diagnostic::new(Code::UnknownName, span, format!("unknown name `{name}`"))
                    .label("not a number literal")
                    .help("Vigil has no NaN or Inf literals: a comparison with NaN never holds; test a missing series with `absent(x)`, a NaN value with `x != x`"),
            );
            return Val::error();
        }
        cx.saw_selector.get_or_insert(span);
        let mut unit = Unit::from_metric_name(name);
        let mut labels = Labels::open([]);
        if let Some(key) = self.resolve(cx.file, Namespace::Metric, name) {
            self.used.insert(key.clone());
            let sym = self.syms.map[&key];
            if let DeclKind::Metric {
                unit: u,
                unit_arg,
                labels: l,
                ..
            } = &self.files[sym.file].module.decls[sym.decl].kind
            {
                unit = unit_from_decl(u, unit_arg.as_ref());
                if let Some(l) = l {
                    labels = Labels::closed(l.iter().map(|i| i.name.clone()));
                    self.mentioned.extend(l.iter().map(|i| i.name.clone()));
                }
            }
        }
        for m in matchers {
            self.mentioned.insert(m.label.name.clone());
            if matches!(m.op, MatchOp::Re | MatchOp::NotRe)
                && self.regex(&m.value.value, m.value.span)
            {
                crate::lint::exprs::regex_matcher(self, m);
            }
            if labels.open {
                labels.known.insert(m.label.name.clone());
            }
        }
        Val {
            stored: true,
            ..Val::scalar(Ty::Num(unit.unwrap_or(Unit::Unknown))).with_shape(Shape::Series(labels))
        }
    }

    /// The value of a const, list, macro or record. Each may name the others, so a chain that
    /// comes back to where it started is refused (V0107) before it could recurse forever.
    pub(super) fn value_decl(&mut self, key: crate::resolve::SymKey, span: Span) -> Val {
        let sym = self.syms.map[&key];
        if let DeclKind::Macro { .. } = &self.files[sym.file].module.decls[sym.decl].kind
            && let Some(v) = self.macros.get(&key)
        {
            return v.clone();
        }
        if let Some(pos) = self.macro_stack.iter().position(|k| *k == key) {
            let chain: Vec<&str> = self.macro_stack[pos..]
                .iter()
                .map(|k| k.2.as_str())
                .collect();
            self.err(
                Diagnostic::new(Code::MacroCycle, span, format!("`{}` uses itself", key.2))
                    .label("cycle closes here")
                    .help(format!("the cycle is {} -> {}", chain.join(" -> "), key.2)),
            );
            return Val::error();
        }
        self.macro_stack.push(key.clone());
        let v = self.value_decl_body(&key, sym);
        self.macro_stack.pop();
        v
    }

    fn value_decl_body(&mut self, key: &crate::resolve::SymKey, sym: crate::resolve::Sym) -> Val {
        let decl = &self.files[sym.file].module.decls[sym.decl];
        match &decl.kind {
            DeclKind::Macro { body, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    event: true,
                    interval: crate::typeck::DEFAULT_INTERVAL_SECS,
                    ..Ctx::default()
                };
                let v = self.expr(&mut cx, body);
                self.macros.insert(key.clone(), v.clone());
                v
            }
            DeclKind::Const { value, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    ..Ctx::default()
                };
                let mut v = self.expr(&mut cx, value);
                v.shape = Shape::Scalar;
                v
            }
            DeclKind::List { items, elem, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    ..Ctx::default()
                };
                // Element types were reported where the list is declared.
                let mark = self.diags.len();
                let v = self.typed_list(&mut cx, items, elem.as_ref());
                self.diags.truncate(mark);
                v
            }
            DeclKind::Record { name, expr, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    ..Ctx::default()
                };
                let mark = self.diags.len();
                let v = self.expr(&mut cx, expr);
                let mut v = self.as_value(v, expr);
                self.diags.truncate(mark);
                // Every declaration recording this name adds its static labels.
                let package = &self.files[sym.file].package;
                let statics: Vec<String> = self
                    .files
                    .iter()
                    .filter(|f| &f.package == package)
                    .flat_map(|f| &f.module.decls)
                    .filter_map(|d| match &d.kind {
                        DeclKind::Record {
                            name: n, labels, ..
                        } if n.name == name.name => Some(labels),
                        _ => None,
                    })
                    .flatten()
                    .map(|(k, _)| k.name.clone())
                    .collect();
                if let Some(ls) = v.labels_mut() {
                    ls.known.extend(statics);
                }
                // Recorded: stored as a series of its own, readable by window functions.
                Val { stored: true, ..v }
            }
            _ => Val::error(),
        }
    }

    pub(super) fn field(&mut self, cx: &mut Ctx, path: &[Ident], span: Span) -> Val {
        if !cx.event {
            self.err(
                Diagnostic::new(
                    Code::EventOutsideEventRule,
                    span,
                    "event fields are only readable in event rules",
                )
                .label("no event here"),
            );
            return Val::error();
        }
        if is_all_strings(path) {
            return Val::scalar(Ty::List(Box::new(Ty::Str))).with_shape(Shape::Event);
        }
        let ty = match (&cx.schema, path.first()) {
            (Some(schema), Some(first)) => self.schema_field(cx.file, schema, path, first),
            _ => Ty::Dynamic,
        };
        Val::scalar(ty).with_shape(Shape::Event)
    }

    pub(super) fn schema_field(
        &mut self,
        fi: usize,
        schema: &str,
        path: &[Ident],
        first: &Ident,
    ) -> Ty {
        let Some(key) = self.resolve(fi, Namespace::Schema, schema) else {
            return Ty::Dynamic;
        };
        self.used.insert(key.clone());
        let sym = self.syms.map[&key];
        let DeclKind::Schema { fields, .. } = &self.files[sym.file].module.decls[sym.decl].kind
        else {
            return Ty::Dynamic;
        };
        if matches!(first.name.as_str(), "type" | "ts" | "timestamp") {
            return Ty::Str;
        }
        let mut fields = fields.as_slice();
        let mut ty = Ty::Dynamic;
        for (i, seg) in path.iter().enumerate() {
            let Some(f) = fields.iter().find(|f| f.name.name == seg.name) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name.name.as_str()).collect();
                let help = did_you_mean(
                    &seg.name,
                    names.iter().copied(),
                    &format!("the `{schema}` schema has: {}", names.join(", ")),
                );
                self.err(
                    Diagnostic::new(
                        Code::UnknownField,
                        seg.span,
                        format!("`{}` is not a field of `{schema}` events", seg.name),
                    )
                    .label("unknown field")
                    .help(help),
                );
                return Ty::Error;
            };
            match &f.ty {
                FieldType::Object(inner) => {
                    fields = inner;
                    ty = Ty::Object;
                }
                FieldType::Array(_) => return Ty::List(Box::new(Ty::Dynamic)),
                FieldType::Named(n) => {
                    if i + 1 < path.len() {
                        return Ty::Dynamic;
                    }
                    ty = named_type(&n.name).unwrap_or(Ty::Dynamic);
                }
            }
        }
        ty
    }
}
