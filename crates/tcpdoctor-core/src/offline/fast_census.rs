//! The census of a large `ss -tan` or `netstat -ant` file, on every core.
//!
//! Hand-written because the general path (one `Socket` per line, every
//! address parsed) costs ~150 ns a line, slower than `awk` counting a field.
//! Here each line's shape is checked without building anything: a known
//! state, numeric queues, two `address:port` fields of address characters
//! and a numeric (or `*`) port. Addresses are not parsed (`--view sockets`
//! and `diagnose` do); anything else malformed is the same error, with file
//! and line, as on the general path. Memory stays flat: the file is read in
//! blocks, each split between the threads at a line boundary.

use super::{
    Format, Lead, Line, netstat, netstat_lead, parse_endpoint_bytes, parse_queue, ss, ss_lead,
};
use crate::error::{Error, Result};
use crate::model::TcpState;
use std::path::Path;

const BLOCK: usize = 4 << 20;

/// What one line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Counted(TcpState),
    Skip,
    /// A line of another protocol (udp, unix...).
    Other,
    /// A line of another dump format.
    FormatChange,
    Bad,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Eight spaces: ss and netstat pad their columns with long runs of them.
const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);

/// Up to `N` whitespace-separated fields of a line.
fn fields<const N: usize>(line: &[u8]) -> ([&[u8]; N], usize) {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut n = 0;
    let mut i = 0;
    while i < line.len() && n < N {
        // Skip padding eight bytes at a time, then byte by byte.
        while let Some(word) = line.get(i..i + 8) {
            let word = u64::from_ne_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
            if word != SPACES {
                break;
            }
            i += 8;
        }
        while i < line.len() && is_ws(line[i]) {
            i += 1;
        }
        let start = i;
        while i < line.len() && !is_ws(line[i]) {
            i += 1;
        }
        if i > start {
            out[n] = &line[start..i];
            n += 1;
        }
    }
    (out, n)
}

/// Bit i set when byte i of `window` (128 bytes) is a space or a tab.
#[cfg(target_arch = "x86_64")]
fn blank_mask(window: &[u8; 128]) -> u128 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut mask: u128 = 0;
    // SAFETY: SSE2 is part of x86_64; every load reads 16 bytes inside
    // `window`.
    unsafe {
        let sp = _mm_set1_epi8(b' ' as i8);
        let tab = _mm_set1_epi8(b'\t' as i8);
        for k in 0..8 {
            let v = _mm_loadu_si128(window.as_ptr().add(16 * k).cast::<__m128i>());
            let hit = _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, tab));
            mask |= u128::from(_mm_movemask_epi8(hit) as u16) << (16 * k);
        }
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn blank_mask(window: &[u8; 128]) -> u128 {
    let mut mask: u128 = 0;
    for (i, b) in window.iter().enumerate() {
        if is_ws(*b) {
            mask |= 1 << i;
        }
    }
    mask
}

/// `fields` for a line of at most 128 bytes that may be read 128 bytes
/// wide: token boundaries from one bit mask instead of a loop per byte
/// (the tokenizer was a third of the census time).
fn fields_wide<const N: usize>(window: &[u8; 128], len: usize) -> ([&[u8]; N], usize) {
    let mut out: [&[u8]; N] = [&[]; N];
    let valid: u128 = if len >= 128 {
        u128::MAX
    } else {
        (1u128 << len) - 1
    };
    let word = !blank_mask(window) & valid;
    let mut starts = word & !(word << 1);
    let mut ends = word & !(word >> 1);
    let mut n = 0;
    while starts != 0 && n < N {
        let a = starts.trailing_zeros() as usize;
        let b = ends.trailing_zeros() as usize;
        out[n] = &window[a..=b];
        n += 1;
        starts &= starts - 1;
        ends &= ends - 1;
    }
    (out, n)
}

/// A queue length as the general parsers read it (the same function).
fn queue(b: &[u8]) -> bool {
    parse_queue(b).is_some()
}

/// An endpoint as the general parsers read it (the same function): the
/// fast path skips building sockets, not checking them, so both accept
/// exactly the same lines.
fn endpoint(b: &[u8], ss_style: bool) -> bool {
    parse_endpoint_bytes(b, ss_style).is_some()
}

fn state_of(b: &[u8]) -> Option<TcpState> {
    TcpState::from_exact_name(b).or_else(|| TcpState::parse_name(std::str::from_utf8(b).ok()?))
}

