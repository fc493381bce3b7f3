//! References to secrets. A rule file writes `env("NAME")`; compiled programs, snapshots, logs
//! and API answers carry only the name, and the value is looked up where it is used (at send
//! time for notifiers, when a rule set is loaded for rule constants).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The name of an environment variable holding a secret. Printing it (Debug, Display, JSON)
/// shows `env("NAME")`, never a value: it has none.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef {
    name: String,
}

impl SecretRef {
    /// A reference to the environment variable `name`.
    pub fn new(name: impl Into<String>) -> SecretRef {
        SecretRef { name: name.into() }
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "env({:?})", self.name)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "env({:?})", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_prints_its_name_only() {
        let s = SecretRef::new("PD_ROUTING_KEY");
        assert_eq!(format!("{s:?}"), r#"env("PD_ROUTING_KEY")"#);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""PD_ROUTING_KEY""#);
    }
}
