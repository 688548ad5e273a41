//! sysctl.conf and sysctl.d files: what they would set at boot, with the
//! file and line of each setting, for the audit.

use crate::error::{Error, Result};
use crate::model::SysctlSetting;
use std::path::{Path, PathBuf};

/// Parses sysctl.conf syntax (sysctl.d(5)): `key = value`, comments with
/// `#` or `;`, a leading `-` on the key (ignore errors). A line that is none
/// of these is an error naming file and line.
pub fn parse(path: &Path, text: &str) -> Result<Vec<SysctlSetting>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::parse(
                path,
                i + 1,
                "'key = value', a comment (# or ;) or a blank line",
                raw,
            ));
        };
        let key = k.trim().trim_start_matches('-').trim().replace('/', ".");
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::parse(path, i + 1, "a sysctl name before '='", raw));
        }
        out.push(SysctlSetting {
            file: path.to_path_buf(),
            line: i + 1,
            key,
            value: v.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    Ok(out)
}

/// The default files, in the order sysctl --system applies them that
/// matter here: /etc/sysctl.d/*.conf by name, then /etc/sysctl.conf.
pub fn default_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/etc/sysctl.d")
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.push(PathBuf::from("/etc/sysctl.conf"));
    v
}

/// Reads and parses files; a missing default file is skipped, a bad one is
/// an error. Returns the settings and notes on what was skipped.
pub fn read_all(paths: &[PathBuf], explicit: bool) -> Result<(Vec<SysctlSetting>, Vec<String>)> {
    let mut settings = Vec::new();
    let mut notes = Vec::new();
    for p in paths {
        match std::fs::read(p) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| Error::parse(p, 1, "UTF-8 text", "binary data"))?;
                settings.extend(parse(p, &text)?);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && !explicit => {
                notes.push(format!(
                    "{} not readable: skipped in the sysctl audit",
                    p.display()
                ));
            }
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok((settings, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_values_comments_and_slashes() {
        let t = "# tuning from a blog\nnet.ipv4.tcp_tw_recycle = 1\n; \
            old\n-net/ipv4/tcp_fin_timeout=10\n\nnet.ipv4.ip_local_port_range = 1024   65000\n";
        let s = parse(Path::new("/etc/sysctl.conf"), t).expect("parses");
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].key.as_str(), s[0].value.as_str(), s[0].line),
            ("net.ipv4.tcp_tw_recycle", "1", 2)
        );
        assert_eq!(s[1].key, "net.ipv4.tcp_fin_timeout");
        assert_eq!(s[2].value, "1024 65000");
        assert_eq!(s[0].location(), "/etc/sysctl.conf:2");
    }

    #[test]
    fn a_line_without_equals_names_file_and_line() {
        let e = parse(
            Path::new("/etc/sysctl.d/99-x.conf"),
            "net.ipv4.tcp_tw_reuse 1\n",
        )
        .expect_err("bad");
        assert!(
            e.to_string()
                .starts_with("/etc/sysctl.d/99-x.conf:1: expected 'key = value'"),
            "{e}"
        );
    }
}