/// The shape of one line of an ss dump.
pub fn ss_shape(line: &[u8], window: Option<&[u8; 128]>) -> Shape {
    if line.is_empty() || is_ws(line[0]) {
        return Shape::Skip;
    }
    let (f, n) = match window {
        Some(w) => fields_wide::<7>(w, line.len()),
        None => fields::<7>(line),
    };
    if n == 0 {
        return Shape::Skip;
    }
    let netid = match ss_lead(f[0], f[1]) {
        Lead::Tcp { netid } => usize::from(netid),
        Lead::Header => return Shape::Skip,
        Lead::Other => return Shape::Other,
        Lead::FormatChange => return Shape::FormatChange,
        Lead::Bad => return Shape::Bad,
    };
    if n > 5 + netid {
        // Owners, timers, inodes: the general parser checks those fields;
        // lines that carry them take it.
        return match ss::parse_line(&String::from_utf8_lossy(line), false) {
            Line::Socket(s, _) => Shape::Counted(s.state),
            Line::Skip | Line::Detail => Shape::Skip,
            Line::Other => Shape::Other,
            Line::FormatChange => Shape::FormatChange,
            Line::Bad => Shape::Bad,
        };
    }
    if n < 5 + netid {
        return Shape::Bad;
    }
    let f = &f[netid..netid + 5];
    match state_of(f[0]) {
        Some(s) if queue(f[1]) && queue(f[2]) && endpoint(f[3], true) && endpoint(f[4], true) => {
            Shape::Counted(s)
        }
        _ => Shape::Bad,
    }
}

/// The shape of one line of a netstat dump.
pub fn netstat_shape(line: &[u8], window: Option<&[u8; 128]>) -> Shape {
    let (f, n) = match window {
        Some(w) => fields_wide::<6>(w, line.len()),
        None => fields::<6>(line),
    };
    if n == 0 {
        return Shape::Skip;
    }
    match netstat_lead(f[0], f[1]) {
        Lead::Tcp { .. } => {}
        Lead::Header => return Shape::Skip,
        Lead::Other => return Shape::Other,
        Lead::FormatChange => return Shape::FormatChange,
        Lead::Bad => return Shape::Bad,
    }
    if n < 6 {
        return Shape::Bad;
    }
    match state_of(f[5]) {
        Some(s) if queue(f[1]) && queue(f[2]) && endpoint(f[3], false) && endpoint(f[4], false) => {
            Shape::Counted(s)
        }
        _ => Shape::Bad,
    }
}

/// What the general parser of `format` makes of a line, as a shape: the
/// reference the fast shapes are compared with (tests, fuzz target).
pub fn general_shape(line: &str, format: Format) -> Shape {
    let parsed = match format {
        Format::Ss => ss::parse_line(line, true),
        _ => netstat::parse_line(line, true),
    };
    match parsed {
        Line::Socket(s, _) => Shape::Counted(s.state),
        Line::Skip | Line::Detail => Shape::Skip,
        Line::Other => Shape::Other,
        Line::FormatChange => Shape::FormatChange,
        Line::Bad => Shape::Bad,
    }
}

/// Counts of one stretch of whole lines; the first bad line, if any.
struct Part {
    counts: [u64; 16],
    lines: u64,
    skipped: u64,
    /// Lines of other protocols.
    other: u64,
    /// The first bad line, and what is wrong with it.
    bad: Option<(u64, String, Wrong)>,
}

/// What is wrong with a bad line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wrong {
    Malformed,
    /// It starts a dump of another format.
    FormatChange,
    /// No line end within a block (4 MiB).
    TooLong,
}

impl Part {
    fn new() -> Part {
        Part {
            counts: [0; 16],
            lines: 0,
            skipped: 0,
            other: 0,
            bad: None,
        }
    }
}

fn count(chunk: &[u8], format: Format, lenient: bool) -> Part {
    let mut p = Part::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(chunk.len())) {
        if end == chunk.len() && start == end {
            break;
        }
        let line_start = start;
        let mut line = &chunk[start..end];
        start = end + 1;
        p.lines += 1;
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        // A short line with 128 readable bytes from its start takes the
        // bit-mask tokenizer (bytes past its end are masked off).
        let window: Option<&[u8; 128]> = if line.len() <= 128 {
            chunk
                .get(line_start..line_start + 128)
                .and_then(|w| w.try_into().ok())
        } else {
            None
        };
        let shape = match format {
            Format::Ss => ss_shape(line, window),
            _ => netstat_shape(line, window),
        };
        match shape {
            Shape::Counted(s) => p.counts[s.kernel_number() as usize] += 1,
            Shape::Skip => {}
            Shape::Other => p.other += 1,
            Shape::Bad if lenient => p.skipped += 1,
            Shape::Bad | Shape::FormatChange => {
                let text = String::from_utf8_lossy(line).into_owned();
                let wrong = if shape == Shape::FormatChange {
                    Wrong::FormatChange
                } else {
                    Wrong::Malformed
                };
                p.bad = Some((p.lines, text, wrong));
                return p;
            }
        }
    }
    p
}

