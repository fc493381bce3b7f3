//! Sigma's search identifiers (maps of field tests, lists of them) with value modifiers, and
//! its conditions.

use super::Fields;
use crate::text;
use serde_norway::Value;

/// A search identifier's name as a `let` name.
pub fn ident(name: &str) -> String {
    text::ident(name)
}

/// One search identifier: a map (every test holds), a list of maps (any holds).
pub fn search(v: &Value, fields: &Fields) -> Result<String, String> {
    match v {
        Value::Mapping(m) => {
            let mut parts = Vec::new();
            for (k, vals) in m {
                let key = k.as_str().ok_or("a field name that is not a string")?;
                parts.push(field_test(key, vals, fields)?);
            }
            if parts.is_empty() {
                return Err("an empty search identifier".into());
            }
            Ok(join(&parts, "and"))
        }
        Value::Sequence(items) if items.iter().all(Value::is_mapping) => {
            let parts: Result<Vec<String>, String> =
                items.iter().map(|i| search(i, fields)).collect();
            Ok(join(&parts?, "or"))
        }
        Value::Sequence(_) | Value::String(_) | Value::Number(_) => keywords("", v, fields),
        _ => Err("a search identifier that is neither a map nor a list".into()),
    }
}

fn join(parts: &[String], op: &str) -> String {
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("({})", parts.join(&format!(" {op} ")))
    }
}

/// Keywords (values without a field, `key` their modifiers, `|all` say): each is looked for
/// (a substring, unless a match modifier says otherwise) in the fields the mapping names for
/// keyword searches, or, when it names none, in every string of the event (`event.*`).
fn keywords(key: &str, v: &Value, fields: &Fields) -> Result<String, String> {
    let mods = key.trim_start_matches('|');
    let matcher = ["contains", "startswith", "endswith", "re"]
        .iter()
        .any(|m| mods.split('|').any(|x| x == *m));
    let mods = match (mods.is_empty(), matcher) {
        (true, _) => "contains".to_string(),
        (false, true) => mods.to_string(),
        (false, false) => format!("contains|{mods}"),
    };
    if fields.keyword_fields().is_empty() {
        // Each value looked for in any string: `|all` needs every value, each in some string.
        let all = mods.split('|').any(|m| m == "all");
        let one = |val: &Value| -> Result<String, String> {
            let test = test_at("kw", &format!("|{mods}"), val, fields)?;
            Ok(format!("any kw in event.* where {test}"))
        };
        let parts: Result<Vec<String>, String> = match v {
            Value::Sequence(items) if all => items.iter().map(one).collect(),
            v => Ok(vec![one(v)?]),
        };
        return Ok(join(&parts?, if all { "and" } else { "or" }));
    }
    let parts: Result<Vec<String>, String> = fields
        .keyword_fields()
        .iter()
        .map(|f| field_test(&format!("{f}|{mods}"), v, fields))
        .collect();
    Ok(join(&parts?, "or"))
}

