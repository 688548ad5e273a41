//! The numbers at which rules speak up. Each rule declares its own
//! (`Threshold`: flag, default, unit, help) in its file and lists them in
//! its `RuleDoc`; the command-line flags, docs/rules.md and `explain` are
//! generated from those declarations. `Thresholds` holds the values a run
//! uses: the declared defaults unless set.

use super::rules;
use std::collections::BTreeMap;

/// What a threshold counts, which decides how it is written and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A whole number of sockets, connections or ports.
    Count,
    /// Seconds.
    Seconds,
    /// A share of a limit, from 0 to 1.
    Ratio,
}

impl Unit {
    /// The placeholder in --help: N, SECONDS, RATIO.
    pub fn value_name(self) -> &'static str {
        match self {
            Unit::Count => "N",
            Unit::Seconds => "SECONDS",
            Unit::Ratio => "RATIO",
        }
    }

    /// A value in this unit as a person reads it: "100", "60 s", "80%".
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Count => format!("{v}"),
            Unit::Seconds => format!("{v} s"),
            Unit::Ratio => format!("{}%", (v * 1000.0).round() / 10.0),
        }
    }

    /// Checks a value: finite, not negative, a ratio at most 1, a count
    /// whole.
    pub fn check(self, v: f64) -> Result<(), String> {
        if !v.is_finite() || v < 0.0 {
            return Err(format!("expected a finite number >= 0, found {v}"));
        }
        match self {
            Unit::Ratio if v > 1.0 => Err(format!(
                "expected a share between 0 and 1 (0.8 = 80%), found {v}"
            )),
            Unit::Count if v.fract() != 0.0 || v > 1e12 => {
                Err(format!("expected a whole number, found {v}"))
            }
            _ => Ok(()),
        }
    }
}

/// One threshold, declared by the rule that uses it.
#[derive(Debug)]
pub struct Threshold {
    /// The flag without dashes: `close-wait-count`.
    pub flag: &'static str,
    pub default: f64,
    pub unit: Unit,
    /// One sentence for --help and the docs.
    pub help: &'static str,
}

/// The values of every threshold for one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    set: BTreeMap<&'static str, f64>,
}

impl Thresholds {
    /// The value of `t`: what was set, else its default.
    pub fn get(&self, t: &Threshold) -> f64 {
        self.set.get(t.flag).copied().unwrap_or(t.default)
    }

    /// A count threshold as an integer.
    pub(crate) fn count(&self, t: &Threshold) -> u64 {
        self.get(t) as u64
    }

    /// Sets the threshold whose flag is `flag`, checking its unit.
    pub fn set(&mut self, flag: &str, value: f64) -> Result<(), String> {
        let t = find(flag).ok_or_else(|| format!("no threshold --{flag}"))?;
        t.unit.check(value).map_err(|e| format!("--{flag}: {e}"))?;
        self.set.insert(t.flag, value);
        Ok(())
    }
}

/// Every declared threshold once, in registry order.
pub fn all() -> Vec<&'static Threshold> {
    let mut out: Vec<&'static Threshold> = Vec::new();
    for r in rules::ALL {
        for t in r.doc().thresholds {
            if !out.iter().any(|o| o.flag == t.flag) {
                out.push(t);
            }
        }
    }
    out
}

/// The threshold declared with this flag.
pub fn find(flag: &str) -> Option<&'static Threshold> {
    all().into_iter().find(|t| t.flag == flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_unique_kebab_case_and_defaults_valid() {
        let all = all();
        assert!(all.len() >= 12);
        for t in &all {
            assert!(
                t.flag
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                t.flag
            );
            t.unit.check(t.default).expect("its default is valid");
            assert!(!t.help.is_empty());
        }
    }

    #[test]
    fn set_checks_the_flag_and_the_unit() {
        let mut th = Thresholds::default();
        assert!(th.set("no-such-threshold", 1.0).is_err());
        assert!(th.set("fd-warn", 1.5).is_err(), "a ratio is at most 1");
        assert!(th.set("fd-warn", f64::INFINITY).is_err());
        assert!(th.set("close-wait-count", 2.5).is_err(), "a count is whole");
        th.set("fd-warn", 0.5).expect("valid");
        let fd_warn = find("fd-warn").expect("declared");
        assert_eq!(th.get(fd_warn), 0.5);
    }
}
