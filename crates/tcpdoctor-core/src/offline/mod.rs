//! Reading dumps taken elsewhere: `netstat -ant[p][W]`, `ss -tan[p][oie]`,
//! raw /proc/net/tcp and tcp6, the aggregated `STATE COUNT` lines of the
//! classic awk pipeline, and tcpdoctor's own snapshots. Every format
//! streams line by line into a `DumpSink`; what a format cannot tell
//! (owners, timers, counters, sysctls) is said in the report's notes.

pub mod analyze;
pub mod fast_census;
pub mod netstat;
pub mod recording;
pub mod snapshot;
pub mod ss;
mod tokens;

pub use tokens::parse_ip;
pub(crate) use tokens::{
    netstat_lead, parse_endpoint, parse_endpoint_bytes, parse_queue, ss_lead, words,
};

use crate::collect::procnet;
use crate::error::{Error, Result};
use crate::model::{Socket, TcpState};
use serde::Serialize;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The formats tcpdoctor reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Netstat,
    Ss,
    Proc,
    /// `TIME_WAIT 814` lines: counts only.
    Aggregate,
    Snapshot,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Netstat => "netstat",
            Format::Ss => "ss",
            Format::Proc => "proc",
            Format::Aggregate => "aggregate",
            Format::Snapshot => "snapshot",
        }
    }

    /// What an error says when an input changes format.
    fn more_lines(self) -> &'static str {
        match self {
            Format::Netstat => {
                "more netstat lines, not another format (split the input: one dump per file)"
            }
            _ => "more ss lines, not another format (split the input: one dump per file)",
        }
    }

    /// What a line of this format is, for errors.
    fn expected(self) -> &'static str {
        match self {
            Format::Netstat => netstat::EXPECTED,
            Format::Ss => ss::EXPECTED,
            Format::Proc => procnet::EXPECTED_LINE,
            Format::Aggregate => "a 'STATE COUNT' line such as 'TIME_WAIT 814'",
            Format::Snapshot => "a tcpdoctor snapshot (JSON)",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "netstat" => Format::Netstat,
            "ss" => Format::Ss,
            "proc" => Format::Proc,
            "aggregate" | "awk" => Format::Aggregate,
            "snapshot" => Format::Snapshot,
            _ => {
                return Err(format!(
                    "unknown format '{s}': expected netstat, ss, proc, aggregate or snapshot"
                ));
            }
        })
    }
}

/// A process named by a dump: ss -p gives pid, name and fd; netstat -p pid
/// and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpOwner {
    pub pid: u32,
    pub comm: String,
    pub fd: Option<u32>,
}

/// Receives what a dump holds.
pub trait DumpSink {
    /// Whether owners should be parsed (they cost an allocation per line).
    fn wants_owners(&self) -> bool {
        false
    }
    fn socket(&mut self, s: &Socket, owners: &[DumpOwner]);
    /// A count from an aggregated dump.
    fn aggregate(&mut self, state: TcpState, count: u64);
}

/// How a read went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DumpReport {
    pub files: Vec<String>,
    pub formats: Vec<Format>,
    pub lines: u64,
    pub sockets: u64,
    /// Malformed lines skipped with --lenient.
    pub skipped: u64,
    /// The first of them, as `file:line: text`.
    pub first_skipped: Option<String>,
    /// Lines of other protocols (udp, unix...) skipped.
    pub other: u64,
    /// What the inputs cannot tell, and what was skipped.
    pub notes: Vec<String>,
    /// Whether the dump named owners, timers or tcp_info ages.
    pub has_owners: bool,
    /// Whether the reader looked for owners at all (the census does not:
    /// then it cannot say the dump has none).
    pub owners_read: bool,
    pub has_timers: bool,
}

/// Line-level outcome of a format parser.
pub enum Line {
    Socket(Socket, Vec<DumpOwner>),
    /// A header or blank line: nothing to count.
    Skip,
    /// A socket of another protocol (udp, unix...): skipped and counted.
    Other,
    /// A line of another dump format (an ss line in a netstat dump): the
    /// input changed format.
    FormatChange,
    /// An ss continuation line (`-i` details) for the previous socket.
    Detail,
    Bad,
}

