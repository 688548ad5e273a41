//! The configuration file (`/etc/tcpdoctor/config.toml`, or `--config
//! FILE`): every rule threshold and the exporter's settings, as defaults
//! that flags override. It works by changing the default values of the
//! command line's own arguments before it is parsed, so `--help` shows the
//! values in effect and every value passes the same checks as a flag.
//! `tcpdoctor config --default` prints the commented default file,
//! generated from the rules' declarations and the exporter's flags.

use super::args::stdout;
use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tcpdoctor_core::ops::thresholds;
use toml::Spanned;

/// Read when no `--config` is given, if it exists.
pub const DEFAULT_PATH: &str = "/etc/tcpdoctor/config.toml";

/// The largest configuration file read.
const MAX_BYTES: u64 = 1 << 20;

/// The `serve` flags a file may set: every flag of `serve` but the
/// global ones and the thresholds (their own table), from the command
/// line's definition, so that a new exporter flag is a key at once.
fn serve_keys() -> Vec<String> {
    let cmd = <super::Cli as clap::CommandFactory>::command();
    let globals: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
    let Some(serve) = cmd.find_subcommand("serve") else {
        return Vec::new();
    };
    serve
        .get_arguments()
        .filter(|a| {
            a.get_help_heading()
                .is_none_or(|h| !h.starts_with("Thresholds"))
        })
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help" && !globals.contains(l))
        .map(str::to_string)
        .collect()
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
The file (TOML) has two tables: [thresholds], any rule threshold by its flag name \
(close-wait-count = 100), used by analyze, diagnose, serve, sysctl and watch; and [serve], \
the exporter's flags (listen = \"0.0.0.0:9753\", full-interval = 30, ...). A flag on \
the command line overrides the file. A bad key or value is an error naming the file, the line \
and what was expected.")]
pub struct Args {
    /// Print the default configuration file, every key commented with what
    /// it does and its default.
    #[arg(long)]
    pub default: bool,
}

/// One key of the file with where it was.
struct Setting {
    section: &'static str,
    key: String,
    value: String,
    line: usize,
}

/// A loaded file: where from, and its settings.
pub struct Config {
    path: PathBuf,
    settings: Vec<Setting>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Opens a configuration file for reading if it is a regular file. The
/// open does not block (O_NONBLOCK: opening a FIFO for reading would wait
/// for a writer, with no word said) and what was opened is checked with
/// fstat, so a FIFO, a device or a directory is an error naming it
/// however the path changes meanwhile.
fn open_regular(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let p = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| anyhow::anyhow!("reading {p}: {e}"))?;
    let t = file
        .metadata()
        .map_err(|e| anyhow::anyhow!("reading {p}: {e}"))?
        .file_type();
    if let Some(what) = tcpdoctor_core::ops::file_kind(t) {
        bail!("{p}: is {what}: a configuration file must be a regular file");
    }
    Ok(file)
}

type Table = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

impl Config {
    /// Reads `explicit`, or the default file when it exists; `None` when
    /// there is none to read.
    pub fn load(explicit: Option<&Path>) -> Result<Option<Config>> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
            None => return Ok(None),
        };
        let file = open_regular(&path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_BYTES + 1), &mut text)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        if text.len() as u64 > MAX_BYTES {
            bail!(
                "{}: larger than 1 MiB: not a tcpdoctor configuration",
                path.display()
            );
        }
        Config::parse(&path, &text).map(Some)
    }

    /// Parses and checks a file's text; errors name the file and line.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let p = path.display();
        let doc: BTreeMap<Spanned<String>, Spanned<Table>> = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            anyhow::anyhow!("{p}:{line}: expected TOML: {}", e.message())
        })?;
        let mut settings = Vec::new();
        let serve_keys = serve_keys();
        for (section, value) in doc {
            let line = line_of(text, section.span().start);
            let name: &'static str = match section.get_ref().as_str() {
                "thresholds" => "thresholds",
                "serve" => "serve",
                other => {
                    bail!("{p}:{line}: unknown table [{other}]: expected [thresholds] or [serve]")
                }
            };
            for (key, v) in value.into_inner() {
                let line = line_of(text, key.span().start);
                let key = key.into_inner();
                let known = match name {
                    "thresholds" => thresholds::find(&key).is_some(),
                    _ => serve_keys.contains(&key),
                };
                if !known {
                    bail!(
                        "{p}:{line}: unknown key '{key}' in [{name}]: expected one of the keys \
                         `tcpdoctor config --default` lists"
                    );
                }
                let Some(value) = value_text(v.get_ref()) else {
                    bail!("{p}:{line}: {key}: expected a number, a string or true/false");
                };
                settings.push(Setting {
                    section: name,
                    key,
                    value,
                    line,
                });
            }
        }
        let cfg = Config {
            path: path.to_path_buf(),
            settings,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Checks every value as the flag it stands for would be checked: a
    /// threshold by its unit, an exporter setting by parsing `serve` with
    /// it as the default.
    fn check(&self) -> Result<()> {
        let at = |s: &Setting| format!("{}:{}: {}", self.path.display(), s.line, s.key);
        for s in self.settings.iter().filter(|s| s.section == "thresholds") {
            let v: f64 = s.value.trim().parse().map_err(|_| {
                anyhow::anyhow!("{}: expected a number, found '{}'", at(s), s.value)
            })?;
            thresholds::Thresholds::default()
                .set(&s.key, v)
                .map_err(|e| anyhow::anyhow!("{}: {e}", at(s)))?;
        }
        let cmd = <super::Cli as clap::CommandFactory>::command();
        for s in self.settings.iter().filter(|s| s.section == "serve") {
            let one = Config {
                path: self.path.clone(),
                settings: vec![Setting {
                    section: s.section,
                    key: s.key.clone(),
                    value: s.value.clone(),
                    line: s.line,
                }],
            };
            if let Err(e) = one
                .apply(cmd.clone())
                .try_get_matches_from(["tcpdoctor", "serve"])
            {
                let why = e.to_string();
                let why = why
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                bail!("{}: {why}", at(s));
            }
        }
        Ok(())
    }

    /// The command line with the file's values as its defaults.
    pub fn apply(&self, mut cmd: clap::Command) -> clap::Command {
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        for name in names {
            let wanted: Vec<&Setting> = self
                .settings
                .iter()
                .filter(|s| s.section == "thresholds" || name == "serve")
                .collect();
            cmd = cmd.mut_subcommand(&name, |mut sub| {
                for s in &wanted {
                    // An argument's id is its field name; the file uses the
                    // flag's long name.
                    let id = sub
                        .get_arguments()
                        .find(|a| a.get_long() == Some(s.key.as_str()))
                        .map(|a| a.get_id().as_str().to_string());
                    if let Some(id) = id {
                        // clap keeps defaults as 'static strings: one small
                        // string per configured key, once per run.
                        let v: &'static str = Box::leak(s.value.clone().into_boxed_str());
                        sub = sub.mut_arg(id, |a| a.default_value(v));
                    }
                }
                sub
            });
        }
        cmd
    }
}

