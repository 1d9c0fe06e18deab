//! [`DiscoverySpec`]: a discovery source as configuration (`DistConfig::discovery`), and
//! its console spelling (`--discovery dns:NAME:PORT`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use std::net::Ipv4Addr;

use super::{
    join_host_port, split_host_port, Discovery, Dns, DnsFamily, DnsSrv, HostScan, Multicast,
    Resolver, Static,
};
use crate::DistConfig;

/// Most ports one [`DiscoverySpec::HostScan`] may cover.
const MAX_SCAN_PORTS: u32 = 1024;

/// One discovery source of a node's configuration. Parse the console spelling with
/// [`str::parse`]:
///
/// | spelling | source |
/// |---|---|
/// | `static:HOST:PORT[,HOST:PORT...]` | [`DiscoverySpec::Static`] |
/// | `dns:NAME:PORT` (`dns4:`, `dns6:` for A or AAAA only) | [`DiscoverySpec::Dns`] |
/// | `srv:NAME` | [`DiscoverySpec::Srv`] |
/// | `host:FIRST-LAST` | [`DiscoverySpec::HostScan`] |
/// | `multicast:GROUP:PORT` | [`DiscoverySpec::Multicast`] |
///
/// ```
/// use ractor_dist::discovery::{DiscoverySpec, DnsFamily};
///
/// let spec: DiscoverySpec = "dns:ractor.default.svc.cluster.local:7100".parse().unwrap();
/// assert!(matches!(spec, DiscoverySpec::Dns { port: 7100, family: DnsFamily::Any, .. }));
/// assert!("host:7100-7199".parse::<DiscoverySpec>().is_ok());
/// assert!("dns:nameonly".parse::<DiscoverySpec>().is_err());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DiscoverySpec {
    /// Fixed addresses ([`Static`]); host names dial every address they resolve to.
    Static(Vec<String>),
    /// Every address of a name, with a port ([`Dns`]).
    Dns {
        /// The name.
        name: String,
        /// The port of every peer.
        port: u16,
        /// A, AAAA or both.
        family: DnsFamily,
    },
    /// The peers of a name's SRV records ([`DnsSrv`]).
    Srv(String),
    /// Every port of a range on this node's host (`DistConfig::host`; [`HostScan`]).
    HostScan {
        /// The first port.
        first: u16,
        /// The last port (included).
        last: u16,
    },
    /// Announcements on a LAN multicast group, signed with the cookie ([`Multicast`]).
    Multicast {
        /// The IPv4 multicast group (`239.x.y.z`).
        group: Ipv4Addr,
        /// The UDP port every node announces and listens on.
        port: u16,
    },
    /// A source of your own.
    Custom(Arc<dyn Discovery>),
}

/// A discovery spec that cannot work. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The spec's kind (before the first `:`) is not one of `static`, `dns`, `dns4`,
    /// `dns6`, `srv`, `host`, `multicast`.
    #[error(
        "unknown discovery {0:?}: expected static:, dns:, dns4:, dns6:, srv:, host: or multicast:"
    )]
    Unknown(String),
    /// The spec's kind is known but its value is not.
    #[error("invalid discovery {spec:?}: {reason}")]
    Invalid {
        /// The spec.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl DiscoverySpec {
    /// Checks the values a spec built in code holds (a parsed spec is valid).
    ///
    /// # Errors
    ///
    /// [`SpecError::Invalid`] naming the first bad value.
    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |reason: &str| {
            Err(SpecError::Invalid {
                spec: self.to_string(),
                reason: reason.to_string(),
            })
        };
        match self {
            DiscoverySpec::Static(addrs) => {
                if addrs.is_empty() {
                    return invalid("no address");
                }
                if let Some(bad) = addrs.iter().find(|a| split_host_port(a).is_none()) {
                    return invalid(&format!("{bad:?} is not HOST:PORT"));
                }
            }
            DiscoverySpec::Dns { name, port, .. } => {
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return invalid("no name");
                }
                if *port == 0 {
                    return invalid("port 0");
                }
            }
            DiscoverySpec::Srv(name) => {
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return invalid("no name");
                }
            }
            DiscoverySpec::HostScan { first, last } => {
                if *first == 0 || first > last {
                    return invalid("the range must be FIRST-LAST with 0 < FIRST <= LAST");
                }
                if u32::from(*last) - u32::from(*first) >= MAX_SCAN_PORTS {
                    return invalid(&format!("more than {MAX_SCAN_PORTS} ports"));
                }
            }
            DiscoverySpec::Multicast { group, port } => {
                if !group.is_multicast() {
                    return invalid(&format!("{group} is not a multicast group"));
                }
                if *port == 0 {
                    return invalid("port 0");
                }
            }
            DiscoverySpec::Custom(_) => {}
        }
        Ok(())
    }

    /// The source this spec describes, for the node of `config` (names resolve by its
    /// `nameserver`, a host scan scans its `host`, multicast announces its name and
    /// address, signed with its cookie).
    pub fn source(&self, config: &DistConfig) -> Arc<dyn Discovery> {
        let resolver = Resolver::new(config.nameserver);
        let host = config.host.as_str();
        match self {
            DiscoverySpec::Static(addrs) => {
                Arc::new(Static::new(addrs.clone()).with_resolver(resolver))
            }
            DiscoverySpec::Dns { name, port, family } => Arc::new(Dns {
                name: name.clone(),
                port: *port,
                family: *family,
                resolver,
            }),
            DiscoverySpec::Srv(name) => Arc::new(DnsSrv::new(name.clone()).with_resolver(resolver)),
            DiscoverySpec::HostScan { first, last } => Arc::new(HostScan::new(host, *first, *last)),
            DiscoverySpec::Multicast { group, port } => {
                let interface = match config.listen_ip() {
                    Some(std::net::IpAddr::V4(ip)) => ip,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let source = Multicast::new(
                    *group,
                    *port,
                    config.node_name(),
                    config.addr(),
                    &config.cookie,
                );
                Arc::new(source.with_interface(interface))
            }
            DiscoverySpec::Custom(source) => source.clone(),
        }
    }
}

