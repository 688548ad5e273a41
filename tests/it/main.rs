//! The `tcpdoctor` binary's integration tests: one test binary, a module
//! per area, as cargo's and ripgrep's are (one link instead of one per
//! file, and the helpers in `support` compiled once).
//!
//!     cargo test --test it                  # all of them
//!     cargo test --test it cli::            # one area
//!     TCPDOCTOR_BLESS=1 cargo test --test it golden::   # rewrite golden files
//!
//! Tests that need root are `#[ignore = "needs root"]`; `./test.sh` runs
//! them with `--include-ignored` when it is root.

mod support;

mod cli;
mod deploy;
mod docs;
mod files;
mod golden;
mod hostile;
mod lab;
mod offline;
mod page;
mod pipeline;
mod real_software;
mod recording;
mod serve;
mod style;
mod watch;
