//! Prometheus's Go templates (`{{ $labels.x }}`, `{{ $value | humanize }}`, `printf`) as Vigil
//! placeholders.

/// A template translated: Vigil's text, and the actions it could not express (left out).
pub struct Translated {
    pub text: String,
    pub dropped: Vec<String>,
}

/// Translates `src`, leaving out the placeholders of labels in `absent` (Prometheus renders a
/// label the alert does not carry as the empty string).
pub fn translate(src: &str, absent: &[String]) -> Translated {
    let mut text = String::new();
    let mut dropped = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let mut lit = &rest[..open];
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            text.push_str(rest);
            rest = "";
            break;
        };
        let mut action = &after[..close];
        rest = &after[close + 2..];
        // `{{-` and `-}}` trim the whitespace beside them.
        if let Some(a) = action.strip_prefix('-') {
            action = a;
            lit = lit.trim_end();
        }
        if let Some(a) = action.strip_suffix('-') {
            action = a;
            rest = rest.trim_start();
        }
        text.push_str(lit);
        if let Some(t) = constant(action.trim()) {
            text.push_str(&t);
            continue;
        }
        // `{{ with $labels.x -}} on {{ . }} {{- end }}`: text around a label that may be
        // missing, as `{{ x | prefix(" on ") }}`.
        if let Some(subject) = action.trim().strip_prefix("with ")
            && let Some(name) = value(subject.trim()).filter(|n| n != "value")
            && let Some((before, after, tail)) = with_body(rest)
        {
            rest = tail;
            if absent.contains(&name) {
                continue;
            }
            let mut p = name;
            if !before.is_empty() || after.is_empty() {
                p.push_str(&format!(" | prefix(\"{before}\")"));
            }
            if !after.is_empty() {
                p.push_str(&format!(" | suffix(\"{after}\")"));
            }
            text.push_str(&format!("{{{{ {p} }}}}"));
            continue;
        }
        match placeholder(action.trim()) {
            Some(p)
                if absent
                    .iter()
                    .any(|a| *a == p.split('|').next().unwrap_or("").trim()) => {}
            Some(p) => text.push_str(&format!("{{{{ {p} }}}}")),
            None => dropped.push(format!("{{{{{action}}}}}")),
        }
    }
    text.push_str(rest);
    Translated { text, dropped }
}

/// The body of a `with` block that only writes its subject between two texts: `LIT {{ . }} LIT
/// {{ end }}` (trim markers applied), as `(before, after, rest after the block)`.
fn with_body(rest: &str) -> Option<(String, String, &str)> {
    let plain = |s: &str| !s.contains(['"', '|', '(', ')', '{', '}', '\\']);
    let open = rest.find("{{")?;
    let close = open + rest[open..].find("}}")?;
    let dot = &rest[open + 2..close];
    let mut before = &rest[..open];
    if dot.starts_with('-') {
        before = before.trim_end();
    }
    if dot.trim_matches('-').trim() != "." {
        return None;
    }
    let mut tail = &rest[close + 2..];
    if dot.ends_with('-') {
        tail = tail.trim_start();
    }
    let open = tail.find("{{")?;
    let close = open + tail[open..].find("}}")?;
    let end = &tail[open + 2..close];
    if end.trim_matches('-').trim() != "end" {
        return None;
    }
    let mut after = &tail[..open];
    if end.starts_with('-') {
        after = after.trim_end();
    }
    let mut tail = &tail[close + 2..];
    if end.ends_with('-') {
        tail = tail.trim_start();
    }
    (plain(before) && plain(after)).then(|| (before.to_string(), after.to_string(), tail))
}

/// An action on a constant, rendered now as Prometheus would: `{{ "43200" | humanizeDuration }}`
/// is `12h 0m 0s` (whole seconds; anything else is left to [`placeholder`]).
fn constant(action: &str) -> Option<String> {
    let (value, stage) = action.split_once('|')?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    if stage.trim() != "humanizeDuration" {
        return None;
    }
    let v: f64 = value.parse().ok()?;
    (v.fract() == 0.0 && v.abs() >= 1.0 && v.abs() < 1e15).then(|| humanize_duration(v as i64))
}

