//! An async client for console nodes running as child processes: start one, send it
//! commands, read typed replies, signal, restart or kill it. Every wait is bounded, and
//! dropping a [`NodeProc`] kills its process.

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::Error;

/// How long a node may take to print `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one command may take to be answered.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a node may take to exit once asked to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Free TCP ports on 127.0.0.1 for nodes to listen on, each handed out once per process.
///
/// They are chosen below the kernel's ephemeral range (32768-60999 on Linux), where the OS
/// picks the local ports of outgoing connections: a port taken from that range could be
/// used by some dial between the moment it is chosen and the moment a node binds it, and
/// the node would then fail to start.
///
/// # Errors
///
/// When no free port is found in that range after a bounded number of tries.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const LOW: u16 = 20_000;
    const HIGH: u16 = 32_000;
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut ports = Vec::with_capacity(n);
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        if tries > 1_000 * n.max(1) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("no free port in {LOW}..{HIGH}"),
            ));
        }
        let port = LOW + rand::random::<u16>() % (HIGH - LOW);
        if handed.contains(&port) {
            continue;
        }
        // Bound and released at once: free now, and kept free of outgoing connections.
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.insert(port);
            ports.push(port);
        }
    }
    Ok(ports)
}

/// How to start a console node process: the binary, its `--name` and `--port`, and any
/// other arguments.
#[derive(Debug, Clone)]
pub struct NodeCommand {
    binary: PathBuf,
    prefix: Vec<String>,
    name: String,
    port: u16,
    args: Vec<String>,
    env: Vec<(String, String)>,
    quiet: bool,
    identity_flags: bool,
}

impl NodeCommand {
    /// Runs `binary --name <name> --port <port>`, with its log on our stderr.
    pub fn new(binary: impl AsRef<Path>, name: &str, port: u16) -> Self {
        NodeCommand {
            binary: binary.as_ref().to_path_buf(),
            prefix: Vec::new(),
            name: name.to_string(),
            port,
            args: Vec::new(),
            env: Vec::new(),
            quiet: false,
            identity_flags: true,
        }
    }

    /// Runs `binary` with only the arguments given: the node's name and port come from
    /// its environment or configuration file (or the process is not a node itself, as
    /// `docker exec -i NODE ractor-dist-node --attach 127.0.0.1:7200`). `name` names it in
    /// errors; [`NodeProc::port`] is 0.
    pub fn configured(binary: impl AsRef<Path>, name: &str) -> Self {
        NodeCommand {
            identity_flags: false,
            ..Self::new(binary, name, 0)
        }
    }

