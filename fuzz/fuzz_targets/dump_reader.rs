//! A whole dump of any format (detected) on arbitrary bytes: an error or a
//! result, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tcpdoctor_core::model::{Socket, TcpState};
use tcpdoctor_core::offline::{DumpOwner, DumpReport, DumpSink, read_dump};

struct Count(u64);

impl DumpSink for Count {
    fn wants_owners(&self) -> bool {
        true
    }
    fn socket(&mut self, _: &Socket, _: &[DumpOwner]) {
        self.0 += 1;
    }
    fn aggregate(&mut self, _: TcpState, n: u64) {
        self.0 = self.0.wrapping_add(n);
    }
}

fuzz_target!(|data: &[u8]| {
    for lenient in [false, true] {
        let input = Box::new(std::io::Cursor::new(data.to_vec()));
        let mut report = DumpReport::default();
        let _ = read_dump(
            Path::new("fuzz"),
            input,
            None,
            lenient,
            &mut Count(0),
            &mut report,
        );
    }
});
