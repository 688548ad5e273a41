//! `tcpdoctor explain TOPIC`.

use super::exit::usage;
use anyhow::Result;
use std::process::ExitCode;
use tcpdoctor_core::diagnose::explain;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The topic; `tcpdoctor explain list` lists them.
    pub topic: String,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    if a.topic == "list" {
        println!("{}", explain::topics());
        return Ok(ExitCode::SUCCESS);
    }
    match explain::explain(&a.topic) {
        Some(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        None => Err(usage(format!(
            "no topic '{}'. Topics:\n{}",
            a.topic,
            explain::topics()
        ))),
    }
}
