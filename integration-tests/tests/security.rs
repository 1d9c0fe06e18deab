//! Security at the door, with real node processes on 127.0.0.1:
//!
//! - a 3-node mutual-TLS cluster places and routes names; a node whose certificate comes
//!   from another CA, a node without TLS (right cookie), and a node whose certificate from
//!   the cluster CA names another node are refused, and each refusal is counted;
//! - a connection that sends nothing is closed after the handshake timeout, connections
//!   beyond the pending cap are closed at once, and the node keeps serving;
//! - a member with a valid certificate that sends frames in another node's name, absurd
//!   values or requests it is not entitled to, over its own session, has each refused and
//!   counted, and nothing changes;
//! - a node whose `--host` is a DNS name listens on that name's addresses only.
//!
//! Certificates are made by the test (rcgen): a CA, and per node a certificate naming it.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use integration_tests::{free_ports, node_args, node_binary, wait_until, Cluster, NodeCommand};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A CA that signs node certificates into a directory.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Result<Ca> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("ractor-dist test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem())?;
        Ok(Ca {
            cert,
            key,
            dir: dir.join(format!("{name}.pem")),
        })
    }

    /// Writes `<file>.pem` and `<file>.key`, a certificate naming `dns`; returns the flags
    /// of a node using it.
    fn node(&self, dir: &Path, file: &str, dns: &str, cluster_ca: &Path) -> Result<Vec<String>> {
        let mut params = CertificateParams::new(vec![dns.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, dns);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        let (cert_path, key_path) = (
            dir.join(format!("{file}.pem")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        let s = |p: &Path| p.display().to_string();
        Ok(vec![
            "--tls-cert".into(),
            s(&cert_path),
            "--tls-key".into(),
            s(&key_path),
            "--tls-ca".into(),
            s(cluster_ca),
        ])
    }
}

fn temp_dir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ractor-dist-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The sum of one `stats` counter over `nodes`.
async fn total(nodes: &mut [integration_tests::NodeProc], field: &str) -> Result<u64> {
    let mut sum = 0;
    for node in nodes.iter_mut() {
        sum += node.stats().await?.get(field);
    }
    Ok(sum)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutual_tls_cluster_serves_and_refuses_other_cas_plaintext_and_misnamed_nodes(
) -> Result<()> {
    let dir = temp_dir("tls")?;
    let ca = Ca::new(&dir, "ca")?;
    let other = Ca::new(&dir, "other-ca")?;
    let mut tls = Vec::new();
    for i in 1..=3 {
        tls.push(ca.node(&dir, &format!("n{i}"), &format!("n{i}"), &ca.dir)?);
    }
    let started = Instant::now();
    let mut cluster = Cluster::start_on(free_ports(3)?, |i| tls[i].clone()).await?;
    let formed = started.elapsed();

    // Placement and routing, as over plain TCP.
    let members = cluster.nodes[0].members().await?;
    ensure!(members.len() == 3, "{members:?}");
    let names: Vec<String> = (0..60).map(|i| format!("acct-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let host = cluster.nodes[i % 3]
            .ok(&format!("spawn {name} {i}"))
            .await?;
        assert_eq!(host, integration_tests::owner_of(name, &members), "{name}");
    }
    for (i, name) in names.iter().enumerate() {
        let node = &mut cluster.nodes[(i + 1) % 3];
        assert_eq!(node.add(name, 1).await?, i as i64 + 1, "{name}");
    }
    assert_eq!(total(&mut cluster.nodes, "tls_failures").await?, 0);
    assert_eq!(total(&mut cluster.nodes, "identity_mismatches").await?, 0);
    assert_eq!(total(&mut cluster.nodes, "frames_refused").await?, 0);

    // Intruders, each seeded with every cluster node.
    let intruder = |name: &str, port: u16, extra: Vec<String>| {
        let mut args = node_args(&cluster.ports, port, &[]);
        args.extend(extra);
        NodeCommand::new(node_binary(), name, port)
            .args(args)
            .quiet(true)
    };
    let ports = free_ports(3)?;
    // A certificate of another CA, naming the node correctly.
    let foreign = other.node(&dir, "n4", "n4", &other.dir)?;
    let mut n4 = intruder("n4", ports[0], foreign).start().await?;
    // No TLS at all, with the right cookie.
    let mut n5 = intruder("n5", ports[1], Vec::new()).start().await?;
    // A certificate of the cluster CA that names another node (`n1`).
    let misnamed = ca.node(&dir, "n6-as-n1", "n1", &ca.dir)?;
    let mut n6 = intruder("n6", ports[2], misnamed).start().await?;

    let counted = wait_until(Duration::from_secs(15), async || {
        let nodes = &mut cluster.nodes;
        let failures = total(nodes, "tls_failures").await.unwrap_or(0);
        let mismatches = total(nodes, "identity_mismatches").await.unwrap_or(0);
        // n4 and n5 fail the handshake, n6 is closed for its name.
        failures >= 2 && mismatches >= 1
    })
    .await;
    ensure!(counted, "refusals not counted");
    // Nobody got in, whichever side dialed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for intruder in [&mut n4, &mut n5, &mut n6] {
        let seen = intruder.members().await?;
        ensure!(seen.len() == 1, "{} joined: {seen:?}", intruder.name());
    }
    for node in cluster.nodes.iter_mut() {
        let seen = node.members().await?;
        ensure!(seen.len() == 3, "{} sees {seen:?}", node.name());
    }
    let failures = total(&mut cluster.nodes, "tls_failures").await?;
    let mismatches = total(&mut cluster.nodes, "identity_mismatches").await?;
    eprintln!(
        "tls: cluster of 3 formed in {formed:?}; refused: tls_failures={failures} identity_mismatches={mismatches}"
    );

    // The intruders go (nothing they do is counted below).
    for intruder in [&mut n4, &mut n5, &mut n6] {
        intruder.kill().await;
    }

    // Identity per frame: a member with a valid certificate (n1) sends its peers, over its
    // own TLS session with its token, frames in n3's name, a hello for another node, an
    // absurd weight, a generation past any fence and a Yield it may not ask for. Each is
    // refused and counted, and nothing else changes.
    let mut before = Vec::new();
    for node in &mut cluster.nodes[1..] {
        let s = node.stats().await?;
        before.push((
            s.get("frames_refused"),
            s.get("epoch"),
            s.get("hosted"),
            s.get("peers_declared_down"),
        ));
    }
    let per_peer: u64 = cluster.nodes[0].ok("inject-forged").await?.parse()?;
    ensure!(per_peer >= 6, "inject-forged sent {per_peer} frames a peer");
    let counted = wait_until(Duration::from_secs(10), async || {
        for (node, (refused, ..)) in cluster.nodes[1..].iter_mut().zip(&before) {
            match node.stats().await {
                Ok(s) if s.get("frames_refused") >= refused + per_peer => {}
                _ => return false,
            }
        }
        true
    })
    .await;
    ensure!(counted, "forged frames were not all refused");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (node, (refused, epoch, hosted, down)) in cluster.nodes[1..].iter_mut().zip(&before) {
        let s = node.stats().await?;
        assert_eq!(
            (
                s.get("frames_refused"),
                s.get("epoch"),
                s.get("hosted"),
                s.get("peers_declared_down"),
                s.get("members")
            ),
            (refused + per_peer, *epoch, *hosted, *down, 3),
            "{}: {s}",
            node.name()
        );
    }
    assert_eq!(cluster.nodes[0].stats().await?.get("frames_refused"), 0);
    for (i, name) in names.iter().enumerate() {
        let node = &mut cluster.nodes[i % 3];
        assert_eq!(node.get(name).await?, i as i64 + 1, "{name}");
        assert_eq!(
            node.where_is(name).await?.0,
            integration_tests::owner_of(name, &members),
            "{name} moved"
        );
    }

    // Still serving.
    assert_eq!(cluster.nodes[2].get("acct-5").await?, 6);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Opens a TCP connection that sends nothing and returns how long until the node closes
/// it (bounded by `limit`; `None` when it stayed open that long).
fn closed_after(port: u16, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed()),
            // The cookie challenge may be written before the close.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(t.elapsed()),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_time_out_and_the_pending_cap_closes_the_rest() -> Result<()> {
    let port = free_ports(1)?[0];
    let timeout_ms = 600u64;
    let cap = 4usize;
    let args = node_args(
        &[port],
        port,
        &[
            "--handshake-timeout-ms",
            &timeout_ms.to_string(),
            "--max-pending",
            &cap.to_string(),
        ],
    );
    let mut node = NodeCommand::new(node_binary(), "gate", port)
        .args(args)
        .quiet(true)
        .start()
        .await?;

    // One silent client: closed after the timeout.
    let limit = Duration::from_secs(10);
    let alone = tokio::task::spawn_blocking(move || closed_after(port, limit)).await?;
    let alone = alone.expect("a silent connection stays open");
    assert!(alone >= Duration::from_millis(timeout_ms / 2), "{alone:?}");

    // `cap` silent clients hold every slot; the next ones are closed at once.
    let holders: Vec<_> = (0..cap)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connects"))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = Vec::new();
    for _ in 0..3 {
        let r = tokio::task::spawn_blocking(move || closed_after(port, limit)).await?;
        refused.push(r.expect("closed"));
    }
    let stats = node.stats().await?;
    assert!(stats.get("connections_over_cap") >= 3, "{stats:?}");
    assert!(
        refused
            .iter()
            .all(|d| *d < Duration::from_millis(timeout_ms)),
        "connections over the cap waited for the timeout: {refused:?}"
    );
    // The holders time out too, and the slots come back.
    drop(holders);
    let freed = wait_until(Duration::from_secs(10), async || {
        node.stats()
            .await
            .map(|s| s.get("pending_connections") == 0)
            .unwrap_or(false)
    })
    .await;
    ensure!(freed, "pending connections never released");
    let stats = node.stats().await?;
    assert!(stats.get("handshake_timeouts") >= 1, "{stats:?}");
    // And the node still serves.
    node.ok("spawn gate-1 5").await?;
    assert_eq!(node.get("gate-1").await?, 5);
    eprintln!(
        "handshake timeout {timeout_ms} ms: a silent connection closed after {alone:?}; over the cap of {cap}: closed after {:?}",
        refused
    );
    Ok(())
}

/// Listening sockets on `port` (Linux: /proc/net/tcp and tcp6), as hex local addresses.
fn listeners_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            let Some((ip, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(ip.to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_given_as_a_name_listens_on_its_addresses_only() -> Result<()> {
    let port = free_ports(1)?[0];
    let args = node_args(&[port], port, &["--host", "localhost"]);
    let mut node = NodeCommand::new(node_binary(), "named", port)
        .args(args)
        .quiet(true)
        .start()
        .await?;
    assert_eq!(node.node_name(), "named@localhost");
    let listening = listeners_on(port);
    ensure!(!listening.is_empty(), "no listener found on {port}");
    let unspecified = |ip: &str| ip.chars().all(|c| c == '0');
    ensure!(
        !listening.iter().any(|ip| unspecified(ip)),
        "listens on every interface: {listening:?}"
    );
    node.ok("spawn named-1 1").await?;
    Ok(())
}
