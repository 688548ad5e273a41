//! The fast census's line shapes against the general parsers on arbitrary
//! lines: no panic, and both accept, skip and reject exactly the same
//! lines (a mismatch is a crash).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tcpdoctor_core::offline::fast_census::{Shape, netstat_shape, ss_shape};
use tcpdoctor_core::offline::{Line, netstat, ss};

fn general(line: &str, netstat_format: bool) -> Shape {
    let parsed = if netstat_format {
        netstat::parse_line(line, true)
    } else {
        ss::parse_line(line, true)
    };
    match parsed {
        Line::Socket(s, _) => Shape::Counted(s.state),
        Line::Skip | Line::Detail => Shape::Skip,
        Line::Other => Shape::Other,
        Line::FormatChange => Shape::FormatChange,
        Line::Bad => Shape::Bad,
    }
}

fuzz_target!(|data: &[u8]| {
    for raw in data.split(|b| *b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // The general path reads lines as (lossy) UTF-8.
        let text = String::from_utf8_lossy(raw);
        let fast_ss = ss_shape(raw, None);
        let fast_netstat = netstat_shape(raw, None);
        // A non-UTF-8 line: the fast path sees bytes; they must still agree
        // on whether it is a socket line.
        assert_eq!(fast_ss, general(&text, false), "ss {text:?}");
        assert_eq!(fast_netstat, general(&text, true), "netstat {text:?}");
    }
});
