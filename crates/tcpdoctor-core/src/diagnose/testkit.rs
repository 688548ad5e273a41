//! A host made by hand for rule unit tests: a few lines build the snapshot
//! a rule reads, and `findings` runs one rule on it. Each rule's tests sit
//! beside its real-kernel reproduction (tests/it/kernel_diagnose.rs, the lab).

use super::{Context, Finding, Rule, Thresholds};
use crate::model::{
    CloseOrder, Closer, Endpoint, FdRef, FileNr, NsSnapshot, OwnerIndex, Process, RowFilter,
    Socket, Sockstat, SysctlSetting, TcpInfo, TcpState, Trends, rows_of,
};

/// One network namespace (the current one) and its owners.
pub(super) struct Host {
    /// Trends, as `diagnose --for` gives them.
    pub trends: Option<Trends>,
    ns: NsSnapshot,
    owners: OwnerIndex,
    settings: Vec<SysctlSetting>,
    interval_s: f64,
    pub thresholds: Thresholds,
    next_inode: u64,
}

/// A socket between two "ip:port" endpoints.
pub(crate) fn tcp(state: TcpState, local: &str, remote: &str) -> Socket {
    let ep = |s: &str| s.parse::<Endpoint>().expect("an ip:port endpoint");
    Socket::new(state, ep(local), ep(remote))
}

/// A CLOSE_WAIT socket whose peer's FIN arrived `age_s` ago.
pub(crate) fn close_wait(local: &str, remote: &str, age_s: f64) -> Socket {
    let mut s = tcp(TcpState::CloseWait, local, remote);
    s.info = Some(Box::new(TcpInfo {
        last_ack_recv_ms: (age_s * 1000.0) as u32,
        ..TcpInfo::default()
    }));
    s
}

/// A process with `fd_count` fds open of a soft limit `nofile`.
pub(crate) fn process(pid: u32, comm: &str, fd_count: u32, nofile: u64) -> Process {
    Process {
        pid,
        comm: comm.into(),
        fd_count,
        nofile_soft: Some(nofile),
        nofile_hard: Some(nofile * 4),
        ..Process::default()
    }
}

