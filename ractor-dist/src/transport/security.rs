//! Mutual TLS between nodes, and the counters of refused connections.
//!
//! Both ends of a session present a certificate that must chain to the cluster's CA (the
//! server checks the client's with rustls' WebPKI client verifier; the client checks the
//! server's chain with webpki, without a host name: it dials addresses, not names). Which
//! node a certificate belongs to is checked once the peer authenticates with ractor_cluster
//! and says its name: the name before the `@` must be a DNS name of the certificate, or the
//! session is closed before any frame of it is handled (`Security::admit_session`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::core::config::{DistConfig, TlsFiles};
use crate::core::SecurityStats;

/// The server name a dialing node asks for (peers are dialed by address; the name a
/// certificate carries is checked against the name the peer authenticates with instead).
const DIAL_NAME: &str = "ractor-dist-peer";

/// The TLS side of a node: how it accepts and how it dials.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
}

impl Tls {
    /// Loads the node's certificate, key and the cluster's CA.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or parsed, or a key that does not match.
    pub(crate) fn load(files: &TlsFiles) -> Result<Self, String> {
        let read_certs = |path: &std::path::Path| -> Result<Vec<CertificateDer<'static>>, String> {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("no certificate in {}", path.display()));
            }
            Ok(certs)
        };
        let chain = read_certs(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
            format!(
                "cannot read a private key from {}: {e}",
                files.key.display()
            )
        })?;
        let mut roots = RootCertStore::empty();
        for ca in read_certs(&files.ca)? {
            roots
                .add(ca)
                .map_err(|e| format!("bad CA certificate in {}: {e}", files.ca.display()))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("TLS client verifier: {e}"))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("TLS certificate or key: {e}"))?;
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainVerifier {
                roots,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("TLS certificate or key: {e}"))?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// The server name to dial with.
    pub(crate) fn dial_name() -> ServerName<'static> {
        ServerName::try_from(DIAL_NAME).unwrap_or_else(|_| unreachable!("a valid DNS name"))
    }
}

/// Checks a server's chain to the cluster CA, not its name (see the module docs).
#[derive(Debug)]
struct ChainVerifier {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

fn pki_error(e: impl std::fmt::Display) -> rustls::Error {
    rustls::Error::General(format!("peer certificate refused: {e}"))
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        cert.verify_for_usage(
            self.algorithms.all,
            &self.roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(pki_error)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether `cert` names the node that authenticated as `node` (`"{name}@{host}"`): `name`
/// is one of its DNS names.
pub(crate) fn names_node(cert: &CertificateDer<'_>, node: &str) -> bool {
    let name = node.split('@').next().unwrap_or_default();
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(cert)
        .and_then(|c| c.verify_is_valid_for_subject_name(&name))
        .is_ok()
}

/// A node's protection of its sessions: TLS if configured, the handshake timeout, the cap
/// on connections still opening, the peers' certificates, and what was refused.
pub(crate) struct Security {
    pub(crate) tls: Option<Tls>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_pending: usize,
    /// Incoming connections accepted and not yet authenticated (or closed).
    pub(crate) pending: AtomicUsize,
    /// The certificate each TLS peer presented, by its socket address.
    certs: Mutex<HashMap<String, CertificateDer<'static>>>,
    /// Sessions and incoming connections still opening (see `listener`).
    pub(crate) opening: Mutex<super::listener::Opening>,
    pub(crate) counters: Arc<SecurityCounters>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_pending", &self.max_pending)
            .finish()
    }
}

impl Security {
    /// From the configuration (loading the TLS files).
    ///
    /// # Errors
    ///
    /// A TLS file that cannot be used.
    pub(crate) fn new(
        config: &DistConfig,
        counters: Arc<SecurityCounters>,
    ) -> Result<Self, String> {
        let tls = config.tls.as_ref().map(Tls::load).transpose()?;
        Ok(Self {
            tls,
            handshake_timeout: config.handshake_timeout,
            max_pending: config.max_pending_connections,
            pending: AtomicUsize::new(0),
            certs: Mutex::default(),
            opening: Mutex::default(),
            counters,
        })
    }

    fn certs(&self) -> std::sync::MutexGuard<'_, HashMap<String, CertificateDer<'static>>> {
        self.certs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the certificates kept and the connections still opening (see
    /// [`crate::core::footprint`]).
    pub(crate) fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("transport.certs", self.certs().len());
        let opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        opening.footprint(f);
    }

    /// A TLS peer at `addr` presented `cert`.
    pub(crate) fn note_cert(&self, addr: String, cert: Option<CertificateDer<'static>>) {
        if let Some(cert) = cert {
            self.certs().insert(addr, cert);
        }
    }

    /// The session with the peer at `addr` closed.
    pub(crate) fn forget(&self, addr: &str) {
        self.certs().remove(addr);
    }

    /// Whether the session with the peer at `addr`, which authenticated as `node`, is kept:
    /// always without TLS; with TLS, when the certificate it presented names `node`.
    pub(crate) fn admit_session(&self, addr: &str, node: &str) -> bool {
        if self.tls.is_none() {
            return true;
        }
        let ok = self.certs().get(addr).is_some_and(|c| names_node(c, node));
        if !ok {
            let n = bump(&self.counters.identity_mismatches);
            tracing::warn!(peer = node, %addr, count = n, "session closed: the peer's certificate does not name it");
        }
        ok
    }
}

/// Connections refused, as counted by the transport (see [`SecurityStats`]).
#[derive(Debug, Default)]
pub(crate) struct SecurityCounters {
    pub(crate) tls_failures: AtomicU64,
    pub(crate) identity_mismatches: AtomicU64,
    pub(crate) handshake_timeouts: AtomicU64,
    pub(crate) connections_over_cap: AtomicU64,
    pub(crate) pending: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

impl SecurityCounters {
    /// The counters now (`frames_refused` is the node's).
    pub(crate) fn stats(&self, frames_refused: u64) -> SecurityStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SecurityStats {
            tls_failures: get(&self.tls_failures),
            identity_mismatches: get(&self.identity_mismatches),
            handshake_timeouts: get(&self.handshake_timeouts),
            connections_over_cap: get(&self.connections_over_cap),
            pending_connections: get(&self.pending),
            frames_refused,
        }
    }
}
