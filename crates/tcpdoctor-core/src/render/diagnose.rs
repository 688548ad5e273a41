//! `tcpdoctor diagnose` and `tcpdoctor sysctl` as text, and the sysctl.d
//! snippet of `sysctl --emit`.

use super::text::{Shown, wrap};
use crate::diagnose::sysctls::{Level, LineVerdict};
use crate::diagnose::{Diagnosis, Finding, Severity};
use std::io::{self, Write};

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING ",
        Severity::Info => "info    ",
    }
}

fn evidence_line(f: &Finding) -> String {
    f.evidence
        .0
        .iter()
        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{}={}", Shown(k), Shown(s)),
            other => format!("{}={other}", Shown(k)),
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Findings by severity, each with evidence, explanation and remedy, then
/// the verdict.
pub fn text(d: &Diagnosis, out: &mut dyn Write) -> io::Result<()> {
    text_as(d, "tcpdoctor diagnose", out)
}

/// `text` under another command's name (`tcpdoctor sysctl`).
pub fn text_as(d: &Diagnosis, command: &str, out: &mut dyn Write) -> io::Result<()> {
    let ns = d.summary.namespaces.join(", ");
    writeln!(
        out,
        "{command}: {}: {} finding(s)",
        Shown(&ns),
        d.findings.len()
    )?;
    for f in &d.findings {
        writeln!(out)?;
        let where_ = f
            .netns
            .as_ref()
            .map_or(String::new(), |n| format!("  [{}]", Shown(n)));
        writeln!(
            out,
            "{} {}  {}{where_}",
            label(f.severity),
            f.id,
            Shown(&f.title)
        )?;
        writeln!(out, "  evidence:")?;
        wrap(&evidence_line(f), 74, "    ", out)?;
        writeln!(out, "  explanation:")?;
        wrap(&f.explanation, 74, "    ", out)?;
        writeln!(out, "  remedy:")?;
        wrap(&f.remedy, 74, "    ", out)?;
    }
    writeln!(out)?;
    writeln!(out, "verdict: {}", d.summary.verdict)?;
    Ok(())
}

/// A commented sysctl.d snippet with the changes the sysctl findings
/// recommend. tcpdoctor never applies it.
pub fn emit(d: &Diagnosis, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# /etc/sysctl.d/90-tcpdoctor.conf, suggested by `tcpdoctor sysctl --emit`."
    )?;
    writeln!(
        out,
        "# Review it, then apply with `sysctl --system`; tcpdoctor changes nothing itself."
    )?;
    let mut any = false;
    let mut seen = std::collections::BTreeSet::new();
    for f in d.findings.iter().filter(|f| f.recommend.is_some()) {
        let Some(r) = &f.recommend else { continue };
        writeln!(out, "#")?;
        writeln!(out, "# {}: {}", f.id, Shown(&f.title))?;
        match (&r.value, &r.location) {
            (None, Some(loc)) => writeln!(
                out,
                "# -> delete the line at {} ({} must not be set)",
                Shown(loc),
                Shown(&r.key)
            )?,
            (Some(v), loc) => {
                if let Some(loc) = loc {
                    writeln!(
                        out,
                        "# -> {} sets it now; delete that line too, or this file wins only if \
                            it sorts later",
                        Shown(loc)
                    )?;
                }
                if seen.insert(r.key.clone()) {
                    writeln!(out, "{} = {}", Shown(&r.key), Shown(v))?;
                }
            }
            (None, None) => writeln!(out, "# -> unset {}", Shown(&r.key))?,
        }
        any = true;
    }
    if !any {
        writeln!(
            out,
            "#\n# Nothing to change: the audit found no setting to recommend against."
        )?;
    }
    Ok(())
}

/// The verdict on each line of the sysctl files, after the findings.
pub fn lines(verdicts: &[LineVerdict], out: &mut dyn Write) -> io::Result<()> {
    if verdicts.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nline by line:")?;
    for v in verdicts {
        let level = match v.level {
            Level::Fine => "fine",
            Level::NoEffect => "no effect",
            Level::Risky => "risky",
            Level::Harmful => "HARMFUL",
        };
        writeln!(
            out,
            "  {}  {} = {}  [{level}]",
            Shown(&v.location),
            Shown(&v.key),
            Shown(&v.value)
        )?;
        wrap(&v.reason, 74, "    ", out)?;
    }
    Ok(())
}
