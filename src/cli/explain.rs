//! `tcpdoctor explain TOPIC [--port PORT]`.

use super::args::{print_notes, stdout};
use super::exit::usage;
use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;
use tcpdoctor_core::ops::{self, ProcRoot, explain};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "EXAMPLES:\n  tcpdoctor explain time-wait\n  tcpdoctor explain \
close-wait-leak\n  tcpdoctor explain tcp_fin_timeout\n  tcpdoctor explain \"Address already in \
use\" --port 8080\n  tcpdoctor explain EADDRNOTAVAIL"
)]
pub struct Args {
    /// The topic: a TCP state, a finding id, a sysctl, or an error as
    /// programs print it ("Cannot assign requested address", EADDRINUSE...).
    /// `tcpdoctor explain list` lists them.
    pub topic: String,

    /// With an error topic: also show what holds this port here now (its
    /// listeners and connections, with their processes).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    if a.topic == "list" {
        println!("{}", explain::topics());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(text) = explain::explain(&a.topic) else {
        return Err(usage(format!(
            "no topic '{}'. Topics:\n{}",
            a.topic,
            explain::topics()
        )));
    };
    let mut out = stdout();
    out.write_all(text.as_bytes())?;
    if let Some(port) = a.port {
        if !explain::is_error_topic(&a.topic) {
            return Err(usage("--port goes with an error topic (EADDRINUSE, ...)"));
        }
        let holders = ops::port_holders(root, port).context("listing what holds the port")?;
        let listing = holders.listing();
        writeln!(out, "\nPort {port} on this host now:")?;
        if listing.rows.is_empty() {
            writeln!(out, "  nothing holds it (no listener, no connection)")?;
        } else {
            render::sockets::text(&listing, false, &mut out)?;
        }
        print_notes(&holders.snapshot.notes);
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
