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

use super::{Format, netstat, ss};
use crate::error::{Error, Result};
use crate::model::TcpState;
use std::path::Path;

const BLOCK: usize = 4 << 20;

/// What one line is.
enum Shape {
    Counted(TcpState),
    Skip,
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

fn digits(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= 10 && b.iter().all(u8::is_ascii_digit)
}

/// Bytes that may appear in an address field: hex digits and letters (an
/// interface name after %), `:`, `.`, `[`, `]`, `%`, `*`, `_`, `-`.
const ADDRESS_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(b, b':' | b'.' | b'[' | b']' | b'%' | b'*' | b'_' | b'-');
        c += 1;
    }
    t
};

/// `addr:port` where addr has only address characters and port is 1-5
/// digits or `*`.
fn endpoint_shape(b: &[u8]) -> bool {
    let Some(colon) = memchr::memrchr(b':', b) else {
        return false;
    };
    let (addr, port) = (&b[..colon], &b[colon + 1..]);
    let port_ok = port == b"*"
        || (!port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit));
    port_ok && !addr.is_empty() && addr.iter().all(|c| ADDRESS_BYTE[usize::from(*c)])
}

fn state_of(b: &[u8]) -> Option<TcpState> {
    TcpState::from_exact_name(b).or_else(|| TcpState::parse_name(std::str::from_utf8(b).ok()?))
}

fn ss_shape(line: &[u8], window: Option<&[u8; 128]>) -> Shape {
    if line.is_empty() || is_ws(line[0]) {
        return Shape::Skip;
    }
    let (f, n) = match window {
        Some(w) => fields_wide::<6>(w, line.len()),
        None => fields::<6>(line),
    };
    if n == 0 || f[0] == b"State" || f[0] == b"Netid" {
        return Shape::Skip;
    }
    let netid = usize::from(f[0] == b"tcp");
    if n < 5 + netid {
        return Shape::Bad;
    }
    let f = &f[netid..netid + 5];
    match state_of(f[0]) {
        Some(s) if digits(f[1]) && digits(f[2]) && endpoint_shape(f[3]) && endpoint_shape(f[4]) => {
            Shape::Counted(s)
        }
        _ => Shape::Bad,
    }
}

fn netstat_shape(line: &[u8], window: Option<&[u8; 128]>) -> Shape {
    let (f, n) = match window {
        Some(w) => fields_wide::<6>(w, line.len()),
        None => fields::<6>(line),
    };
    if n == 0 || (f[0] != b"tcp" && f[0] != b"tcp6") {
        return Shape::Skip;
    }
    if n < 6 {
        return Shape::Bad;
    }
    match state_of(f[5]) {
        Some(s) if digits(f[1]) && digits(f[2]) && endpoint_shape(f[3]) && endpoint_shape(f[4]) => {
            Shape::Counted(s)
        }
        _ => Shape::Bad,
    }
}

/// Counts of one stretch of whole lines; the first bad line, if any.
struct Part {
    counts: [u64; 16],
    lines: u64,
    skipped: u64,
    bad: Option<(u64, String)>,
}

fn count(chunk: &[u8], format: Format, lenient: bool) -> Part {
    let mut p = Part {
        counts: [0; 16],
        lines: 0,
        skipped: 0,
        bad: None,
    };
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
            Shape::Bad if lenient => p.skipped += 1,
            Shape::Bad => {
                p.bad = Some((p.lines, String::from_utf8_lossy(line).into_owned()));
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
    let mut total = Part {
        counts: [0; 16],
        lines: 0,
        skipped: 0,
        bad: None,
    };
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
            // One line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
            carry = filled;
            continue;
        }
        let p = count(&buf[..upto], format, lenient);
        if let Some((at, text)) = p.bad {
            total.bad = Some((total.lines + at, text));
            return Ok(total);
        }
        for (t, c) in total.counts.iter_mut().zip(p.counts) {
            *t += c;
        }
        total.lines += p.lines;
        total.skipped += p.skipped;
        if eof {
            return Ok(total);
        }
        buf.copy_within(upto..filled, 0);
        carry = filled - upto;
    }
}

/// Counts states of a `ss` or `netstat` dump file: two halves, split at a
/// line boundary, each read and counted by its own thread. Returns the
/// counts by kernel state number, the lines read and the lines skipped.
pub fn census_file(path: &Path, format: Format, lenient: bool) -> Result<([u64; 16], u64, u64)> {
    use std::os::unix::fs::FileExt;
    let expected = if format == Format::Ss {
        ss::EXPECTED
    } else {
        netstat::EXPECTED
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
    if let Some((line, text)) = &a.bad {
        return Err(Error::parse(path, *line as usize, expected, text));
    }
    if let Some((line, text)) = &b.bad {
        return Err(Error::parse(
            path,
            (a.lines + line) as usize,
            expected,
            text,
        ));
    }
    let mut counts = a.counts;
    for (t, c) in counts.iter_mut().zip(b.counts) {
        *t += c;
    }
    Ok((counts, a.lines + b.lines, a.skipped + b.skipped))
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
            "tcp        0      0 127.0.0.1:8000 0.0.0.0:* LISTEN",
        ] {
            assert!(matches!(ss_shape(l.as_bytes(), None), Shape::Bad), "{l}");
        }
        assert!(matches!(
            netstat_shape(b"tcp 0 0 127.0.0.1:8000 0.0.0.0:* LISTEN", None),
            Shape::Counted(TcpState::Listen)
        ));
        assert!(matches!(
            netstat_shape(b"tcp 0 0 127.0.0.1:8000 0.0.0.0:*", None),
            Shape::Bad
        ));
        assert!(matches!(
            netstat_shape(b"udp 0 0 0.0.0.0:68 0.0.0.0:*", None),
            Shape::Skip
        ));
    }
}
