//! What data a consumer (a rule, a command) needs, so that collection
//! gathers only that: the socket dump, the owner scan, tcp_info, host
//! facts, a second counter sample, the sysctl.conf files.

/// A set of data needs. Rules declare theirs; a collection plan takes the
/// union of the selected rules'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The socket table.
    pub sockets: bool,
    /// Which process holds each socket (one scan of /proc/*/fd).
    pub owners: bool,
    /// tcp_info of CLOSE_WAIT sockets (their age). It costs the kernel a
    /// socket lock per socket, so only CLOSE_WAIT carries it.
    pub close_wait_info: bool,
    /// Sysctls, limits, sockstat and counters of each namespace.
    pub host: bool,
    /// A first TcpExt sample an interval before the host facts: rates.
    pub counter_rates: bool,
    /// Settings in /etc/sysctl.conf and /etc/sysctl.d/*.conf.
    pub sysctl_files: bool,
}

impl Needs {
    pub(crate) const NOTHING: Needs = Needs {
        sockets: false,
        owners: false,
        close_wait_info: false,
        host: false,
        counter_rates: false,
        sysctl_files: false,
    };
    pub(crate) const SOCKETS: Needs = Needs {
        sockets: true,
        ..Needs::NOTHING
    };
    pub const OWNERS: Needs = Needs {
        sockets: true,
        owners: true,
        ..Needs::NOTHING
    };
    pub const CLOSE_WAIT_INFO: Needs = Needs {
        sockets: true,
        close_wait_info: true,
        ..Needs::NOTHING
    };
    pub(crate) const HOST: Needs = Needs {
        host: true,
        ..Needs::NOTHING
    };
    pub(crate) const COUNTER_RATES: Needs = Needs {
        host: true,
        counter_rates: true,
        ..Needs::NOTHING
    };
    pub(crate) const SYSCTL_FILES: Needs = Needs {
        sysctl_files: true,
        ..Needs::NOTHING
    };
    #[cfg(test)]
    pub(crate) const EVERYTHING: Needs = Needs {
        sockets: true,
        owners: true,
        close_wait_info: true,
        host: true,
        counter_rates: true,
        sysctl_files: true,
    };

    /// Both sets (usable in `const` declarations).
    pub const fn and(self, o: Needs) -> Needs {
        Needs {
            sockets: self.sockets || o.sockets,
            owners: self.owners || o.owners,
            close_wait_info: self.close_wait_info || o.close_wait_info,
            host: self.host || o.host,
            counter_rates: self.counter_rates || o.counter_rates,
            sysctl_files: self.sysctl_files || o.sysctl_files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_tcp_info_imply_the_socket_dump() {
        const {
            assert!(Needs::OWNERS.sockets && Needs::CLOSE_WAIT_INFO.sockets);
            assert!(Needs::COUNTER_RATES.host);
        }
        let n = Needs::HOST.and(Needs::SYSCTL_FILES);
        assert!(n.host && n.sysctl_files && !n.sockets);
        assert_eq!(Needs::NOTHING.and(Needs::EVERYTHING), Needs::EVERYTHING);
    }
}
