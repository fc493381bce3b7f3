//! Falco's condition language (fields, operators, macros, lists, `and`/`or`/`not`) parsed
//! by hand and written as a Vigil event filter.

use super::{Kind, Mapping};
use crate::text;
use std::collections::BTreeMap;

/// What a condition is translated against.
pub struct Cx<'a> {
    pub mapping: &'a Mapping,
    /// The package being written.
    pub package: &'a str,
    /// Macro and list names loaded so far, with their package.
    pub loaded: &'a BTreeMap<String, (String, Kind)>,
}

impl Cx<'_> {
    /// A macro or list reference, qualified (and imported) when another file declares it.
    fn reference(&self, name: &str, imports: &mut Vec<String>) -> Option<(String, Kind)> {
        let (pkg, kind) = self.loaded.get(name)?;
        let id = text::ident(name);
        if pkg == self.package {
            Some((id, *kind))
        } else {
            imports.push(pkg.clone());
            Some((format!("{pkg}.{id}"), *kind))
        }
    }
}

/// The Vigil filter for a Falco condition.
pub fn translate(src: &str, cx: &Cx, imports: &mut Vec<String>) -> Result<String, String> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        at: 0,
        cx,
        imports,
    };
    let e = p.or()?;
    p.space();
    if p.at < p.s.len() {
        return Err(format!(
            "the condition does not parse at `{}`",
            excerpt(&src[p.at..])
        ));
    }
    Ok(e)
}

/// A list's entries: values, and other lists spread in.
pub fn list_items(
    items: &[String],
    cx: &Cx,
    imports: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for i in items {
        match cx.reference(i, imports) {
            Some((name, Kind::List)) => out.push(format!("...{name}")),
            _ => out.push(value(i)),
        }
    }
    Ok(out)
}

/// An `output` line as a summary template: `%proc.name` is `{{ event.proc.name }}`; fields
/// with an argument (`%proc.aname[2]`) are left out and returned.
pub fn output(src: &str, cx: &Cx) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut dropped = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 1 < b.len() && (b[i + 1].is_ascii_alphabetic()) {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            // A trailing `.` ends the sentence, not the field.
            while j > start && b[j - 1] == b'.' {
                j -= 1;
            }
            let field = &src[start..j];
            if j < b.len() && b[j] == b'[' {
                let end = src[j..].find(']').map_or(b.len(), |k| j + k + 1);
                let arg = &src[j + 1..end.saturating_sub(1)];
                match cx.mapping.path(field) {
                    Ok(p) if !arg.is_empty() && arg.bytes().all(|c| c.is_ascii_digit()) => {
                        out.push_str(&format!("{{{{ {p}[{arg}] }}}}"))
                    }
                    _ => dropped.push(format!("%{}", &src[start..end])),
                }
                i = end;
                continue;
            }
            match cx.mapping.path(field) {
                Ok(p) => out.push_str(&format!("{{{{ {p} }}}}")),
                Err(_) => dropped.push(format!("%{field}")),
            }
            i = j;
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    (out, dropped)
}

/// A Falco value as a Vigil literal: digits are numbers (Falco's numeric fields), anything
/// else a string.
fn value(v: &str) -> String {
    if !v.is_empty() && v.len() < 16 && v.bytes().all(|c| c.is_ascii_digit()) {
        v.trim_start_matches('0').to_string().max("0".into())
    } else {
        text::string(v)
    }
}

