//! Bad input never crashes a node: garbage on the port, a wrong cookie, unknown kinds,
//! unknown names and undecodable messages get errors, are counted, and the cluster keeps
//! serving.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Result;
use integration_tests::{node_args, node_binary, Cluster, NodeCommand};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_yields_errors_and_the_cluster_keeps_serving() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    for i in 0..30 {
        cluster.nodes[i % 3].ok(&format!("spawn v{i} {i}")).await?;
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

    // Frames that do not decode, from a peer with the cookie (over its authenticated
    // session, straight to the supervisors): refused and counted, nothing else changes.
    let mut before = Vec::new();
    let mut hosted = Vec::new();
    for i in 1..3 {
        let s = cluster.nodes[i].stats().await?;
        before.push((s.get("bad_frames"), s.get("version_mismatches")));
        hosted.push((s.get("hosted"), s.get("frames_refused"), s.get("epoch")));
    }
    assert_eq!(cluster.nodes[0].ok("inject-garbage").await?, "2");
    let counted = integration_tests::wait_until(Duration::from_secs(10), async || {
        for (i, (bad, version)) in (1..3).zip(&before) {
            let Ok(s) = cluster.nodes[i].stats().await else {
                return false;
            };
            if s.get("bad_frames") < bad + 2 || s.get("version_mismatches") <= *version {
                return false;
            }
        }
        true
    })
    .await;
    anyhow::ensure!(
        counted,
        "garbage from an authenticated peer was not counted"
    );
    for (i, (hosted, refused, epoch)) in (1..3).zip(hosted) {
        let s = cluster.nodes[i].stats().await?;
        assert_eq!(s.get("members"), 3, "{s}");
        assert_eq!(s.get("peers_declared_down"), 0, "{s}");
        // Undecodable: refused before anything could act on them.
        assert_eq!(
            (s.get("hosted"), s.get("frames_refused"), s.get("epoch")),
            (hosted, refused, epoch),
            "{s}"
        );
    }

    // A node with the wrong cookie never joins, and does not disturb the others.
    let ports = integration_tests::free_ports(1)?;
    let mut args = node_args(&cluster.ports, ports[0], &[]);
    args[1] = "wrong-cookie".to_string();
    let mut intruder = NodeCommand::new(node_binary(), "intruder", ports[0])
        .args(&args)
        .quiet(true)
        .start()
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(intruder.members().await?.len(), 1, "the intruder joined");
    for node in cluster.nodes.iter_mut() {
        assert_eq!(
            node.members().await?.len(),
            3,
            "{} sees the intruder",
            node.name()
        );
    }

    // An unknown kind is refused with a clear error by its owner.
    let reply = cluster.nodes[0].request("spawn-ghost g1").await?;
    assert!(
        reply.starts_with("error unknown actor kind \"ghost\""),
        "{reply}"
    );

    // An unknown name fails promptly from every node.
    for node in cluster.nodes.iter_mut() {
        let t = Instant::now();
        let reply = node.request("get no-such-name").await?;
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
        let reply = cluster.nodes[0].request(&format!("bad v{i}")).await?;
        assert!(reply.starts_with("error "), "{reply}");
        refused_remotely |= reply.contains("does not decode");
    }
    assert!(refused_remotely, "no remote decode failure was reported");

    // Console input errors are errors, not crashes.
    for bad in ["add v1 notanumber", "frobnicate", "get", "spawn"] {
        let reply = cluster.nodes[1].request(bad).await?;
        assert!(reply.starts_with("error "), "{bad}: {reply}");
    }

    // Everyone still serves every name, and the bad input was counted.
    for node in cluster.nodes.iter_mut() {
        for i in 0..30 {
            assert_eq!(node.get(&format!("v{i}")).await?, i);
        }
    }
    let mut unknown_kinds = 0;
    let mut bad_messages = 0;
    for node in cluster.nodes.iter_mut() {
        let status = node.stats().await?;
        unknown_kinds += status.get("unknown_kinds");
        bad_messages += status.get("bad_messages");
    }
    assert!(
        unknown_kinds >= 1 && bad_messages >= 1,
        "{unknown_kinds} {bad_messages}"
    );
    Ok(())
}