/// What a line's first words say it is, before its fields are parsed. One
/// function per format, shared by the general parsers and the fast census,
/// so that both accept, skip and reject exactly the same lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lead {
    Header,
    Other,
    FormatChange,
    /// A TCP socket line; for ss, whether it starts with a Netid column.
    Tcp {
        netid: bool,
    },
    Bad,
}

/// The format of a file from its first bytes (None for gzip, binary or
/// unknown input: the general path says why).
fn detect_file(path: &Path) -> Option<Format> {
    let mut head = vec![0u8; 8192];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) || head.contains(&0) {
        return None;
    }
    let text = String::from_utf8_lossy(head);
    let first: Vec<&str> = text.lines().take(8).collect();
    detect(&first)
}

impl Line {
    /// The socket and owners of a socket line.
    #[cfg(test)]
    fn into_socket(self) -> Option<(Socket, Vec<DumpOwner>)> {
        match self {
            Line::Socket(s, o) => Some((s, o)),
            _ => None,
        }
    }
}

fn detect(first: &[&str]) -> Option<Format> {
    for l in first {
        let t = l.trim();
        if t.is_empty() || t.starts_with('(') {
            continue;
        }
        if t.starts_with('{') {
            return Some(Format::Snapshot);
        }
        if t.starts_with("Active Internet connections") || t.starts_with("Proto Recv-Q") {
            return Some(Format::Netstat);
        }
        if t.starts_with("sl ") && t.contains("local_address") {
            return Some(Format::Proc);
        }
        let mut w = t.split_whitespace();
        let (a, b) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
        if a == "State" || a == "Netid" {
            return Some(Format::Ss);
        }
        if (a == "tcp" || a == "tcp6") && b.bytes().all(|c| c.is_ascii_digit()) {
            return Some(Format::Netstat);
        }
        if a.ends_with(':') && a[..a.len() - 1].bytes().all(|c| c.is_ascii_digit()) {
            return Some(Format::Proc);
        }
        if a.parse::<TcpState>().is_ok() {
            if w.next().is_none() && b.bytes().all(|c| c.is_ascii_digit()) && !b.is_empty() {
                return Some(Format::Aggregate);
            }
            if a.contains('-') || a == "ESTAB" || a == "LISTEN" {
                return Some(Format::Ss);
            }
        }
        return None;
    }
    None
}

fn parse_aggregate(line: &str) -> Option<(TcpState, u64)> {
    let mut w = line.split_whitespace();
    let state = w.next()?.parse().ok()?;
    let n = w.next()?.parse().ok()?;
    w.next().is_none().then_some((state, n))
}

/// The longest dump line read (`ss -tanpoie` lines with many owners run to
/// a few KiB): a line that never ends stops here.
pub(crate) const MAX_LINE: usize = 64 * 1024;

mod output;
// Creates `path` readable by its owner only (0600), never through a
// symbolic link and never over a FIFO, a device or another user's file
// (offline/output.rs says how and why): what tcpdoctor writes names
// processes and may hold their command lines.
use output::create_private;
pub use output::file_kind;

/// The bytes of `path`, or of stdin for "-", as they are.
pub(crate) fn source(path: &Path) -> Result<Box<dyn Read>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(Box::new(f))
}

/// `source` (of `path`) buffered, and whether it starts as gzip does.
pub(crate) fn sniff<R: Read>(path: &Path, source: R) -> Result<(std::io::BufReader<R>, bool)> {
    let mut r = std::io::BufReader::with_capacity(256 * 1024, source);
    let magic = r.fill_buf().map_err(|e| Error::io(path, e))?;
    let gzip = magic.starts_with(&[0x1f, 0x8b]);
    Ok((r, gzip))
}

/// Where input comes from: a path, or "-" for stdin.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        // Stdin is read as it comes: a pipe is decompressed by its writer.
        return Ok(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            source(path)?,
        )));
    }
    // gzip: a compressed snapshot (or dump).
    let (r, gzip) = sniff(path, source(path)?)?;
    if gzip {
        return Ok(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(r),
        )));
    }
    Ok(Box::new(r))
}

