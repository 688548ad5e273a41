//! `tcpdoctor serve`: the Prometheus exporter.

use super::args::{NetnsArg, ThresholdArgs, seconds};
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tcpdoctor_core::ops::ProcRoot;
use tcpdoctor_core::serve::{Exporter, ExporterOptions, http};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on. The default is loopback only; use
    /// 0.0.0.0:9753 (or a node address) for a Prometheus elsewhere.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9753")]
    pub listen: std::net::SocketAddr,

    /// Seconds between full refreshes (owners, ages, findings), 1 to 86400.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds(1.0, 86400.0))]
    pub full_interval: Duration,

    /// Label values kept per family (processes, tuples) before "other".
    #[arg(long, value_name = "N", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub top: u32,

    /// Seconds a client may take to send its whole request, and each write
    /// of the response may wait; a slower client is then disconnected (0.1
    /// to 600).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds(0.1, 600.0))]
    pub client_timeout: Duration,

    /// Connections served at once; when all are taken, the oldest one still
    /// sending its request is dropped for the newcomer.
    #[arg(long, value_name = "N", default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_connections: u32,

    /// Connections served at once from one address; when all of its are
    /// taken, its oldest one still sending its request is dropped for the
    /// newcomer (a slow client cannot take the scraper's place).
    #[arg(long, value_name = "N", default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_per_peer: u32,

    /// Scrapes within this many seconds of each other share one census
    /// (0: every scrape takes its own; at most 3600).
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds(0.0, 3600.0))]
    pub census_cache: Duration,

    /// Serve processes' full command lines (on / and in findings). Off by
    /// default, since arguments may hold secrets (--password=...): then a
    /// process shows as its comm and the base name of its argv[0].
    #[arg(long)]
    pub show_cmdline: bool,

    /// Trace connection closes for as long as it serves (eBPF, needs
    /// root): TIME_WAIT is exported under the process that closed it
    /// (exact="true") instead of a likely one, and
    /// tcpdoctor_connection_ends_total counts ends per closing process.
    /// Where eBPF cannot be used it says why and serves without it.
    #[arg(long)]
    pub trace: bool,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    let listener = std::net::TcpListener::bind(a.listen)
        .with_context(|| format!("listening on {}", a.listen))?;
    let opts = ExporterOptions {
        netns: a.netns.selector.clone(),
        full_interval: a.full_interval,
        top: a.top as usize,
        thresholds: a.thresholds.0.clone(),
        census_max_age: a.census_cache,
        show_cmdline: a.show_cmdline,
    };
    let exporter = Exporter::new(root.clone(), opts);
    if a.trace
        && let Err(why) = exporter.start_tracer()
    {
        eprintln!("tcpdoctor: --trace: cannot trace ({why}); TIME_WAIT closers stay likely");
    }
    exporter.refresh_full();
    exporter.start_refresher();
    eprintln!(
        "tcpdoctor: serving http://{}/metrics",
        listener.local_addr()?
    );
    let handler = Arc::new(move |path: &str| exporter.handle(path));
    let limits = http::Limits {
        request_deadline: a.client_timeout,
        write_timeout: a.client_timeout,
        max_connections: a.max_connections as usize,
        max_per_peer: a.max_per_peer as usize,
        ..http::Limits::default()
    };
    http::serve(listener, limits, handler)?;
    Ok(ExitCode::SUCCESS)
}
