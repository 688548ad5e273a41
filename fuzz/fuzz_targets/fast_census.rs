//! The fast census's line shapes against the general parsers on arbitrary
//! lines: no panic, and both accept, skip and reject exactly the same
//! lines (a mismatch is a crash).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tcpdoctor_core::offline::Format;
use tcpdoctor_core::offline::fast_census::{general_shape, netstat_shape, ss_shape};

fuzz_target!(|data: &[u8]| {
    for raw in data.split(|b| *b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // The general path reads lines as (lossy) UTF-8, the fast one as
        // bytes: they must still agree.
        let text = String::from_utf8_lossy(raw);
        assert_eq!(ss_shape(raw, None), general_shape(&text, Format::Ss), "ss {text:?}");
        assert_eq!(
            netstat_shape(raw, None),
            general_shape(&text, Format::Netstat),
            "netstat {text:?}"
        );
    }
});