/// Reads one dump into `sink`. `format` None detects it from the first
/// lines. With `lenient`, malformed lines are skipped and counted instead
/// of failing.
pub fn read_dump(
    path: &Path,
    mut input: Box<dyn BufRead>,
    format: Option<Format>,
    lenient: bool,
    sink: &mut dyn DumpSink,
    report: &mut DumpReport,
) -> Result<Option<crate::model::Snapshot>> {
    let name = if path == Path::new("-") {
        PathBuf::from("<stdin>")
    } else {
        path.to_path_buf()
    };
    // Peek at the start to detect the format (and refuse binary data).
    let head = input.fill_buf().map_err(|e| Error::io(&name, e))?.to_vec();
    if head.is_empty() {
        return Err(Error::parse(
            &name,
            1,
            "a netstat, ss or /proc/net/tcp dump, or a tcpdoctor snapshot",
            "empty input",
        ));
    }
    if head.iter().take(4096).any(|b| *b == 0) {
        return Err(Error::parse(&name, 1, "text", "binary data"));
    }
    let head_text = String::from_utf8_lossy(&head);
    let first: Vec<&str> = head_text.lines().take(8).collect();
    let format = match format.or_else(|| detect(&first)) {
        Some(f) => f,
        None => {
            return Err(Error::parse(
                &name,
                1,
                "a netstat -ant, ss -tan or /proc/net/tcp dump, 'STATE COUNT' lines, or a \
                    tcpdoctor snapshot (or say which with --format)",
                first.first().copied().unwrap_or(""),
            ));
        }
    };
    report.files.push(name.display().to_string());
    report.formats.push(format);
    if format == Format::Snapshot {
        if head.starts_with(b"{\"tcpdoctor_recording\"") {
            return Err(Error::parse(
                &name,
                1,
                "a tcpdoctor snapshot (a `watch --record` file is read by `tcpdoctor replay`)",
                "a watch recording",
            ));
        }
        let snap = snapshot::read(&name, input)?;
        return Ok(Some(snap));
    }
    let wants = sink.wants_owners();
    report.owners_read |= wants;
    let mut buf = Vec::with_capacity(512);
    let mut line_no = 0u64;
    let mut other = 0u64;
    let mut last: Option<Socket> = None;
    let mut last_owners: Vec<DumpOwner> = Vec::new();
    let mut first_bad: Option<String> = None;
    let flush = |last: &mut Option<Socket>,
                 owners: &mut Vec<DumpOwner>,
                 sink: &mut dyn DumpSink,
                 report: &mut DumpReport| {
        if let Some(s) = last.take() {
            sink.socket(&s, owners);
            report.sockets += 1;
            owners.clear();
        }
    };
    loop {
        buf.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(&name, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            return Err(Error::parse(
                &name,
                line_no as usize,
                "a line of at most 65536 bytes",
                &String::from_utf8_lossy(&buf[..80]),
            ));
        }
        // Process names may hold any bytes: a non-UTF-8 one is shown with
        // replacement characters, not a reason to reject the dump.
        let decoded = String::from_utf8_lossy(&buf);
        let text = decoded.trim_end_matches(['\n', '\r']);
        let parsed = match format {
            Format::Netstat => netstat::parse_line(text, wants),
            Format::Ss => ss::parse_line(text, wants),
            Format::Proc => {
                let t = text.trim();
                if t.is_empty() || (t.starts_with("sl ") && t.contains("local_address")) {
                    Line::Skip
                } else {
                    match procnet::parse_line(t.as_bytes()) {
                        Some(s) => Line::Socket(s, Vec::new()),
                        None => Line::Bad,
                    }
                }
            }
            Format::Aggregate => {
                let t = text.trim();
                if t.is_empty() {
                    Line::Skip
                } else if let Some((s, c)) = parse_aggregate(t) {
                    sink.aggregate(s, c);
                    Line::Skip
                } else {
                    Line::Bad
                }
            }
            Format::Snapshot => Line::Skip,
        };
        match parsed {
            Line::Socket(s, owners) => {
                flush(&mut last, &mut last_owners, sink, report);
                if !owners.is_empty() {
                    report.has_owners = true;
                }
                if s.timer != crate::model::Timer::None {
                    report.has_timers = true;
                }
                last = Some(s);
                last_owners = owners;
            }
            Line::Detail => {
                if let Some(s) = last.as_mut() {
                    ss::apply_detail(s, text);
                }
            }
            Line::Skip => {}
            Line::Other => other += 1,
            Line::FormatChange => {
                return Err(Error::parse(
                    &name,
                    line_no as usize,
                    format.more_lines(),
                    text,
                ));
            }
            Line::Bad => {
                if lenient {
                    report.skipped += 1;
                    if first_bad.is_none() {
                        first_bad = Some(format!(
                            "{}:{line_no}: {}",
                            name.display(),
                            text.chars().take(60).collect::<String>()
                        ));
                    }
                    continue;
                }
                return Err(Error::parse(
                    &name,
                    line_no as usize,
                    format.expected(),
                    text,
                ));
            }
        }
    }
    flush(&mut last, &mut last_owners, sink, report);
    report.lines += line_no;
    report.other += other;
    if let Some(b) = first_bad {
        report.notes.push(format!(
            "skipped {} malformed line(s) (--lenient); the first: {b}",
            report.skipped
        ));
        report.first_skipped.get_or_insert(b);
    }
    Ok(None)
}

