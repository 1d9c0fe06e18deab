//! Bad input never crashes a node: garbage on the port, a wrong cookie, unknown kinds,
//! unknown names and undecodable messages get errors, are counted, and the cluster keeps
//! serving.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Result;
use integration_tests::client::status_field;
use integration_tests::{node_args, node_binary, Cluster, NodeProc};

#[test]
fn malformed_input_yields_errors_and_the_cluster_keeps_serving() -> Result<()> {
    let mut cluster = Cluster::start(3)?;
    for i in 0..30 {
        cluster.nodes[i % 3].ok(&format!("spawn v{i} {i}"))?;
    }

    // Garbage bytes to every node's port: random noise, a huge length prefix, a truncated frame.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for port in cluster.ports.clone() {
        for attempt in 0..5 {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let mut junk = Vec::new();
            for _ in 0..(256 * (attempt + 1)) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                junk.push(seed as u8);
            }
            let _ = s.write_all(&junk);
            let _ = s.write_all(&u64::MAX.to_be_bytes());
            let _ = s.write_all(&[0, 0, 0, 0, 0, 0, 0, 40, 1, 2, 3]);
        }
    }

    // A node with the wrong cookie never joins, and does not disturb the others.
    let ports = integration_tests::free_ports(1)?;
    let mut args = node_args(&cluster.ports, ports[0], &[]);
    args[1] = "wrong-cookie".to_string();
    let mut intruder = NodeProc::start(&node_binary(), "intruder", ports[0], &args, true)?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(intruder.members()?.len(), 1, "the intruder joined");
    for node in cluster.nodes.iter_mut() {
        assert_eq!(node.members()?.len(), 3, "{} sees the intruder", node.name);
    }

    // An unknown kind is refused with a clear error by its owner.
    let reply = cluster.nodes[0].request("spawn-ghost g1")?;
    assert!(
        reply.starts_with("error unknown actor kind \"ghost\""),
        "{reply}"
    );

    // An unknown name fails promptly from every node.
    for node in cluster.nodes.iter_mut() {
        let t = Instant::now();
        let reply = node.request("get no-such-name")?;
        assert!(
            reply.starts_with("error no actor named no-such-name"),
            "{reply}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "not found took {:?}",
            t.elapsed()
        );
    }

    // A message of the wrong type: refused locally (type check) and remotely (decode).
    let mut refused_remotely = false;
    for i in 0..30 {
        let reply = cluster.nodes[0].request(&format!("bad v{i}"))?;
        assert!(reply.starts_with("error "), "{reply}");
        refused_remotely |= reply.contains("does not decode");
    }
    assert!(refused_remotely, "no remote decode failure was reported");

    // Console input errors are errors, not crashes.
    for bad in ["add v1 notanumber", "frobnicate", "get", "spawn"] {
        let reply = cluster.nodes[1].request(bad)?;
        assert!(reply.starts_with("error "), "{bad}: {reply}");
    }

    // Everyone still serves every name, and the bad input was counted.
    for node in cluster.nodes.iter_mut() {
        for i in 0..30 {
            assert_eq!(node.ok(&format!("get v{i}"))?, i.to_string());
        }
    }
    let mut unknown_kinds = 0;
    let mut bad_messages = 0;
    for node in cluster.nodes.iter_mut() {
        let status = node.ok("stats")?;
        unknown_kinds += status_field(&status, "unknown_kinds");
        bad_messages += status_field(&status, "bad_messages");
    }
    assert!(
        unknown_kinds >= 1 && bad_messages >= 1,
        "{unknown_kinds} {bad_messages}"
    );
    Ok(())
}
