//! Label sets (an alert's identity) and the operators that match them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A label set, ordered by name: equal sets compare and print the same way everywhere.
pub type LabelSet = BTreeMap<String, String>;

/// `{a="x", b="y"}`, as alert changes and test failures print a label set.
pub fn render_labels(l: &LabelSet) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A label matcher's operator, as PromQL selectors and Alertmanager matchers write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~` (the whole value matches the regex)
    Re,
    /// `!~`
    NotRe,
}

impl MatchOp {
    /// As written.
    pub fn symbol(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_render_in_name_order() {
        let l: LabelSet = [("b", "2"), ("a", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(render_labels(&l), r#"{a="1", b="2"}"#);
        assert_eq!(MatchOp::NotRe.to_string(), "!~");
    }
}
