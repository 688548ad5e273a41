//! `tcpdoctor host`.

use super::args::{JsonArg, print_notes, stdout};
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use tcpdoctor_core::ops::{ProcRoot, read_host_info};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "JSON: {\"kernel_release\", \"sockstat\": {\"inuse\", \"orphan\", \"tw\", \
\"alloc\", \"mem_pages\", \"inuse6\"}, \"tcp\": {\"ActiveOpens\": n, ...}, \"tcp_ext\": \
{\"ListenOverflows\": n, ...}, \"sysctls\": {\"net.core.somaxconn\": \"4096\", ...}, \"file_nr\": \
{\"allocated\", \"free\", \"max\"}, \"notes\"}"
)]
pub struct Args {
    /// Print every Tcp and TcpExt counter, not just the ones that matter here.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    let info = read_host_info(root);
    let mut out = stdout();
    if a.output.json {
        render::json(&info, &mut out)?;
    } else {
        print_notes(&info.notes);
        render::host::text(&info, a.all, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
