//! The `tcpdoctor` command. Every error becomes its exit code here, in one
//! place: a usage error 2, a closed stdout a quiet 0 (as `ripgrep | head`),
//! anything else 3 ("could not run", as a Nagios plugin's UNKNOWN).

mod cli;
mod tui;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) if cli::exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpdoctor: {e:#}");
            ExitCode::from(cli::exit::code_of(&e))
        }
    }
}
