//! `tcpdoctor snapshot -o FILE`.

use super::args::{HostSnapshotArgs, with_progress};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use tcpdoctor_core::ops::{self, ProcRoot, Selection};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The file to write; gzip-compressed when it ends in .gz.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,

    /// Keep processes' full command lines in the file. Off by default,
    /// since arguments may hold secrets (--password=...): then a process
    /// shows as its comm and the base name of its argv[0], and the
    /// snapshot's notes say so.
    #[arg(long)]
    pub show_cmdline: bool,

    #[command(flatten)]
    pub host: HostSnapshotArgs,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    // Everything any rule reads, so that `analyze` of the file can run them.
    let opts = ops::SnapshotOptions {
        hide_arguments: !a.show_cmdline,
        ..a.host.options()
    };
    let snap = with_progress(|p| ops::snapshot(root, &opts, Selection::All, p))
        .context("taking the snapshot")?;
    ops::snapshot_file::write(&snap, &a.output)?;
    eprintln!(
        "wrote {}: {} socket(s) in {} namespace(s), {} owning process(es)",
        a.output.display(),
        snap.socket_count(),
        snap.namespaces.len(),
        snap.owners.processes.len()
    );
    Ok(ExitCode::SUCCESS)
}
