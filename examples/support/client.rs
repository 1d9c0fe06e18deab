//! A client for console nodes (`examples/node.rs`) running as child processes: start one,
//! send it commands, read its replies, signal or kill it. Used by the demo and by the
//! integration tests. Every wait is bounded; dropping a [`NodeProc`] kills its process.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long a node may take to print `ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one command may take to be answered.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// A console node running as a child process.
pub struct NodeProc {
    /// The node's short name (`--name`).
    pub name: String,
    /// Its authenticated name, as printed after `ready`.
    pub node_name: String,
    /// Its port.
    pub port: u16,
    args: Vec<String>,
    prefix: Vec<String>,
    binary: std::path::PathBuf,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// Free TCP ports on 127.0.0.1, as chosen by the OS.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

impl NodeProc {
    /// Starts `binary` with `args` (which must include `--name` and `--port`), and waits for
    /// its `ready` line. `quiet` sends its log to /dev/null instead of our stderr.
    pub fn start(
        binary: &Path,
        name: &str,
        port: u16,
        args: &[String],
        quiet: bool,
    ) -> Result<Self> {
        Self::start_with_prefix(binary, &[], name, port, args, quiet)
    }

    /// As [`NodeProc::start`], with `prefix` placed before all other arguments.
    pub fn start_with_prefix(
        binary: &Path,
        prefix: &[&str],
        name: &str,
        port: u16,
        args: &[String],
        quiet: bool,
    ) -> Result<Self> {
        let mut full: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        full.extend([
            "--name".to_string(),
            name.to_string(),
            "--port".to_string(),
            port.to_string(),
        ]);
        full.extend_from_slice(args);
        let mut child = Command::new(binary)
            .args(&full)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = NodeProc {
            name: name.to_string(),
            node_name: String::new(),
            port,
            args: args.to_vec(),
            prefix: prefix.iter().map(|s| s.to_string()).collect(),
            binary: binary.to_path_buf(),
            child,
            stdin,
            lines,
        };
        let ready = node.recv_within(READY_TIMEOUT)?;
        node.node_name = ready
            .strip_prefix("ready ")
            .ok_or_else(|| anyhow!("node {name} said {ready:?} instead of ready"))?
            .to_string();
        Ok(node)
    }

    /// Starts a new process with the same name, port and arguments (the old one must be
    /// gone).
    pub fn restart(&mut self, quiet: bool) -> Result<()> {
        self.kill();
        let prefix: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        let fresh = NodeProc::start_with_prefix(
            &self.binary,
            &prefix,
            &self.name,
            self.port,
            &self.args,
            quiet,
        )?;
        *self = fresh;
        Ok(())
    }

    /// Writes one command without waiting for its reply (pipelining).
    pub fn send(&mut self, command: &str) -> Result<()> {
        writeln!(self.stdin, "{command}").with_context(|| format!("writing to {}", self.name))?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Reads the next reply line.
    pub fn recv(&mut self) -> Result<String> {
        self.recv_within(REPLY_TIMEOUT)
    }

    fn recv_within(&mut self, timeout: Duration) -> Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("node {} did not answer within {timeout:?}", self.name)
            }
            Err(RecvTimeoutError::Disconnected) => bail!("node {} closed its output", self.name),
        }
    }

    /// Sends a command and returns its whole reply line.
    pub fn request(&mut self, command: &str) -> Result<String> {
        self.send(command)?;
        self.recv()
    }

    /// Sends a command that must succeed and returns what follows `ok`.
    pub fn ok(&mut self, command: &str) -> Result<String> {
        let reply = self.request(command)?;
        match reply.strip_prefix("ok") {
            Some(rest) => Ok(rest.trim().to_string()),
            None => bail!("{}: {command:?} answered {reply:?}", self.name),
        }
    }

    /// The live members this node sees.
    pub fn members(&mut self) -> Result<Vec<String>> {
        Ok(self
            .ok("members")?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"KILL"`, `"STOP"`, `"CONT"`, `"TERM"`) with the `kill` command.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{signal} {} failed", self.pid());
        }
        Ok(())
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self) -> Result<Option<i32>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        bail!("node {} did not exit", self.name)
    }

    /// Asks the node to quit and waits (bounded) for it to exit; returns its exit code.
    pub fn quit(&mut self) -> Result<Option<i32>> {
        let _ = self.request("quit");
        self.wait_exit()
    }
}

/// The value of `name=` in a `status` reply (0 when absent).
pub fn status_field(status: &str, name: &str) -> u64 {
    status
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // A stopped process must be continued to die promptly on some systems.
            let _ = self.signal("CONT");
        }
        self.kill();
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it
/// held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
