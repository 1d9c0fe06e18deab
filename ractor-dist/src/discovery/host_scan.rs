//! [`HostScan`]: every node on one host within a port range.

use super::{join_host_port, BoxFuture, Discovery, DiscoveryError};

/// Every port of `first..=last` on `host`: gen_cluster's "all nodes on this host" mode,
/// for several nodes on one machine. Ports where nothing listens are dialed with backoff
/// (up to `DistConfig::reconnect_max` apart), so keep the range small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostScan {
    /// The host (an IP literal or a name; IPv6 with or without brackets).
    pub host: String,
    /// The first port.
    pub first: u16,
    /// The last port (included).
    pub last: u16,
}

impl HostScan {
    /// Ports `first..=last` of `host`.
    pub fn new(host: impl Into<String>, first: u16, last: u16) -> Self {
        Self {
            host: host.into(),
            first,
            last,
        }
    }
}

impl Discovery for HostScan {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
        let addrs = (self.first..=self.last)
            .map(|port| join_host_port(&self.host, port))
            .collect();
        Box::pin(async move { Ok(addrs) })
    }
}
