//! The console node's command line (clap), layered over its environment and configuration
//! file: flags > `RACTOR_DIST_*` variables > the TOML file > the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};
use ractor_dist::core::config::{Setting, CONFIG_FILE_VAR, SETTINGS};
use ractor_dist::DistConfig;

use super::Failure;

/// A ractor-dist console node: a node hosting the test kit's kinds, driven by one command
/// per line on stdin (or on `--console`), answering `ok ...` or `error ...`.
///
/// Settings come from these flags, over the `RACTOR_DIST_*` environment variables, over
/// the configuration file (`--config`, or `RACTOR_DIST_CONFIG`), over the defaults. The
/// file's keys are the flags' names with `_` for `-` (`heartbeat_ms = 200`; `seeds` for
/// `--seed`); each variable is `RACTOR_DIST_` and the key in capitals.
#[derive(Parser, Debug, Default)]
#[command(
    name = "ractor-dist-node",
    after_help = "Commands (one per line): spawn NAME [START], add NAME N, get NAME, where NAME, \
stop NAME, members, local, status, stats, leave, quit, ... (the protocol: \
ractor_dist_testkit::console_main). SIGTERM or Ctrl-C: the node leaves (hands its actors \
off) and exits 0."
)]
pub(super) struct Cli {
    /// A TOML configuration file (keys as the flags, with `_`; env: RACTOR_DIST_CONFIG).
    #[arg(long, value_name = "PATH")]
    pub(super) config: Option<PathBuf>,
    /// The node's name; required here, in RACTOR_DIST_NAME or in the file.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The address to listen on and advertise (IPv6 literals too; `$HOSTNAME`: this
    /// machine's host name, as in a container).
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// The TCP port; required here, in RACTOR_DIST_PORT or in the file.
    #[arg(long, value_name = "PORT")]
    port: Option<String>,
    /// The IP address to listen on when not host's (0.0.0.0: every interface).
    #[arg(long, value_name = "IP")]
    listen: Option<String>,
    /// The cluster's shared secret.
    #[arg(long, value_name = "COOKIE")]
    cookie: Option<String>,
    /// Start with the default cookie although listening beyond loopback.
    #[arg(long)]
    allow_default_cookie: bool,
    /// This node's certificate (mutual TLS; with --tls-key and --tls-ca).
    #[arg(long, value_name = "PATH")]
    tls_cert: Option<String>,
    /// This node's private key.
    #[arg(long, value_name = "PATH")]
    tls_key: Option<String>,
    /// The cluster's CA certificate.
    #[arg(long, value_name = "PATH")]
    tls_ca: Option<String>,
    /// Most time a connection may take to authenticate.
    #[arg(long, value_name = "MS")]
    handshake_timeout_ms: Option<String>,
    /// Most incoming connections still opening at once.
    #[arg(long, value_name = "N")]
    max_pending: Option<String>,
    /// A peer to dial (repeatable).
    #[arg(long = "seed", value_name = "HOST:PORT")]
    seeds: Vec<String>,
    /// A discovery source (repeatable).
    #[arg(long, value_name = "SPEC")]
    discovery: Vec<String>,
    /// How often discovery runs again.
    #[arg(long, value_name = "MS")]
    refresh_ms: Option<String>,
    /// The DNS server resolving seeds and discovery names.
    #[arg(long, value_name = "IP:PORT")]
    nameserver: Option<String>,
    /// How often a heartbeat goes to every peer.
    #[arg(long, value_name = "MS")]
    heartbeat_ms: Option<String>,
    /// A silent peer is declared down after this long.
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<String>,
    /// First redial delay (doubles per failure).
    #[arg(long, value_name = "MS")]
    reconnect_min_ms: Option<String>,
    /// Longest redial delay.
    #[arg(long, value_name = "MS")]
    reconnect_max_ms: Option<String>,
    /// This node's placement capacity relative to others.
    #[arg(long, value_name = "W")]
    weight: Option<String>,
    /// Restarts of a panicking actor within the restart window before it is removed.
    #[arg(long, value_name = "N")]
    restart_limit: Option<String>,
    /// The window of the restart limit.
    #[arg(long, value_name = "MS")]
    restart_window_ms: Option<String>,
    /// Most active actors of on-demand kinds on this node.
    #[arg(long, value_name = "N")]
    max_active: Option<String>,
    /// Timeout of control requests between nodes.
    #[arg(long, value_name = "MS")]
    request_ms: Option<String>,
    /// Deadline of each handoff step.
    #[arg(long, value_name = "MS")]
    handoff_ms: Option<String>,
    /// Largest envelope sent or accepted.
    #[arg(long, value_name = "BYTES")]
    max_frame_bytes: Option<String>,
    /// Nodes keeping each name's spec (1: no respawn).
    #[arg(long, value_name = "N")]
    replicas: Option<String>,
    /// Reach an advertised address through another one (repeatable).
    #[arg(long, value_name = "ADDR=VIA")]
    dial_via: Vec<String>,
    /// Most messages held for one name while it moves.
    #[arg(long, value_name = "N")]
    hold_per_name: Option<String>,
    /// Most messages held on the node.
    #[arg(long, value_name = "N")]
    hold_per_node: Option<String>,
    /// Anti-entropy interval of replicated values.
    #[arg(long, value_name = "MS")]
    gossip_ms: Option<String>,
    /// How replicated values push updates.
    #[arg(long, value_name = "deltas|full")]
    replica_push: Option<String>,
    /// Where replicated values are kept.
    #[arg(long, value_name = "PATH")]
    data_dir: Option<String>,
    /// Register the `ghost` kind (tests of unknown kinds).
    #[arg(long)]
    pub(super) ghost: bool,
    /// Read no commands from stdin: run until SIGTERM or Ctrl-C (or `quit`/`leave` on a
    /// `--console` connection), as in a container.
    #[arg(long)]
    pub(super) no_stdin: bool,
    /// Also serve the console protocol over TCP on ADDR (each connection is greeted with
    /// `ready <node>`). Keep it on loopback: it can stop the node.
    #[arg(long, value_name = "ADDR")]
    pub(super) console: Option<SocketAddr>,
    /// Serve HTTP probes on ADDR: `GET /ready` answers 200 when the node is ready
    /// (running, settled, not leaving), else 503; `GET /live` answers 200.
    #[arg(long, value_name = "ADDR")]
    pub(super) health: Option<SocketAddr>,
    /// Start no node: connect to the `--console` of one at ADDR, send it stdin's lines
    /// and print its replies (for `docker exec -i NODE ractor-dist-node --attach
    /// 127.0.0.1:7200`).
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["name", "port", "config"])]
    pub(super) attach: Option<SocketAddr>,
}