/// A value of a test: a string, a number, a boolean, or null.
enum Val {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

fn vals(v: &Value) -> Result<Vec<Val>, String> {
    let one = |v: &Value| -> Result<Val, String> {
        Ok(match v {
            Value::String(s) => Val::Str(s.clone()),
            Value::Number(n) => Val::Num(n.to_string()),
            Value::Bool(b) => Val::Bool(*b),
            Value::Null => Val::Null,
            _ => return Err("a value that is a map or a nested list".into()),
        })
    };
    match v {
        Value::Sequence(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// `Field|mod|mod: values`.
fn field_test(key: &str, v: &Value, fields: &Fields) -> Result<String, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    if field.is_empty() {
        return keywords(key, v, fields);
    }
    let path = fields.path(field)?;
    test_at(&path, key, v, fields)
}

/// The test of the value(s) `v` on the field at `path`, with the modifiers of `key`
/// (`Field|contains|all`; the field name itself is not read here).
fn test_at(path: &str, key: &str, v: &Value, fields: &Fields) -> Result<String, String> {
    let mods: Vec<&str> = key.split('|').skip(1).collect();
    let values = vals(v)?;
    let mut all = false;
    let mut matcher: Option<&str> = None;
    let mut transform: Option<&str> = None;
    let mut re_flags = String::new();
    let mut cased = false;
    for m in &mods {
        match *m {
            "all" => all = true,
            "cased" => cased = true,
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "exists" | "gt" | "gte"
            | "lt" | "lte" | "fieldref" => {
                if matcher.is_some() {
                    return Err(format!("two match modifiers in `{key}`"));
                }
                matcher = Some(m);
            }
            "i" | "m" | "s" if matcher == Some("re") => re_flags.push_str(m),
            "base64" | "base64offset" | "wide" | "utf16le" | "utf16" | "windash" => {
                if transform.is_some() {
                    return Err(format!("two value modifiers in `{key}` (only one here)"));
                }
                transform = Some(m);
            }
            other => return Err(format!("the modifier `{other}`")),
        }
    }
    let nocase = if cased { "" } else { " nocase" };
    // Tests one value at a time, joined by `or` (`and` with `all`).
    let mut tests = Vec::new();
    let mut plain = Vec::new();
    for val in values {
        let s = match val {
            Val::Null => {
                tests.push(format!("not (exists {path})"));
                continue;
            }
            Val::Bool(b) if matcher.is_none() => {
                tests.push(format!("{path} == {b}"));
                continue;
            }
            Val::Num(n) if matcher.is_none() && transform.is_none() => {
                tests.push(format!("{path} == {n}"));
                continue;
            }
            Val::Num(n) => n,
            Val::Bool(b) => b.to_string(),
            Val::Str(s) => s,
        };
        match matcher {
            Some("exists") => {
                let yes = matches!(s.as_str(), "true" | "yes");
                tests.push(if yes {
                    format!("exists {path}")
                } else {
                    format!("not (exists {path})")
                });
                continue;
            }
            Some(op @ ("gt" | "gte" | "lt" | "lte")) => {
                let n: f64 = s.parse().map_err(|_| format!("`{op}` of `{s}`"))?;
                let sym = match op {
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    _ => "<=",
                };
                tests.push(format!(
                    "{path} {sym} {}",
                    text::number(n).unwrap_or_default()
                ));
                continue;
            }
            Some("fieldref") => {
                tests.push(format!("{path} == {}", fields.path(&s)?));
                continue;
            }
            Some("cidr") => {
                tests.push(format!("{path} in cidr {}", text::string(&s)));
                continue;
            }
            Some("re") => {
                let mut re = String::new();
                let inline: String = re_flags.chars().filter(|c| *c != 'i').collect();
                if !inline.is_empty() {
                    re.push_str(&format!("(?{inline})"));
                }
                // `/` ends Vigil's regex literal: escape the ones not escaped already.
                let mut esc = false;
                for c in s.chars() {
                    if c == '/' && !esc {
                        re.push('\\');
                    }
                    esc = c == '\\' && !esc;
                    re.push(c);
                }
                let ci = if re_flags.contains('i') {
                    " nocase"
                } else {
                    ""
                };
                tests.push(format!("{path} matches{ci} /{re}/"));
                continue;
            }
            _ => {}
        }
        // String matching, after the value modifier.
        let op = matcher.unwrap_or("");
        let encoded = match transform {
            None => None,
            Some("base64") => Some(format!("[{}]", text::string(&base64(s.as_bytes())))),
            Some("base64offset") => Some(format!("base64offset({})", text::string(&s))),
            Some("wide" | "utf16le" | "utf16") => Some(format!("utf16le({})", text::string(&s))),
            Some("windash") => Some(format!("windash({})", text::string(&s))),
            Some(other) => return Err(format!("the modifier `{other}`")),
        };
        let toks = tokens(&s);
        let wild = toks.iter().any(|t| !matches!(t, Tok::Lit(_)));
        if let Some(list) = encoded {
            if wild {
                return Err(format!("a wildcard under `{}`", transform.unwrap_or("")));
            }
            tests.push(match op {
                "" => format!("{path} in{nocase} {list}"),
                op => format!("{path} {op} any{nocase} {list}"),
            });
            continue;
        }
        if !wild {
            plain.push(text::string(&literal(&toks)));
            continue;
        }
        // Wildcards, with the match modifier's implied stars around.
        let mut g: Vec<Tok> = Vec::new();
        if matches!(op, "contains" | "endswith") {
            g.push(Tok::Star);
        }
        g.extend(toks);
        if matches!(op, "contains" | "startswith") {
            g.push(Tok::Star);
        }
        let lead = g.iter().take_while(|t| matches!(t, Tok::Star)).count();
        let trail = g
            .iter()
            .rev()
            .take_while(|t| matches!(t, Tok::Star))
            .count();
        let inner = &g[lead.min(g.len())..g.len().saturating_sub(trail).max(lead.min(g.len()))];
        if !inner.is_empty() && inner.iter().all(|t| matches!(t, Tok::Lit(_))) {
            // `*x*`, `x*`, `*x`: the plain string operators.
            let lit = text::string(&literal(inner));
            tests.push(match (lead > 0, trail > 0) {
                (true, true) => format!("{path} contains{nocase} {lit}"),
                (false, true) => format!("{path} startswith{nocase} {lit}"),
                (true, false) => format!("{path} endswith{nocase} {lit}"),
                (false, false) => format!("{path} in{nocase} [{lit}]"),
            });
        } else if g.iter().any(|t| matches!(t, Tok::Lit('*' | '?'))) {
            // A literal `*` or `?` next to wildcards: a glob cannot say it, a regex can.
            tests.push(format!("{path} matches{nocase} /{}/", regex_of(&g)));
        } else {
            let glob: String = g
                .iter()
                .map(|t| match t {
                    Tok::Lit(c) => *c,
                    Tok::Star => '*',
                    Tok::One => '?',
                })
                .collect();
            tests.push(format!("{path} glob{nocase} {}", text::string(&glob)));
        }
    }
    // Literal values in one test (a list of a thousand hashes stays one test).
    let op = matcher.unwrap_or("");
    match (plain.as_slice(), op) {
        ([], _) => {}
        (ps, "") if all && ps.len() > 1 => {
            for p in ps {
                tests.push(format!("{path} in{nocase} [{p}]"));
            }
        }
        (ps, "") => tests.push(format!("{path} in{nocase} [{}]", ps.join(", "))),
        ([p], op) => tests.push(format!("{path} {op}{nocase} {p}")),
        (ps, op) => {
            let q = if all { "all" } else { "any" };
            tests.push(format!("{path} {op} {q}{nocase} [{}]", ps.join(", ")));
        }
    }
    if tests.is_empty() {
        return Err(format!("`{key}` with no values"));
    }
    Ok(join(&tests, if all { "and" } else { "or" }))
}

/// A character of a Sigma value, or one of its wildcards.
enum Tok {
    Lit(char),
    Star,
    One,
}

/// Sigma's value syntax: `*` and `?` are wildcards; `\*`, `\?` and `\\` stand for the
/// character; any other `\` is a backslash.
fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' if matches!(it.peek(), Some('*' | '?' | '\\')) => {
                out.push(Tok::Lit(it.next().unwrap_or('\\')))
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            c => out.push(Tok::Lit(c)),
        }
    }
    out
}