    /// Adds arguments after `--name` and `--port` (`--seed`, `--cookie`, ...).
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// Places `prefix` before every other argument (for a binary that is a console node
    /// only in a mode, such as the demo's `--node`).
    pub fn prefix<S: AsRef<str>>(mut self, prefix: impl IntoIterator<Item = S>) -> Self {
        self.prefix
            .extend(prefix.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// Sets an environment variable of the process (`RACTOR_DIST_COOKIE`, ...).
    pub fn env(mut self, var: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((var.into(), value.into()));
        self
    }

    /// Sends the node's log to /dev/null instead of our stderr when `quiet`.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Starts the process and waits (at most 30 s) for its `ready` line.
    ///
    /// # Errors
    ///
    /// When the process cannot start, or does not print `ready` in time.
    ///
    /// # Cancel safety
    ///
    /// Cancelling drops the half-started process, which kills it.
    pub async fn start(self) -> Result<NodeProc, Error> {
        let mut child = Command::new(&self.binary)
            .args(&self.prefix)
            .args(if self.identity_flags {
                vec![
                    "--name".to_string(),
                    self.name.clone(),
                    "--port".to_string(),
                    self.port.to_string(),
                ]
            } else {
                vec![]
            })
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if self.quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Error::Io {
                node: self.name.clone(),
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("stdin and stdout are piped");
        };
        let mut node = NodeProc {
            node_name: String::new(),
            command: self,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let ready = node.recv_within(READY_TIMEOUT).await?;
        node.node_name = match ready.strip_prefix("ready ") {
            Some(name) => name.to_string(),
            None => return Err(node.unexpected("(start)", ready)),
        };
        Ok(node)
    }
}

/// A console node running as a child process (see [`NodeCommand`] to start one). Its
/// methods send one command each and wait (at most 15 s) for its reply; the typed ones
/// parse the reply.
#[derive(Debug)]
pub struct NodeProc {
    node_name: String,
    command: NodeCommand,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeProc {
    /// The node's short name (`--name`).
    pub fn name(&self) -> &str {
        &self.command.name
    }

    /// Its node name as printed after `ready` (`name@host`), as in `members` and `where`.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.command.port
    }

    /// The OS process id (`None` once it was reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Writes one command without waiting for its reply (to pipeline; read the replies, in
    /// order, with [`NodeProc::recv`]).
    ///
    /// # Errors
    ///
    /// When the node's stdin is closed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled write may leave part of the command in the pipe.
    pub async fn send(&mut self, command: &str) -> Result<(), Error> {
        let line = format!("{command}\n");
        let written = self.stdin.write_all(line.as_bytes()).await;
        written
            .and(self.stdin.flush().await)
            .map_err(|source| Error::Io {
                node: self.command.name.clone(),
                source,
            })
    }

    /// Reads the next reply line.
    ///
    /// # Errors
    ///
    /// When none comes within 15 s, or the node closed its output.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a line is either returned or left to the next call.
    pub async fn recv(&mut self) -> Result<String, Error> {
        self.recv_within(REPLY_TIMEOUT).await
    }

    async fn recv_within(&mut self, timeout: Duration) -> Result<String, Error> {
        let node = || self.command.name.clone();
        match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err(Error::Closed { node: node() }),
            Ok(Err(source)) => Err(Error::Io {
                node: node(),
                source,
            }),
            Err(_) => Err(Error::Timeout {
                node: node(),
                waited: timeout,
            }),
        }
    }

    /// Sends a command and returns its whole reply line (`ok ...` or `error ...`).
    ///
    /// # Errors
    ///
    /// As [`NodeProc::send`] and [`NodeProc::recv`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the reply of a cancelled request would be read by the next one.
    pub async fn request(&mut self, command: &str) -> Result<String, Error> {
        self.send(command).await?;
        self.recv().await
    }

    /// Sends a command that must succeed and returns what follows `ok`.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::request`], and [`Error::Reply`] when the node answers `error ...`.
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn ok(&mut self, command: &str) -> Result<String, Error> {
        let reply = self.request(command).await?;
        match reply.strip_prefix("ok") {
            Some(rest) => Ok(rest.trim().to_string()),
            None => Err(self.unexpected(command, reply)),
        }
    }

    /// Sends a command whose reply must parse as `T`.
    async fn parsed<T: std::str::FromStr>(&mut self, command: &str) -> Result<T, Error> {
        let reply = self.ok(command).await?;
        reply
            .parse()
            .map_err(|_| self.unexpected(command, format!("ok {reply}")))
    }

    fn unexpected(&self, command: &str, reply: String) -> Error {
        Error::Reply {
            node: self.command.name.clone(),
            command: command.to_string(),
            reply,
        }
    }

    /// `spawn-as <kind> <name> <start>`: spawns a counter of that console kind and returns
    /// the node that hosts it.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn spawn_as(&mut self, kind: &str, name: &str, start: i64) -> Result<String, Error> {
        self.ok(&format!("spawn-as {kind} {name} {start}")).await
    }

    /// `get <name>`: a counter's value.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn get(&mut self, name: &str) -> Result<i64, Error> {
        self.parsed(&format!("get {name}")).await
    }

