//! [`Resolver`]: names to addresses, through the system's resolver or one DNS server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

use super::DiscoveryError;
use super::DnsFamily;

/// How long one DNS query may take before it is retried (twice at most).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Resolves names for the discovery sources: by the system's resolver (`/etc/hosts`, then
/// `/etc/resolv.conf`'s servers), or by one DNS server only (private DNS, tests). Nothing
/// is cached here: every refresh asks again, so records that change are followed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resolver {
    /// The system's resolver (SRV records through the servers of `/etc/resolv.conf`).
    #[default]
    System,
    /// Only this DNS server (UDP, falling back to TCP), e.g. `127.0.0.1:5353`.
    Server(SocketAddr),
}

impl Resolver {
    /// The resolver of a configuration: its `nameserver`, else the system's.
    pub fn new(nameserver: Option<SocketAddr>) -> Self {
        nameserver.map_or(Resolver::System, Resolver::Server)
    }

    fn hickory(&self) -> Result<TokioResolver, ResolveError> {
        let mut builder = match self {
            Resolver::System => TokioResolver::builder_tokio()?,
            Resolver::Server(server) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(*server, Protocol::Tcp));
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            }
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.cache_size = 0;
        if let Resolver::Server(_) = self {
            // Names are asked as given (no search domains), twice at most.
            options.ndots = 0;
            options.timeout = QUERY_TIMEOUT;
            options.attempts = 2;
        }
        Ok(builder.build())
    }

    /// Every address of `name` in `family`, with `port`. An IP literal is itself; a name
    /// without such records is an empty answer, not an error.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Resolve`] when the resolver fails (no server answers, a server
    /// failure).
    pub async fn addresses(
        &self,
        name: &str,
        port: u16,
        family: DnsFamily,
    ) -> Result<Vec<SocketAddr>, DiscoveryError> {
        let name = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(family
                .admits(&ip)
                .then_some(SocketAddr::new(ip, port))
                .into_iter()
                .collect());
        }
        let error = |e: &dyn std::fmt::Display| DiscoveryError::Resolve {
            name: name.to_string(),
            reason: e.to_string(),
        };
        let mut ips: Vec<IpAddr> = match self {
            // getaddrinfo: /etc/hosts first, as every other program on the machine.
            Resolver::System => match tokio::net::lookup_host((name, port)).await {
                Ok(found) => found.map(|s| s.ip()).collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(error(&e)),
            },
            Resolver::Server(_) => {
                let resolver = self.hickory().map_err(|e| error(&e))?;
                let mut ips = Vec::new();
                if family.admits(&IpAddr::from([0u8; 4])) {
                    match resolver.ipv4_lookup(name).await {
                        Ok(found) => ips.extend(found.iter().map(|a| IpAddr::V4(a.0))),
                        Err(e) if e.is_no_records_found() => {}
                        Err(e) => return Err(error(&e)),
                    }
                }
                if family.admits(&IpAddr::from([0u16; 8])) {
                    match resolver.ipv6_lookup(name).await {
                        Ok(found) => ips.extend(found.iter().map(|a| IpAddr::V6(a.0))),
                        Err(e) if e.is_no_records_found() => {}
                        Err(e) => return Err(error(&e)),
                    }
                }
                ips
            }
        };
        ips.retain(|ip| family.admits(ip));
        ips.sort();
        ips.dedup();
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// The target host and port of every SRV record of `name`, in the records' order of
    /// priority, then weight (heaviest first).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Resolve`] when the resolver fails.
    pub async fn srv(&self, name: &str) -> Result<Vec<(String, u16)>, DiscoveryError> {
        let error = |e: &dyn std::fmt::Display| DiscoveryError::Resolve {
            name: name.to_string(),
            reason: e.to_string(),
        };
        let resolver = self.hickory().map_err(|e| error(&e))?;
        match resolver.srv_lookup(name).await {
            Ok(found) => {
                let mut records: Vec<_> = found
                    .iter()
                    .map(|r| {
                        let target = r.target().to_utf8();
                        let target = target.strip_suffix('.').unwrap_or(&target).to_string();
                        (
                            r.priority(),
                            std::cmp::Reverse(r.weight()),
                            target,
                            r.port(),
                        )
                    })
                    .collect();
                records.sort();
                Ok(records.into_iter().map(|(_, _, t, p)| (t, p)).collect())
            }
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(error(&e)),
        }
    }
}
