//! `watch --record` files: gzip-compressed NDJSON, a header line then one
//! `Sample` per line, flushed after each sample so that a watch that is
//! killed (or whose disk fills) leaves a file that reads up to its last
//! whole sample: the gzip stream is decoded as it comes, and where it
//! stops short (no trailer) or breaks, what came before is kept and a
//! note says how the file ends. A corrupt line is skipped with a note. A
//! sample holds at most `--top` rows per table, so a file grows by a
//! bounded amount per sample (docs/benchmarks.md has the measured size per
//! hour).

use crate::error::{Error, Result};
use crate::model::Sample;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

pub const RECORDING_VERSION: u32 = 1;

/// The longest line read back: far above what `--top` rows make.
pub(crate) const MAX_LINE: usize = 4 << 20;

/// Samples read back at most (a day at one a second); more are skipped
/// with a note, so memory stays bounded.
const MAX_SAMPLES: usize = 86_400;

/// Corrupt lines named one by one in the notes; more are counted.
const MAX_BAD_NOTES: usize = 5;

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
    out: flate2::write::GzEncoder<Box<dyn Write + Send>>,
    pub bytes_in: u64,
    /// Samples written (and flushed).
    pub samples: u64,
}

impl Recorder {
    /// Creates `path` (mode 0600: samples name processes) and writes the
    /// header.
    pub fn create(path: &Path, header: &RecordingHeader) -> Result<Recorder> {
        let f = super::create_private(path)?;
        Recorder::to_writer(path, Box::new(std::io::BufWriter::new(f)), header)
    }

    /// Writes the recording to `out`; errors name `path`.
    pub fn to_writer(
        path: &Path,
        out: Box<dyn Write + Send>,
        header: &RecordingHeader,
    ) -> Result<Recorder> {
        let mut r = Recorder {
            path: path.to_path_buf(),
            out: flate2::write::GzEncoder::new(out, flate2::Compression::default()),
            bytes_in: 0,
            samples: 0,
        };
        r.line(header)?;
        Ok(r)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
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
        self.line(s)?;
        self.samples += 1;
        Ok(())
    }

