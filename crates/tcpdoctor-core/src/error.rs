//! Library errors. Each names what failed and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
    #[error("{context}: {source}")]
    Os {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn parse(
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

    pub fn os(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Os {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
