//! [`Dns`] (A and AAAA records) and [`DnsSrv`] (SRV records): the peers behind a name.

use super::{join_host_port, BoxFuture, Discovery, DiscoveryError, DnsFamily, Resolver};

/// Every address of a DNS name, each with the same port: a Kubernetes headless service
/// (`ractor.default.svc.cluster.local`), a compose service. gen_cluster's A/AAAA
/// discovery. Each address is one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dns {
    /// The name.
    pub name: String,
    /// The port every peer listens on.
    pub port: u16,
    /// A, AAAA or both.
    pub family: DnsFamily,
    /// Who resolves the name.
    pub resolver: Resolver,
}

impl Dns {
    /// A and AAAA records of `name`, with `port`, by the system's resolver.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            family: DnsFamily::Any,
            resolver: Resolver::System,
        }
    }

    /// A records only (gen_cluster's `DnsA`).
    pub fn a(name: impl Into<String>, port: u16) -> Self {
        Self {
            family: DnsFamily::V4,
            ..Self::new(name, port)
        }
    }

    /// AAAA records only (gen_cluster's `DnsAaaa`).
    pub fn aaaa(name: impl Into<String>, port: u16) -> Self {
        Self {
            family: DnsFamily::V6,
            ..Self::new(name, port)
        }
    }

    /// Resolved by `resolver` instead.
    pub fn with_resolver(self, resolver: Resolver) -> Self {
        Self { resolver, ..self }
    }
}

impl Discovery for Dns {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
        Box::pin(async move {
            let found = self
                .resolver
                .addresses(&self.name, self.port, self.family)
                .await?;
            Ok(found.iter().map(ToString::to_string).collect())
        })
    }
}

/// The peers named by the SRV records of a name (`_ractor._tcp.ractor.default.svc...`):
/// each record's target host, resolved to its addresses, with the record's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSrv {
    /// The SRV name.
    pub name: String,
    /// Who resolves it.
    pub resolver: Resolver,
}

impl DnsSrv {
    /// The SRV records of `name`, by the system's resolver.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            resolver: Resolver::System,
        }
    }

    /// Resolved by `resolver` instead.
    pub fn with_resolver(self, resolver: Resolver) -> Self {
        Self { resolver, ..self }
    }
}

impl Discovery for DnsSrv {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (target, port) in self.resolver.srv(&self.name).await? {
                match self.resolver.addresses(&target, port, DnsFamily::Any).await {
                    Ok(found) if !found.is_empty() => {
                        out.extend(found.iter().map(ToString::to_string));
                    }
                    // A target without addresses (or that does not resolve now) is dialed
                    // by name: the transport resolves it again at each dial.
                    _ => out.push(join_host_port(&target, port)),
                }
            }
            Ok(out)
        })
    }
}
