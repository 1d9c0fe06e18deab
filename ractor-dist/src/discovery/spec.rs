//! [`DiscoverySpec::source`]: the discovery source a spec of the configuration describes
//! (the spec itself, its parsing and validation are pure configuration, in
//! [`crate::core::config`]).

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{Discovery, DiscoverySpec, Dns, DnsSrv, HostScan, Multicast, Resolver, Static};
use crate::DistConfig;

impl DiscoverySpec {
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
                // (an IPv6 group goes out of the system's default interface)
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
