//! `tcpdoctor lab list|run|down` and the hidden `lab role`.

use super::args::{JsonArg, stdout};
use super::exit::{self, usage};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tcpdoctor_core::render;
use tcpdoctor_lab::roles::{self, ClientMode, ServerMode};
use tcpdoctor_lab::{run as lab_run, scenarios};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Describe the scenarios, and list labs that are running or kept.
    List,
    /// Run a scenario, print what it built, check it, clean up.
    Run(RunArgs),
    /// Stop a kept (or abandoned) lab: its processes and its namespace.
    Down {
        /// The lab's namespace name, as `lab run --keep` printed it
        /// (tdlab-SCENARIO).
        name: String,
    },
    /// A scenario's server or client process (started by `lab run`).
    #[command(hide = true)]
    Role(RoleArgs),
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "JSON: {\"scenario\", \"scale\", \"netns\", \"server_pid\", \"client_pid\", \
\"states\": {\"CLOSE_WAIT\": n, ...}, \"tcp_ext\": {\"ListenOverflows\": n, ...}, \"client\": \
{\"ok\", \
\"errors\", \"connections\", \"leaked\"}, \"server\": {\"ok\", \"errors\", \"connections\", \
\"leaked\"}, \"checks\": [{\"what\", \"ok\"}], \"seconds\", \"kept\", \"diagnosis\" (as `tcpdoctor \
diagnose --json` prints it, for the lab's namespace)}"
)]
pub struct RunArgs {
    /// The scenario (see `tcpdoctor lab list`).
    pub scenario: String,

    /// How many requests or connections the client makes (each scenario
    /// has a default).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub scale: Option<u64>,

    /// Leave it running, and print how to inspect it and tear it down.
    #[arg(long)]
    pub keep: bool,

    /// Keep the problem in place for SECONDS before cleaning up, to watch it
    /// from another terminal.
    #[arg(long, value_name = "SECONDS", conflicts_with = "keep",
        value_parser = clap::value_parser!(u64).range(0..=86400))]
    pub hold: Option<u64>,

    /// Name the lab's network namespace (always prefixed tdlab-); the
    /// default is tdlab-SCENARIO. Lets two runs of one scenario coexist.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    #[command(flatten)]
    pub output: JsonArg,
}

#[derive(Clone, Debug)]
pub enum Role {
    Server(ServerMode),
    Client(ClientMode),
}

#[derive(clap::Args, Debug)]
pub struct RoleArgs {
    /// server or client.
    pub role: String,
    #[arg(long)]
    pub addr: std::net::SocketAddr,
    /// The role's mode (see roles::ServerMode and ClientMode).
    #[arg(long)]
    pub mode: String,
    #[arg(long, default_value_t = 128)]
    pub backlog: i32,
    #[arg(long)]
    pub nofile: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub count: u64,
    #[arg(long, default_value_t = 1)]
    pub conns: u64,
    #[arg(long)]
    pub detached: bool,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    match &a.command {
        LabCommand::List => {
            let mut out = stdout();
            tcpdoctor_lab::render::list(&lab_run::records(), &mut out)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down { name } => {
            require_privileges()?;
            for line in lab_run::teardown(name)? {
                println!("{}", render::text::Shown(&line));
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Run(r) => run_scenario(r),
        LabCommand::Role(r) => role(r),
    }
}

fn require_privileges() -> Result<()> {
    if !tcpdoctor_lab::have_privileges() {
        anyhow::bail!(
            "the lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces; \
                run it with sudo"
        );
    }
    Ok(())
}

fn run_scenario(a: &RunArgs) -> Result<ExitCode> {
    let Some(scenario) = scenarios::find(&a.scenario) else {
        let names: Vec<&str> = scenarios::SCENARIOS.iter().map(|s| s.name).collect();
        return Err(usage(format!(
            "unknown scenario '{}': expected one of {}",
            a.scenario,
            names.join(", ")
        )));
    };
    require_privileges()?;
    let interrupted = super::args::stop_on_signals(false)?;
    let exe = std::env::current_exe().context("finding the tcpdoctor executable")?;
    let opts = lab_run::LabOptions {
        scenario,
        scale: a.scale.unwrap_or(scenario.default_scale),
        keep: a.keep,
        hold: a.hold.map(Duration::from_secs),
        exe,
        name: a.name.clone(),
        progress: !a.output.json,
        interrupted: Arc::clone(&interrupted),
    };
    if !a.output.json {
        eprintln!("lab {}: {}", scenario.name, scenario.summary);
    }
    let outcome = match lab_run::run(&opts) {
        Ok(o) => o,
        Err(e) if interrupted.load(Ordering::Relaxed) => {
            eprintln!(
                "tcpdoctor: lab {} interrupted; cleaned up ({e})",
                scenario.name
            );
            return Ok(ExitCode::from(exit::INTERRUPTED));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("lab {} failed and was cleaned up", scenario.name)));
        }
    };
    let mut out = stdout();
    if a.output.json {
        render::json(&outcome, &mut out)?;
    } else {
        tcpdoctor_lab::render::outcome(&outcome, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::from(if outcome.passed() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    }))
}

fn role(a: &RoleArgs) -> Result<ExitCode> {
    let role = match a.role.as_str() {
        "server" => Role::Server(a.mode.parse().map_err(usage)?),
        "client" => Role::Client(a.mode.parse().map_err(usage)?),
        other => {
            return Err(usage(format!(
                "unknown role {other}: expected server or client"
            )));
        }
    };
    if let Some(n) = a.nofile {
        roles::limit_open_files(n)?;
    }
    roles::set_process_name(&format!("lab-{}", a.role));
    match role {
        Role::Server(mode) => roles::server(a.addr, mode, a.backlog, a.detached)?,
        Role::Client(mode) => roles::client(a.addr, mode, a.count, a.conns, a.detached)?,
    }
    Ok(ExitCode::SUCCESS)
}
