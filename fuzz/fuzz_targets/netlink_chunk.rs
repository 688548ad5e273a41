//! The sock_diag reply parser on arbitrary bytes: no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tcpdoctor_core::collect::netlink::{Family, parse_chunk};
use tcpdoctor_core::model::Socket;

fuzz_target!(|data: &[u8]| {
    let _ = parse_chunk(data, Family::Both, None, &mut |_: &Socket| {});
    let _ = parse_chunk(data, Family::V4, Some(1), &mut |_: &Socket| {});
});
