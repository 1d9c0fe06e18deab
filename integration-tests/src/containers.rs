//! Clusters of console nodes in Docker containers, run from the recipes of `deploy/` as
//! they are: the image from `deploy/build-image.sh` (the test's own binary on an empty
//! base) and the replicas from `deploy/docker-compose.yml`. The test talks to each node
//! through `docker exec -i <container> ractor-dist-node --attach 127.0.0.1:7200`.
//!
//! Every command is bounded in time; a [`Deployment`] removes its containers, network and
//! image when dropped, on failure too. Names are unique per run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ractor_dist_testkit::{NodeCommand, NodeProc};

/// Longest any one docker command may take (building the image included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// Why the container suite cannot run here (no docker CLI, no daemon, no compose), or
/// `None` when it can.
pub fn unavailable() -> Option<String> {
    let works = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works("docker", &["version", "--format", "{{.Server.Version}}"]) {
        return Some("no Docker engine (`docker version` fails)".into());
    }
    if compose_command().is_none() {
        return Some("neither `docker-compose` nor `docker compose` works".into());
    }
    None
}

/// The compose command: `docker-compose`, else `docker compose`.
fn compose_command() -> Option<Vec<String>> {
    [vec!["docker-compose"], vec!["docker", "compose"]]
        .into_iter()
        .find(|cmd| {
            std::process::Command::new(cmd[0])
                .args(&cmd[1..])
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|cmd| cmd.into_iter().map(String::from).collect())
}

/// Runs a command with `envs`, bounded by 180 s; its stdout.
///
/// # Errors
///
/// When it cannot start, fails (with its stderr), or runs too long (it is killed).
pub async fn run(program: &str, args: &[&str], envs: &[(String, String)]) -> Result<String> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("{program} {args:?} ran over {COMMAND_TIMEOUT:?}"))??;
    ensure!(
        output.status.success(),
        "{program} {args:?}: {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A compose deployment of `deploy/docker-compose.yml` under a project name of its own,
/// with its image. Dropping it removes the project's containers and network, and the image.
pub struct Deployment {
    /// The compose project (unique per run).
    pub project: String,
    /// The image tag (unique per run).
    pub image: String,
    compose: Vec<String>,
    file: PathBuf,
    env: Vec<(String, String)>,
}

/// The workspace's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

impl Deployment {
    /// Builds the image of `binary` with `deploy/build-image.sh` (on the empty base) and
    /// prepares the compose project; starts nothing. Returns it with the build's duration.
    ///
    /// # Errors
    ///
    /// When the build fails.
    pub async fn build(binary: &Path) -> Result<(Deployment, Duration)> {
        let run_id = format!("{}{:04x}", std::process::id(), rand_u16());
        let project = format!("ractordistit{run_id}");
        let image = format!("ractor-dist-node:it-{run_id}");
        let cookie = format!("it-{run_id}-{:04x}{:04x}", rand_u16(), rand_u16());
        let deployment = Deployment {
            compose: compose_command().context("no compose command")?,
            file: deploy_dir().join("docker-compose.yml"),
            env: vec![
                ("RACTOR_DIST_IMAGE".into(), image.clone()),
                ("RACTOR_DIST_COOKIE".into(), cookie),
                (
                    "RUST_LOG".into(),
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,ractor_dist=info".into()),
                ),
            ],
            project,
            image,
        };
        let started = Instant::now();
        let script = deploy_dir().join("build-image.sh");
        run(
            "bash",
            &[
                script.to_str().context("path")?,
                binary.to_str().context("path")?,
                &deployment.image,
            ],
            &[],
        )
        .await
        .context("deploy/build-image.sh")?;
        Ok((deployment, started.elapsed()))
    }

    /// Runs `docker-compose -p <project> -f deploy/docker-compose.yml <args>`.
    ///
    /// # Errors
    ///
    /// As [`run`].
    pub async fn compose(&self, args: &[&str]) -> Result<String> {
        let file = self.file.to_str().context("path")?;
        let mut all: Vec<&str> = self.compose[1..].iter().map(String::as_str).collect();
        all.extend(["-p", &self.project, "-f", file]);
        all.extend(args);
        run(&self.compose[0], &all, &self.env).await
    }

    /// `up -d` with `n` replicas of the service (new ones only: running ones are kept).
    ///
    /// # Errors
    ///
    /// As [`run`].
    pub async fn scale(&self, n: usize) -> Result<()> {
        self.compose(&["up", "-d", "--no-recreate", "--scale", &format!("node={n}")])
            .await
            .map(drop)
    }

    /// The ids of the service's containers, running or not, sorted by creation (oldest
    /// first).
    ///
    /// # Errors
    ///
    /// As [`run`].
    pub async fn containers(&self) -> Result<Vec<String>> {
        let ids = self.compose(&["ps", "-q"]).await?;
        let mut with_time = Vec::new();
        for id in ids.split_whitespace() {
            let created = run("docker", &["inspect", "-f", "{{.Created}}", id], &[]).await?;
            with_time.push((
                created.trim().to_string(),
                id[..12.min(id.len())].to_string(),
            ));
        }
        with_time.sort();
        Ok(with_time.into_iter().map(|(_, id)| id).collect())
    }

    /// The network the service's containers are on.
    pub fn network(&self) -> String {
        format!("{}_default", self.project)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // Synchronous and bounded by docker itself: containers (stopped at once), the
        // network, then the image.
        let file = self.file.to_string_lossy().into_owned();
        let _ = std::process::Command::new(&self.compose[0])
            .args(&self.compose[1..])
            .args(["-p", &self.project, "-f", &file])
            .args(["down", "--volumes", "--remove-orphans", "--timeout", "1"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A console session on the node of `container`: `docker exec -i` of the node binary in
/// `--attach` mode, driven by the test kit's client (its `ready` line is the console's
/// greeting). Retried for up to `timeout` while the node is not listening yet.
///
/// # Errors
///
/// When no session opened in time.
pub async fn attach(container: &str, timeout: Duration) -> Result<NodeProc> {
    let deadline = Instant::now() + timeout;
    loop {
        let session = NodeCommand::configured("docker", container)
            .prefix([
                "exec",
                "-i",
                container,
                "/usr/local/bin/ractor-dist-node",
                "--attach",
                "127.0.0.1:7200",
            ])
            .quiet(true)
            .start()
            .await;
        match session {
            Ok(node) => return Ok(node),
            Err(e) if Instant::now() >= deadline => bail!("no console on {container}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The answer of the node's HTTP probe `path` (`/ready`, `/live`), asked from inside its
/// container through `--attach` to port 8080: the status line.
///
/// # Errors
///
/// When the exec fails.
pub async fn probe(container: &str, path: &str) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("docker")
        .args(["exec", "-i", container, "/usr/local/bin/ractor-dist-node"])
        .args(["--attach", "127.0.0.1:8080"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await?;
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .context("probe timed out")??;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

fn rand_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u16
}
