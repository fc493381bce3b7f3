//! Words for syntax errors: what the parser could have accepted, in a user's terms.

use super::grammar::Rule;
use pest::error::{Error, ErrorVariant};

/// What a grammar rule is, for "expected ..." messages; `None` for rules a user never needs
/// to hear about (their parents or literal tokens say it better).
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::decl | Rule::single_decl | Rule::file => {
            "a declaration (rule, const, list, macro, notifier, route, test, ...)"
        }
        Rule::ident | Rule::qual_name => "a name",
        Rule::label_name => "a label name",
        Rule::field_key => "a field name",
        Rule::metric_name => "a metric name",
        Rule::name_pattern => "a name pattern like selection_*",
        Rule::number => "a number",
        Rule::percent => "a percentage like 80%",
        Rule::duration => "a duration like 5m",
        Rule::dur_unit => "a duration unit (ms, s, m, h, d, w)",
        Rule::bytesize => "a size like 10MiB",
        Rule::size_unit => "a size unit (B, KiB, MiB, GiB, KB, MB, GB)",
        Rule::string => "a string in double quotes",
        Rule::regex => "a regex like /.../",
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::add_expr
        | Rule::mul_expr
        | Rule::unary
        | Rule::postfix
        | Rule::call_expr
        | Rule::selector => "an expression",
        Rule::cmp_op => "a comparison (== != < <= > >=)",
        Rule::severity_level => "a severity (info, warning, high, critical)",
        Rule::no_data_action => "a no-data action (alert, resolve, keep, ok)",
        Rule::alert_state => "an alert state (inactive, pending, firing, resolved)",
        Rule::step_outcome => "a step outcome (done, failed, skipped, pending)",
        Rule::label_list => "a list of labels like [host, job]",
        Rule::list_lit => "a list like [\"a\", \"b\"]",
        Rule::label_block | Rule::object => "a block of `name = value` pairs",
        Rule::label_cond | Rule::label_and | Rule::label_match => {
            "a label condition like severity == critical"
        }
        Rule::match_op => "a matcher (=, ==, !=, =~, !~)",
        Rule::field_path => "an event field like event.user",
        Rule::group_keys => "event fields like event.user or [event.host, event.user]",
        Rule::weekday => "a weekday (mon..sun)",
        Rule::clock => "a time like 09:30",
        Rule::session_spec => "a session like mon..fri 09:30-16:00",
        Rule::tuple => "a row like (\"a\", \"b\")",
        Rule::http_method => "an HTTP method (get, post, put, delete)",
        Rule::decl_kind => "a declaration kind (const, list, macro, rule, exception)",
        Rule::schema_field => "a field like `user: string`",
        Rule::field_type => "a field type (string, number, bool, ip, ...)",
        Rule::seq_step => "a sequence step like `name: <condition>`",
        Rule::matching => "`on [labels]` or `ignoring [labels]`",
        Rule::unit_spec => "a unit (number, percent, ratio, duration(ms), bytes, counter)",
        _ => return None,
    })
}

