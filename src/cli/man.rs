//! `tcpdoctor man`: manual pages from the command line's own definition
//! (clap_mangen): tcpdoctor(1) with the examples and exit statuses, one
//! page per subcommand, and in tcpdoctor-config(1) the configuration file
//! with every key, generated from what `tcpdoctor config --default`
//! prints. The output carries no date and no version but the crate's, so
//! it is the same on every build; the copies in docs/man are checked
//! against it by tests/it/docs/ (`cargo run -- man --out-dir docs/man`
//! regenerates them).

use super::config;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::roff::{Roff, bold, italic, roman};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Without --out-dir, prints tcpdoctor(1) (read it with `tcpdoctor man | man -l -`). With it, \
writes tcpdoctor.1 and tcpdoctor-COMMAND.1 for every command there; tcpdoctor-config(1) also \
describes the configuration file and every key.")]
pub struct Args {
    /// Write every page into this directory.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The footer of every page: the program and its version.
fn source() -> String {
    format!("tcpdoctor {}", env!("CARGO_PKG_VERSION"))
}

/// Every page as (file name, roff), tcpdoctor.1 first: the commands as
/// clap_mangen's `generate_to` writes them (hidden ones left out), with
/// the sections of `extra` appended.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
        let man = clap_mangen::Man::new(cmd.clone()).source(source());
        let mut page = Vec::new();
        // Rendering into memory cannot fail.
        let _ = man.render(&mut page);
        let name = man.get_filename();
        let mut page = title_fixed(&String::from_utf8_lossy(&page));
        page.push_str(&extra(&name));
        out.push((name, page.into_bytes()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
    }
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out);
    out
}

/// `page` with its `.TH` line's empty date written as `""`: clap_mangen
/// leaves it out, which moves the source ("tcpdoctor 0.1.0") into the
/// date's place. No date, so that every build writes the same pages.
fn title_fixed(page: &str) -> String {
    page.lines()
        .map(|l| match l.strip_prefix(".TH ") {
            Some(args) => {
                let mut words = args.splitn(2, ' ');
                let title = words.next().unwrap_or_default();
                let section = words
                    .next()
                    .unwrap_or_default()
                    .split(' ')
                    .next()
                    .unwrap_or_default();
                format!(".TH {title} {section} \"\" \"{}\"\n", source())
            }
            None => format!("{l}\n"),
        })
        .collect()
}

/// What a page has beyond its command's definition, as roff.
fn extra(page: &str) -> String {
    let mut r = Roff::new();
    match page {
        "tcpdoctor.1" => {
            files(&mut r);
        }
        "tcpdoctor-config.1" => {
            files(&mut r);
            configuration(&mut r);
            r.control("SH", ["SEE ALSO"]);
            r.text([
                bold("tcpdoctor"),
                roman("(1), "),
                bold("tcpdoctor-serve"),
                roman("(1), "),
                bold("tcpdoctor-explain"),
                roman("(1)"),
            ]);
        }
        _ => return String::new(),
    }
    // Without the preamble the page already has.
    let preamble = Roff::new().render();
    let text = r.render();
    text.strip_prefix(&preamble).unwrap_or(&text).to_string()
}

fn files(r: &mut Roff) {
    r.control("SH", ["FILES"]);
    r.control("TP", []);
    r.text([bold(config::DEFAULT_PATH)]);
    r.text([
        roman("The configuration file, read when it exists and no "),
        bold("--config"),
        roman(
            " FILE is given: rule thresholds and the exporter's settings, as defaults that \
             flags override. See ",
        ),
        bold("tcpdoctor-config"),
        roman("(1)."),
    ]);
}

/// The file's format and every key with its meaning and default, from
/// `config::keys` (what `tcpdoctor config --default` prints).
fn configuration(r: &mut Roff) {
    r.control("SH", ["CONFIGURATION FILE"]);
    r.text([roman(
        "TOML with two tables, [thresholds] and [serve]. Every key is optional; a key left out \
         keeps the default shown here, and a flag on the command line overrides the file. The \
         values pass the checks of the flags they stand for; an unknown table or key, or a bad \
         value, is an error naming the file and the line. ",
    )]);
    r.text([
        bold("tcpdoctor config --default"),
        roman(" prints this file with every key commented out; "),
        bold("tcpdoctor config"),
        roman(" shows the file in use and its settings."),
    ]);
    let keys = config::keys();
    let table = |r: &mut Roff, name: &str, what: String| {
        r.control("SS", [format!("[{name}]").as_str()]);
        r.text([roman(what)]);
        for k in keys.iter().filter(|k| k.table == name) {
            r.control("TP", []);
            let mut head = vec![bold(k.key.as_str())];
            if !k.value_name.is_empty() {
                head.push(roman(" = "));
                head.push(italic(k.value_name.as_str()));
            }
            r.text(head);
            let stop = if k.help.ends_with('.') { "" } else { "." };
            r.text([roman(format!("{}{stop} Default: {}.", k.help, k.default))]);
        }
    };
    table(
        r,
        "thresholds",
        format!(
            "The numbers at which the rules speak up, by flag name (docs/rules.md; tcpdoctor \
             explain RULE), used by {}. N is a count, SECONDS seconds, RATIO a share of a limit \
             from 0 to 1.",
            config::threshold_commands()
        ),
    );
    table(
        r,
        "serve",
        "The exporter's settings (tcpdoctor serve), by flag name; a switch is true or false."
            .to_string(),
    );
    r.control("SS", ["Example"]);
    r.control("nf", []);
    r.text([roman(
        "[thresholds]\nclose-wait-count = 50\nport-warn = 0.6\n\n[serve]\nlisten = \
         \"0.0.0.0:9753\"",
    )]);
    r.control("fi", []);
}

pub fn run(a: &Args) -> Result<ExitCode> {
    let pages = pages();
    match &a.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, text) in &pages {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        None => {
            let mut out = super::args::stdout();
            if let Some((_, root)) = pages.first() {
                out.write_all(root)?;
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_page_has_every_key_of_the_default_file() {
        let pages = pages();
        let (_, page) = pages
            .iter()
            .find(|(n, _)| n == "tcpdoctor-config.1")
            .expect("a tcpdoctor-config.1");
        let page = String::from_utf8_lossy(page);
        for k in config::keys() {
            let shown = format!("\\fB{}\\fR", k.key.replace('-', "\\-"));
            assert!(
                page.contains(&shown),
                "{} is not in tcpdoctor-config.1",
                k.key
            );
            assert!(
                config::default_file().contains(&format!("# {} = {}\n", k.key, k.default)),
                "{}",
                k.key
            );
        }
        assert!(page.contains(".SH FILES"));
        assert!(!page[1..].contains(".ie \\n(.g"), "one preamble");
    }
}
