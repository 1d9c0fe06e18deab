//! [`DistConfig`]: everything a node needs to start, with documented defaults.

use std::time::Duration;

mod discovery;
mod env;
mod file;
mod settings;
pub(crate) use discovery::{join_host_port, split_host_port};
pub use discovery::{DiscoverySpec, DnsFamily, SpecError};
mod security;
pub use env::ENV_PREFIX;
pub use file::CONFIG_FILE_VAR;
pub use security::{TlsFiles, DEFAULT_COOKIE};
pub use settings::{setting, Setting, SETTINGS};

/// The configuration of one ractor-dist node.
///
/// Start from [`DistConfig::new`] (or [`Default`]) and override fields;
/// [`DistConfig::validate`] runs when the node starts. [`DistConfig::for_tests`] shortens
/// every timeout.
///
/// A deployed node reads its settings from outside with [`DistConfig::load`]: the
/// `RACTOR_DIST_*` environment variables over a TOML file (`RACTOR_DIST_CONFIG`, or the
/// path given) over the defaults; the console node's flags go over both. One scheme names
/// every setting in the three: the key `heartbeat_ms` in a file is the variable
/// `RACTOR_DIST_HEARTBEAT_MS` and the flag `--heartbeat-ms` ([`SETTINGS`] lists them with
/// unit and default; durations are whole milliseconds). Each field below says its key.
#[derive(Clone, Debug)]
pub struct DistConfig {
    /// The node's name; the cluster knows it as `"{name}@{host}"`. Default `"node"`.
    ///
    /// Setting `name`.
    pub name: String,
    /// The address the node listens on and that peers dial (an IP literal, IPv6 included,
    /// with or without brackets, or a resolvable host name). It is advertised as
    /// `host:port`, an IPv6 literal in brackets (`[::1]:7101`). Default `"127.0.0.1"`.
    ///
    /// Setting `host`.
    pub host: String,
    /// TCP port to listen on. Must not be 0: peers learn this port. Default 7100.
    ///
    /// Setting `port`.
    pub port: u16,
    /// The IP address to listen on, when it is not `host`'s: `0.0.0.0` or `::` for every
    /// interface, as a container does that is reached by its host name while its address
    /// may change (a `docker network disconnect` and `connect`). Default `None`: the
    /// address `host` is, or every address it resolves to.
    ///
    /// Setting `listen`.
    pub listen: Option<std::net::IpAddr>,
    /// The shared secret of the cluster (ractor_cluster's challenge/response cookie; never
    /// sent in clear). Default [`DEFAULT_COOKIE`], which a node listening beyond loopback
    /// refuses unless [`DistConfig::allow_default_cookie`] is set.
    ///
    /// Setting `cookie`.
    pub cookie: String,
    /// Start with the default cookie although the node listens beyond loopback (anyone who
    /// reads this crate knows that cookie). Default false.
    ///
    /// Setting `allow_default_cookie`.
    pub allow_default_cookie: bool,
    /// Mutual TLS on every session: this node's certificate and key and the cluster's CA
    /// (see [`TlsFiles`]). `None`: plain TCP, the cookie alone authenticates. Default `None`.
    ///
    /// Setting `tls_cert`, `tls_key`, `tls_ca`.
    pub tls: Option<TlsFiles>,
    /// How long each step of opening a session may take: the TLS handshake, then
    /// ractor_cluster's cookie challenge until the session is authenticated. A connection
    /// that takes longer (a client that connects and sends nothing) is closed and counted
    /// (`SecurityStats::handshake_timeouts`). Default 5 s.
    ///
    /// Setting `handshake_timeout_ms`.
    pub handshake_timeout: Duration,
    /// Most incoming connections still opening (not authenticated) at once; a connection
    /// accepted beyond it is closed at once and counted
    /// (`SecurityStats::connections_over_cap`). Default 64.
    ///
    /// Setting `max_pending`.
    pub max_pending_connections: usize,
    /// `host:port` addresses to dial at start and whenever they are not connected (never
    /// forgotten). Peers' addresses learned through gossip are dialed too, so one reachable
    /// seed is enough. A seed that is a host name also dials every address it resolves to
    /// (a [`crate::discovery::Static`] source). Default empty.
    ///
    /// Setting `seeds`.
    pub seeds: Vec<String>,
    /// Further sources of peers to dial (DNS A/AAAA and SRV records, a port range on this
    /// host, your own [`crate::discovery::Discovery`]); see [`crate::discovery`]. Default
    /// empty.
    ///
    /// Setting `discovery`.
    pub discovery: Vec<DiscoverySpec>,
    /// How often every discovery source runs again (they also run at start). An address
    /// that no source returns any more is forgotten once it is not connected (and no peer
    /// gossips it). `None`: only at start. Default 5 s.
    ///
    /// Setting `refresh_ms`.
    pub refresh_interval: Option<Duration>,
    /// The DNS server (`IP:port`) that resolves the names of `seeds` and `discovery`,
    /// instead of the system's resolver (private DNS, tests). Default `None`.
    ///
    /// Setting `nameserver`.
    pub nameserver: Option<std::net::SocketAddr>,
    /// How often a heartbeat goes to every peer. Default 500 ms.
    ///
    /// Setting `heartbeat_ms`.
    pub heartbeat_interval: Duration,
    /// A peer from which nothing arrived for this long is declared down and disconnected
    /// (ractor_cluster itself never notices a hung or cut-off peer). Default 3 s.
    ///
    /// Setting `deadline_ms`.
    pub heartbeat_deadline: Duration,
    /// First delay before redialing an unconnected address; doubles per failure. Default 200 ms.
    ///
    /// Setting `reconnect_min_ms`.
    pub reconnect_min: Duration,
    /// Cap of the redial delay. Default 5 s.
    ///
    /// Setting `reconnect_max_ms`.
    pub reconnect_max: Duration,
    /// This node's placement capacity relative to others (2.0 takes about twice the names
    /// of 1.0), within 0.001..=1000 (peers refuse other weights). Default 1.0.
    ///
    /// Setting `weight`.
    pub weight: f64,
    /// How many times a panicking actor is restarted within [`DistConfig::restart_window`]
    /// before it is removed. Default 5.
    ///
    /// Setting `restart_limit`.
    pub restart_limit: u32,
    /// The window of [`DistConfig::restart_limit`]. Default 10 s.
    ///
    /// Setting `restart_window_ms`.
    pub restart_window: Duration,
    /// The most actors of on-demand kinds (registered with a factory) active on this node
    /// at once; beyond it, the least recently used are passivated (stopped with their
    /// state kept here, started again with it by their next message). 0: no cap. Default 0.
    ///
    /// Setting `max_active`.
    pub max_active: usize,
    /// Timeout of control requests between nodes (spawn, lookup, stop). Default 5 s.
    ///
    /// Setting `request_ms`.
    pub request_timeout: Duration,
    /// Deadline of each handoff step (draining an actor, the new owner's acknowledgement,
    /// the barriers that keep messages in order). A missed deadline falls back: a stuck
    /// actor is killed and restarts on its new node from its last checkpoint or its
    /// arguments (so does one whose final `snapshot` takes longer), a batch is sent again,
    /// parked
    /// messages are released. Default 5 s.
    ///
    /// Setting `handoff_ms`.
    pub handoff_timeout: Duration,
    /// Largest envelope this node sends, in bytes (larger states travel in pieces). Must
    /// stay below ractor_cluster's 16 MiB inbound frame limit, past which a session is
    /// killed. It bounds the lengths this node decodes, but not byte payloads within
    /// them: a peer with a larger limit can send it larger frames (up to ractor_cluster's
    /// limit), so nodes with different limits still move states between them. Default
    /// 15 MiB.
    ///
    /// Setting `max_frame_bytes`.
    pub max_frame_bytes: usize,
    /// How many nodes keep each name's spec (kind, arguments, newest checkpoint): its host
    /// and the next `replicas - 1` nodes of the name's ranking. When a host is lost, the
    /// name is respawned on its new owner from a replica; a name survives `replicas - 1`
    /// simultaneous losses. 1 turns replication (and respawn) off. Default 2.
    ///
    /// Setting `replicas`.
    pub replicas: usize,
    /// Addresses to reach through another one: `dial_via["10.0.0.5:7100"] = "127.0.0.1:9000"`
    /// makes this node dial the peer that listens on (and advertises) `10.0.0.5:7100` at
    /// `127.0.0.1:9000` instead (a port forward, a NAT, or a test's proxy). Default empty.
    ///
    /// Setting `dial_via`.
    pub dial_via: std::collections::BTreeMap<String, String>,
    /// Most messages held for one name while it moves or the node settles (calls, casts
    /// and local sends together). Over it a call is answered [`crate::DistError::Overloaded`],
    /// a local send returns that error and a cast from a peer is dropped; each is counted in
    /// `NodeStatus::hold_refused`. Default 10 000.
    ///
    /// Setting `hold_per_name`.
    pub hold_per_name: usize,
    /// Most messages held on the node in total, as [`DistConfig::hold_per_name`].
    /// Default 100 000.
    ///
    /// Setting `hold_per_node`.
    pub hold_per_node: usize,
    /// How often each node sends a digest of its replicated values
    /// ([`crate::DistNode::replicated`]) to one peer chosen at random, so that a node that
    /// missed updates catches up (anti-entropy). Updates themselves are pushed at once.
    /// Default 1 s (200 ms in [`DistConfig::for_tests`]).
    ///
    /// Setting `gossip_ms`.
    pub gossip_interval: Duration,
    /// How an update of a replicated value reaches the other nodes: as its delta
    /// (`Push::Deltas`, the default) or as the whole value (`Push::FullState`, as
    /// GenServerring does; for comparison, and for values whose deltas are as large as the
    /// value). See [`super::replicated::Push`].
    ///
    /// Setting `replica_push` (`deltas` or `full`).
    pub replica_push: super::replicated::Push,
    /// A directory where the node keeps its replicated values (one checksummed, versioned
    /// file each, under `replicated/`, written atomically within a tick of a change and at
    /// shutdown), so that a restarted node (or a whole cluster) has them back. A file that
    /// is corrupt or of another format is refused with an error, never replaced. Default
    /// `None` (nothing on disk).
    ///
    /// Setting `data_dir`.
    pub data_dir: Option<std::path::PathBuf>,
}