/// `text` as comment lines of at most 90 columns.
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for w in text.split_whitespace() {
        if line.len() + 1 + w.len() > 90 && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(w);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// One key of the file, as `config --default` and tcpdoctor-config(1)
/// document it.
pub struct Key {
    /// "thresholds" or "serve".
    pub table: &'static str,
    /// The flag's long name.
    pub key: String,
    /// Its placeholder in --help: N, SECONDS, RATIO, ADDR... (empty for
    /// a switch).
    pub value_name: String,
    /// Its default as a TOML value: `100`, `"127.0.0.1:9753"`, `false`.
    pub default: String,
    /// What it does (the flag's help).
    pub help: String,
}

/// Every key of the file, table by table: the rules' thresholds in
/// registry order, then the exporter's flags.
pub fn keys() -> Vec<Key> {
    let mut out: Vec<Key> = thresholds::all()
        .into_iter()
        .map(|t| Key {
            table: "thresholds",
            key: t.flag.to_string(),
            value_name: t.unit.value_name().to_string(),
            default: t.default.to_string(),
            help: t.help.to_string(),
        })
        .collect();
    let cmd = <super::Cli as clap::CommandFactory>::command();
    let Some(serve) = cmd.find_subcommand("serve") else {
        return out;
    };
    for key in serve_keys() {
        let Some(arg) = serve.get_arguments().find(|a| a.get_long() == Some(&key)) else {
            continue;
        };
        let default = arg
            .get_default_values()
            .first()
            .map(|v| v.to_string_lossy().into_owned());
        let default = match default {
            Some(d) if d.parse::<f64>().is_ok() || d == "true" || d == "false" => d,
            Some(d) => format!("\"{d}\""),
            None => "false".into(),
        };
        let value_name = if arg.get_action().takes_values() {
            arg.get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| "VALUE".to_string(), |v| v.to_string())
        } else {
            String::new()
        };
        out.push(Key {
            table: "serve",
            key,
            value_name,
            default,
            help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
        });
    }
    out
}

