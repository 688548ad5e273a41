//! `tcpdoctor sysctl`: the sysctl audit alone.

use super::args::{JsonArg, NetnsArg, SysctlFilesArg, ThresholdArgs, print_notes, stdout};
use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;
use tcpdoctor_core::ops::{self, Diagnosis, LineVerdict, ProcRoot, SysctlReview};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "JSON: {\"findings\", \"summary\" (as `tcpdoctor diagnose --json` prints them), \
\"lines\" (every TCP line of the files): [{\"location\", \"key\", \"value\", \"level\": \
fine|no_effect|risky|harmful, \"reason\"}]}"
)]
pub struct Args {
    #[command(flatten)]
    pub sysctl_files: SysctlFilesArg,

    /// Print a commented sysctl.d snippet of the recommended changes.
    #[arg(long, conflicts_with = "json")]
    pub emit: bool,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    // Judged with the thresholds `diagnose` has (flags over the
    // configuration file), and every TCP-related line of the files: also
    // the ones that are fine, or only pointless.
    let SysctlReview {
        diagnosis: d,
        lines,
    } = ops::sysctl_review(
        root,
        &a.netns.selector,
        &a.sysctl_files.files,
        &a.thresholds.0,
    )
    .context("auditing sysctls")?;
    if !a.emit {
        print_notes(&d.summary.notes);
        let mut out = stdout();
        if a.output.json {
            #[derive(serde::Serialize)]
            struct Audit<'a> {
                #[serde(flatten)]
                diagnosis: &'a Diagnosis,
                lines: &'a [LineVerdict],
            }
            render::json(
                &Audit {
                    diagnosis: &d,
                    lines: &lines,
                },
                &mut out,
            )?;
        } else {
            render::diagnose::text_as(&d, "tcpdoctor sysctl", &mut out)?;
            render::diagnose::lines(&lines, &mut out)?;
        }
        out.flush()?;
        return Ok(ExitCode::from(d.summary.exit_code() as u8));
    }
    print_notes(&d.summary.notes);
    let mut out = stdout();
    render::diagnose::emit(&d, &mut out)?;
    out.flush()?;
    Ok(ExitCode::from(d.summary.exit_code() as u8))
}
