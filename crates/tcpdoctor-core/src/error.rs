//! Library errors. Each names what failed and where.
//!
//! An OS error is part of the message and not a `source`: printed with its
//! chain (`{:#}`, as the binary does) it would otherwise appear twice
//! ("...: No such file or directory (os error 2): No such file or...").

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("writing {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}: expected {expected}, found {found:?}")]
    Parse {
        path: PathBuf,
        line: usize,
        expected: &'static str,
        found: String,
    },
    #[error("netlink sock_diag: {0}")]
    Netlink(Box<dyn std::error::Error + Send + Sync>),
    /// A source the user asked for cannot be used here, and why.
    #[error("{0}")]
    Unsupported(String),
    #[error("{context}: {cause}")]
    Os {
        context: String,
        cause: std::io::Error,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            cause,
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, cause: std::io::Error) -> Error {
        Error::Write {
            path: path.into(),
            cause,
        }
    }

    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: usize,
        expected: &'static str,
        found: &str,
    ) -> Error {
        // Keep the echo short: a binary file must not flood the terminal.
        let mut short: String = found.chars().take(80).collect();
        if short.len() < found.len() {
            short.push('…');
        }
        Error::Parse {
            path: path.into(),
            line,
            expected,
            found: short,
        }
    }

    pub fn os(context: impl Into<String>, cause: std::io::Error) -> Error {
        Error::Os {
            context: context.into(),
            cause,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_said_once_with_its_chain() {
        let e = Error::io("/x", std::io::Error::from_raw_os_error(libc::ENOENT));
        let chain: Vec<String> =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .map(|e| e.to_string())
            .collect();
        assert_eq!(chain.len(), 1, "{chain:?}");
        assert!(
            chain[0].starts_with("reading /x: No such file"),
            "{chain:?}"
        );
    }
}
