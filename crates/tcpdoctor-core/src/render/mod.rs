//! Turning reports into bytes: text for people, JSON for programs, the
//! Prometheus exposition format and the exporter's HTML page. A renderer
//! decides nothing; it only lays out what it is given. The text renderers
//! print every name a process or another machine chose through
//! `untrusted::shown`.

pub mod census;
pub mod diagnose;
pub mod host;
#[cfg(test)]
mod hostile;
pub(crate) mod html;
pub mod prometheus;
pub mod sockets;
pub mod text;
pub mod trace;
pub mod untrusted;

use serde::Serialize;
use std::io::{self, Write};

/// Pretty JSON followed by a newline.
pub fn json<T: Serialize + ?Sized>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
