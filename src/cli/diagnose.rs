//! `tcpdoctor diagnose` (and plain `tcpdoctor`).

use super::args::{HostSnapshotArgs, JsonArg, ThresholdArgs, print_notes, stdout, with_progress};
use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;
use tcpdoctor_core::ops::{self, DiagnoseOptions, Diagnosis, ProcRoot, Selection};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    after_help = "JSON: {\"findings\": [{\"id\", \"severity\", \"title\", \"subject\", \
\"evidence\": {...}, \"explanation\", \"remedy\", \"recommend\" (a sysctl setting that fixes it): \
{\"key\", \"value\", \"location\"}, \"netns\" (with several namespaces)}], \"summary\": \
{\"critical\", \"warning\", \"info\", \"verdict\", \"namespaces\", \"notes\"}}"
)]
pub struct Args {
    #[command(flatten)]
    pub host: HostSnapshotArgs,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

/// Prints a diagnosis as text or JSON; the exit code is its verdict.
pub fn print(d: &Diagnosis, json: bool) -> Result<ExitCode> {
    print_notes(&d.summary.notes);
    let mut out = stdout();
    if json {
        render::json(d, &mut out)?;
    } else {
        render::diagnose::text(d, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::from(d.summary.exit_code() as u8))
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    let opts = DiagnoseOptions {
        snapshot: a.host.options(),
        thresholds: a.thresholds.0.clone(),
        selection: Selection::All,
    };
    let d = with_progress(|p| ops::diagnose(root, &opts, p)).context("diagnosing")?;
    print(&d, a.output.json)
}