    /// `add <name> <n>`: adds to a counter and returns its new value.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn add(&mut self, name: &str, n: i64) -> Result<i64, Error> {
        self.parsed(&format!("add {name} {n}")).await
    }

    /// `where <name>`: the node that hosts a name, and its epoch.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn where_is(&mut self, name: &str) -> Result<(String, u64), Error> {
        let command = format!("where {name}");
        let reply = self.ok(&command).await?;
        let mut words = reply.split_whitespace();
        match (words.next(), words.next().map(str::parse)) {
            (Some(host), Some(Ok(epoch))) => Ok((host.to_string(), epoch)),
            _ => Err(self.unexpected(&command, format!("ok {reply}"))),
        }
    }

    /// `local`: how many actors this node hosts.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn local(&mut self) -> Result<usize, Error> {
        self.parsed("local").await
    }

    /// `members`: the live members this node sees, sorted.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn members(&mut self) -> Result<Vec<String>, Error> {
        Ok(self
            .ok("members")
            .await?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// `rinc <name> <n>`: adds `n` (maybe negative) to the replicated counter `name`.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn rinc(&mut self, name: &str, n: i64) -> Result<(), Error> {
        self.ok(&format!("rinc {name} {n}")).await.map(drop)
    }

    /// `rget <name>`: this node's value of the replicated counter `name`.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn rget(&mut self, name: &str) -> Result<i64, Error> {
        self.parsed(&format!("rget {name}")).await
    }

    /// `radd <set> <elem>`: adds to the replicated set `set`.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn radd(&mut self, set: &str, elem: &str) -> Result<(), Error> {
        self.ok(&format!("radd {set} {elem}")).await.map(drop)
    }

    /// `rdel <set> <elem>`: removes from the replicated set `set`.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn rdel(&mut self, set: &str, elem: &str) -> Result<(), Error> {
        self.ok(&format!("rdel {set} {elem}")).await.map(drop)
    }

    /// `rmembers <set>`: this node's elements of the replicated set `set`, sorted.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn rmembers(&mut self, set: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .ok(&format!("rmembers {set}"))
            .await?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// `changes <name>`: how many change callbacks this node saw for the replicated value
    /// `name`.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn changes(&mut self, name: &str) -> Result<u64, Error> {
        self.parsed(&format!("changes {name}")).await
    }

    /// `stats`: this node's counters.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`].
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn stats(&mut self) -> Result<Stats, Error> {
        Ok(Stats(self.ok("stats").await?))
    }

    /// The sizes of the node's tables (`footprint`; see `ractor_dist::DistNode::footprint`).
    ///
    /// # Errors
    ///
    /// As [`NodeProc::ok`], or a reply that does not parse as a footprint.
    ///
    /// # Cancel safety
    ///
    /// As [`NodeProc::request`].
    pub async fn footprint(&mut self) -> Result<ractor_dist::Footprint, Error> {
        self.parsed("footprint").await
    }

    /// Sends a signal (`"KILL"`, `"STOP"`, `"CONT"`, `"TERM"`) with the `kill` command.
    ///
    /// # Errors
    ///
    /// When the process is gone or `kill` fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (the signal may or may not have been sent).
    pub async fn signal(&self, signal: &str) -> Result<(), Error> {
        let pid = self.pid().ok_or_else(|| Error::Closed {
            node: self.command.name.clone(),
        })?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|source| Error::Io {
                node: self.command.name.clone(),
                source,
            })?;
        if !status.success() {
            return Err(self.unexpected(&format!("kill -{signal} {pid}"), status.to_string()));
        }
        Ok(())
    }

    /// Kills the process (SIGKILL) and reaps it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the kill is sent before the first await.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits (at most 10 s) for the process to exit by itself and returns its exit code;
    /// kills it when it does not.
    ///
    /// # Errors
    ///
    /// [`Error::StillRunning`] when it did not exit.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait_exit(&mut self) -> Result<Option<i32>, Error> {
        match tokio::time::timeout(EXIT_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => Ok(status.code()),
            Ok(Err(source)) => Err(Error::Io {
                node: self.command.name.clone(),
                source,
            }),
            Err(_) => {
                self.kill().await;
                Err(Error::StillRunning {
                    node: self.command.name.clone(),
                    waited: EXIT_TIMEOUT,
                })
            }
        }
    }

    /// Asks the node to `quit` and waits (bounded) for it to exit; returns its exit code.
    ///
    /// # Errors
    ///
    /// As [`NodeProc::wait_exit`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe (see [`NodeProc::request`]).
    pub async fn quit(&mut self) -> Result<Option<i32>, Error> {
        let _ = self.request("quit").await;
        self.wait_exit().await
    }

    /// Kills the process and starts a new one with the same command (same name, port and
    /// arguments).
    ///
    /// # Errors
    ///
    /// As [`NodeCommand::start`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: cancelling after the kill leaves this handle on a dead process.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill().await;
        *self = self.command.clone().start().await?;
        Ok(())
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // A stopped process must be continued to die promptly on some systems.
            let _ = std::process::Command::new("kill")
                .arg("-CONT")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
        // `kill_on_drop` then kills it, and tokio reaps it.
    }
}

/// The reply of `stats`: `key=value` counters of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats(String);

impl Stats {
    /// The counter `field` (0 when absent or not a number).
    pub fn get(&self, field: &str) -> u64 {
        self.value(field).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Whether the node has settled on its view (`settled=true`).
    pub fn settled(&self) -> bool {
        self.value("settled") == Some("true")
    }

    /// The raw value of `field`.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.0.split_whitespace().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == field)
                .map(|(_, v)| v)
        })
    }

    /// A node that is settled, with no handoff in progress and nothing buffered, seeing
    /// `members` members.
    pub fn idle_with(&self, members: u64) -> bool {
        self.get("members") == members
            && self.settled()
            && self.get("moving") == 0
            && self.get("buffered") == 0
    }

    /// Every name hosted on the node has its full replica set confirmed
    /// (`under_replicated=0`): losing the node now loses none of them.
    pub fn replicated(&self) -> bool {
        self.value("under_replicated") == Some("0")
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
