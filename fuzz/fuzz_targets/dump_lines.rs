//! Every line parser on arbitrary lines: no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tcpdoctor_core::collect::procnet;
use tcpdoctor_core::offline::{netstat, ss};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = netstat::parse_line(line, true);
        let _ = ss::parse_line(line, true);
        let _ = procnet::parse_line(line.as_bytes());
        let _ = ss::parse_users(line);
        let _ = ss::parse_duration_ms(line);
    }
});