impl Cli {
    /// The settings given as flags: (key, values), a list setting with all its values.
    fn settings(&self) -> Vec<(&'static str, Vec<String>)> {
        let one = |key, v: &Option<String>| v.clone().map(|v| (key, vec![v]));
        let many = |key, v: &Vec<String>| (!v.is_empty()).then(|| (key, v.clone()));
        [
            one("name", &self.name),
            one("host", &self.host),
            one("port", &self.port),
            one("listen", &self.listen),
            one("cookie", &self.cookie),
            self.allow_default_cookie
                .then(|| ("allow_default_cookie", vec!["true".into()])),
            one("tls_cert", &self.tls_cert),
            one("tls_key", &self.tls_key),
            one("tls_ca", &self.tls_ca),
            one("handshake_timeout_ms", &self.handshake_timeout_ms),
            one("max_pending", &self.max_pending),
            many("seeds", &self.seeds),
            many("discovery", &self.discovery),
            one("refresh_ms", &self.refresh_ms),
            one("nameserver", &self.nameserver),
            one("heartbeat_ms", &self.heartbeat_ms),
            one("deadline_ms", &self.deadline_ms),
            one("reconnect_min_ms", &self.reconnect_min_ms),
            one("reconnect_max_ms", &self.reconnect_max_ms),
            one("weight", &self.weight),
            one("restart_limit", &self.restart_limit),
            one("restart_window_ms", &self.restart_window_ms),
            one("max_active", &self.max_active),
            one("request_ms", &self.request_ms),
            one("handoff_ms", &self.handoff_ms),
            one("max_frame_bytes", &self.max_frame_bytes),
            one("replicas", &self.replicas),
            many("dial_via", &self.dial_via),
            one("hold_per_name", &self.hold_per_name),
            one("hold_per_node", &self.hold_per_node),
            one("gossip_ms", &self.gossip_ms),
            one("replica_push", &self.replica_push),
            one("data_dir", &self.data_dir),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The clap command, each setting's help completed from [`SETTINGS`] (unit, default,
/// variable), so that `--help` cannot drift from the library's table.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for s in SETTINGS {
        let Setting {
            key,
            env,
            unit,
            default,
            ..
        } = *s;
        cmd = cmd.mut_arg(key, |arg| {
            let what = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            arg.help(format!("{what} [{unit}; default: {default}; env: {env}]"))
        });
    }
    cmd
}

/// What the command line asks for.
pub(super) enum Invocation {
    /// Run a node with this configuration.
    Node(Box<(DistConfig, Cli)>),
    /// Attach to a running node's console.
    Attach(SocketAddr),
}

/// Parses the command line over the environment `vars` and the configuration file.
/// `--help` prints and exits 0.
pub(super) fn parse(
    args: impl IntoIterator<Item = String>,
    vars: &[(String, String)],
) -> Result<Invocation, Failure> {
    let matches =
        command().try_get_matches_from(std::iter::once("ractor-dist-node".to_string()).chain(args));
    let cli = match matches.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help
            let _ = e.print();
            std::process::exit(0)
        }
        Err(e) => {
            let text = e.to_string();
            let text = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
            return Err(Failure(text.to_string()));
        }
    };
    if let Some(addr) = cli.attach {
        return Ok(Invocation::Attach(addr));
    }
    let file = cli.config.clone().or_else(|| {
        vars.iter()
            .find(|(k, _)| k == CONFIG_FILE_VAR)
            .map(|(_, v)| PathBuf::from(v.trim()))
    });
    let mut config = DistConfig::default();
    let mut from_file = Vec::new();
    if let Some(file) = &file {
        from_file = config.apply_file(file)?;
    }
    for var in config.apply_env(vars.iter().cloned())? {
        // The test kit's own switch is not a node setting.
        if var != "RACTOR_DIST_TEST_LOGS" {
            eprintln!("warning: ignoring unknown environment variable {var}");
        }
    }
    let flags = cli.settings();
    for (key, values) in &flags {
        let flag = SETTINGS
            .iter()
            .find(|s| s.key == *key)
            .map_or(*key, |s| s.flag);
        let result = if values.len() == 1 && !matches!(*key, "seeds" | "discovery" | "dial_via") {
            config.set(key, &values[0])
        } else {
            config.set_list(key, values)
        };
        result.map_err(|e| Failure(format!("{flag}: {}", reason(e))))?;
    }
    if let Some(missing) = tls_missing(&config) {
        return Err(Failure(format!(
            "--tls-cert, --tls-key and --tls-ca go together ({missing} is missing)"
        )));
    }
    if config.host == "$HOSTNAME" {
        config.host = hostname(vars).ok_or_else(|| {
            Failure("host $HOSTNAME: neither HOSTNAME nor /etc/hostname names this machine".into())
        })?;
    }
    for (key, flag, env) in [
        ("name", "--name", "RACTOR_DIST_NAME"),
        ("port", "--port", "RACTOR_DIST_PORT"),
    ] {
        let given = flags.iter().any(|(k, _)| *k == key)
            || vars.iter().any(|(k, _)| k == env)
            || from_file.contains(&key);
        if !given {
            return Err(Failure(format!(
                "{flag} (or {env}, or `{key}` in the --config file) is required"
            )));
        }
    }
    Ok(Invocation::Node(Box::new((config, cli))))
}

