//! [`Static`]: a fixed list of addresses (today's seeds).

use std::net::IpAddr;

use super::{split_host_port, BoxFuture, Discovery, DiscoveryError, DnsFamily, Resolver};

/// Fixed `host:port` addresses. An IP literal is dialed as it is; a host name dials every
/// address it resolves to at each refresh (a name that does not resolve now is dialed as
/// written, and the transport resolves it at each dial). `DistConfig::seeds` are such a
/// list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Static {
    /// The addresses, `host:port` (IPv6 literals in brackets: `[::1]:7101`).
    pub addrs: Vec<String>,
    /// Who resolves host names.
    pub resolver: Resolver,
}

impl Static {
    /// These addresses, host names resolved by the system's resolver.
    pub fn new<S: Into<String>>(addrs: impl IntoIterator<Item = S>) -> Self {
        Self {
            addrs: addrs.into_iter().map(Into::into).collect(),
            resolver: Resolver::System,
        }
    }

    /// Host names resolved by `resolver` instead.
    pub fn with_resolver(self, resolver: Resolver) -> Self {
        Self { resolver, ..self }
    }
}

impl Discovery for Static {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for addr in &self.addrs {
                let Some((host, port)) = split_host_port(addr) else {
                    continue;
                };
                if host.parse::<IpAddr>().is_ok() {
                    out.push(addr.clone());
                    continue;
                }
                match self.resolver.addresses(host, port, DnsFamily::Any).await {
                    Ok(found) if !found.is_empty() => {
                        out.extend(found.iter().map(ToString::to_string));
                    }
                    _ => out.push(addr.clone()),
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_stay_and_names_resolve_to_every_address() {
        let found = Static::new(["127.0.0.1:7101", "[::1]:7102", "localhost:7103", "bad"])
            .discover()
            .await
            .unwrap();
        assert_eq!(found[0], "127.0.0.1:7101");
        assert_eq!(found[1], "[::1]:7102");
        // localhost resolves (to 127.0.0.1 at least); "bad" is no address and is skipped.
        assert!(found[2..].iter().all(|a| a.ends_with(":7103")), "{found:?}");
        assert!(found.contains(&"127.0.0.1:7103".to_string()), "{found:?}");
    }
}
