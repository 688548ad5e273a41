//! `tcpdoctor analyze FILE...`: dumps and snapshots from elsewhere.

use super::args::{JsonArg, StatesArg, ThresholdArgs, parse_group_by, print_notes, stdout};
use anyhow::Result;
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tcpdoctor_core::model::{GroupBy, RowFilter, rows};
use tcpdoctor_core::ops::{self, Format, analyze};
use tcpdoctor_core::render;

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum ViewArg {
    #[default]
    Diagnose,
    Census,
    Sockets,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Netstat,
    Ss,
    Proc,
    Aggregate,
    Snapshot,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
JSON: --view diagnose, census and sockets print the JSON of `tcpdoctor diagnose --json`, \
`census --json` and `sockets --json` (their --help lists the fields).")]
pub struct Args {
    /// Dump or snapshot files; `-` for stdin. Several are read as one host
    /// (for example /proc/net/tcp and tcp6).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// What to show: diagnose (findings), census (counts per state) or
    /// sockets (the listing).
    #[arg(long, value_enum, default_value_t = ViewArg::Diagnose)]
    pub view: ViewArg,

    /// The input format, when detection is not wanted.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Skip malformed lines (and count them) instead of failing.
    #[arg(long)]
    pub lenient: bool,

    /// Census view: also count per remote, local-port, local-ip or process.
    #[arg(long, value_name = "KEY", value_parser = parse_group_by)]
    pub by: Option<GroupBy>,

    /// Census view with --by: groups per state.
    #[arg(long, value_name = "N", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,

    #[command(flatten)]
    pub states: StatesArg,

    /// Sockets view: at most N sockets.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    let format = a.format.map(|f| match f {
        FormatArg::Netstat => Format::Netstat,
        FormatArg::Ss => Format::Ss,
        FormatArg::Proc => Format::Proc,
        FormatArg::Aggregate => Format::Aggregate,
        FormatArg::Snapshot => Format::Snapshot,
    });
    let json = a.output.json;
    let mut out = stdout();
    let code = match a.view {
        ViewArg::Census => {
            let (r, _) = analyze::census(&a.files, format, a.lenient, a.by, a.top as usize)?;
            if json {
                render::json(&r, &mut out)?;
            } else {
                print_notes(&r.notes);
                render::census::text(&r, &mut out)?;
            }
            ExitCode::SUCCESS
        }
        ViewArg::Sockets => {
            let filter = RowFilter {
                states: a.states.set(),
                ..RowFilter::default()
            };
            // With a limit, only that many rows (and what their attribution
            // needs) are kept: memory follows the limit, not the dump.
            let top;
            let snap;
            let l = match a.limit {
                Some(n) => {
                    top = analyze::top_listing(&a.files, format, a.lenient, &filter, n)?.0;
                    print_notes(&top.snapshot.notes);
                    top.rows(&filter)
                }
                None => {
                    snap = analyze::snapshot(&a.files, format, a.lenient)?.0;
                    print_notes(&snap.notes);
                    rows(&snap, &filter)
                }
            };
            if json {
                render::sockets::json(&l, false, &mut out)?;
            } else {
                render::sockets::text(&l, false, &mut out)?;
            }
            ExitCode::SUCCESS
        }
        ViewArg::Diagnose => {
            let d = ops::diagnose_dumps(&a.files, format, a.lenient, &a.thresholds.0)?;
            drop(out);
            return super::diagnose::print(&d, json);
        }
    };
    out.flush()?;
    Ok(code)
}
