//! `tcpdoctor sysctl`: the sysctl audit alone.

use super::args::{IntervalArg, JsonArg, NetnsArg, SysctlFilesArg, plan_for, print_notes, stdout};
use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::collect::plan;
use tcpdoctor_core::diagnose::{self, Selection, Thresholds};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub sysctl_files: SysctlFilesArg,

    /// Print a commented sysctl.d snippet of the recommended changes.
    #[arg(long, conflicts_with = "json")]
    pub emit: bool,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    // The sysctl rules read no counter rates: no interval to wait.
    let interval = IntervalArg::default();
    let plan = plan_for(Selection::Sysctl, &a.sysctl_files, interval);
    let snap = plan::snapshot(root, &a.netns.selector, &plan).context("auditing sysctls")?;
    let d = diagnose::run(&snap, &Thresholds::default(), Selection::Sysctl);
    // Every TCP-related line of the files, judged: also the ones that are
    // fine, or only pointless.
    let lines = diagnose::sysctls::review(&snap);
    if !a.emit {
        print_notes(&d.summary.notes);
        let mut out = stdout();
        if a.output.json {
            #[derive(serde::Serialize)]
            struct Audit<'a> {
                #[serde(flatten)]
                diagnosis: &'a diagnose::Diagnosis,
                lines: &'a [diagnose::sysctls::LineVerdict],
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