/// Counts one byte range of the file, reading it in blocks with pread.
fn count_range(
    f: &std::fs::File,
    path: &Path,
    begin: u64,
    end: u64,
    format: Format,
    lenient: bool,
) -> Result<Part> {
    use std::os::unix::fs::FileExt;
    let mut total = Part::new();
    let mut buf = vec![0u8; BLOCK];
    let mut carry = 0usize;
    let mut pos = begin;
    loop {
        let want = (buf.len() - carry).min((end - pos) as usize);
        let n = f
            .read_at(&mut buf[carry..carry + want], pos)
            .map_err(|e| Error::io(path, e))?;
        pos += n as u64;
        let filled = carry + n;
        let eof = n == 0 || pos >= end;
        // Whole lines only, unless this is the end of the range.
        let upto = if eof {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1)
        };
        if upto == 0 && !eof {
            // No line ends in a whole block: no dump line is that long.
            let text = String::from_utf8_lossy(&buf[..80]).into_owned();
            total.bad = Some((total.lines + 1, text, Wrong::TooLong));
            return Ok(total);
        }
        let p = count(&buf[..upto], format, lenient);
        if let Some((at, text, wrong)) = p.bad {
            total.bad = Some((total.lines + at, text, wrong));
            return Ok(total);
        }
        for (t, c) in total.counts.iter_mut().zip(p.counts) {
            *t += c;
        }
        total.lines += p.lines;
        total.skipped += p.skipped;
        total.other += p.other;
        if eof {
            return Ok(total);
        }
        buf.copy_within(upto..filled, 0);
        carry = filled - upto;
    }
}

/// The census of a dump file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FastCensus {
    /// By kernel state number.
    pub counts: [u64; 16],
    pub lines: u64,
    /// Malformed lines skipped with --lenient.
    pub skipped: u64,
    /// Lines of other protocols.
    pub other: u64,
}

