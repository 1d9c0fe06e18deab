//! Three real node processes: names spawned from different nodes are placed on their
//! rendezvous owner over the live members, and every node reaches every name.

use anyhow::Result;
use integration_tests::Cluster;
use ractor_dist::core::{ActorKey, Epoch, NodeName, Placement};

#[test]
fn every_node_reaches_every_name_and_placement_is_rendezvous() -> Result<()> {
    let mut cluster = Cluster::start(3)?;
    let members = cluster.nodes[0].members()?;
    assert_eq!(members.len(), 3);
    let placement = Placement::new(Epoch(0), members.iter().map(|m| NodeName::new(m.as_str())));
    let names: Vec<String> = (0..300).map(|i| format!("acct-{i}")).collect();

    // Spawn from different nodes (pipelined), each with its own start value.
    for (i, name) in names.iter().enumerate() {
        cluster.nodes[i % 3].send(&format!("spawn {name} {i}"))?;
    }
    for (i, name) in names.iter().enumerate() {
        let reply = cluster.nodes[i % 3].recv()?;
        let expected = placement.owner_of(&ActorKey::new(name.as_str())).unwrap();
        assert_eq!(reply, format!("ok {expected}"), "spawn {name}");
    }

    // Spawning again is idempotent: same host, state untouched.
    assert_eq!(
        cluster.nodes[1].ok("spawn acct-7 1000")?,
        placement.owner_of(&"acct-7".into()).unwrap().to_string()
    );

    // Every node reaches every name, reads and writes.
    for node in cluster.nodes.iter_mut() {
        for name in &names {
            node.send(&format!("add {name} 1"))?;
        }
        for name in &names {
            let reply = node.recv()?;
            assert!(
                reply.starts_with("ok "),
                "{}: add {name}: {reply}",
                node.name
            );
        }
    }
    for (i, name) in names.iter().enumerate() {
        let node = &mut cluster.nodes[(i + 2) % 3];
        assert_eq!(node.ok(&format!("get {name}"))?, (i + 3).to_string());
        let whereis = node.ok(&format!("where {name}"))?;
        let host = whereis.split_whitespace().next().unwrap_or_default();
        assert_eq!(
            host,
            placement
                .owner_of(&ActorKey::new(name.as_str()))
                .unwrap()
                .as_str()
        );
    }

    // Each node hosts exactly the names it owns.
    let mut total = 0;
    for node in cluster.nodes.iter_mut() {
        let local: usize = node.ok("local")?.parse()?;
        let owned = names
            .iter()
            .filter(|n| {
                placement
                    .owner_of(&ActorKey::new(n.as_str()))
                    .unwrap()
                    .as_str()
                    == node.node_name
            })
            .count();
        assert_eq!(local, owned, "{}", node.name);
        total += local;
    }
    assert_eq!(total, names.len());
    Ok(())
}

#[test]
fn stopped_actor_is_gone_cluster_wide_and_crashed_one_restarts() -> Result<()> {
    let mut cluster = Cluster::start(3)?;
    for i in 0..20 {
        cluster.nodes[0].ok(&format!("spawn s{i} 5"))?;
    }
    for i in 0..20 {
        cluster.nodes[1].ok(&format!("add s{i} 1"))?;
    }
    // A panic restarts the counter on its node, from its original arguments.
    cluster.nodes[2].ok("crash s3")?;
    let restarted = integration_tests::wait_until(std::time::Duration::from_secs(10), || {
        cluster.nodes[2]
            .ok("get s3")
            .map(|v| v == "5")
            .unwrap_or(false)
    });
    assert!(restarted, "s3 was not restarted from its start value");

    // A stop removes the name everywhere: no node reaches it any more, promptly.
    cluster.nodes[1].ok("stop s4")?;
    for node in cluster.nodes.iter_mut() {
        let t = std::time::Instant::now();
        let reply = node.request("get s4")?;
        assert!(
            reply.starts_with("error no actor named s4"),
            "{}: {reply}",
            node.name
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(3));
    }
    // ... and the name can be spawned afresh.
    cluster.nodes[2].ok("spawn s4 100")?;
    assert_eq!(cluster.nodes[0].ok("get s4")?, "100");
    Ok(())
}

#[test]
fn status_reports_each_nodes_load_and_share() -> Result<()> {
    let mut cluster = Cluster::start(3)?;
    for i in 0..90 {
        cluster.nodes[i % 3].ok(&format!("spawn load{i} 0"))?;
    }
    let status = cluster.nodes[1].ok("status")?;
    let mut words = status.split_whitespace();
    assert_eq!(words.next(), Some("total=90"), "{status}");
    let mut sum = 0;
    let mut shares = 0.0;
    let mut nodes = Vec::new();
    for part in words {
        let (node, rest) = part.split_once('=').unwrap();
        let (hosted, share) = rest.split_once(':').unwrap();
        let hosted: usize = hosted.parse()?;
        sum += hosted;
        shares += share.trim_end_matches('%').parse::<f64>()?;
        nodes.push(node.to_string());
        let local: usize = cluster
            .nodes
            .iter_mut()
            .find(|n| n.node_name == node)
            .unwrap()
            .ok("local")?
            .parse()?;
        assert_eq!(hosted, local, "{node}");
    }
    assert_eq!(sum, 90);
    assert!((shares - 100.0).abs() < 0.5, "{status}");
    assert_eq!(nodes, cluster.nodes[0].members()?);
    Ok(())
}
