//! How bad a finding is: plain data, so that the rules, the samples of
//! `watch` and the renderers share one typed value.

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: Info < Warning < Critical. Serialized
/// as its name ("warning"), as every output and recording has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The exit code a Nagios plugin gives for it.
    pub fn exit_code(self) -> i32 {
        match self {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_read_back_as_they_are_written() {
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            let text = serde_json::to_string(&s).expect("serializes");
            assert_eq!(text, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<Severity>(&text).expect("reads"), s);
        }
    }
}
