//! `tcpdoctor snapshot -o FILE`.

use super::args::HostSnapshotArgs;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::diagnose::Selection;
use tcpdoctor_core::offline;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The file to write; gzip-compressed when it ends in .gz.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub host: HostSnapshotArgs,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    // Everything any rule reads, so that `analyze` of the file can run them.
    let snap = a
        .host
        .take(root, Selection::All)
        .context("taking the snapshot")?;
    offline::snapshot::write(&snap, &a.output)?;
    eprintln!(
        "wrote {}: {} socket(s) in {} namespace(s), {} owning process(es)",
        a.output.display(),
        snap.socket_count(),
        snap.namespaces.len(),
        snap.owners.processes.len()
    );
    Ok(ExitCode::SUCCESS)
}
