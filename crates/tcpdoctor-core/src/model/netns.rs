//! Network namespaces as data: which one, how to name it, which ones a
//! command asked for.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;

/// One network namespace and how to name it to a person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsInfo {
    /// The nsfs inode: `net:[INODE]`.
    pub inode: u64,
    /// Its `ip netns` name, when it has one.
    pub name: Option<String>,
    /// A process inside it (the lowest pid), to recognise it by.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// That process's cgroup: names the container or systemd unit.
    pub cgroup: Option<String>,
    /// Whether tcpdoctor itself runs in it.
    pub current: bool,
    /// The file to open to enter it.
    #[serde(skip, default)]
    pub path: PathBuf,
}

impl NetnsInfo {
    /// A stable short name for metrics labels: the `ip netns` name, else
    /// "net:[INODE]" (no pid: label values must not change with restarts).
    pub(crate) fn short_label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("net:[{}]", self.inode))
    }

    /// "net:[4026531840] (name, pid 1 systemd)".
    pub(crate) fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(n.clone());
        }
        if self.current {
            parts.push("current".to_string());
        }
        if let Some(pid) = self.pid {
            parts.push(match &self.comm {
                Some(c) => format!("pid {pid} {c}"),
                None => format!("pid {pid}"),
            });
        }
        if parts.is_empty() {
            format!("net:[{}]", self.inode)
        } else if self.inode == 0 && !self.current {
            // Not a namespace of this host (a dump): its name alone.
            parts.join(", ")
        } else {
            format!("net:[{}] ({})", self.inode, parts.join(", "))
        }
    }
}

/// Which namespaces a command looks at (`--netns`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetnsSelector {
    /// The one tcpdoctor runs in.
    #[default]
    Current,
    All,
    /// An `ip netns` name.
    Name(String),
    /// A namespace file, such as /proc/1234/ns/net or /run/netns/x.
    Path(PathBuf),
    /// The namespace of a process.
    Pid(u32),
}

impl FromStr for NetnsSelector {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.is_empty() {
            return Err("empty --netns: expected all, current, a name, a path or a pid".into());
        }
        Ok(match s {
            "all" => NetnsSelector::All,
            "current" => NetnsSelector::Current,
            _ if s.bytes().all(|b| b.is_ascii_digit()) => {
                NetnsSelector::Pid(s.parse().map_err(|_| format!("pid {s} is out of range"))?)
            }
            _ if s.contains('/') => NetnsSelector::Path(PathBuf::from(s)),
            _ => NetnsSelector::Name(s.to_string()),
        })
    }
}