/// This machine's host name: the `HOSTNAME` variable, else `/etc/hostname`.
fn hostname(vars: &[(String, String)]) -> Option<String> {
    vars.iter()
        .find(|(k, _)| k == "HOSTNAME")
        .map(|(_, v)| v.trim().to_string())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The flag of a TLS file that is missing while another is set.
fn tls_missing(config: &DistConfig) -> Option<&'static str> {
    let tls = config.tls.as_ref()?;
    [
        ("--tls-cert", &tls.cert),
        ("--tls-key", &tls.key),
        ("--tls-ca", &tls.ca),
    ]
    .into_iter()
    .find(|(_, p)| p.as_os_str().is_empty())
    .map(|(flag, _)| flag)
}

/// The reason of a setting's error, without its key (the caller names the flag).
fn reason(e: ractor_dist::ConfigError) -> String {
    match e {
        ractor_dist::ConfigError::Setting { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn node(line: &str, env: &[(&str, &str)]) -> Result<DistConfig, String> {
        match parse(args(line), &vars(env)) {
            Ok(Invocation::Node(node)) => Ok(node.0),
            Ok(Invocation::Attach(_)) => Err("attach".into()),
            Err(Failure(e)) => Err(e),
        }
    }

    #[test]
    fn every_setting_has_its_flag() {
        let cmd = command();
        let longs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        for s in SETTINGS {
            assert!(longs.contains(&s.flag.to_string()), "no flag {}", s.flag);
            let arg = cmd.get_arguments().find(|a| a.get_id() == s.key).unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(help.contains(s.env), "{}: {help}", s.flag);
        }
    }

    #[test]
    fn the_flags_scripts_use_keep_working() {
        let c = node(
            "--name a --port 7101 --host ::1 --seed 127.0.0.1:7102 --seed [::1]:7103 \
             --discovery dns:ractor:7100 --discovery static:a:1,b:2 --nameserver 127.0.0.1:5353 \
             --refresh-ms 0 --cookie c --allow-default-cookie --tls-cert c.pem --tls-key k.pem \
             --tls-ca ca.pem --handshake-timeout-ms 600 --max-pending 4 --heartbeat-ms 100 \
             --deadline-ms 1000 --handoff-ms 2000 --reconnect-max-ms 900 --weight 2 \
             --max-frame-bytes 65536 --replicas 3 --hold-per-name 10 --hold-per-node 20 \
             --dial-via 10.0.0.1:1=127.0.0.1:2 --gossip-ms 200 --data-dir /tmp/d --ghost",
            &[],
        )
        .unwrap();
        assert_eq!(c.node_name(), "a@[::1]");
        assert_eq!(c.port, 7101);
        assert_eq!(c.seeds, ["127.0.0.1:7102", "[::1]:7103"]);
        assert_eq!(c.discovery.len(), 2);
        assert_eq!(c.refresh_interval, None);
        assert!(c.allow_default_cookie && c.tls.is_some());
        assert_eq!(c.handshake_timeout, Duration::from_millis(600));
        assert_eq!(c.max_pending_connections, 4);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.weight, 2.0);
        assert_eq!((c.hold_per_name, c.hold_per_node), (10, 20));
        assert_eq!(c.dial_via.len(), 1);
        assert_eq!(c.data_dir, Some("/tmp/d".into()));
        // `--flag=value` works too.
        assert_eq!(node("--name=b --port=7102", &[]).unwrap().name, "b");
    }

    #[test]
    fn flags_win_over_variables_which_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("testkit-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("node.toml");
        std::fs::write(
            &file,
            "name = \"f\"\nport = 7001\nheartbeat_ms = 111\ndeadline_ms = 2222\ngossip_ms = 333\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let env = [
            ("RACTOR_DIST_HEARTBEAT_MS", "222"),
            ("RACTOR_DIST_PORT", "7002"),
        ];
        let c = node(&format!("--config {path} --heartbeat-ms 333"), &env).unwrap();
        assert_eq!(c.name, "f", "from the file");
        assert_eq!(c.port, 7002, "the variable over the file");
        assert_eq!(
            c.heartbeat_interval,
            Duration::from_millis(333),
            "the flag over both"
        );
        assert_eq!(c.heartbeat_deadline, Duration::from_millis(2222));
        // Name and port from the file alone; the file named by RACTOR_DIST_CONFIG.
        let c = node("", &[("RACTOR_DIST_CONFIG", path)]).unwrap();
        assert_eq!((c.name.as_str(), c.port), ("f", 7001));
        // `$HOSTNAME` is this machine's host name.
        let env = [
            ("RACTOR_DIST_HOST", "$HOSTNAME"),
            ("HOSTNAME", "c37d104771f8"),
        ];
        let c = node("--name a --port 1 --listen 0.0.0.0", &env).unwrap();
        assert_eq!(
            (c.host.as_str(), c.addr().as_str()),
            ("c37d104771f8", "c37d104771f8:1")
        );
        assert_eq!(c.listen_ip(), Some("0.0.0.0".parse().unwrap()));
        // From variables alone.
        let c = node(
            "",
            &[("RACTOR_DIST_NAME", "e"), ("RACTOR_DIST_PORT", "7003")],
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.port), ("e", 7003));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_values_name_their_flag_variable_or_key() {
        for (line, env, named) in [
            ("--name a --port 70000", vec![], "--port"),
            (
                "--name a --port 1 --heartbeat-ms soon",
                vec![],
                "--heartbeat-ms",
            ),
            ("--name a --port 1 --discovery dns:x", vec![], "--discovery"),
            ("--name a --port 1 --tls-cert c.pem", vec![], "--tls-key"),
            ("--name a --port 1 --frobnicate", vec![], "--frobnicate"),
            ("--name a", vec![], "--port"),
            ("--port 1", vec![], "--name"),
            (
                "--name a --port 1",
                vec![("RACTOR_DIST_WEIGHT", "heavy")],
                "RACTOR_DIST_WEIGHT",
            ),
            (
                "--name a --port 1 --config /nonexistent/x.toml",
                vec![],
                "/nonexistent/x.toml",
            ),
        ] {
            let err = node(line, &env).unwrap_err();
            assert!(err.contains(named), "{line}: {err}");
        }
        assert!(matches!(
            parse(args("--attach 127.0.0.1:7200"), &[]),
            Ok(Invocation::Attach(_))
        ));
    }
}