/// Notes on what a dump format cannot tell, for the report.
fn limits_of(format: Format, report: &DumpReport) -> Vec<String> {
    let mut v = Vec::new();
    match format {
        Format::Netstat | Format::Ss if !report.owners_read => {}
        Format::Netstat if !report.has_owners => v.push(
            "netstat -ant names no processes (use netstat -antp or ss -tanp): no owners".into(),
        ),
        Format::Netstat => v.push("netstat -antp names processes but not their fds".into()),
        Format::Ss if !report.has_owners => {
            v.push("ss without -p names no processes: no owners".into())
        }
        Format::Proc => v.push("/proc/net/tcp names no processes (only inodes): no owners".into()),
        Format::Aggregate => {
            v.push("aggregated counts only: no sockets, owners, peers or ages".into())
        }
        _ => {}
    }
    if matches!(format, Format::Netstat | Format::Ss) && !report.has_timers {
        v.push(format!(
            "{} output without timers (ss -o) gives no TIME_WAIT ages",
            format.name()
        ));
    }
    if format != Format::Snapshot {
        v.push(
            "a dump has no counters (TcpExt) and no sysctls: rules that need them are silent, \
            and the default ip_local_port_range is assumed"
                .into(),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_their_first_lines() {
        assert_eq!(
            detect(&["Active Internet connections (servers and established)"]),
            Some(Format::Netstat)
        );
        assert_eq!(
            detect(&[
                "(Not all processes could be identified, non-owned process info",
                "Active Internet connections (w/o servers)"
            ]),
            Some(Format::Netstat)
        );
        assert_eq!(
            detect(&["tcp        0      0 127.0.0.1:8000          0.0.0.0:*               LISTEN"]),
            Some(Format::Netstat)
        );
        assert_eq!(
            detect(&["State      Recv-Q Send-Q  Local Address:Port  Peer Address:Port Process"]),
            Some(Format::Ss)
        );
        assert_eq!(
            detect(&["ESTAB 0 0 1.2.3.4:5 6.7.8.9:10"]),
            Some(Format::Ss)
        );
        assert_eq!(
            detect(&[
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                    retrnsmt   uid  timeout inode"
            ]),
            Some(Format::Proc)
        );
        assert_eq!(
            detect(&["TIME_WAIT 814", "ESTABLISHED 12"]),
            Some(Format::Aggregate)
        );
        assert_eq!(
            detect(&["{\"tcpdoctor_snapshot\": 1}"]),
            Some(Format::Snapshot)
        );
        assert_eq!(detect(&["hello world"]), None);
    }
}
