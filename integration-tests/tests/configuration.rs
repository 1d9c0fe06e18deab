//! Configuration from outside the program (issue 10): console nodes given no flag at all
//! form a cluster, configured only by `RACTOR_DIST_*` variables or only by a TOML file; a
//! bad file stops a node with an error naming the file and key; `--help` lists every
//! setting's variable.

use std::time::Duration;

use anyhow::{ensure, Result};
use integration_tests::{free_ports, node_binary, quiet, wait_until, NodeCommand, NodeProc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_configured_only_by_the_environment_or_only_by_a_file_form_a_cluster() -> Result<()> {
    let ports = free_ports(3)?;
    let seeds: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let dir = std::env::temp_dir().join(format!("ractor-dist-config-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Two nodes by variables alone (the second through RACTOR_DIST_CONFIG's file for the
    // shared timers, its name and port by variables).
    let by_env = |i: usize| {
        NodeCommand::configured(node_binary(), &format!("e{i}"))
            .env("RACTOR_DIST_NAME", format!("e{i}"))
            .env("RACTOR_DIST_PORT", ports[i].to_string())
            .env("RACTOR_DIST_COOKIE", "configured")
            .env("RACTOR_DIST_SEEDS", seeds.join(","))
            .env("RACTOR_DIST_HEARTBEAT_MS", "100")
            .env("RACTOR_DIST_DEADLINE_MS", "1500")
            .quiet(quiet())
    };
    // One node by a file alone.
    let file = dir.join("f.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"f\"\nport = {}\ncookie = \"configured\"\nseeds = {:?}\nheartbeat_ms = 100\ndeadline_ms = 1500\n",
            ports[2], seeds
        ),
    )?;
    let by_file = NodeCommand::configured(node_binary(), "f")
        .args(["--config", file.to_str().unwrap_or_default()])
        .quiet(quiet());
    let mut nodes: Vec<NodeProc> = vec![
        by_env(0).start().await?,
        by_env(1).start().await?,
        by_file.start().await?,
    ];
    ensure!(
        nodes[2].node_name() == "f@127.0.0.1",
        "{}",
        nodes[2].node_name()
    );
    let formed = wait_until(Duration::from_secs(20), async || {
        for node in nodes.iter_mut() {
            if node.members().await.map(|m| m.len() != 3).unwrap_or(true) {
                return false;
            }
        }
        true
    })
    .await;
    ensure!(
        formed,
        "nodes configured by variables and by a file did not form a cluster"
    );
    nodes[2].spawn_as("counter", "configured", 40).await?;
    for node in nodes.iter_mut() {
        ensure!(node.add("configured", 1).await? > 40);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs the console node with `args`: it must exit with status 1, its error naming every
/// one of `words`, without a panic.
fn exits_naming(args: &[&str], words: &[&str]) -> Result<()> {
    let output = std::process::Command::new(node_binary())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.code() == Some(1),
        "{:?}: {stderr}",
        output.status
    );
    ensure!(
        words.iter().all(|w| stderr.contains(w)) && !stderr.contains("panicked"),
        "unclear error: {stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_file_stops_the_node_naming_the_key() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("ractor-dist-config-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "name = \"b\"\nport = 7999\nheartbeat_ms = \"soon\"\n",
    )?;
    exits_naming(
        &["--config", file.to_str().unwrap_or_default()],
        &["bad.toml", "heartbeat_ms"],
    )?;
    // A duration past the bound (here `u64::MAX` ms, which used to pass and panic on the
    // first respawn) stops the node with the field named, not a panic.
    let max = u64::MAX.to_string();
    exits_naming(
        &["--name", "b", "--port", "7999", "--deadline-ms", &max],
        &["heartbeat_deadline must be within"],
    )?;
    // `--help` prints every setting with its variable, and exits 0.
    let help = std::process::Command::new(node_binary())
        .arg("--help")
        .output()?;
    let text = String::from_utf8_lossy(&help.stdout);
    ensure!(help.status.success(), "--help: {:?}", help.status);
    for s in ractor_dist::core::config::SETTINGS {
        ensure!(
            text.contains(s.flag) && text.contains(s.env),
            "--help lacks {}",
            s.flag
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The settings the deploy recipes pass (the Kubernetes ConfigMap's `node.toml`, the compose
/// file's `RACTOR_DIST_*` variables) are valid for the library, without Docker or
/// Kubernetes: a renamed setting breaks this test, not a deployment.
#[test]
fn the_deploy_recipes_settings_are_valid() -> Result<()> {
    let deploy = integration_tests::containers::deploy_dir();
    let k8s = std::fs::read_to_string(deploy.join("k8s/ractor-dist.yaml"))?;
    // The block scalar under `node.toml: |`, up to the next line indented less.
    let mut lines = k8s
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("node.toml: |"));
    let head = lines.next().unwrap_or_default();
    let indent = head.len() - head.trim_start().len();
    let toml: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect();
    ensure!(!toml.is_empty(), "no node.toml in the ConfigMap");
    let mut config = ractor_dist::DistConfig::default();
    let set = config.apply_toml(&toml.join("\n"), "k8s node.toml")?;
    ensure!(set.contains(&"discovery"), "{set:?}");
    // Kubernetes gives the name, host and cookie as variables.
    config.apply_env([
        ("RACTOR_DIST_NAME".to_string(), "ractor-dist-0".to_string()),
        ("RACTOR_DIST_HOST".to_string(), "10.1.0.7".to_string()),
        ("RACTOR_DIST_COOKIE".to_string(), "s3cret".to_string()),
    ])?;
    config.validate()?;
    config.check_cookie()?;

    let compose = std::fs::read_to_string(deploy.join("docker-compose.yml"))?;
    let vars: Vec<(String, String)> = compose
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(k, _)| k.starts_with("RACTOR_DIST_") && *k != "RACTOR_DIST_HOST")
        .map(|(k, v)| {
            // Compose's own interpolation (`${RACTOR_DIST_COOKIE:?...}`) stands for a value.
            let v = v.trim_matches('"');
            let v = if v.starts_with("${") { "s3cret" } else { v };
            (k.to_string(), v.to_string())
        })
        .collect();
    ensure!(vars.len() >= 5, "{vars:?}");
    let mut config = ractor_dist::DistConfig::default();
    ensure!(config.apply_env(vars.clone())?.is_empty(), "{vars:?}");
    config.host = "c37d104771f8".into();
    config.validate()?;
    config.check_cookie()?;
    ensure!(config.listen == Some([0, 0, 0, 0].into()));
    Ok(())
}
