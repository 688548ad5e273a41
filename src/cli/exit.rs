//! Exit codes, and the errors that choose them.

use std::io;

/// Nothing wrong (or, for diagnose, nothing above info).
pub const OK: u8 = 0;
/// A lab run whose checks did not all pass.
pub const CHECK_FAILED: u8 = 1;
/// A mistake on the command line: a bad value, an unknown name.
pub const USAGE: u8 = 2;
/// The command could not run (as Nagios plugins' UNKNOWN).
pub const CANNOT_RUN: u8 = 3;
/// Interrupted by SIGINT (128 + 2), as shells report it.
pub const INTERRUPTED: u8 = 130;

/// A usage error found after parsing (an unknown topic or scenario): the
/// same exit code as a flag clap rejects.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns a usage error.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The exit code of a failed command.
pub fn code_of(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<UsageError>()) {
        USAGE
    } else {
        CANNOT_RUN
    }
}

/// Whether the error is a write to a closed pipe (`tcpdoctor ... | head`),
/// however deeply it is wrapped (JSON encoders wrap I/O errors).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return Some(io.kind());
            }
            return io.get_ref().and_then(|inner| io_kind(inner));
        }
        if let Some(j) = err.downcast_ref::<serde_json::Error>() {
            return j.io_error_kind();
        }
        None
    }
    e.chain()
        .any(|c| io_kind(c) == Some(io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_recognised_through_wrappers() {
        let plain = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&plain));
        let wrapped =
            anyhow::Error::from(io::Error::other(io::Error::from(io::ErrorKind::BrokenPipe)))
                .context("writing");
        assert!(is_broken_pipe(&wrapped));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn usage_errors_exit_2_and_others_3() {
        assert_eq!(code_of(&usage("no such topic")), USAGE);
        assert_eq!(code_of(&usage("x").context("explaining")), USAGE);
        assert_eq!(code_of(&anyhow::anyhow!("netlink failed")), CANNOT_RUN);
    }
}
