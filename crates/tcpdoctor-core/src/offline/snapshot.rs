//! tcpdoctor's own snapshot files: JSON (gzip when the name ends in .gz),
//! in the layout `model::Snapshot` serialises to.

use crate::error::{Error, Result};
use crate::model::Snapshot;
use std::io::Write;
use std::path::Path;

/// The largest snapshot read: about 4 million sockets. A larger input
/// (a gzip bomb, a `{` and gigabytes of spaces) stops here instead of
/// taking all memory.
const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

/// Reads a snapshot from `input` as it streams (no copy of the text is
/// kept); errors name the file and line.
pub(crate) fn read(path: &Path, input: impl std::io::Read) -> Result<Snapshot> {
    let mut limited = Limited {
        inner: input,
        left: MAX_SNAPSHOT_BYTES,
        limit: MAX_SNAPSHOT_BYTES,
    };
    serde_json::from_reader(std::io::BufReader::new(&mut limited)).map_err(|e| {
        let cut = e.is_eof() || e.io_error_kind() == Some(std::io::ErrorKind::UnexpectedEof);
        if cut {
            // A snapshot is one JSON text: cut short, nothing of it reads.
            return Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the snapshot is cut short ({e}): its writer did not finish (killed, \
                         or the disk filled); take it again"
                    ),
                ),
            );
        }
        if e.is_io() {
            return Error::io(path, std::io::Error::other(e.to_string()));
        }
        Error::parse(
            path,
            e.line(),
            "a tcpdoctor snapshot, version 1 (JSON written by `tcpdoctor snapshot`)",
            &e.to_string(),
        )
    })
}

/// A reader that fails, rather than ends, after `left` bytes: a truncated
/// JSON text would read as a misleading syntax error.
struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: std::io::Read> std::io::Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "larger than {} bytes: no snapshot is that big",
                    self.limit
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes `snap` to `path`, gzip-compressed when the name ends in .gz.
/// The file is new and readable by its owner only (0600), whatever was
/// at the path; a symbolic link, a FIFO, a device or another user's file
/// there is an error (`create_private`): a snapshot names processes and,
/// unless they were hidden, holds their command lines.
pub fn write(snap: &Snapshot, path: &Path) -> Result<()> {
    let f = super::create_private(path)?;
    let mut w = std::io::BufWriter::new(f);
    let json = |w: &mut dyn Write| {
        serde_json::to_writer(w, snap).map_err(|e| Error::write(path, std::io::Error::other(e)))
    };
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        json(&mut gz)?;
        gz.finish()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::write(path, e))?;
    } else {
        json(&mut w)?;
        w.flush().map_err(|e| Error::write(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn input_past_the_limit_is_an_error_not_an_end() {
        let mut r = Limited {
            inner: &b"0123456789"[..],
            left: 4,
            limit: 4,
        };
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).expect_err("over the limit");
        assert!(e.to_string().contains("larger than 4 bytes"), "{e}");
        let mut exact = Limited {
            inner: &b"0123"[..],
            left: 4,
            limit: 4,
        };
        let mut out = Vec::new();
        exact.read_to_end(&mut out).expect("exactly the limit");
        assert_eq!(out, b"0123");
    }

    #[test]
    fn a_snapshot_past_the_limit_names_the_file() {
        let big = Limited {
            inner: std::io::repeat(b' '),
            left: 1000,
            limit: 1000,
        };
        let e = serde_json::from_reader::<_, Snapshot>(big).expect_err("too big");
        assert!(e.is_io(), "{e}");
    }
}
