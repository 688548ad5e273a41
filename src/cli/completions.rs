//! `tcpdoctor completions SHELL`: a completion script from the command
//! line's own definition (clap_complete).

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Install: bash: tcpdoctor completions bash > /etc/bash_completion.d/tcpdoctor (or \
~/.local/share/bash-completion/completions/tcpdoctor); zsh: into a directory of $fpath as \
_tcpdoctor; fish: ~/.config/fish/completions/tcpdoctor.fish. The Debian package installs \
all three.")]
pub struct Args {
    /// bash, zsh or fish (also elvish, powershell).
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "tcpdoctor", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
