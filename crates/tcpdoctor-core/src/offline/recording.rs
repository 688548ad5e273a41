//! `watch --record` files: gzip-compressed NDJSON, a header line then one
//! `Sample` per line, flushed after each sample so that a watch that is
//! killed leaves a file that reads up to its last whole sample. A sample
//! holds at most `--top` rows per table, so a file grows by a bounded
//! amount per sample (docs/benchmarks.md has the measured size per hour).

use crate::error::{Error, Result};
use crate::model::Sample;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

pub const RECORDING_VERSION: u32 = 1;

/// The longest line read back: far above what `--top` rows make.
pub(crate) const MAX_LINE: usize = 4 << 20;

/// Samples read back at most (a day at one a second); more are skipped
/// with a note, so memory stays bounded.
const MAX_SAMPLES: usize = 86_400;

/// The first line of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordingHeader {
    pub tcpdoctor_recording: u32,
    /// What the watch header said: host, kernel, namespaces, sources.
    pub header: String,
    pub interval_s: f64,
    pub started_unix_s: f64,
}

/// Writes samples as they come.
pub struct Recorder {
    path: PathBuf,
    out: flate2::write::GzEncoder<std::io::BufWriter<std::fs::File>>,
    pub bytes_in: u64,
}

impl Recorder {
    /// Creates `path` (mode 0600: samples name processes) and writes the
    /// header.
    pub fn create(path: &Path, header: &RecordingHeader) -> Result<Recorder> {
        let f = super::create_private(path)?;
        let mut r = Recorder {
            path: path.to_path_buf(),
            out: flate2::write::GzEncoder::new(
                std::io::BufWriter::new(f),
                flate2::Compression::default(),
            ),
            bytes_in: 0,
        };
        r.line(header)?;
        Ok(r)
    }

    fn line<T: Serialize>(&mut self, v: &T) -> Result<()> {
        let mut text = serde_json::to_vec(v).map_err(|e| Error::write(&self.path, e.into()))?;
        text.push(b'\n');
        self.bytes_in += text.len() as u64;
        self.out
            .write_all(&text)
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::write(&self.path, e))
    }

    /// Appends one sample, flushed to the file.
    pub fn sample(&mut self, s: &Sample) -> Result<()> {
        self.line(s)
    }

    /// Ends the gzip stream.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        self.out
            .finish()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::write(&path, e))
    }
}

/// A recording read back.
pub struct Recording {
    pub header: RecordingHeader,
    pub samples: Vec<Sample>,
    pub notes: Vec<String>,
}

/// Reads a recording; errors name the file and line. A last line cut
/// short (a watch killed mid-write) is a note, not an error.
pub fn read(path: &Path, input: impl BufRead) -> Result<Recording> {
    let mut input = input;
    let mut buf = Vec::new();
    let mut lineno = 0;
    let mut next = |buf: &mut Vec<u8>| -> Result<Option<(usize, bool)>> {
        buf.clear();
        let n = std::io::Read::take(&mut input, MAX_LINE as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_LINE {
            return Err(Error::parse(
                path,
                lineno + 1,
                "a line under 4 MiB",
                "a longer line",
            ));
        }
        lineno += 1;
        let whole = buf.last() == Some(&b'\n');
        Ok(Some((lineno, whole)))
    };
    let Some((_, _)) = next(&mut buf)? else {
        return Err(Error::parse(
            path,
            1,
            "a tcpdoctor recording header",
            "an empty file",
        ));
    };
    let header: RecordingHeader = serde_json::from_slice(&buf).map_err(|e| {
        Error::parse(
            path,
            1,
            "a tcpdoctor recording (written by `tcpdoctor watch --record`)",
            &e.to_string(),
        )
    })?;
    if header.tcpdoctor_recording != RECORDING_VERSION {
        return Err(Error::parse(
            path,
            1,
            "recording format version 1",
            &header.tcpdoctor_recording.to_string(),
        ));
    }
    let mut samples = Vec::new();
    let mut notes = Vec::new();
    let mut skipped = 0usize;
    while let Some((line, whole)) = next(&mut buf)? {
        match serde_json::from_slice::<Sample>(&buf) {
            Ok(_) if samples.len() >= MAX_SAMPLES => skipped += 1,
            Ok(s) => samples.push(s),
            Err(_) if !whole => {
                notes.push(format!(
                    "line {line} was cut short (the watch was stopped mid-write)"
                ));
            }
            Err(e) => {
                return Err(Error::parse(
                    path,
                    line,
                    "a sample (one JSON object)",
                    &e.to_string(),
                ));
            }
        }
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} samples after the first {MAX_SAMPLES} were skipped (memory stays bounded)"
        ));
    }
    Ok(Recording {
        header,
        samples,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Recording> {
        read(Path::new("r.ndjson"), text.as_bytes())
    }

    #[test]
    fn a_recording_of_another_format_version_is_refused_by_name() {
        for found in ["0", "2"] {
            let text = format!(
                "{{\"tcpdoctor_recording\":{found},\"header\":\"h\",\"interval_s\":1.0,\
                 \"started_unix_s\":0.0}}\n"
            );
            let e = read_text(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("r.ndjson:1"), "{e}");
            assert!(e.contains("recording format version 1"), "{e}");
            assert!(e.contains(found), "{e}");
        }
    }

    #[test]
    fn samples_read_back_as_they_were_written() {
        let sample = Sample {
            total: 3,
            ..Sample::default()
        };
        let text = format!(
            "{{\"tcpdoctor_recording\":{RECORDING_VERSION},\"header\":\"h\",\"interval_s\":1.0,\
             \"started_unix_s\":0.0}}\n{}\n",
            serde_json::to_string(&sample).expect("JSON")
        );
        let r = read_text(&text).expect("reads");
        assert_eq!(r.samples, vec![sample]);
    }
}