/// The commands that take the rule thresholds (and so the file's
/// [thresholds]), from the command line's definition: "analyze,
/// diagnose, serve, sysctl and watch".
pub fn threshold_commands() -> String {
    let cmd = <super::Cli as clap::CommandFactory>::command();
    let mut names: Vec<&str> = cmd
        .get_subcommands()
        .filter(|c| {
            c.get_arguments().any(|a| {
                a.get_help_heading()
                    .is_some_and(|h| h.starts_with("Thresholds"))
            })
        })
        .map(|c| c.get_name())
        .collect();
    names.sort_unstable();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The commented default file.
pub fn default_file() -> String {
    let mut out = String::from(
        "# tcpdoctor configuration: /etc/tcpdoctor/config.toml, or --config FILE.\n\
         # Every key is optional and shows its default; a flag on the command line overrides\n\
         # the file. Generated by `tcpdoctor config --default`.\n\n",
    );
    out.push_str(&comment(&format!(
        "Rule thresholds, by flag name (docs/rules.md; `tcpdoctor explain RULE`), used by {}.",
        threshold_commands()
    )));
    out.push_str("[thresholds]\n");
    let keys = keys();
    for k in keys.iter().filter(|k| k.table == "thresholds") {
        out.push_str(&comment(&k.help));
        out.push_str(&format!("# {} = {}\n", k.key, k.default));
    }
    out.push_str("\n# The exporter (`tcpdoctor serve`).\n[serve]\n");
    for k in keys.iter().filter(|k| k.table == "serve") {
        out.push_str(&comment(&k.help));
        out.push_str(&format!("# {} = {}\n", k.key, k.default));
    }
    out
}

pub fn run(a: &Args, loaded: Option<&Config>, broken: Option<&str>) -> Result<ExitCode> {
    let mut out = stdout();
    if a.default {
        out.write_all(default_file().as_bytes())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    match loaded {
        None if broken.is_some() => writeln!(
            out,
            "the configuration file is not used: {}",
            broken.unwrap_or_default()
        )?,
        None => writeln!(
            out,
            "no configuration file: {DEFAULT_PATH} does not exist and no --config was given"
        )?,
        Some(c) => {
            writeln!(out, "# {}", c.path.display())?;
            let mut section = "";
            for s in &c.settings {
                if s.section != section {
                    writeln!(out, "[{}]", s.section)?;
                    section = s.section;
                }
                writeln!(out, "{} = {}  # line {}", s.key, s.value, s.line)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("t.toml"), text)
    }

    #[test]
    fn errors_name_the_file_line_and_what_was_expected() {
        let e = |t: &str| parse(t).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            e("[thresholds]\nclose-wait-count = 10\nno-such = 1\n"),
            "t.toml:3: unknown key 'no-such' in [thresholds]: expected one of the keys \
             `tcpdoctor config --default` lists"
        );
        assert!(e("[thresholds]\nport-warn = 1.5\n").starts_with("t.toml:2: port-warn:"));
        assert!(
            e("[serve]\ntop = 0\n").starts_with("t.toml:2: top:"),
            "{}",
            e("[serve]\ntop = 0\n")
        );
        assert!(e("[nope]\n").starts_with("t.toml:1: unknown table [nope]"));
        assert!(
            e("[serve\n").starts_with("t.toml:1: expected TOML"),
            "{}",
            e("[serve\n")
        );
        assert!(e("[serve]\nlisten = [1]\n").contains("expected a number, a string"));
    }

    #[test]
    fn the_default_file_parses_back_and_sets_defaults_flags_override() {
        let text = default_file();
        assert!(parse(&text).is_ok(), "the commented file is valid");
        // Uncommented, every key is accepted with its default.
        let all: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(kv) if kv.contains(" = ") => kv.to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let cfg = parse(&all).expect("every default is valid");
        assert!(cfg.settings.len() >= thresholds::all().len() + 8);
        let cfg = parse("[thresholds]\nclose-wait-count = 7\n[serve]\ntop = 3\n").expect("ok");
        let cmd = cfg.apply(<super::super::Cli as clap::CommandFactory>::command());
        let m = cmd
            .clone()
            .try_get_matches_from(["tcpdoctor", "diagnose"])
            .expect("parses");
        let (_, sub) = m.subcommand().expect("diagnose");
        assert_eq!(
            sub.get_one::<f64>("close-wait-count"),
            Some(&7.0),
            "from the file"
        );
        let m = cmd
            .try_get_matches_from(["tcpdoctor", "serve", "--top", "5"])
            .expect("parses");
        let (_, sub) = m.subcommand().expect("serve");
        assert_eq!(sub.get_one::<u32>("top"), Some(&5), "the flag wins");
    }
}