/// The severities of `findings`, in order.
pub(super) fn severities(findings: &[Finding]) -> Vec<super::Severity> {
    findings.iter().map(|f| f.severity).collect()
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

impl Host {
    pub(crate) fn new() -> Host {
        let mut ns = NsSnapshot::default();
        ns.netns.current = true;
        ns.netns.inode = 4026531840;
        Host {
            trends: None,
            ns,
            owners: OwnerIndex::default(),
            settings: Vec::new(),
            interval_s: 1.0,
            thresholds: Thresholds::default(),
            next_inode: 1000,
        }
    }

    /// A socket no process holds (TIME_WAIT, an orphan, a queued one).
    pub(crate) fn socket(mut self, s: Socket) -> Host {
        self.ns.sockets.push(s);
        self
    }

    /// `n` copies of a socket, each from its own remote port (`remote`'s
    /// port plus i), held by `pid` when given.
    pub(crate) fn many(mut self, n: u32, s: &Socket, pid: Option<u32>) -> Host {
        for i in 0..n {
            let mut c = s.clone();
            c.remote.port = s.remote.port.wrapping_add(i as u16);
            self = match pid {
                Some(p) => self.owned(c, p),
                None => self.socket(c),
            };
        }
        self
    }

    /// `n` sockets no process holds, the i-th made by `f(i)`.
    pub(crate) fn each(mut self, n: u32, f: impl Fn(u32) -> Socket) -> Host {
        for i in 0..n {
            self.ns.sockets.push(f(i));
        }
        self
    }

    /// A TIME_WAIT socket a tracer saw `pid` (`comm`) close first.
    pub(crate) fn closed_by(mut self, mut s: Socket, pid: u32, comm: &str) -> Host {
        let cookie = 1 + self.owners.closers.len() as u64;
        s.cookie = Some(cookie);
        self.owners.closers.insert(
            cookie,
            Closer {
                pid,
                comm: comm.into(),
                cgroup: None,
                order: CloseOrder::First,
                closed_s_ago: 1.0,
            },
        );
        self.ns.sockets.push(s);
        self
    }

    /// A socket held by `pid` (fd numbers count up from 3).
    pub(crate) fn owned(mut self, mut s: Socket, pid: u32) -> Host {
        self.next_inode += 1;
        s.inode = self.next_inode;
        let fd = 3 + self.owners.by_inode.len() as u32;
        self.owners
            .by_inode
            .entry(s.inode)
            .or_default()
            .push(FdRef { pid, fd });
        self.owners.processes.entry(pid).or_insert_with(|| Process {
            pid,
            comm: format!("proc{pid}"),
            ..Process::default()
        });
        self.ns.sockets.push(s);
        self
    }

    /// Sets a process's details (comm, fd count, limits...).
    pub(crate) fn process(mut self, p: Process) -> Host {
        self.owners.processes.insert(p.pid, p);
        self
    }

    pub(crate) fn sysctl(mut self, key: &str, value: &str) -> Host {
        self.ns.host.sysctls.insert(key.into(), value.into());
        self
    }

    /// A TcpExt counter at the start and the end of the interval.
    pub(crate) fn counter(mut self, name: &str, before: i64, after: i64) -> Host {
        self.ns.tcp_ext_before.insert(name.into(), before);
        self.ns.host.tcp_ext.insert(name.into(), after);
        self
    }

    /// A Tcp (snmp) counter at the start and the end of the interval.
    pub(super) fn tcp_counter(mut self, name: &str, before: i64, after: i64) -> Host {
        self.ns.tcp_before.insert(name.into(), before);
        self.ns.host.tcp.insert(name.into(), after);
        self
    }

    pub(crate) fn sockstat(mut self, s: Sockstat) -> Host {
        self.ns.host.sockstat = Some(s);
        self
    }

    pub(crate) fn file_nr(mut self, f: FileNr) -> Host {
        self.ns.host.file_nr = Some(f);
        self
    }

    pub(crate) fn kernel(mut self, release: &str) -> Host {
        self.ns.host.kernel_release = Some(release.into());
        self
    }

    /// A line of /etc/sysctl.d/99-test.conf.
    pub(crate) fn setting(mut self, line: usize, key: &str, value: &str) -> Host {
        self.settings.push(SysctlSetting {
            file: "/etc/sysctl.d/99-test.conf".into(),
            line,
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Sockets read from /proc/net/tcp: listeners' backlogs are unknown.
    pub(super) fn read_from_proc(mut self) -> Host {
        self.ns.listen_backlog_known = false;
        self
    }

    /// Not the host's own namespace (sysctl.conf files do not apply).
    pub(super) fn child_namespace(mut self) -> Host {
        self.ns.netns.current = false;
        self
    }

    pub(super) fn threshold(mut self, flag: &str, value: f64) -> Host {
        self.thresholds
            .set(flag, value)
            .expect("a declared threshold");
        self
    }

    /// What `rule` finds on this host.
    pub(crate) fn findings(&self, rule: &dyn Rule) -> Vec<Finding> {
        let rows = rows_of(&self.ns, &self.owners, None, &RowFilter::default());
        let files: &[SysctlSetting] = if self.ns.netns.current {
            &self.settings
        } else {
            &[]
        };
        let cx = Context {
            netns: &self.ns.netns,
            rows: &rows,
            owners: &self.owners,
            host: &self.ns.host,
            tcp_ext_before: &self.ns.tcp_ext_before,
            tcp_before: &self.ns.tcp_before,
            interval_s: self.interval_s,
            listen_backlog_known: self.ns.listen_backlog_known,
            thresholds: &self.thresholds,
            files,
            trends: self.trends.as_ref(),
            host_wide: true,
        };
        rule.check(&cx)
    }
}
