//! sysctl.conf and sysctl.d files: what they would set at boot, with the
//! file and line of each setting, for the audit.

use crate::error::{Error, Result};
use crate::model::SysctlSetting;
use std::path::{Path, PathBuf};

/// The most a sysctl file may hold: real ones are a few KiB. A file
/// that never ends (a link to /dev/zero) stops here.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Parses sysctl.conf syntax (sysctl.d(5)): `key = value`, comments with
/// `#` or `;`, a leading `-` on the key (ignore errors). As systemd-sysctl
/// does, a line that is none of these (or is not UTF-8) is skipped; each
/// skipped line comes back as a note naming file, line and what was
/// expected, and the rest of the file still counts.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> (Vec<SysctlSetting>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut skipped = |i: usize, expected: &str, found: &str| {
        let shown: String = found.chars().take(80).collect();
        notes.push(format!(
            "{}:{}: expected {expected}, found {shown:?}; line skipped",
            path.display(),
            i + 1
        ));
    };
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let Ok(raw) = std::str::from_utf8(raw) else {
            skipped(i, "UTF-8 text", &String::from_utf8_lossy(raw));
            continue;
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            skipped(i, "'key = value', a comment (# or ;) or a blank line", raw);
            continue;
        };
        let key = k.trim().trim_start_matches('-').trim().replace('/', ".");
        if key.is_empty() || key.contains(char::is_whitespace) {
            skipped(i, "a sysctl name before '='", raw);
            continue;
        }
        out.push(SysctlSetting {
            file: path.to_path_buf(),
            line: i + 1,
            key,
            value: v.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    (out, notes)
}

/// The default files, in the order sysctl --system applies them that
/// matter here: /etc/sysctl.d/*.conf by name, then /etc/sysctl.conf.
pub(super) fn default_files() -> Vec<PathBuf> {
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

/// Reads a file up to `MAX_FILE_BYTES`; a longer one is an error.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "longer than {MAX_FILE_BYTES} bytes: not a sysctl file"
        )));
    }
    Ok(bytes)
}

/// Reads and parses files. A missing default file is skipped, an unreadable
/// one and every bad line are notes; only a file the user named that cannot
/// be read at all is an error. Returns the settings and the notes.
pub(super) fn read_all(
    paths: &[PathBuf],
    explicit: bool,
) -> Result<(Vec<SysctlSetting>, Vec<String>)> {
    let mut settings = Vec::new();
    let mut notes = Vec::new();
    for p in paths {
        match read_bounded(p) {
            Ok(bytes) => {
                let (s, n) = parse(p, &bytes);
                settings.extend(s);
                notes.extend(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(e) if !explicit => {
                notes.push(format!("{}: {e}: skipped in the sysctl audit", p.display()));
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
        let (s, notes) = parse(Path::new("/etc/sysctl.conf"), t.as_bytes());
        assert!(notes.is_empty(), "{notes:?}");
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
    fn a_bad_line_is_a_note_naming_file_and_line_and_the_rest_counts() {
        let text = b"net.ipv4.tcp_tw_reuse 1\n\xff\xfe = 1\nnet.ipv4.tcp_fin_timeout = 30\n";
        let (s, notes) = parse(Path::new("/etc/sysctl.d/99-x.conf"), text);
        assert_eq!(s.len(), 1, "the good line still counts");
        assert_eq!(s[0].line, 3);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("/etc/sysctl.d/99-x.conf:1: expected 'key = value'"),
            "{notes:?}"
        );
        assert!(
            notes[1].starts_with("/etc/sysctl.d/99-x.conf:2: expected UTF-8 text"),
            "{notes:?}"
        );
    }
}
