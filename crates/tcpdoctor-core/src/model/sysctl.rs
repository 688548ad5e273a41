//! A setting from a sysctl.conf or sysctl.d file, with where it is.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlSetting {
    pub file: PathBuf,
    pub line: usize,
    /// Dotted: net.ipv4.tcp_tw_recycle (a/b/c keys are normalised).
    pub key: String,
    pub value: String,
}

impl SysctlSetting {
    /// "/etc/sysctl.conf:12".
    pub(crate) fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}
