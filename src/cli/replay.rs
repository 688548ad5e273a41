//! `tcpdoctor replay`: a `watch --record` file, in the same terminal UI
//! with seek, or as NDJSON.

use super::args::{JsonArg, print_notes, stdout};
use super::watch::run_ui;
use crate::tui::{App, Mode};
use anyhow::{Context, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tcpdoctor_core::ops::recording;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Keys as in watch, and to move in time: <- -> one sample, PgUp PgDn sixty, Home End the first \
and the last, g a wall-clock time (HH:MM:SS UTC). The header shows which sample is shown.\n\n\
With --json, or without a terminal: the samples as recorded, one JSON object per line \
(the layout of `watch --json`).")]
pub struct Args {
    /// The recording (`tcpdoctor watch --record FILE`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    let rec =
        recording::read_file(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    print_notes(&rec.notes);
    if rec.samples.is_empty() {
        anyhow::bail!("{}: the recording holds no sample", a.file.display());
    }
    if a.output.json || !std::io::stdout().is_terminal() {
        let mut out = stdout();
        for s in &rec.samples {
            serde_json::to_writer(&mut out, s)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut app = App::new(Mode::Replay, rec.header.header.clone());
    app.samples = rec.samples.into();
    app.paused = true;
    let stop = super::args::stop_on_signals(true)?;
    run_ui(&mut app, &stop, |_| {})?;
    Ok(ExitCode::SUCCESS)
}
