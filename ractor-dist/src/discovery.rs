//! Where peers come from: sources of addresses to dial, refreshed on an interval
//! (gen_cluster's `gc_discover`).
//!
//! A [`Discovery`] answers one question, "which addresses should this node dial now?". The
//! node runs every configured source at start and again every
//! [`DistConfig::refresh_interval`](crate::DistConfig::refresh_interval) (default 5 s), and
//! hands the union of their answers to its mesh, which decides (in the pure core) what to
//! dial and what to forget: an address no source returns any more, that no peer gossips and
//! that is not connected is forgotten, so a scaled-down replica is not redialed forever. A
//! source that fails keeps its previous answer until it answers again (a DNS server that is
//! briefly down forgets nothing).
//!
//! Dialing is by node identity (see [`crate::core::mesh`]): an address that led to node X is
//! not dialed while X is connected, however it is spelled.
//!
//! | source | what it returns | console `--discovery` |
//! |---|---|---|
//! | [`Static`] | fixed `host:port` addresses; a host name dials every address it resolves to | `static:HOST:PORT[,HOST:PORT...]` (and `--seed`) |
//! | [`Dns`] (A, AAAA or both) | every address of a name, with a port (a Kubernetes headless service, a compose service) | `dns:NAME:PORT`, `dns4:NAME:PORT`, `dns6:NAME:PORT` |
//! | [`DnsSrv`] | host and port of each SRV record (`_ractor._tcp.svc...`) | `srv:NAME` |
//! | [`HostScan`] | every port of a range on this node's host | `host:FIRST-LAST` |
//! | [`Multicast`] | nodes that announced themselves on a LAN multicast group, signed with the cookie | `multicast:GROUP:PORT` |
//! | your own | anything: implement [`Discovery`] and add it as [`DiscoverySpec::Custom`] | |
//!
//! Names are resolved by the system's resolver, or by the DNS server of
//! [`DistConfig::nameserver`](crate::DistConfig::nameserver) when set (`--nameserver`).
//!
//! ```
//! use std::sync::Arc;
//! use ractor_dist::discovery::{BoxFuture, Discovery, DiscoveryError, DiscoverySpec};
//! use ractor_dist::DistConfig;
//!
//! /// Peers listed in a file, one `host:port` a line.
//! #[derive(Debug)]
//! struct FromFile(std::path::PathBuf);
//!
//! impl Discovery for FromFile {
//!     fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
//!         Box::pin(async move {
//!             let text = std::fs::read_to_string(&self.0)
//!                 .map_err(|e| DiscoveryError::Other(e.to_string()))?;
//!             Ok(text.lines().map(str::to_string).collect())
//!         })
//!     }
//! }
//!
//! let mut config = DistConfig::new("a", 7101);
//! config.discovery.push("dns:ractor.default.svc.cluster.local:7101".parse().unwrap());
//! config.discovery.push(DiscoverySpec::Custom(Arc::new(FromFile("peers.txt".into()))));
//! assert!(config.validate().is_ok());
//! ```

mod dns;
mod host_scan;
mod multicast;
mod refresh;
mod resolver;
mod spec;
mod static_list;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use dns::{Dns, DnsSrv};
pub use host_scan::HostScan;
pub use multicast::Multicast;
pub(crate) use refresh::run as run_refresh;
pub use resolver::Resolver;
pub use static_list::Static;

pub(crate) use crate::core::config::{join_host_port, split_host_port};
pub use crate::core::config::{DiscoverySpec, DnsFamily, SpecError};

/// A boxed future, so that [`Discovery`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of peer addresses to dial (see the module docs).
pub trait Discovery: Send + Sync + fmt::Debug + 'static {
    /// The `host:port` addresses of the peers to dial now (this node's own address may be
    /// among them: it is never dialed). Called at start and every refresh interval; an
    /// address missing from the answer is forgotten once it is not connected.
    ///
    /// # Errors
    ///
    /// When the source cannot answer now (a DNS server that does not respond, say); the
    /// node keeps this source's previous answer and counts the error.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>>;
}

/// Why a discovery source could not answer. Nothing was changed: the source's previous
/// answer stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A name did not resolve (no answer, a server failure; a name without records is not
    /// an error but an empty answer).
    #[error("cannot resolve {name}: {reason}")]
    Resolve {
        /// The name.
        name: String,
        /// What the resolver said.
        reason: String,
    },
    /// The source took longer than its timeout.
    #[error("discovery source timed out")]
    Timeout,
    /// Any other failure of a source (for implementations of your own).
    #[error("{0}")]
    Other(String),
}

/// The sources a node of `config` runs: its `discovery` specs, and a [`Static`] source
/// for the seeds that are host names (dialing every address each resolves to; the seeds
/// themselves are dialed as written too). Names resolve by `config.nameserver` when set.
pub(crate) fn sources(config: &crate::DistConfig) -> Vec<std::sync::Arc<dyn Discovery>> {
    let resolver = Resolver::new(config.nameserver);
    let named: Vec<String> = config
        .seeds
        .iter()
        .filter(|s| split_host_port(s).is_some_and(|(h, _)| h.parse::<std::net::IpAddr>().is_err()))
        .cloned()
        .collect();
    let mut sources: Vec<std::sync::Arc<dyn Discovery>> = Vec::new();
    if !named.is_empty() {
        sources.push(std::sync::Arc::new(
            Static::new(named).with_resolver(resolver.clone()),
        ));
    }
    for spec in &config.discovery {
        sources.push(spec.source(config));
    }
    sources
}
