//! tcpdoctor's own snapshot files: JSON (gzip when the name ends in .gz),
//! in the layout `model::Snapshot` serialises to.

use crate::error::{Error, Result};
use crate::model::Snapshot;
use std::io::Write;
use std::path::Path;

/// Parses a snapshot file's text; errors name the file and line.
pub fn parse(path: &Path, text: &str) -> Result<Snapshot> {
    serde_json::from_str(text).map_err(|e| {
        Error::parse(
            path,
            e.line(),
            "a tcpdoctor snapshot, version 1 (JSON written by `tcpdoctor snapshot`)",
            &e.to_string(),
        )
    })
}

/// Writes `snap` to `path`, gzip-compressed when the name ends in .gz.
/// A new file is readable by its owner only (0600): a snapshot holds every
/// process's command line, which may hold secrets.
pub fn write(snap: &Snapshot, path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::write(path, e))?;
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
