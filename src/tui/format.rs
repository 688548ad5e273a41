//! How numbers, durations and times of day read on the screen.

use tcpdoctor_core::model::human_age;

/// A number with `digits` decimals; "-" when it is not known.
pub fn decimal(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// A duration in seconds as "1m30s"; "-" when it is not known.
pub fn duration(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), human_age)
}

/// "HH:MM:SS" of a Unix time, UTC.
pub fn clock(unix_s: f64) -> String {
    let s = unix_s.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// "HH:MM:SS" -> seconds of the day.
pub fn parse_clock(t: &str) -> Option<u64> {
    let mut it = t.trim().split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (
        it.next()??,
        it.next().flatten().unwrap_or(0),
        it.next().flatten().unwrap_or(0),
    );
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}
