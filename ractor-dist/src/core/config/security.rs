//! What protects a node's sessions: the cookie, mutual TLS, and where it listens.

use std::path::PathBuf;

use super::{ConfigError, DistConfig};

/// The cookie of a [`DistConfig`] nobody set one in. Fine for a cluster on loopback (tests,
/// a laptop); a node listening beyond loopback refuses it unless
/// [`DistConfig::allow_default_cookie`] is set.
pub const DEFAULT_COOKIE: &str = "ractor-dist";

/// The files of mutual TLS (PEM): every node has a certificate signed by the cluster's CA
/// that names the node (its [`DistConfig::name`], e.g. `a`) as a DNS subject alternative
/// name, usable for both server and client authentication.
///
/// A peer is accepted only when its certificate chains to `ca`; the session is kept only
/// when the name it then authenticates with (`a@host`) is the name its certificate
/// carries (`a`). A plaintext peer, or one with a certificate of another CA, is refused
/// before any frame is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// This node's certificate (its chain, leaf first).
    pub cert: PathBuf,
    /// This node's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The cluster's CA certificate(s).
    pub ca: PathBuf,
}

impl DistConfig {
    /// Refuses the default cookie on a node that listens beyond loopback (see
    /// [`DEFAULT_COOKIE`]); run when a node starts on the network transport.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DefaultCookie`].
    pub fn check_cookie(&self) -> Result<(), ConfigError> {
        let loopback = match self.listen_ip() {
            Some(ip) => ip.is_loopback(),
            None => self.host.eq_ignore_ascii_case("localhost"),
        };
        if self.cookie == DEFAULT_COOKIE && !loopback && !self.allow_default_cookie {
            return Err(ConfigError::DefaultCookie {
                host: self.host.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cookie_is_refused_beyond_loopback_unless_allowed() {
        let config = |host: &str, cookie: &str, allow: bool| DistConfig {
            host: host.into(),
            cookie: cookie.into(),
            allow_default_cookie: allow,
            ..DistConfig::default()
        };
        for (host, cookie, allow, ok) in [
            ("127.0.0.1", DEFAULT_COOKIE, false, true),
            ("127.0.0.2", DEFAULT_COOKIE, false, true),
            ("::1", DEFAULT_COOKIE, false, true),
            ("localhost", DEFAULT_COOKIE, false, true),
            ("0.0.0.0", DEFAULT_COOKIE, false, false),
            ("10.1.0.7", DEFAULT_COOKIE, false, false),
            ("ractor.svc", DEFAULT_COOKIE, false, false),
            ("10.1.0.7", DEFAULT_COOKIE, true, true),
            ("10.1.0.7", "s3cret", false, true),
            ("ractor.svc", "s3cret", false, true),
        ] {
            let result = config(host, cookie, allow).check_cookie();
            assert_eq!(result.is_ok(), ok, "{host} {cookie} {allow}: {result:?}");
        }
    }
}