impl fmt::Display for DiscoverySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoverySpec::Static(addrs) => write!(f, "static:{}", addrs.join(",")),
            DiscoverySpec::Dns { name, port, family } => {
                let kind = match family {
                    DnsFamily::V4 => "dns4",
                    DnsFamily::V6 => "dns6",
                    DnsFamily::Any => "dns",
                };
                write!(f, "{kind}:{name}:{port}")
            }
            DiscoverySpec::Srv(name) => write!(f, "srv:{name}"),
            DiscoverySpec::HostScan { first, last } => write!(f, "host:{first}-{last}"),
            DiscoverySpec::Multicast { group, port } => write!(f, "multicast:{group}:{port}"),
            DiscoverySpec::Custom(source) => write!(f, "custom:{source:?}"),
        }
    }
}

impl FromStr for DiscoverySpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| SpecError::Unknown(s.to_string()))?;
        let invalid = |reason: &str| SpecError::Invalid {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let spec = match kind {
            "static" => DiscoverySpec::Static(
                value
                    .split(',')
                    .map(|a| {
                        let (host, port) = split_host_port(a.trim())
                            .ok_or_else(|| invalid(&format!("{a:?} is not HOST:PORT")))?;
                        Ok(join_host_port(host, port))
                    })
                    .collect::<Result<_, SpecError>>()?,
            ),
            "dns" | "dns4" | "dns6" => {
                let (name, port) = value
                    .rsplit_once(':')
                    .ok_or_else(|| invalid("expected NAME:PORT"))?;
                let port = port
                    .parse()
                    .map_err(|_| invalid(&format!("bad port {port:?}")))?;
                let family = match kind {
                    "dns4" => DnsFamily::V4,
                    "dns6" => DnsFamily::V6,
                    _ => DnsFamily::Any,
                };
                DiscoverySpec::Dns {
                    name: name.to_string(),
                    port,
                    family,
                }
            }
            "srv" => DiscoverySpec::Srv(value.to_string()),
            "host" => {
                let (first, last) = value
                    .split_once('-')
                    .ok_or_else(|| invalid("expected FIRST-LAST"))?;
                let port = |p: &str| {
                    p.trim()
                        .parse::<u16>()
                        .map_err(|_| invalid(&format!("bad port {p:?}")))
                };
                DiscoverySpec::HostScan {
                    first: port(first)?,
                    last: port(last)?,
                }
            }
            "multicast" => {
                let (group, port) = value
                    .rsplit_once(':')
                    .ok_or_else(|| invalid("expected GROUP:PORT"))?;
                DiscoverySpec::Multicast {
                    group: group
                        .parse()
                        .map_err(|_| invalid(&format!("{group:?} is not an IPv4 group")))?,
                    port: port
                        .parse()
                        .map_err(|_| invalid(&format!("bad port {port:?}")))?,
                }
            }
            _ => return Err(SpecError::Unknown(s.to_string())),
        };
        spec.validate()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_spelling_parses_and_prints_back() {
        for spec in [
            "static:127.0.0.1:7101,[::1]:7102,localhost:7103",
            "dns:ractor.svc.local:7100",
            "dns4:ractor.svc.local:7100",
            "dns6:ractor.svc.local:7100",
            "srv:_ractor._tcp.ractor.svc.local",
            "host:7100-7109",
            "multicast:239.255.7.1:7099",
        ] {
            let parsed: DiscoverySpec = spec.parse().unwrap();
            assert_eq!(parsed.to_string(), spec);
        }
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        let bad = |s: &str| s.parse::<DiscoverySpec>().unwrap_err();
        assert!(matches!(
            bad("gossip:239.1.1.1:7000"),
            SpecError::Unknown(_)
        ));
        assert!(matches!(bad("nothing"), SpecError::Unknown(_)));
        for s in [
            "static:",
            "static:host",
            "static:::1:7101",
            "dns:name",
            "dns:name:0",
            "dns::7100",
            "srv:",
            "host:7109-7100",
            "host:0-10",
            "host:1-5000",
            "host:7100",
            "multicast:10.0.0.1:7000",
            "multicast:239.1.1.1",
            "multicast:ff02::1:7000",
        ] {
            assert!(matches!(bad(s), SpecError::Invalid { .. }), "{s} was taken");
        }
    }
}