    /// Ends the gzip stream (its trailer says the file is whole).
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

/// A decoder read until it ends or fails: a failure ends the input, and
/// is kept to say how the file ends.
struct UntilBroken<R> {
    inner: R,
    broken: Option<std::io::Error>,
}

impl<R: Read> Read for UntilBroken<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.broken.is_some() {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.broken = Some(e);
                    return Ok(0);
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}

/// Reads the recording at `path` ("-" for stdin), gzip-compressed (as
/// `watch --record` writes it) or not. A gzip stream that stops short
/// keeps every sample before the cut, with a note.
pub fn read_file(path: &Path) -> Result<Recording> {
    read_from(path, super::source(path)?)
}

/// `read_file` of what `source` holds.
fn read_from(path: &Path, source: impl Read) -> Result<Recording> {
    let (raw, gzip) = super::sniff(path, source)?;
    if !gzip {
        return read(path, raw);
    }
    let mut gz = UntilBroken {
        inner: flate2::read::MultiGzDecoder::new(raw),
        broken: None,
    };
    let read = read(path, std::io::BufReader::with_capacity(256 * 1024, &mut gz));
    let Some(broken) = gz.broken else {
        return read;
    };
    let cut = broken.kind() == std::io::ErrorKind::UnexpectedEof;
    let mut rec = match read {
        Ok(rec) => rec,
        Err(Error::Parse { line: 1, .. }) if cut => {
            return Err(Error::parse(
                path,
                1,
                "a tcpdoctor recording header",
                "a file cut short before its first line ends",
            ));
        }
        Err(e) => return Err(e),
    };
    let after = match rec.samples.len() {
        0 => "before its first sample".to_string(),
        n => format!("after sample {n}"),
    };
    rec.notes.push(if cut {
        format!(
            "{}: truncated {after}: the recorder did not finish (killed, or the disk filled)",
            path.display()
        )
    } else {
        format!(
            "{}: unreadable {after} ({broken}): the samples before it are read",
            path.display()
        )
    });
    Ok(rec)
}

/// What the next line of a recording is.
enum Next {
    End,
    /// A line, and whether it ends with a newline.
    Line(usize, bool),
    /// A line longer than MAX_LINE, skipped.
    TooLong(usize),
}

/// Reads a recording (not compressed); errors name the file and line. A
/// last line cut short (a watch killed mid-write) and a corrupt line are
/// notes, not errors, as long as some sample is read.
pub fn read(path: &Path, input: impl BufRead) -> Result<Recording> {
    let mut input = input;
    let mut buf = Vec::new();
    let mut lineno = 0;
    let mut next = |buf: &mut Vec<u8>| -> Result<Next> {
        buf.clear();
        let n = std::io::Read::take(&mut input, MAX_LINE as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(Next::End);
        }
        lineno += 1;
        if buf.len() > MAX_LINE {
            if buf.last() != Some(&b'\n') {
                input.skip_until(b'\n').map_err(|e| Error::io(path, e))?;
            }
            return Ok(Next::TooLong(lineno));
        }
        Ok(Next::Line(lineno, buf.last() == Some(&b'\n')))
    };
    match next(&mut buf)? {
        Next::End => {
            return Err(Error::parse(
                path,
                1,
                "a tcpdoctor recording header",
                "an empty file",
            ));
        }
        Next::TooLong(_) => {
            return Err(Error::parse(path, 1, "a line under 4 MiB", "a longer line"));
        }
        Next::Line(..) => {}
    }
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
    let mut bad = 0usize;
    let mut first_bad: Option<(usize, String)> = None;
    loop {
        let why = match next(&mut buf)? {
            Next::End => break,
            Next::TooLong(line) => (line, "a line over 4 MiB".to_string()),
            Next::Line(line, whole) => match serde_json::from_slice::<Sample>(&buf) {
                Ok(_) if samples.len() >= MAX_SAMPLES => {
                    skipped += 1;
                    continue;
                }
                Ok(s) => {
                    samples.push(s);
                    continue;
                }
                Err(_) if !whole => {
                    notes.push(format!(
                        "{}:{line}: the last line was cut short (the watch was stopped \
                         mid-write)",
                        path.display()
                    ));
                    continue;
                }
                Err(e) => (line, e.to_string()),
            },
        };
        let (line, e) = why;
        bad += 1;
        if bad <= MAX_BAD_NOTES {
            notes.push(format!(
                "{}:{line}: skipped a corrupt line (not a sample: {e})",
                path.display()
            ));
        }
        first_bad.get_or_insert((line, e));
    }
    if let Some((line, e)) = first_bad
        && samples.is_empty()
    {
        return Err(Error::parse(path, line, "a sample (one JSON object)", &e));
    }
    if bad > MAX_BAD_NOTES {
        notes.push(format!(
            "{}: {} more corrupt lines skipped",
            path.display(),
            bad - MAX_BAD_NOTES
        ));
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
    use std::sync::{Arc, Mutex};

    fn read_text(text: &str) -> Result<Recording> {
        read(Path::new("r.ndjson"), text.as_bytes())
    }

    fn header_line() -> String {
        format!(
            "{{\"tcpdoctor_recording\":{RECORDING_VERSION},\"header\":\"h\",\"interval_s\":1.0,\
             \"started_unix_s\":0.0}}\n"
        )
    }

    fn sample(total: u64) -> Sample {
        Sample {
            total,
            ..Sample::default()
        }
    }

    fn line_of(total: u64) -> String {
        serde_json::to_string(&sample(total)).expect("JSON") + "\n"
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).expect("compresses");
        gz.finish().expect("compresses")
    }

    /// A file that takes `room` bytes, then fails as a full disk does.
    #[derive(Clone)]
    struct Disk {
        bytes: Arc<Mutex<Vec<u8>>>,
        room: usize,
    }

    impl Disk {
        fn new(room: usize) -> Disk {
            Disk {
                bytes: Arc::default(),
                room,
            }
        }

        fn bytes(&self) -> Vec<u8> {
            self.bytes.lock().expect("lock").clone()
        }
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut b = self.bytes.lock().expect("lock");
            let n = buf.len().min(self.room - b.len());
            if n == 0 && !buf.is_empty() {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            b.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn recording_header() -> RecordingHeader {
        RecordingHeader {
            tcpdoctor_recording: RECORDING_VERSION,
            header: "h".into(),
            interval_s: 1.0,
            started_unix_s: 0.0,
        }
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
        let text = header_line() + &line_of(3);
        let r = read_text(&text).expect("reads");
        assert_eq!(r.samples, vec![sample(3)]);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }

    #[test]
    fn a_recording_cut_anywhere_keeps_every_sample_before_the_cut() {
        let disk = Disk::new(usize::MAX);
        let mut rec = Recorder::to_writer(
            Path::new("r.gz"),
            Box::new(disk.clone()),
            &recording_header(),
        )
        .expect("header");
        // The file's length once each sample is flushed.
        let mut flushed = vec![disk.bytes().len()];
        let written: Vec<Sample> = (1..=6).map(sample).collect();
        for s in &written {
            rec.sample(s).expect("writes");
            flushed.push(disk.bytes().len());
        }
        rec.finish().expect("finishes");
        let whole = disk.bytes();
        for cut in 0..=whole.len() {
            let r = read_from(Path::new("r.gz"), &whole[..cut]);
            if cut < flushed[0] {
                // The header may be whole or not; nothing else is there.
                assert!(
                    r.as_ref().map_or(true, |r| r.samples.is_empty()),
                    "cut {cut}"
                );
                continue;
            }
            let r = r.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            let complete = flushed[1..].iter().filter(|&&l| l <= cut).count();
            let n = r.samples.len();
            assert!(
                n == complete || n == complete + 1,
                "cut {cut}: {n} of {complete}"
            );
            assert_eq!(r.samples[..], written[..n], "cut {cut}");
            if cut == whole.len() {
                assert!(r.notes.is_empty(), "{:?}", r.notes);
            } else {
                let said = r.notes.join("\n");
                assert!(said.contains("r.gz: truncated"), "cut {cut}: {said}");
                assert!(said.contains("did not finish"), "cut {cut}: {said}");
            }
        }
        // Without the last 10 bytes (the end of the stream and the
        // trailer): every sample, and a note with the count.
        let r = read_from(Path::new("r.gz"), &whole[..whole.len() - 10]).expect("reads");
        assert_eq!(r.samples, written);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("truncated after sample 6")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn a_corrupt_line_is_skipped_with_a_note_naming_it() {
        let text = header_line() + &line_of(1) + "{\"total\": oops\n" + &line_of(2);
        for r in [
            read_text(&text),
            read_from(Path::new("r.ndjson"), &gzip(&text)[..]),
        ] {
            let r = r.expect("reads");
            assert_eq!(r.samples, vec![sample(1), sample(2)]);
            assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
            assert!(
                r.notes[0].contains("r.ndjson:3: skipped a corrupt line"),
                "{:?}",
                r.notes
            );
        }
    }

    #[test]
    fn corrupt_lines_are_named_up_to_a_bound_then_counted() {
        let text = header_line() + &line_of(1) + &"garbage\n".repeat(20);
        let r = read_text(&text).expect("reads");
        assert_eq!(r.samples.len(), 1);
        assert_eq!(r.notes.len(), MAX_BAD_NOTES + 1, "{:?}", r.notes);
        assert!(
            r.notes[MAX_BAD_NOTES].contains("15 more corrupt lines"),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let garbage_samples = header_line() + &"garbage\n".repeat(3);
        let e = read_text(&garbage_samples)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("r.ndjson:2"), "{e}");
        for bytes in [
            b"hello\nworld\n".to_vec(),
            gzip("hello\nworld\n"),
            vec![0x1f, 0x8b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            vec![0x1f, 0x8b, 8],
        ] {
            let e = read_from(Path::new("r.gz"), &bytes[..])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("r.gz"), "{bytes:?}: {e}");
        }
    }

    #[test]
    fn a_full_disk_stops_the_recorder_and_leaves_what_it_wrote_readable() {
        let disk = Disk::new(700);
        let mut rec = Recorder::to_writer(
            Path::new("full.gz"),
            Box::new(disk.clone()),
            &recording_header(),
        )
        .expect("header");
        let written: Vec<Sample> = (1..=1000).map(sample).collect();
        let e = written
            .iter()
            .find_map(|s| rec.sample(s).err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("full.gz"), "{e}");
        assert!(e.contains("No space left on device"), "{e}");
        let done = usize::try_from(rec.samples).expect("few");
        assert!(done > 0 && done < written.len(), "{done}");
        let r = read_from(Path::new("full.gz"), &disk.bytes()[..]).expect("reads");
        assert!(r.samples.len() >= done, "{} of {done}", r.samples.len());
        assert_eq!(r.samples[..], written[..r.samples.len()]);
        assert!(
            r.notes.iter().any(|n| n.contains("truncated after")),
            "{:?}",
            r.notes
        );
    }
}