/// "a, b or c" from the rules pest tried and the literal tokens it wanted at the error.
pub(super) fn describe(err: &Error<Rule>) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            if let Some(w) = rule_words(*r) {
                push_unique(&mut words, w.to_string());
            }
        }
    }
    let tokens: Vec<String> = err
        .parse_attempts()
        .map(|a| a.expected_tokens())
        .unwrap_or_default()
        .into_iter()
        // pest does not export its token type; its Display is the literal (or `a..z` for ranges).
        .map(|t| t.to_string())
        .filter(|t| t != "BUILTIN_RULE" && !(t.chars().count() == 4 && t.contains("..")))
        // A backquote opens a quoted name, which "an expression" or "a metric name" says.
        .filter(|t| {
            !matches!(
                t.as_str(),
                " " | "\t" | "\r" | "\n" | "#" | "//" | "_" | "`"
            )
        })
        .collect();
    let (punct, kws): (Vec<String>, Vec<String>) = tokens
        .into_iter()
        .partition(|t| !t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
    // Keywords are listed when there are few; a long list reads worse than the rule's words.
    if kws.len() <= 8 || words.is_empty() {
        for k in kws.iter().take(12) {
            push_unique(&mut words, format!("`{k}`"));
        }
    }
    for p in punct {
        push_unique(&mut words, format!("`{p}`"));
    }
    match words.len() {
        0 => None,
        1 => Some(words.remove(0)),
        n => {
            let last = words.remove(n - 1);
            Some(format!("{} or {}", words.join(", "), last))
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// The token at `at`: a word, a number, or one character; `None` at the end of the text.
pub(super) fn found_at(text: &str, at: usize) -> Option<String> {
    let rest = text.get(at..)?;
    let first = rest.chars().next()?;
    if first.is_alphanumeric() || first == '_' {
        Some(
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                .collect(),
        )
    } else {
        Some(first.to_string())
    }
}

/// A help line for mistakes people coming from PromQL or YAML make often.
pub(super) fn hint(text: &str, at: usize, found: Option<&str>) -> Option<String> {
    let before = text.get(..at).unwrap_or("").trim_end();
    let after = text.get(at..).unwrap_or("");
    if let Some(h) = promql_hint(before, after, found) {
        return Some(h);
    }
    match found {
        Some("&&") | Some("&") => Some("write `and` instead of `&&`".into()),
        Some("|") => Some("write `or` instead of `||`".into()),
        Some("!") => Some("write `not` instead of `!`".into()),
        Some("'") => Some("strings use double quotes: \"...\"".into()),
        Some(":") if before.ends_with("labels") => {
            Some("labels are written `labels { team = \"infra\" }`".into())
        }
        None => Some("the file ends inside a declaration: is a `}` or `)` missing?".into()),
        _ => None,
    }
}

/// PromQL (and Prometheus template) forms users paste, and how Vigil writes them.
fn promql_hint(before: &str, after: &str, found: Option<&str>) -> Option<String> {
    let line_before = before.rsplit('\n').next().unwrap_or(before);
    // `rate(x[5m])`, `x[5m] offset 1h`: a range selector.
    if found == Some("[") {
        let range: String = after[1..]
            .chars()
            .take_while(|c| *c != ']' && *c != '\n')
            .collect();
        let is_duration = !range.is_empty()
            && range.chars().next().is_some_and(|c| c.is_ascii_digit())
            && range.chars().all(|c| c.is_ascii_alphanumeric() || c == ':');
        if is_duration {
            return Some(format!(
                "PromQL's range selector `x[{range}]` is a window argument in Vigil: `rate(x, {range})`, `avg(x, {range})`"
            ));
        }
    }
    // `sum by (job) (x)` / `sum without (x) (y)`.
    let word = line_before
        .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    if matches!(found, Some("by") | Some("without"))
        && matches!(
            word,
            "sum" | "avg" | "min" | "max" | "count" | "stddev" | "quantile" | "topk"
        )
    {
        let g = found.unwrap_or("by");
        return Some(format!(
            "Vigil writes the grouping after the aggregation: `{word}(x) {g} [job]` (PromQL's `{word} {g} (job) (x)`)"
        ));
    }
    let after_operator = before.ends_with(['/', '*', '+', '-', '>', '<', '='])
        || matches!(word, "and" | "or" | "unless");
    if after_operator
        && matches!(
            found,
            Some("on") | Some("ignoring") | Some("group_left") | Some("group_right")
        )
    {
        if matches!(found, Some("group_left") | Some("group_right")) {
            return Some("Vigil writes vector matching after the right operand: `errors / requests on [job] group_left [team]` (PromQL's `errors / on(job) group_left(team) requests`)".into());
        }
        return Some("Vigil writes vector matching after the right operand: `errors / requests on [job]` (PromQL's `errors / on(job) requests`)".into());
    }
    if matches!(found, Some("("))
        && (word == "by" || word == "without" || word == "on" || word == "ignoring")
    {
        return Some(format!(
            "label lists are written in square brackets: `{word} [job, instance]`"
        ));
    }
    if found.is_some_and(|f| f.starts_with('$'))
        || after.starts_with("$labels")
        || after.starts_with("$value")
    {
        return Some("Prometheus's `$labels.x` and `$value` are `{{ x }}` and `{{ value }}` in Vigil's templates".into());
    }
    // `on event where ... for 5m`: a duration on a single-event rule.
    if found == Some("for") && before.contains("on event where") {
        return Some("an event rule fires on each matching event; for a threshold in time, count them: `when count() by event.x over 5m >= 3`".into());
    }
    None
}
