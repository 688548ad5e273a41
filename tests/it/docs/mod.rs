//! Docs that cannot drift, checked against the built binary:
//!
//! - docs/man is exactly what `tcpdoctor man --out-dir` writes (no page
//!   missing, extra or different), and tcpdoctor-config(1) documents every
//!   key `tcpdoctor config --default` prints;
//! - `tcpdoctor completions bash|zsh|fish` work and offer every command;
//! - every JSON layout a `--help` names is the JSON the command prints:
//!   the quoted names are parsed out of the help, and the keys printed on
//!   the captured fixture tree and on this host must be among them, and
//!   together name every one of them. Keys only root can make appear
//!   (a tracer, several namespaces, a lab) are seen by the root tests.
//!
//! Self-contained: its helpers are its own.

mod completions;
mod json;
mod layout;
mod man;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(super) use crate::support::TempDir;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tcpdoctor"))
}

fn root_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> String {
    root_dir()
        .join("tests/fixtures/every-state")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn output(args: &[&str]) -> Output {
    bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs tcpdoctor")
}

/// Stdout of `tcpdoctor ARGS`, which must succeed: exit 0, or for the
/// commands whose exit status is a verdict 1 or 2 too.
fn stdout_of(args: &[&str]) -> String {
    let o = output(args);
    let code = o.status.code();
    let verdict = args
        .iter()
        .any(|a| ["diagnose", "sysctl", "analyze"].contains(a));
    assert!(
        code == Some(0) || (verdict && matches!(code, Some(1 | 2))),
        "tcpdoctor {}: exit {code:?}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

fn help(cmd: &[&str]) -> String {
    let mut args = cmd.to_vec();
    args.push("--help");
    let o = output(&args);
    assert!(o.status.success(), "tcpdoctor {} --help", cmd.join(" "));
    String::from_utf8(o.stdout).expect("UTF-8 help")
}

fn bless() -> bool {
    std::env::var_os("TCPDOCTOR_BLESS").is_some()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The commands of `tcpdoctor CMD --help` ("Commands:"), but `help`.
fn commands_of(cmd: &[&str]) -> Vec<String> {
    let text = help(cmd);
    let Some(start) = text.find("\nCommands:\n") else {
        return Vec::new();
    };
    text[start + "\nCommands:\n".len()..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path, `["lab", "run"]` included, from the help.
fn every_command() -> Vec<Vec<String>> {
    fn walk(at: Vec<String>, out: &mut Vec<Vec<String>>) {
        let args: Vec<&str> = at.iter().map(String::as_str).collect();
        for c in commands_of(&args) {
            let mut path = at.clone();
            path.push(c);
            out.push(path.clone());
            walk(path, out);
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &mut out);
    out
}