/// Prometheus's `humanizeDuration` of whole seconds (`1d 2h 3m 4s`, `5m 0s`, `42s`).
fn humanize_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let d = secs.unsigned_abs();
    let (days, hours, minutes, seconds) = (d / 86_400, d / 3_600 % 24, d / 60 % 60, d % 60);
    if days != 0 {
        format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
    } else if hours != 0 {
        format!("{sign}{hours}h {minutes}m {seconds}s")
    } else if minutes != 0 {
        format!("{sign}{minutes}m {seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// One action as a Vigil placeholder: a value and its filters.
fn placeholder(action: &str) -> Option<String> {
    let mut stages = action.split('|').map(str::trim);
    let head = stages.next()?;
    let mut words = head.split_whitespace();
    let first = words.next()?;
    let (mut out, mut filters) = if first == "printf" {
        let fmt = words.next()?;
        let value = value(words.next()?)?;
        if words.next().is_some() {
            return None;
        }
        let fmt = fmt.strip_prefix('"')?.strip_suffix('"')?;
        let filter = match fmt {
            "%s" | "%v" | "%g" => None,
            "%d" => Some("round(0)".to_string()),
            f => {
                // `%.2f` (also `%0.2f`): decimals; `%.4g`: significant digits.
                let spec = f
                    .strip_prefix('%')?
                    .trim_start_matches('0')
                    .strip_prefix('.')?;
                if let Some(d) = spec.strip_suffix('f') {
                    Some(format!("round({})", d.parse::<u32>().ok()?))
                } else {
                    Some(format!(
                        "sig({})",
                        spec.strip_suffix('g')?.parse::<u32>().ok()?
                    ))
                }
            }
        };
        (value, filter.into_iter().collect::<Vec<_>>())
    } else {
        if words.next().is_some() {
            return None;
        }
        (value(first)?, Vec::new())
    };
    for stage in stages {
        filters.push(
            match stage {
                "humanize" => "humanize",
                "humanizePercentage" => "percent",
                "humanizeDuration" => "duration",
                "humanize1024" => "bytes",
                "toUpper" => "upper",
                "toLower" => "lower",
                "title" => "title",
                _ => return None,
            }
            .to_string(),
        );
    }
    for f in filters {
        out.push_str(&format!(" | {f}"));
    }
    Some(out)
}

/// `$value`, `.Value`, `$labels.x`, `.Labels.x`.
fn value(word: &str) -> Option<String> {
    match word {
        "$value" | ".Value" => Some("value".into()),
        w => {
            let label = w
                .strip_prefix("$labels.")
                .or_else(|| w.strip_prefix(".Labels."))?;
            crate::text::is_ident(label).then(|| label.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{humanize_duration, translate};

    #[test]
    fn labels_values_and_filters() {
        let t = translate(
            "{{ $labels.namespace }}/{{ $labels.pod }} at {{ $value | humanizePercentage }} ({{ printf \"%.2f\" $value }})",
            &[],
        );
        assert_eq!(
            t.text,
            "{{ namespace }}/{{ pod }} at {{ value | percent }} ({{ value | round(2) }})"
        );
        assert!(t.dropped.is_empty());
        let t = translate(
            "{{ printf \"%.4g\" $value }} {{ printf \"%0.0f\" $value }}",
            &[],
        );
        assert_eq!(t.text, "{{ value | sig(4) }} {{ value | round(0) }}");
    }

    #[test]
    fn a_constant_duration_is_rendered_as_prometheus_does() {
        let t = translate(r#"longer than {{ "43200" | humanizeDuration }}."#, &[]);
        assert_eq!(t.text, "longer than 12h 0m 0s.");
        assert!(t.dropped.is_empty());
        assert_eq!(humanize_duration(90_061), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(300), "5m 0s");
        assert_eq!(humanize_duration(-42), "-42s");
        // Not whole seconds: left for the placeholder rules (reported).
        assert!(
            !translate(r#"{{ "0.5" | humanizeDuration }}"#, &[])
                .dropped
                .is_empty()
        );
    }

    #[test]
    fn a_with_block_around_a_label_is_a_prefix() {
        let src = "PV {{ $labels.pv }} {{ with $labels.cluster -}} on Cluster {{ . }} {{- end }} is full.";
        let t = translate(src, &[]);
        assert_eq!(
            t.text,
            r#"PV {{ pv }} {{ cluster | prefix("on Cluster ") }} is full."#
        );
        assert!(t.dropped.is_empty());
        // A label the alert cannot carry: Prometheus writes nothing for the block.
        let t = translate(src, &["cluster".to_string()]);
        assert_eq!(t.text, "PV {{ pv }}  is full.");
        let t = translate("{{ with $labels.x }}[{{ . }}]{{ end }}", &[]);
        assert_eq!(t.text, r#"{{ x | prefix("[") | suffix("]") }}"#);
        // Anything else in the block is still reported.
        let t = translate("{{ with $labels.x }}{{ . | toUpper }}{{ end }}", &[]);
        assert!(!t.dropped.is_empty());
    }

    #[test]
    fn absent_labels_render_empty_and_control_flow_is_reported() {
        let t = translate("{{ $labels.pod }} {{ with $x }}y{{ end }}", &["pod".into()]);
        assert_eq!(t.text, " y");
        assert_eq!(t.dropped, ["{{ with $x }}", "{{ end }}"]);
    }
}