fn literal(t: &[Tok]) -> String {
    t.iter()
        .filter_map(|t| match t {
            Tok::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// A whole-value regex (inside `/.../`) for a pattern.
fn regex_of(t: &[Tok]) -> String {
    let mut out = String::from("^(?s:");
    for t in t {
        match t {
            Tok::Star => out.push_str(".*"),
            Tok::One => out.push('.'),
            Tok::Lit(c) => {
                if "\\.+*?()|[]{}^$#&-~/".contains(*c) {
                    out.push('\\');
                }
                out.push(*c);
            }
        }
    }
    out.push_str(")$");
    out
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &x)| a | (x as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A Sigma condition over the search identifiers: `and`, `or`, `not`, brackets, `1 of x*`,
/// `all of x*`, `1 of them`, `all of them` (expanded over the identifiers here).
pub fn condition(src: &str, idents: &[String]) -> Result<String, String> {
    condition_with(src, idents, &ident)
}

/// [`condition`], writing each identifier with `name` (its `let` name, or its expression).
pub fn condition_with(
    src: &str,
    idents: &[String],
    name: &dyn Fn(&str) -> String,
) -> Result<String, String> {
    if src.contains('|') {
        return Err("an aggregation in the condition (`| count()`: write a correlation)".into());
    }
    let tokens = tokenize(src);
    let mut p = Cond {
        t: &tokens,
        at: 0,
        idents,
        name,
    };
    let e = p.or()?;
    if p.at < tokens.len() {
        return Err(format!(
            "the condition does not parse at `{}`",
            tokens[p.at]
        ));
    }
    Ok(e)
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Cond<'a> {
    t: &'a [String],
    at: usize,
    idents: &'a [String],
    name: &'a dyn Fn(&str) -> String,
}

impl Cond<'_> {
    fn peek(&self) -> Option<&str> {
        self.t.get(self.at).map(String::as_str)
    }
    fn or(&mut self) -> Result<String, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(join(&parts, "or"))
    }
    fn and(&mut self) -> Result<String, String> {
        let mut parts = vec![self.not()?];
        while self.peek() == Some("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(join(&parts, "and"))
    }
    fn not(&mut self) -> Result<String, String> {
        if self.peek() == Some("not") {
            self.at += 1;
            return Ok(format!("not ({})", self.not()?));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<String, String> {
        let tok = self
            .peek()
            .ok_or("a condition that ends early")?
            .to_string();
        self.at += 1;
        match tok.as_str() {
            "(" => {
                let e = self.or()?;
                if self.peek() != Some(")") {
                    return Err("a `(` without `)` in the condition".into());
                }
                self.at += 1;
                Ok(format!("({e})"))
            }
            "1" | "any" | "all" => {
                if self.peek() != Some("of") {
                    return Err(format!("`{tok}` without `of`"));
                }
                self.at += 1;
                let pat = self.peek().ok_or("`of` without a pattern")?.to_string();
                self.at += 1;
                let names: Vec<String> = self
                    .idents
                    .iter()
                    .filter(|n| {
                        if pat == "them" {
                            !n.starts_with('_')
                        } else {
                            glob(&pat, n)
                        }
                    })
                    .map(|n| (self.name)(n))
                    .collect();
                if names.is_empty() {
                    return Err(format!("`{tok} of {pat}` names no search identifier"));
                }
                Ok(join(&names, if tok == "all" { "and" } else { "or" }))
            }
            name => {
                if !self.idents.iter().any(|i| i == name) {
                    return Err(format!("`{name}` is not a search identifier"));
                }
                Ok((self.name)(name))
            }
        }
    }
}

/// `selection_*` against a name (`*` any run, `?` one character).
fn glob(pat: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn search_of(yaml: &str) -> Result<String, String> {
        let v: Value = serde_norway::from_str(yaml).unwrap();
        let general = BTreeMap::new();
        let f = Fields {
            general: &general,
            source: None,
            keywords: &[],
        };
        search(&v, &f)
    }

    #[test]
    fn modifiers_become_string_operators() {
        assert_eq!(
            search_of("Image|endswith: '\\whoami.exe'").unwrap(),
            r#"event.Image endswith nocase "\\whoami.exe""#
        );
        assert_eq!(
            search_of("CommandLine|contains|all: [' -a', ' -b']").unwrap(),
            r#"event.CommandLine contains all nocase [" -a", " -b"]"#
        );
        assert_eq!(
            search_of("a|re: '(^|\\/)\\.x/y'").unwrap(),
            r#"event.a matches /(^|\/)\.x\/y/"#
        );
        assert_eq!(
            search_of("User: [SYSTEM, 'LOCAL SERVICE']\nEventID: 4688").unwrap(),
            r#"(event.User in nocase ["SYSTEM", "LOCAL SERVICE"] and event.EventID == 4688)"#
        );
        // `\\*` is a backslash before a wildcard, `\*` a star.
        assert_eq!(
            search_of("Path: 'C:\\\\*\\temp\\\\*.exe'").unwrap(),
            r#"event.Path glob nocase "C:\\*\\temp\\*.exe""#
        );
        assert_eq!(
            search_of("Path: 'a\\*b*'").unwrap(),
            r#"event.Path startswith nocase "a*b""#
        );
        assert_eq!(
            search_of("Path: 'a\\*b*c'").unwrap(),
            r#"event.Path matches nocase /^(?s:a\*b.*c)$/"#
        );
        assert_eq!(
            search_of("Path|contains: 'x?y'").unwrap(),
            r#"event.Path glob nocase "*x?y*""#
        );
        assert_eq!(
            search_of("CommandLine: '*mimikatz*'").unwrap(),
            r#"event.CommandLine contains nocase "mimikatz""#
        );
        assert_eq!(
            search_of("CommandLine|re|i: 'a/b'").unwrap(),
            r#"event.CommandLine matches nocase /a\/b/"#
        );
        assert_eq!(
            search_of("CommandLine|base64offset|contains: 'IEX'").unwrap(),
            r#"event.CommandLine contains any nocase base64offset("IEX")"#
        );
        assert_eq!(
            search_of("CommandLine|base64: 'ab'").unwrap(),
            r#"event.CommandLine in nocase ["YWI="]"#
        );
        assert_eq!(
            search_of("DestinationIp|cidr: 10.0.0.0/8").unwrap(),
            r#"event.DestinationIp in cidr "10.0.0.0/8""#
        );
        assert_eq!(
            search_of("Field: null").unwrap(),
            "not (exists event.Field)"
        );
        // Without keyword fields in the mapping: every string of the event.
        assert_eq!(
            search_of("- keyword1\n- keyword2").unwrap(),
            r#"any kw in event.* where kw contains any nocase ["keyword1", "keyword2"]"#
        );
        let v: Value = serde_norway::from_str("['mimi*katz', 'sekurlsa::']").unwrap();
        let general = BTreeMap::new();
        let kw = ["message".to_string(), "CommandLine".to_string()];
        let f = Fields {
            general: &general,
            source: None,
            keywords: &kw,
        };
        assert_eq!(
            search(&v, &f).unwrap(),
            r#"((event.message glob nocase "*mimi*katz*" or event.message contains nocase "sekurlsa::") or (event.CommandLine glob nocase "*mimi*katz*" or event.CommandLine contains nocase "sekurlsa::"))"#
        );
        assert_eq!(
            search_of("c-uri|contains: x").unwrap(),
            r#"event.`c-uri` contains nocase "x""#
        );
    }

    #[test]
    fn conditions_expand_their_patterns() {
        let ids: Vec<String> = ["selection_a", "selection_b", "filter"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            condition("1 of selection_* and not filter", &ids).unwrap(),
            "((selection_a or selection_b) and not (filter))"
        );
        assert_eq!(
            condition("all of them", &ids).unwrap(),
            "(selection_a and selection_b and filter)"
        );
        assert!(condition("selection | count() > 5", &ids).is_err());
        assert!(condition("nope", &ids).is_err());
    }
}
