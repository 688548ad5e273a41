//! `tcpdoctor man`: manual pages from the command line's own definition
//! (clap_mangen): tcpdoctor(1) with the examples and exit statuses, and
//! one page per subcommand. The copies in docs/man are checked against it
//! by the tests.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Without --out-dir, prints tcpdoctor(1) (read it with `tcpdoctor man | man -l -`). With it, \
writes tcpdoctor.1 and tcpdoctor-COMMAND.1 for every command there.")]
pub struct Args {
    /// Write every page into this directory.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    let cmd = super::Cli::command();
    match &a.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
        }
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
    }
    Ok(ExitCode::SUCCESS)
}
