//! The `tcpdoctor` command. Every error becomes its exit code here, in one
//! place: a usage error 2, a closed stdout a quiet 0 (as `ripgrep | head`),
//! anything else 3 ("could not run", as a Nagios plugin's UNKNOWN).

mod cli;
mod tui;

use std::process::ExitCode;
use tcpdoctor_core::render::text::shown;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) if cli::exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote a file or a name from elsewhere: each of
            // its lines is shown escaped, the lines themselves kept.
            let message = format!("{e:#}");
            let lines: Vec<_> = message.split('\n').map(shown).collect();
            eprintln!("tcpdoctor: {}", lines.join("\n"));
            ExitCode::from(cli::exit::code_of(&e))
        }
    }
}
