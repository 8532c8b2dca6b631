//! What a parse finds: the rules a location breaks, and the warnings on one that passes.

use std::fmt;

/// A rule a location breaks: the field path, what is wrong, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The field path, e.g. `spec.objectStorage.caCert`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A location that breaks one or more rules. Every violation is reported, not just the first,
/// so one `kubectl apply` shows everything there is to fix.
#[derive(Debug)]
pub struct Rejected {
    pub violations: Vec<Violation>,
    pub warnings: Vec<String>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.violations.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Rejected {}

/// Collects violations and warnings while a spec is read.
#[derive(Default)]
pub(crate) struct Findings {
    pub(super) violations: Vec<Violation>,
    pub(super) warnings: Vec<String>,
}

impl Findings {
    pub(crate) fn deny(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }
}
