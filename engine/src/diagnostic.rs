//! Problems that are not findings: input that cannot be read, configuration that does not
//! resolve, rules that fail. Each names its file, document and line where known, so every
//! front door can point at it.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Input, configuration or rule-evaluation trouble. `document` and `line` are known for
/// anything tied to a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The file (or source name) the problem is in: a manifest, a configuration, a rule.
    pub file: String,
    /// 0-based index of the document in the file, for problems tied to one.
    pub document: Option<usize>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, lower-case, user values in backticks.
    pub message: String,
    /// The rule that failed, when a rule failed on the resource at `document`; SARIF and
    /// JUnit attach the error to that rule.
    #[serde(skip)]
    pub rule: Option<Arc<str>>,
    /// For a rule that failed while running: where in the rule, so front ends can show the
    /// offending code. Not part of the JSON report (the message already names the line).
    #[serde(skip)]
    pub rule_site: Option<Box<RuleSite>>,
}

/// A position in a rule's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSite {
    /// The rule's id.
    pub rule: String,
    /// The rule's origin: a file path, or `builtin:<file>`.
    pub origin: String,
    /// 1-based line in the rule file.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Diagnostic {
    /// A problem in `file` (at `document` and `line` when known).
    pub fn new(
        file: impl Into<String>,
        document: Option<usize>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            document,
            line,
            message: message.into(),
            rule: None,
            rule_site: None,
        }
    }

    /// The same error, attributed to `rule`.
    pub fn with_rule(mut self, rule: Arc<str>) -> Diagnostic {
        self.rule = Some(rule);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(document) = self.document {
            // People count documents from 1; the JSON `document` field is a 0-based index.
            write!(f, " (document {})", document + 1)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A JSON value's type in words, for messages: "a mapping", "a list", "null".
pub(crate) fn describe(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}
