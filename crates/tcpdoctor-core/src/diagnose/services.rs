//! The common services, known by port and by process name, so that a
//! remedy speaks of what is really on the other end: a pooler for a
//! database, the client's pool settings for a cache, keepalive upstreams
//! only for a proxy. One table, in one place; an unknown service gets the
//! generic advice.

/// A well-known service.
#[derive(Debug)]
pub(crate) struct Service {
    pub name: &'static str,
    /// Its usual server ports.
    pub ports: &'static [u16],
    /// Process names (comm) of its servers.
    pub servers: &'static [&'static str],
    /// How its clients reuse connections.
    pub reuse: &'static str,
}

/// Every service tcpdoctor knows, docs/rules.md lists them.
static SERVICES: &[Service] = &[
    Service {
        name: "HTTP",
        ports: &[80, 8080, 8000, 3000, 5000, 8008, 8888],
        servers: &[
            "nginx", "apache2", "httpd", "haproxy", "envoy", "caddy", "gunicorn",
        ],
        reuse: "HTTP keep-alive in the client (a shared connection pool, not a new client per \
            request)",
    },
    Service {
        name: "HTTPS",
        ports: &[443, 8443],
        servers: &[],
        reuse: "HTTP keep-alive in the client (a shared connection pool; TLS makes each new \
            connection cost a handshake too)",
    },
    Service {
        name: "gRPC",
        ports: &[50051],
        servers: &[],
        reuse: "one long-lived channel per target, shared by every call",
    },
    Service {
        name: "PostgreSQL",
        ports: &[5432, 6432],
        servers: &["postgres", "pgbouncer"],
        reuse: "persistent connections from a pool in the application (HikariCP, SQLAlchemy's \
            pool, pgx...) or a pooler in front of the server (PgBouncer)",
    },
    Service {
        name: "MySQL",
        ports: &[3306, 33060],
        servers: &["mysqld", "mariadbd"],
        reuse: "persistent connections from a pool in the application, or ProxySQL",
    },
    Service {
        name: "MongoDB",
        ports: &[27017],
        servers: &["mongod", "mongos"],
        reuse: "one MongoClient per process, shared (it pools connections itself)",
    },
    Service {
        name: "Redis",
        ports: &[6379, 6380, 26379],
        servers: &["redis-server", "valkey-server"],
        reuse: "one client with a connection pool per process, reused for every command",
    },
    Service {
        name: "memcached",
        ports: &[11211],
        servers: &["memcached"],
        reuse: "a persistent client (pylibmc/pymemcache pools, libmemcached behaviors) reused \
            for every request",
    },
    Service {
        name: "Kafka",
        ports: &[9092, 9093],
        servers: &[],
        reuse: "one long-lived producer or consumer per process",
    },
    Service {
        name: "RabbitMQ",
        ports: &[5672, 5671],
        servers: &["beam.smp"],
        reuse: "one long-lived connection with a channel per thread",
    },
    Service {
        name: "LDAP",
        ports: &[389, 636],
        servers: &["slapd"],
        reuse: "a pooled, persistent bind in the client",
    },
    Service {
        name: "DNS over TCP",
        ports: &[53, 853],
        servers: &["named", "unbound", "dnsmasq", "coredns"],
        reuse: "a local caching resolver, so that each lookup does not open a TCP connection",
    },
    Service {
        name: "Elasticsearch",
        ports: &[9200, 9300],
        servers: &[],
        reuse: "one client with persistent HTTP connections, shared",
    },
];

/// The service on `port`, or served by a process named `comm`.
fn identify(port: u16, comm: Option<&str>) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|s| comm.is_some_and(|c| s.servers.iter().any(|n| c.starts_with(n))))
        .or_else(|| SERVICES.iter().find(|s| s.ports.contains(&port)))
}

/// How clients should reuse connections to the service on `port`: the
/// table's advice, or the generic one.
pub(super) fn reuse_advice(port: u16, comm: Option<&str>) -> String {
    match identify(port, comm) {
        Some(s) => format!("{} ({}): {}", s.name, port, s.reuse),
        None => format!(
            "port {port}: keep connections open and reuse them (a connection pool or \
             keep-alive in the client) instead of one per request"
        ),
    }
}

/// Whether the process named `comm` is a proxy whose upstream keepalive is
/// the fix for its own churn.
pub(super) fn proxy_upstream_advice(comm: &str) -> Option<&'static str> {
    if comm.starts_with("nginx") {
        Some(
            "nginx: in the upstream block add `keepalive 32;`, and in the location \
             `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";` (nginx otherwise \
             opens a new upstream connection per request)",
        )
    } else if comm.starts_with("haproxy") {
        Some(
            "HAProxy: `http-reuse safe` (or `always`) in the backend, and `option \
             http-keep-alive`, so that server connections are reused",
        )
    } else {
        None
    }
}

/// The table as Markdown, for docs/rules.md.
pub(super) fn markdown() -> String {
    let mut s = String::from(
        "\n## Services\n\nRemedies name the service on the other end, known by port or by the \
         server's process name (`crates/tcpdoctor-core/src/diagnose/services.rs`); any other \
         port gets the generic advice (reuse connections).\n\n| service | ports | servers | \
         how clients reuse connections |\n|---|---|---|---|\n",
    );
    for sv in SERVICES {
        let ports: Vec<String> = sv.ports.iter().map(|p| p.to_string()).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            sv.name,
            ports.join(", "),
            sv.servers.join(", "),
            sv.reuse
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_known_by_its_server_name_before_its_port() {
        assert_eq!(identify(5432, None).map(|s| s.name), Some("PostgreSQL"));
        assert_eq!(
            identify(7000, Some("redis-server")).map(|s| s.name),
            Some("Redis")
        );
        assert!(identify(7000, None).is_none());
        assert!(reuse_advice(5432, None).contains("PgBouncer"));
        assert!(reuse_advice(7000, None).contains("reuse them"));
        assert!(proxy_upstream_advice("nginx").is_some_and(|a| a.contains("keepalive")));
        assert!(proxy_upstream_advice("java").is_none());
    }
}