/// Counts states of a `ss` or `netstat` dump file (a regular file: it is
/// read from two offsets): two halves, split at a line boundary, each read
/// and counted by its own thread.
pub(crate) fn census_file(path: &Path, format: Format, lenient: bool) -> Result<FastCensus> {
    use std::os::unix::fs::FileExt;
    let expected = |wrong: Wrong| match (wrong, format) {
        (Wrong::TooLong, _) => "a line of at most 4 MiB",
        (Wrong::FormatChange, Format::Ss) => {
            "more ss lines, not another format (split the input: one dump per file)"
        }
        (Wrong::FormatChange, _) => {
            "more netstat lines, not another format (split the input: one dump per file)"
        }
        (Wrong::Malformed, Format::Ss) => ss::EXPECTED,
        (Wrong::Malformed, _) => netstat::EXPECTED,
    };
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
    // The first line boundary at or after the middle.
    let mut split = size;
    let mut probe = vec![0u8; 64 * 1024];
    let mut at = size / 2;
    while at < size {
        let n = f.read_at(&mut probe, at).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &probe[..n]) {
            split = at + i as u64 + 1;
            break;
        }
        at += n as u64;
    }
    let (a, b) = std::thread::scope(|s| {
        let hb = s.spawn(|| count_range(&f, path, split, size, format, lenient));
        (count_range(&f, path, 0, split, format, lenient), hb.join())
    });
    let a = a?;
    let b = b.map_err(|_| {
        Error::os(
            "counting a dump",
            std::io::Error::other("a worker thread panicked"),
        )
    })??;
    if let Some((line, text, wrong)) = &a.bad {
        return Err(Error::parse(path, *line as usize, expected(*wrong), text));
    }
    if let Some((line, text, wrong)) = &b.bad {
        return Err(Error::parse(
            path,
            (a.lines + line) as usize,
            expected(*wrong),
            text,
        ));
    }
    let mut counts = a.counts;
    for (t, c) in counts.iter_mut().zip(b.counts) {
        *t += c;
    }
    Ok(FastCensus {
        counts,
        lines: a.lines + b.lines,
        skipped: a.skipped + b.skipped,
        other: a.other + b.other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wide_tokenizer_agrees_with_the_byte_loop() {
        let lines = [
            "ESTAB      0      0           127.0.0.1:41812    127.0.0.1:8002        ",
            "a",
            "   x  y\tz   ",
            "tcp        0      0 127.0.0.1:8000          0.0.0.0:*               LISTEN     ",
            "",
        ];
        for l in lines {
            let mut w = [b'#'; 128];
            w[..l.len()].copy_from_slice(l.as_bytes());
            let (a, n) = fields::<6>(l.as_bytes());
            let (b, m) = fields_wide::<6>(&w, l.len());
            assert_eq!((&a[..n], n), (&b[..m], m), "{l:?}");
        }
    }

    #[test]
    fn shapes_match_the_general_parser_on_good_and_bad_lines() {
        let good = [
            "ESTAB 0 0 127.0.0.1:5000 127.0.0.1:80",
            "tcp TIME-WAIT 0 0 [::1]:5 [::1]:80",
            "LISTEN 0 128 *:22 *:*",
            "CLOSE-WAIT 1 0 127.0.0.1%lo:80 10.0.0.1:5",
        ];
        for l in good {
            assert!(
                matches!(ss_shape(l.as_bytes(), None), Shape::Counted(_)),
                "{l}"
            );
            assert!(
                matches!(ss::parse_line(l, false), super::super::Line::Socket(..)),
                "{l}"
            );
        }
        for l in [
            "ESTAB 0 0 127.0.0.1:http 127.0.0.1:80",
            "ESTAB 0 0 127.0.0.1:5000",
            "NOPE 0 0 1.2.3.4:5 6.7.8.9:10",
            "ESTAB x 0 1.2.3.4:5 6.7.8.9:10",
            "ESTAB 0 0 999.1.1.1:5 6.7.8.9:10",
            "ESTAB 99999999999 0 1.2.3.4:5 6.7.8.9:10",
        ] {
            assert!(matches!(ss_shape(l.as_bytes(), None), Shape::Bad), "{l}");
        }
        assert_eq!(
            ss_shape(b"tcp        0      0 127.0.0.1:8000 0.0.0.0:* LISTEN", None),
            Shape::FormatChange
        );
        assert!(matches!(
            netstat_shape(b"tcp 0 0 127.0.0.1:8000 0.0.0.0:* LISTEN", None),
            Shape::Counted(TcpState::Listen)
        ));
        assert!(matches!(
            netstat_shape(b"tcp 0 0 127.0.0.1:8000 0.0.0.0:*", None),
            Shape::Bad
        ));
        assert_eq!(
            netstat_shape(b"udp 0 0 0.0.0.0:68 0.0.0.0:*", None),
            Shape::Other
        );
    }

    /// Lines built from pieces of real dump lines, valid and invalid, so
    /// that many are almost right.
    fn dump_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("tcp".to_string()),
            Just("tcp6".to_string()),
            Just("udp".to_string()),
            Just("State".to_string()),
            Just("Active".to_string()),
            Just("ESTAB".to_string()),
            Just("TIME-WAIT".to_string()),
            Just("LISTEN".to_string()),
            Just("CLOSE_WAIT".to_string()),
            Just("ESTABLISHED".to_string()),
            Just("0".to_string()),
            Just("4294967296".to_string()),
            Just("+5".to_string()),
            Just("0x1f".to_string()),
            Just("127.0.0.1:80".to_string()),
            Just("999.1.1.1:5".to_string()),
            Just("[::1]:8080".to_string()),
            Just(":::22".to_string()),
            Just("*:*".to_string()),
            Just("0.0.0.0:*".to_string()),
            Just("10.0.0.1%eth0:443".to_string()),
            Just("1.2.3.4:99999".to_string()),
            Just("users:((\"nginx\",pid=7,fd=3))".to_string()),
            Just("timer:(timewait,59sec,0)".to_string()),
            Just("timer:(bogus)".to_string()),
            Just("ino:12".to_string()),
            Just("ino:x".to_string()),
            Just("sk:1f".to_string()),
            Just("1234/nginx".to_string()),
            "[ -~]{0,12}",
            "[\\x00-\\xff]{0,3}",
        ];
        let sep = prop_oneof![Just(" "), Just("  "), Just("\t"), Just("\x0c"), Just("\r")];
        (
            prop_oneof![Just(""), Just(" ")],
            proptest::collection::vec((piece, sep), 0..9),
        )
            .prop_map(|(lead, parts)| {
                let mut s = lead.to_string();
                for (p, sep) in parts {
                    s.push_str(&p);
                    s.push_str(sep);
                }
                s
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]

        /// The fast census and the general parsers accept, skip and reject
        /// exactly the same lines, and count the same state.
        #[test]
        fn the_fast_shapes_agree_with_the_general_parsers(line in dump_line()) {
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            for (format, shape) in [
                (Format::Ss, ss_shape(line.as_bytes(), None)),
                (Format::Netstat, netstat_shape(line.as_bytes(), None)),
            ] {
                let general = general_shape(&line, format);
                proptest::prop_assert_eq!(shape, general, "{:?} {:?}", format, line);
                // The 128-byte-window tokenizer gives the same shape.
                if line.len() <= 128 {
                    let mut w = [b'#'; 128];
                    w[..line.len()].copy_from_slice(line.as_bytes());
                    let wide = match format {
                        Format::Ss => ss_shape(line.as_bytes(), Some(&w)),
                        _ => netstat_shape(line.as_bytes(), Some(&w)),
                    };
                    proptest::prop_assert_eq!(wide, shape, "{:?} {:?}", format, line);
                }
            }
        }
    }
}