fn excerpt(s: &str) -> String {
    let t: String = s.chars().take(40).collect();
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Parser<'a, 'c> {
    s: &'a [u8],
    src: &'a str,
    at: usize,
    cx: &'c Cx<'c>,
    imports: &'c mut Vec<String>,
}

const WORD_OPS: &[&str] = &[
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "glob",
    "iglob",
    "pmatch",
    "in",
    "intersects",
    "exists",
    "regex",
];

impl Parser<'_, '_> {
    fn space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    /// The next keyword (`and`, `or`, `not`) if it is there, consumed.
    fn keyword(&mut self, kw: &str) -> bool {
        self.space();
        let rest = &self.src[self.at..];
        if rest.starts_with(kw)
            && rest[kw.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(')
        {
            self.at += kw.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<String, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or_default()
        } else {
            format!("({})", parts.join(" or "))
        })
    }

    fn and(&mut self) -> Result<String, String> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            parts.push(self.not()?);
        }
        Ok(parts.join(" and "))
    }

    fn not(&mut self) -> Result<String, String> {
        if self.keyword("not") {
            let inner = self.not()?;
            return Ok(format!("not ({inner})"));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<String, String> {
        self.space();
        if self.s.get(self.at) == Some(&b'(') {
            self.at += 1;
            let e = self.or()?;
            self.space();
            if self.s.get(self.at) != Some(&b')') {
                return Err(format!(
                    "a `(` without `)` near `{}`",
                    excerpt(&self.src[self.at..])
                ));
            }
            self.at += 1;
            return Ok(format!("({e})"));
        }
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || b"_.-".contains(&self.s[self.at]))
        {
            self.at += 1;
        }
        let name = &self.src[start..self.at];
        if name.is_empty() {
            if start >= self.s.len() {
                return Err("the condition ends where a test was expected".into());
            }
            return Err(format!(
                "the condition does not parse at `{}`",
                excerpt(&self.src[start..])
            ));
        }
        let mut arg = None;
        if self.s.get(self.at) == Some(&b'[') {
            let end = self.src[self.at..]
                .find(']')
                .ok_or("a field argument without `]`")?;
            arg = Some(self.src[self.at + 1..self.at + end].to_string());
            self.at += end + 1;
        }
        self.space();
        let op = self.operator();
        let Some(op) = op else {
            if arg.is_none()
                && let Some((r, Kind::Macro)) = self.cx.reference(name, self.imports)
            {
                return Ok(r);
            }
            return Err(format!("`{name}` is neither a macro nor a field test"));
        };
        let field = self.field(name, arg.as_deref())?;
        self.test(&field, &op)
    }

    fn field(&self, name: &str, arg: Option<&str>) -> Result<String, String> {
        let path = self.cx.mapping.path(name)?;
        match arg {
            None => Ok(path),
            Some(a) if a.bytes().all(|c| c.is_ascii_digit()) => Ok(format!("{path}[{a}]")),
            Some(a) if text::is_ident(a) => Ok(format!("{path}.{a}")),
            Some(a) => Err(format!("the field argument `{name}[{a}]`")),
        }
    }

    fn operator(&mut self) -> Option<String> {
        for sym in ["==", "!=", "<=", ">=", "=", "<", ">"] {
            if self.src[self.at..].starts_with(sym) {
                self.at += sym.len();
                return Some(sym.to_string());
            }
        }
        let rest = &self.src[self.at..];
        for w in WORD_OPS {
            if rest.starts_with(w)
                && rest[w.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || c == '(' || c == ')')
            {
                self.at += w.len();
                return Some(w.to_string());
            }
        }
        None
    }

    /// One value: quoted, or a run up to a space, `,` or `)`.
    fn value(&mut self) -> Result<String, String> {
        self.space();
        let Some(&q) = self.s.get(self.at) else {
            return Err("a test without a value".into());
        };
        if q == b'"' || q == b'\'' {
            // Backslash escapes the quote and itself, as in Falco.
            let mut v = String::new();
            let mut it = self.src[self.at + 1..].char_indices();
            while let Some((i, c)) = it.next() {
                if c == q as char {
                    self.at += 1 + i + 1;
                    return Ok(v);
                }
                if c == '\\' {
                    if let Some((_, n)) = it.next() {
                        v.push(n);
                    }
                } else {
                    v.push(c);
                }
            }
            return Err("an unclosed quote".into());
        }
        let start = self.at;
        while self.at < self.s.len()
            && !self.s[self.at].is_ascii_whitespace()
            && !b",)".contains(&self.s[self.at])
        {
            self.at += 1;
        }
        Ok(self.src[start..self.at].to_string())
    }

    /// `(a, b, list)`: the raw entries.
    fn values(&mut self) -> Result<Vec<String>, String> {
        self.space();
        if self.s.get(self.at) != Some(&b'(') {
            // `in list_name` without brackets.
            return Ok(vec![self.value()?]);
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            self.space();
            if self.s.get(self.at) == Some(&b')') {
                self.at += 1;
                return Ok(out);
            }
            out.push(self.value()?);
            self.space();
            match self.s.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b')') => {}
                _ => return Err("a value list without `)`".into()),
            }
        }
    }

    fn list(&mut self) -> Result<String, String> {
        let raw = self.values()?;
        if let [one] = raw.as_slice()
            && let Some((r, Kind::List)) = self.cx.reference(one, self.imports)
        {
            return Ok(r);
        }
        Ok(format!(
            "[{}]",
            list_items(&raw, self.cx, self.imports)?.join(", ")
        ))
    }

    fn test(&mut self, field: &str, op: &str) -> Result<String, String> {
        let simple = |vigil: &str, v: String| format!("{field} {vigil} {}", value(&v));
        Ok(match op {
            "=" | "==" => simple("==", self.value()?),
            "!=" => simple("!=", self.value()?),
            "<" | "<=" | ">" | ">=" => simple(op, self.value()?),
            "contains" => format!("{field} contains {}", text::string(&self.value()?)),
            "icontains" => format!("{field} contains nocase {}", text::string(&self.value()?)),
            "startswith" => format!("{field} startswith {}", text::string(&self.value()?)),
            "endswith" => format!("{field} endswith {}", text::string(&self.value()?)),
            "glob" => format!("{field} glob {}", text::string(&self.value()?)),
            "regex" => {
                let re = self.value()?;
                if re.contains('/') {
                    return Err("a regex with `/` (Vigil's regex literals are /.../)".into());
                }
                format!("{field} matches /{re}/")
            }
            "exists" => format!("exists {field}"),
            "in" => format!("{field} in {}", self.list()?),
            "intersects" => format!("{field} contains any {}", self.list()?),
            "pmatch" => format!("{field} under {}", self.list()?),
            other => return Err(format!("the operator `{other}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(src: &str, loaded: &[(&str, Kind)]) -> Result<String, String> {
        let mapping = Mapping::default();
        let loaded: BTreeMap<String, (String, Kind)> = loaded
            .iter()
            .map(|(n, k)| (n.to_string(), ("f".to_string(), *k)))
            .collect();
        let cx = Cx {
            mapping: &mapping,
            package: "f",
            loaded: &loaded,
        };
        translate(src, &cx, &mut Vec::new())
    }

    #[test]
    fn falco_conditions_read_as_filters() {
        assert_eq!(
            tr(
                "spawned_process and proc.name in (shell_binaries, fish) and not proc.pname startswith /usr/bin and evt.dir=<",
                &[("spawned_process", Kind::Macro), ("shell_binaries", Kind::List)]
            )
            .unwrap(),
            r#"spawned_process and event.proc.name in [...shell_binaries, "fish"] and not (event.proc.pname startswith "/usr/bin") and event.evt.dir == "<""#
        );
        assert_eq!(
            tr(
                "(evt.type in (open, openat) or fd.name icontains 'id_rsa') and user.uid = 0",
                &[]
            )
            .unwrap(),
            r#"((event.type in ["open", "openat"] or event.fd.name contains nocase "id_rsa")) and event.user.uid == 0"#
        );
        assert_eq!(
            tr(
                "proc.aname[2] in (sh) and fd.name pmatch (/etc, /usr) and proc.env exists",
                &[]
            )
            .unwrap(),
            r#"event.proc.aname[2] in ["sh"] and event.fd.name under ["/etc", "/usr"] and exists event.proc.env"#
        );
        assert!(
            tr("unknown_macro", &[])
                .unwrap_err()
                .contains("unknown_macro")
        );
        assert!(tr("(proc.name = a", &[]).is_err());
    }

    #[test]
    fn outputs_become_templates() {
        let mapping = Mapping::default();
        let loaded = BTreeMap::new();
        let cx = Cx {
            mapping: &mapping,
            package: "f",
            loaded: &loaded,
        };
        let (t, dropped) = output(
            "Shell (user=%user.name parent=%proc.aname[2] type=%evt.type %fd.x[a]).",
            &cx,
        );
        assert_eq!(
            t,
            "Shell (user={{ event.user.name }} parent={{ event.proc.aname[2] }} type={{ event.type }} )."
        );
        assert_eq!(dropped, ["%fd.x[a]"]);
    }
}
