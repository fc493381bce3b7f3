//! Literals that need checking: regexes, CIDR prefixes, lists and typed lists.

use super::*;

impl Checker<'_> {
    pub(crate) fn regex(&mut self, r: &str, span: Span) -> bool {
        match regex::Regex::new(r) {
            Ok(_) => true,
            Err(e) => {
                let msg = e.to_string();
                let last = msg
                    .lines()
                    .last()
                    .unwrap_or("invalid regex")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.err(
                    Diagnostic::new(Code::BadRegex, span, format!("invalid regex: {last}"))
                        .label("does not compile"),
                );
                false
            }
        }
    }

    pub(super) fn list(
        &mut self,
        cx: &mut Ctx,
        items: &[Expr],
        declared: Option<&Ty>,
        span: Span,
    ) -> Val {
        let mut elem: Option<Ty> = declared.cloned();
        for it in items {
            let v = self.expr(cx, it);
            let t = match (&it.kind, v.ty) {
                (ExprKind::Spread(_), Ty::List(t)) => *t,
                (ExprKind::Spread(_), Ty::Error) => continue,
                (ExprKind::Spread(_), other) => {
                    self.mismatch(it.span, "a list to spread", &other);
                    continue;
                }
                (_, t) => t,
            };
            match &elem {
                None => elem = Some(t),
                Some(e) if list_compatible(e, &t, it) => {}
                Some(e) => {
                    let e = e.clone();
                    self.err(
                        Diagnostic::new(
                            Code::ListElementType,
                            it.span,
                            format!("list element is a {t}, the list holds {e}"),
                        )
                        .label("wrong element type"),
                    );
                }
            }
            if (elem == Some(Ty::Cidr) || declared == Some(&Ty::Cidr))
                && let ExprKind::Str(s) = &it.kind
            {
                self.cidr(s, it.span);
            }
        }
        let _ = span;
        Val::scalar(Ty::List(Box::new(elem.unwrap_or(Ty::Dynamic))))
    }

    /// Validates an IP or CIDR literal.
    pub(crate) fn cidr(&mut self, s: &str, span: Span) -> bool {
        if parse_cidr(s) {
            return true;
        }
        self.err(
            Diagnostic::new(
                Code::BadCidr,
                span,
                format!("`{s}` is not a network or address"),
            )
            .label("invalid CIDR"),
        );
        false
    }

    /// A typed list declaration's items.
    pub(crate) fn typed_list(&mut self, cx: &mut Ctx, items: &Expr, ty: Option<&Ident>) -> Val {
        let declared = ty.and_then(|t| match t.name.as_str() {
            "string" => Some(Ty::Str),
            "number" => Some(Ty::Num(Unit::Number)),
            "cidr" => Some(Ty::Cidr),
            "ip" => Some(Ty::Ip),
            "regex" => Some(Ty::Regex),
            "duration" => Some(Ty::Num(Unit::Duration)),
            "bool" => Some(Ty::Bool),
            _ => None,
        });
        if let Some(t) = ty
            && declared.is_none()
        {
            self.err(
                Diagnostic::new(
                    Code::UnknownSchemaType,
                    t.span,
                    format!("unknown list type `{}`", t.name),
                )
                .label("not a type")
                .help("list types are string, number, cidr, ip, regex, duration and bool"),
            );
        }
        match &items.kind {
            ExprKind::List(v) => self.list(cx, v, declared.as_ref(), items.span),
            _ => self.expr(cx, items),
        }
    }
}

fn list_compatible(a: &Ty, b: &Ty, item: &Expr) -> bool {
    match (a, b) {
        (x, y) if x == y => true,
        (Ty::Dynamic | Ty::Error, _) | (_, Ty::Dynamic | Ty::Error) => true,
        (Ty::Cidr | Ty::Ip, Ty::Str) => matches!(item.kind, ExprKind::Str(_)),
        (Ty::Num(x), Ty::Num(y)) => x.compatible(*y),
        _ => false,
    }
}

/// Whether `s` is an IPv4/IPv6 address or network with a valid prefix length.
pub(crate) fn parse_cidr(s: &str) -> bool {
    crate::list_file::valid_cidr(s)
}

pub(crate) fn named_type(n: &str) -> Option<Ty> {
    Some(match n {
        "string" => Ty::Str,
        "number" | "int" | "float" => Ty::Num(Unit::Number),
        "bool" => Ty::Bool,
        "ip" => Ty::Ip,
        "duration" => Ty::Num(Unit::Duration),
        "bytes" => Ty::Num(Unit::Bytes),
        "timestamp" => Ty::Num(Unit::Duration),
        _ => return None,
    })
}

pub(crate) fn unit_from_decl(u: &Ident, arg: Option<&Ident>) -> Option<Unit> {
    let _ = arg;
    Some(match u.name.as_str() {
        "percent" => Unit::Percent,
        "ratio" => Unit::Ratio,
        "duration" => Unit::Duration,
        "bytes" => Unit::Bytes,
        "number" | "counter" => Unit::Number,
        _ => return None,
    })
}
