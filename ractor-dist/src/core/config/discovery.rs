//! The discovery part of the configuration: [`DiscoverySpec`] (a source of peers as
//! configuration, `DistConfig::discovery`, and its console spelling `--discovery dns:NAME:PORT`),
//! its parsing and validation, and the `host:port` spelling every address of the cluster
//! uses. The sources themselves (resolving, scanning, listening) live in
//! [`crate::discovery`]; [`DiscoverySpec::source`] builds one.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// Which address records a [`Dns`](crate::discovery::Dns) source asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsFamily {
    /// A records (IPv4).
    V4,
    /// AAAA records (IPv6).
    V6,
    /// Both.
    Any,
}

impl DnsFamily {
    /// Whether `ip` is of this family.
    pub fn admits(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (DnsFamily::Any, _) | (DnsFamily::V4, IpAddr::V4(_)) | (DnsFamily::V6, IpAddr::V6(_))
        )
    }
}

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
/// | `multicast:GROUP:PORT` (an IPv6 group in brackets: `multicast:[ff12::7]:7099`) | [`DiscoverySpec::Multicast`] |
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
    /// Fixed addresses ([`Static`](crate::discovery::Static)); host names dial every address they resolve to.
    Static(Vec<String>),
    /// Every address of a name, with a port ([`Dns`](crate::discovery::Dns)).
    Dns {
        /// The name.
        name: String,
        /// The port of every peer.
        port: u16,
        /// A, AAAA or both.
        family: DnsFamily,
    },
    /// The peers of a name's SRV records ([`DnsSrv`](crate::discovery::DnsSrv)).
    Srv(String),
    /// Every port of a range on this node's host (`DistConfig::host`;
    /// [`HostScan`](crate::discovery::HostScan)).
    HostScan {
        /// The first port.
        first: u16,
        /// The last port (included).
        last: u16,
    },
    /// Announcements on a LAN multicast group, signed with the cookie ([`Multicast`](crate::discovery::Multicast)).
    Multicast {
        /// The multicast group: IPv4 (`239.x.y.z`, the organisation-local scope) or IPv6
        /// (`ff12::7` link-local scope, `ff15::7` site-local, ...).
        group: IpAddr,
        /// The UDP port every node announces and listens on.
        port: u16,
    },
    /// A source of your own.
    Custom(Arc<dyn crate::discovery::Discovery>),
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
            DiscoverySpec::Multicast { group, port } => {
                write!(f, "multicast:{}", join_host_port(&group.to_string(), *port))
            }
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
                let (group, port) = split_host_port(value).ok_or_else(|| {
                    invalid("expected GROUP:PORT (an IPv6 group in brackets, [ff12::7]:7099)")
                })?;
                DiscoverySpec::Multicast {
                    group: group
                        .parse()
                        .map_err(|_| invalid(&format!("{group:?} is not an IP address")))?,
                    port,
                }
            }
            _ => return Err(SpecError::Unknown(s.to_string())),
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// `host:port` with IPv6 literals in brackets (`[::1]:7101`), as peers dial it.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    format!("{}:{port}", bracketed(host))
}

/// A host as peers spell it: an IPv6 literal in brackets, anything else as written.
pub(crate) fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Splits `host:port`, `[v6]:port`; the host without brackets.
pub(crate) fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || (host.contains(':') && !addr.starts_with('[')) {
        return None;
    }
    Some((host, port))
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
            "multicast:[ff12::7:1]:7099",
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
            "multicast:[fd00::1]:7000",
            "multicast:[ff12::1]:0",
        ] {
            assert!(matches!(bad(s), SpecError::Invalid { .. }), "{s} was taken");
        }
    }

    #[test]
    fn addresses_split_and_join_with_ipv6_in_brackets() {
        assert_eq!(split_host_port("127.0.0.1:7101"), Some(("127.0.0.1", 7101)));
        assert_eq!(split_host_port("[::1]:7101"), Some(("::1", 7101)));
        assert_eq!(split_host_port("svc.local:1"), Some(("svc.local", 1)));
        assert_eq!(split_host_port("::1:7101"), None);
        assert_eq!(split_host_port("host:0"), None);
        assert_eq!(split_host_port(":7101"), None);
        assert_eq!(split_host_port("host"), None);
        assert_eq!(join_host_port("::1", 7101), "[::1]:7101");
        assert_eq!(join_host_port("[::1]", 7101), "[::1]:7101");
        assert_eq!(join_host_port("10.0.0.1", 7101), "10.0.0.1:7101");
    }

    #[test]
    fn a_dns_family_admits_only_its_addresses() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        for (family, admits_v4, admits_v6) in [
            (DnsFamily::V4, true, false),
            (DnsFamily::V6, false, true),
            (DnsFamily::Any, true, true),
        ] {
            assert_eq!(family.admits(&v4), admits_v4, "{family:?}");
            assert_eq!(family.admits(&v6), admits_v6, "{family:?}");
        }
    }
}