impl Default for DistConfig {
    fn default() -> Self {
        Self {
            name: "node".to_string(),
            host: "127.0.0.1".to_string(),
            port: 7100,
            listen: None,
            cookie: DEFAULT_COOKIE.to_string(),
            allow_default_cookie: false,
            tls: None,
            handshake_timeout: Duration::from_secs(5),
            max_pending_connections: 64,
            seeds: Vec::new(),
            discovery: Vec::new(),
            refresh_interval: Some(Duration::from_secs(5)),
            nameserver: None,
            heartbeat_interval: Duration::from_millis(500),
            heartbeat_deadline: Duration::from_secs(3),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(5),
            weight: 1.0,
            restart_limit: 5,
            restart_window: Duration::from_secs(10),
            max_active: 0,
            request_timeout: Duration::from_secs(5),
            handoff_timeout: Duration::from_secs(5),
            max_frame_bytes: 15 * 1024 * 1024,
            replicas: 2,
            dial_via: std::collections::BTreeMap::new(),
            hold_per_name: 10_000,
            hold_per_node: 100_000,
            gossip_interval: Duration::from_secs(1),
            replica_push: super::replicated::Push::Deltas,
            data_dir: None,
        }
    }
}

/// A configuration value that cannot work. Nothing was started.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The name is empty or contains `@` or whitespace.
    #[error("invalid node name {0:?}: it must be non-empty, without '@' or whitespace")]
    Name(String),
    /// Port 0 cannot be advertised to peers.
    #[error("port must not be 0: peers dial the configured port")]
    Port,
    /// The deadline must be longer than the heartbeat interval.
    #[error(
        "heartbeat_deadline ({deadline:?}) must be longer than heartbeat_interval ({interval:?})"
    )]
    Heartbeat {
        /// The configured interval.
        interval: Duration,
        /// The configured deadline.
        deadline: Duration,
    },
    /// The handoff timeout is not longer than the heartbeat interval: a source busy with a
    /// slow move says so once per heartbeat tick, and a target waits for it only while it
    /// heard that within the last handoff timeout.
    #[error("handoff_timeout ({handoff:?}) must be longer than heartbeat_interval ({interval:?})")]
    Handoff {
        /// The configured heartbeat interval.
        interval: Duration,
        /// The configured handoff timeout.
        handoff: Duration,
    },
    /// The weight is not within `core::admission::MIN_WEIGHT..=MAX_WEIGHT` (0.001..=1000).
    #[error("weight must be within 0.001..=1000, got {0}")]
    Weight(f64),
    /// The frame limit is 0 or not below ractor_cluster's 16 MiB.
    #[error("max_frame_bytes must be between 1 KiB and 16 MiB - 64 KiB, got {0}")]
    FrameLimit(usize),
    /// `gossip_interval` is zero.
    #[error("gossip_interval must not be zero")]
    GossipInterval,
    /// A seed or `dial_via` address is not `host:port`.
    #[error("address {0:?} is not host:port")]
    Seed(String),
    /// A discovery source cannot work.
    #[error(transparent)]
    Discovery(#[from] SpecError),
    /// A setting (a key of [`SETTINGS`], [`DistConfig::set`]) is unknown or its value does
    /// not parse.
    #[error("setting {key}: {reason}")]
    Setting {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key of a configuration file ([`DistConfig::apply_toml`]) is unknown, of the wrong
    /// type, or its value does not parse.
    #[error("configuration file {file}: {key}: {reason}")]
    File {
        /// The file.
        file: String,
        /// The key.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A configuration file cannot be read or is not TOML.
    #[error("configuration file {file}: {reason}")]
    FileSyntax {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// An environment variable (`RACTOR_DIST_*`, [`DistConfig::from_env`]) does not parse.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// `refresh_interval` is zero (use `None` to refresh never).
    #[error("refresh_interval must not be zero (None turns refreshing off)")]
    RefreshInterval,
    /// The default cookie on a node listening beyond loopback, without
    /// [`DistConfig::allow_default_cookie`].
    #[error("the default cookie is refused on a node listening on {host}: set a cookie (--cookie, RACTOR_DIST_COOKIE) or allow_default_cookie")]
    DefaultCookie {
        /// The host the node listens on.
        host: String,
    },
    /// `handshake_timeout` or `max_pending_connections` is zero.
    #[error("handshake_timeout and max_pending_connections must not be zero")]
    Handshake,
    /// `replicas` is 0 (1 is the smallest: the host alone).
    #[error("replicas must be at least 1 (the host itself)")]
    Replicas,
    /// A hold cap is 0, or the per-name cap exceeds the per-node cap.
    #[error(
        "hold caps must satisfy 1 <= hold_per_name ({per_name}) <= hold_per_node ({per_node})"
    )]
    HoldCaps {
        /// The configured per-name cap.
        per_name: usize,
        /// The configured per-node cap.
        per_node: usize,
    },
    /// A duration is zero where it must not be, or longer than [`MAX_DURATION`] (a day):
    /// the waits derived from it (multiples, sums, deadlines from now) must not overflow.
    #[error("{field} must be within {min:?}..={max:?}, got {value:?}", max = MAX_DURATION)]
    Duration {
        /// The field.
        field: &'static str,
        /// Its value.
        value: Duration,
        /// The least it may be.
        min: Duration,
    },
}

/// The longest any duration of a [`DistConfig`] may be (one day).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

impl DistConfig {
    /// The defaults with a name and port.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            ..Self::default()
        }
    }

    /// Short timeouts for tests on one machine: heartbeat every 100 ms, deadline 1 s,
    /// redial from 50 ms up to 1 s, requests 2 s.
    pub fn for_tests(name: impl Into<String>, port: u16) -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(100),
            heartbeat_deadline: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            handoff_timeout: Duration::from_secs(2),
            gossip_interval: Duration::from_millis(200),
            ..Self::new(name, port)
        }
    }

    /// Every deadline and patience of the protocol, derived from this configuration.
    pub fn timing(&self) -> crate::core::Timing {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        crate::core::Timing {
            heartbeat_interval_ms: ms(self.heartbeat_interval),
            heartbeat_deadline_ms: ms(self.heartbeat_deadline),
            handoff_ms: ms(self.handoff_timeout),
            request_ms: ms(self.request_timeout),
            reconnect_min_ms: ms(self.reconnect_min),
            reconnect_max_ms: ms(self.reconnect_max),
        }
    }

    /// The limits of the hold queues, from this configuration.
    pub fn hold_config(&self) -> crate::core::HoldConfig {
        crate::core::HoldConfig {
            caps: crate::core::HoldCaps {
                per_name: self.hold_per_name,
                per_node: self.hold_per_node,
            },
            park_ms: self.timing().park_ms(),
        }
    }

    /// The replication machine's configuration, for this node in its `incarnation`.
    pub fn replica_config(
        &self,
        incarnation: crate::core::Incarnation,
    ) -> crate::core::replicated::ReplicaConfig {
        let id = crate::core::replicated::ReplicaId {
            node: crate::core::NodeName::new(self.node_name()),
            incarnation,
        };
        crate::core::replicated::ReplicaConfig {
            gossip_interval_ms: u64::try_from(self.gossip_interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            // a state in parts of at most half a frame (the envelope and version fit beside)
            frame_budget: (self.max_frame_bytes / 2).min(1 << 20),
            push: self.replica_push,
            persist: self.data_dir.is_some(),
            ..crate::core::replicated::ReplicaConfig::new(id)
        }
    }

    /// The name peers know this node by: `"{name}@{host}"` (an IPv6 host in brackets:
    /// `a@[::1]`).
    pub fn node_name(&self) -> String {
        format!("{}@{}", self.name, self.advertised_host())
    }

    /// The address peers dial: `"{host}:{port}"` (`[::1]:7101` for IPv6).
    pub fn addr(&self) -> String {
        format!("{}:{}", self.advertised_host(), self.port)
    }

    /// The host as peers see it: an IPv6 literal in brackets, anything else as written.
    pub fn advertised_host(&self) -> String {
        discovery::bracketed(&self.host)
    }

    /// The IP address to listen on: `listen` when set, else `host` when it is an IP
    /// literal (with or without brackets); `None` for a host name (then the addresses it
    /// resolves to).
    pub fn listen_ip(&self) -> Option<std::net::IpAddr> {
        if self.listen.is_some() {
            return self.listen;
        }
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host.parse().ok()
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || self.name.contains('@')
            || self.name.contains(char::is_whitespace)
        {
            return Err(ConfigError::Name(self.name.clone()));
        }
        if self.port == 0 {
            return Err(ConfigError::Port);
        }
        let ms = Duration::from_millis(1);
        let durations = [
            ("heartbeat_interval", self.heartbeat_interval, ms),
            ("heartbeat_deadline", self.heartbeat_deadline, ms),
            ("handshake_timeout", self.handshake_timeout, ms),
            ("reconnect_min", self.reconnect_min, Duration::ZERO),
            ("reconnect_max", self.reconnect_max, self.reconnect_min),
            ("restart_window", self.restart_window, Duration::ZERO),
            ("request_timeout", self.request_timeout, ms),
            ("handoff_timeout", self.handoff_timeout, ms),
            ("gossip_interval", self.gossip_interval, Duration::ZERO),
            (
                "refresh_interval",
                self.refresh_interval.unwrap_or(ms),
                Duration::ZERO,
            ),
        ];
        for (field, value, min) in durations {
            if value < min || value > MAX_DURATION {
                return Err(ConfigError::Duration { field, value, min });
            }
        }
        if self.heartbeat_deadline <= self.heartbeat_interval {
            return Err(ConfigError::Heartbeat {
                interval: self.heartbeat_interval,
                deadline: self.heartbeat_deadline,
            });
        }
        if self.handoff_timeout <= self.heartbeat_interval {
            return Err(ConfigError::Handoff {
                interval: self.heartbeat_interval,
                handoff: self.handoff_timeout,
            });
        }
        // Peers refuse a hello with a weight outside these bounds.
        if super::admission::weight(self.weight).is_err() {
            return Err(ConfigError::Weight(self.weight));
        }
        if self.max_frame_bytes < 1024 || self.max_frame_bytes > 16 * 1024 * 1024 - 64 * 1024 {
            return Err(ConfigError::FrameLimit(self.max_frame_bytes));
        }
        if self.gossip_interval.is_zero() {
            return Err(ConfigError::GossipInterval);
        }
        if self.handshake_timeout.is_zero() || self.max_pending_connections == 0 {
            return Err(ConfigError::Handshake);
        }
        for seed in self
            .seeds
            .iter()
            .chain(self.dial_via.iter().flat_map(|(a, b)| [a, b]))
        {
            if split_host_port(seed).is_none() {
                return Err(ConfigError::Seed(seed.clone()));
            }
        }
        for spec in &self.discovery {
            spec.validate()?;
        }
        if self.refresh_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::RefreshInterval);
        }
        if self.replicas == 0 {
            return Err(ConfigError::Replicas);
        }
        if self.hold_per_name == 0 || self.hold_per_name > self.hold_per_node {
            return Err(ConfigError::HoldCaps {
                per_name: self.hold_per_name,
                per_node: self.hold_per_node,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(DistConfig::default().validate(), Ok(()));
        assert_eq!(DistConfig::for_tests("t", 1).validate(), Ok(()));
        let bad = |f: fn(&mut DistConfig)| {
            let mut c = DistConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(bad(|c| c.port = 0), ConfigError::Port);
        assert!(matches!(
            bad(|c| c.name = "a@b".into()),
            ConfigError::Name(_)
        ));
        assert!(matches!(
            bad(|c| c.seeds = vec!["nohost".into()]),
            ConfigError::Seed(_)
        ));
        assert!(matches!(
            bad(|c| c.heartbeat_deadline = c.heartbeat_interval),
            ConfigError::Heartbeat { .. }
        ));
        assert!(matches!(
            bad(|c| c.handoff_timeout = c.heartbeat_interval),
            ConfigError::Handoff { .. }
        ));
        assert!(matches!(
            bad(|c| c.weight = f64::NAN),
            ConfigError::Weight(_)
        ));
        assert!(matches!(
            bad(|c| c.max_frame_bytes = 17 << 20),
            ConfigError::FrameLimit(_)
        ));
        assert_eq!(bad(|c| c.replicas = 0), ConfigError::Replicas);
        assert_eq!(
            bad(|c| c.refresh_interval = Some(Duration::ZERO)),
            ConfigError::RefreshInterval
        );
        assert!(matches!(
            bad(|c| c.discovery = vec![DiscoverySpec::Static(vec![])]),
            ConfigError::Discovery(_)
        ));
        assert!(matches!(
            bad(|c| c.hold_per_name = 0),
            ConfigError::HoldCaps { .. }
        ));
        assert_eq!(
            bad(|c| c.hold_per_name = c.hold_per_node + 1),
            ConfigError::HoldCaps {
                per_name: 100_001,
                per_node: 100_000
            }
        );
        assert!(matches!(
            bad(|c| {
                c.dial_via.insert("10.0.0.1:7100".into(), "nowhere".into());
            }),
            ConfigError::Seed(_)
        ));
    }

    /// `heartbeat_deadline = Duration::MAX` used to pass and panic on the first respawn
    /// (a deadline multiple overflowed), a huge `handoff_timeout` in `leave`: every
    /// duration is bounded, and the message names the field.
    #[test]
    fn durations_are_bounded_so_derived_waits_cannot_overflow() {
        let bad = |f: fn(&mut DistConfig)| {
            let mut c = DistConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        let field_of = |e: ConfigError| match e {
            ConfigError::Duration { field, .. } => field,
            other => panic!("not a duration error: {other}"),
        };
        assert_eq!(
            field_of(bad(|c| c.heartbeat_deadline = Duration::MAX)),
            "heartbeat_deadline"
        );
        assert_eq!(
            field_of(bad(
                |c| c.handoff_timeout = Duration::from_secs(u64::MAX / 2)
            )),
            "handoff_timeout"
        );
        assert_eq!(
            field_of(bad(|c| c.request_timeout = Duration::ZERO)),
            "request_timeout"
        );
        assert_eq!(
            field_of(bad(|c| c.reconnect_max = c.reconnect_min / 2)),
            "reconnect_max"
        );
        assert_eq!(
            field_of(bad(|c| c.refresh_interval = Some(MAX_DURATION * 2))),
            "refresh_interval"
        );
        let e = bad(|c| c.heartbeat_interval = Duration::ZERO);
        assert!(
            e.to_string()
                .starts_with("heartbeat_interval must be within"),
            "{e}"
        );
        // The longest allowed values work together: every derived wait stays finite.
        let c = DistConfig {
            heartbeat_interval: MAX_DURATION / 2,
            heartbeat_deadline: MAX_DURATION,
            handoff_timeout: MAX_DURATION,
            request_timeout: MAX_DURATION,
            ..DistConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
        let timing = c.timing();
        assert!(timing.fence_patience_ms() < u64::MAX / 2, "{timing:?}");
    }
}

#[cfg(test)]
mod ipv6_tests {
    use super::*;

    #[test]
    fn replication_is_configured_from_the_node() {
        let mut c = DistConfig::for_tests("a", 7101);
        c.max_frame_bytes = 4 << 20;
        let r = c.replica_config(crate::core::Incarnation(7));
        assert_eq!(r.me.node.as_str(), "a@127.0.0.1");
        assert_eq!(r.me.incarnation, crate::core::Incarnation(7));
        assert_eq!(r.gossip_interval_ms, 200);
        assert_eq!(r.frame_budget, 1 << 20, "at most 1 MiB");
        assert!(!r.persist);
        c.max_frame_bytes = 64 << 10;
        c.gossip_interval = Duration::from_micros(10);
        c.data_dir = Some("/tmp/x".into());
        let r = c.replica_config(crate::core::Incarnation(7));
        assert_eq!(r.frame_budget, 32 << 10, "half a frame");
        assert_eq!(r.gossip_interval_ms, 1, "never zero");
        assert!(r.persist);
    }

    #[test]
    fn a_seed_is_valid_exactly_when_discovery_can_split_it() {
        for (seed, valid) in [
            ("127.0.0.1:7101", true),
            ("[::1]:7101", true),
            ("node-0.svc:7101", true),
            ("::1:7101", false),
            ("host:0", false),
            (":7101", false),
            ("nohost", false),
        ] {
            let c = DistConfig {
                seeds: vec![seed.into()],
                ..DistConfig::new("a", 7101)
            };
            let expected = if valid {
                Ok(())
            } else {
                Err(ConfigError::Seed(seed.into()))
            };
            assert_eq!(c.validate(), expected, "{seed}");
            assert_eq!(split_host_port(seed).is_some(), valid, "{seed}");
        }
    }

    #[test]
    fn the_advertised_address_is_spelled_as_discovery_joins_it() {
        for host in ["::1", "[::1]", "127.0.0.1", "node-0.svc"] {
            let c = DistConfig {
                host: host.into(),
                ..DistConfig::new("a", 7101)
            };
            assert_eq!(c.addr(), join_host_port(host, 7101), "{host}");
        }
    }

    #[test]
    fn an_ipv6_host_is_advertised_in_brackets_and_listened_on() {
        for host in ["::1", "[::1]"] {
            let c = DistConfig {
                host: host.into(),
                ..DistConfig::new("a", 7101)
            };
            assert_eq!(c.addr(), "[::1]:7101");
            assert_eq!(c.node_name(), "a@[::1]");
            assert_eq!(c.listen_ip(), Some("::1".parse().unwrap()));
            assert_eq!(c.validate(), Ok(()));
        }
        let c = DistConfig::new("a", 7101);
        assert_eq!(c.addr(), "127.0.0.1:7101");
        assert_eq!(c.listen_ip(), Some("127.0.0.1".parse().unwrap()));
        let named = DistConfig {
            host: "node-0.svc".into(),
            ..c
        };
        assert_eq!(named.listen_ip(), None);
    }
}
