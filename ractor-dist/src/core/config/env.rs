//! [`DistConfig`] from environment variables (`RACTOR_DIST_*`), the way container
//! platforms pass configuration.

use std::time::Duration;

use super::{ConfigError, DistConfig};

/// The prefix of every variable.
pub const ENV_PREFIX: &str = "RACTOR_DIST_";

/// The variables [`DistConfig::apply_env`] reads, each with the field it sets. Durations
/// are whole milliseconds; lists are separated by commas or whitespace
/// (`RACTOR_DIST_DISCOVERY` by whitespace or `;`, since a `static:` spec holds commas).
pub const ENV_VARS: &[(&str, &str)] = &[
    ("RACTOR_DIST_NAME", "name"),
    ("RACTOR_DIST_HOST", "host (IPv6 literals too)"),
    ("RACTOR_DIST_PORT", "port"),
    ("RACTOR_DIST_COOKIE", "cookie"),
    (
        "RACTOR_DIST_SEEDS",
        "seeds (HOST:PORT, comma or space separated)",
    ),
    (
        "RACTOR_DIST_DISCOVERY",
        "discovery (specs as `--discovery`, separated by spaces or `;`)",
    ),
    ("RACTOR_DIST_NAMESERVER", "nameserver (IP:PORT)"),
    (
        "RACTOR_DIST_REFRESH_MS",
        "refresh_interval (0: only at start)",
    ),
    ("RACTOR_DIST_HEARTBEAT_MS", "heartbeat_interval"),
    ("RACTOR_DIST_DEADLINE_MS", "heartbeat_deadline"),
    ("RACTOR_DIST_RECONNECT_MIN_MS", "reconnect_min"),
    ("RACTOR_DIST_RECONNECT_MAX_MS", "reconnect_max"),
    ("RACTOR_DIST_REQUEST_MS", "request_timeout"),
    ("RACTOR_DIST_HANDOFF_MS", "handoff_timeout"),
    ("RACTOR_DIST_GOSSIP_MS", "gossip_interval"),
    ("RACTOR_DIST_WEIGHT", "weight"),
    ("RACTOR_DIST_REPLICAS", "replicas"),
    ("RACTOR_DIST_MAX_FRAME_BYTES", "max_frame_bytes"),
    ("RACTOR_DIST_HOLD_PER_NAME", "hold_per_name"),
    ("RACTOR_DIST_HOLD_PER_NODE", "hold_per_node"),
    ("RACTOR_DIST_DATA_DIR", "data_dir"),
    (
        "RACTOR_DIST_TLS_CERT",
        "tls.cert (with RACTOR_DIST_TLS_KEY and RACTOR_DIST_TLS_CA)",
    ),
    ("RACTOR_DIST_TLS_KEY", "tls.key"),
    ("RACTOR_DIST_TLS_CA", "tls.ca"),
    ("RACTOR_DIST_HANDSHAKE_MS", "handshake_timeout"),
    ("RACTOR_DIST_MAX_PENDING", "max_pending_connections"),
    (
        "RACTOR_DIST_ALLOW_DEFAULT_COOKIE",
        "allow_default_cookie (true or false)",
    ),
];

impl DistConfig {
    /// The defaults with every `RACTOR_DIST_*` variable of this process applied (see
    /// [`DistConfig::apply_env`]).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] for the first variable whose value does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_env(std::env::vars())?;
        Ok(config)
    }

    /// Sets the fields named by the `RACTOR_DIST_*` variables among `vars` (listed in
    /// [`ENV_VARS`]) and leaves the others as they are. Returns the names of the variables
    /// with the prefix that name no field (ignored; a caller may warn about them).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] for the first value that does not parse; the fields set before
    /// it keep their new values.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<String>, ConfigError> {
        let mut unknown = Vec::new();
        let mut tls = [None, None, None];
        for (var, value) in vars {
            let Some(field) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let bad = |reason: String| ConfigError::Env {
                var: var.clone(),
                reason,
            };
            let number = |v: &str| v.trim().parse::<u64>().map_err(|e| bad(e.to_string()));
            let ms = |v: &str| number(v).map(Duration::from_millis);
            let count = |v: &str| v.trim().parse::<usize>().map_err(|e| bad(e.to_string()));
            let list = |v: &str| -> Vec<String> {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            match field {
                "NAME" => self.name = value.trim().to_string(),
                "HOST" => self.host = value.trim().to_string(),
                "PORT" => {
                    self.port = value.trim().parse().map_err(|e| bad(format!("{e}")))?;
                }
                "COOKIE" => self.cookie = value,
                "SEEDS" => self.seeds = list(&value),
                "DISCOVERY" => {
                    self.discovery = value
                        .split(|c: char| c == ';' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(|spec| spec.parse().map_err(|e| bad(format!("{e}"))))
                        .collect::<Result<_, _>>()?;
                }
                "NAMESERVER" => {
                    self.nameserver = Some(value.trim().parse().map_err(|e| bad(format!("{e}")))?);
                }
                "REFRESH_MS" => {
                    let refresh = ms(&value)?;
                    self.refresh_interval = (!refresh.is_zero()).then_some(refresh);
                }
                "HEARTBEAT_MS" => self.heartbeat_interval = ms(&value)?,
                "DEADLINE_MS" => self.heartbeat_deadline = ms(&value)?,
                "RECONNECT_MIN_MS" => self.reconnect_min = ms(&value)?,
                "RECONNECT_MAX_MS" => self.reconnect_max = ms(&value)?,
                "REQUEST_MS" => self.request_timeout = ms(&value)?,
                "HANDOFF_MS" => self.handoff_timeout = ms(&value)?,
                "GOSSIP_MS" => self.gossip_interval = ms(&value)?,
                "WEIGHT" => {
                    self.weight = value.trim().parse().map_err(|e| bad(format!("{e}")))?;
                }
                "REPLICAS" => self.replicas = count(&value)?,
                "MAX_FRAME_BYTES" => self.max_frame_bytes = count(&value)?,
                "HOLD_PER_NAME" => self.hold_per_name = count(&value)?,
                "HOLD_PER_NODE" => self.hold_per_node = count(&value)?,
                "DATA_DIR" => self.data_dir = Some(value.trim().into()),
                "TLS_CERT" => tls[0] = Some(value.trim().into()),
                "TLS_KEY" => tls[1] = Some(value.trim().into()),
                "TLS_CA" => tls[2] = Some(value.trim().into()),
                "HANDSHAKE_MS" => self.handshake_timeout = ms(&value)?,
                "MAX_PENDING" => self.max_pending_connections = count(&value)?,
                "ALLOW_DEFAULT_COOKIE" => {
                    self.allow_default_cookie =
                        value.trim().parse().map_err(|e| bad(format!("{e}")))?;
                }
                _ => unknown.push(var.clone()),
            }
        }
        match tls {
            [Some(cert), Some(key), Some(ca)] => {
                self.tls = Some(super::TlsFiles { cert, key, ca });
            }
            [None, None, None] => {}
            _ => {
                // Named by the first of the three that is set.
                let vars = [
                    "RACTOR_DIST_TLS_CERT",
                    "RACTOR_DIST_TLS_KEY",
                    "RACTOR_DIST_TLS_CA",
                ];
                let set = tls.iter().position(Option::is_some).unwrap_or_default();
                return Err(ConfigError::Env {
                    var: vars[set].into(),
                    reason: "RACTOR_DIST_TLS_CERT, RACTOR_DIST_TLS_KEY and RACTOR_DIST_TLS_CA go together".into(),
                });
            }
        }
        Ok(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::DiscoverySpec;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_listed_variable_sets_its_field() {
        let mut c = DistConfig::default();
        let unknown = c
            .apply_env(vars(&[
                ("RACTOR_DIST_NAME", "web-0"),
                ("RACTOR_DIST_HOST", "::1"),
                ("RACTOR_DIST_PORT", "7101"),
                ("RACTOR_DIST_COOKIE", "s3cret"),
                (
                    "RACTOR_DIST_SEEDS",
                    "10.0.0.1:7100, 10.0.0.2:7100 [::1]:7102",
                ),
                (
                    "RACTOR_DIST_DISCOVERY",
                    "dns:ractor.svc:7100;static:a:1,b:2 host:7100-7101",
                ),
                ("RACTOR_DIST_NAMESERVER", "127.0.0.1:5353"),
                ("RACTOR_DIST_REFRESH_MS", "0"),
                ("RACTOR_DIST_HEARTBEAT_MS", "200"),
                ("RACTOR_DIST_DEADLINE_MS", "2000"),
                ("RACTOR_DIST_RECONNECT_MIN_MS", "10"),
                ("RACTOR_DIST_RECONNECT_MAX_MS", "900"),
                ("RACTOR_DIST_REQUEST_MS", "3000"),
                ("RACTOR_DIST_HANDOFF_MS", "4000"),
                ("RACTOR_DIST_GOSSIP_MS", "700"),
                ("RACTOR_DIST_WEIGHT", "2.5"),
                ("RACTOR_DIST_REPLICAS", "3"),
                ("RACTOR_DIST_MAX_FRAME_BYTES", "65536"),
                ("RACTOR_DIST_HOLD_PER_NAME", "10"),
                ("RACTOR_DIST_HOLD_PER_NODE", "100"),
                ("RACTOR_DIST_DATA_DIR", "/var/lib/ractor"),
                ("RACTOR_DIST_TLS_CERT", "/tls/a.pem"),
                ("RACTOR_DIST_TLS_KEY", "/tls/a.key"),
                ("RACTOR_DIST_TLS_CA", "/tls/ca.pem"),
                ("RACTOR_DIST_HANDSHAKE_MS", "1500"),
                ("RACTOR_DIST_MAX_PENDING", "8"),
                ("RACTOR_DIST_ALLOW_DEFAULT_COOKIE", "true"),
                ("RACTOR_DIST_TEST_LOGS", "1"),
                ("PATH", "/bin"),
            ]))
            .unwrap();
        assert_eq!(unknown, vec!["RACTOR_DIST_TEST_LOGS".to_string()]);
        assert_eq!(c.node_name(), "web-0@[::1]");
        assert_eq!(c.addr(), "[::1]:7101");
        assert_eq!(c.cookie, "s3cret");
        assert_eq!(c.seeds, ["10.0.0.1:7100", "10.0.0.2:7100", "[::1]:7102"]);
        assert_eq!(c.discovery.len(), 3);
        assert!(matches!(c.discovery[1], DiscoverySpec::Static(ref a) if a.len() == 2));
        assert_eq!(c.nameserver, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(c.refresh_interval, None);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(200));
        assert_eq!(c.heartbeat_deadline, Duration::from_secs(2));
        assert_eq!(c.reconnect_min, Duration::from_millis(10));
        assert_eq!(c.reconnect_max, Duration::from_millis(900));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert_eq!(c.handoff_timeout, Duration::from_secs(4));
        assert_eq!(c.gossip_interval, Duration::from_millis(700));
        assert_eq!(c.weight, 2.5);
        assert_eq!(c.replicas, 3);
        assert_eq!(c.max_frame_bytes, 65536);
        assert_eq!((c.hold_per_name, c.hold_per_node), (10, 100));
        assert_eq!(c.data_dir, Some("/var/lib/ractor".into()));
        assert_eq!(
            c.tls,
            Some(crate::core::config::TlsFiles {
                cert: "/tls/a.pem".into(),
                key: "/tls/a.key".into(),
                ca: "/tls/ca.pem".into(),
            })
        );
        assert_eq!(c.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(c.max_pending_connections, 8);
        assert!(c.allow_default_cookie);
        assert_eq!(c.validate(), Ok(()));
        // Every listed variable was exercised.
        assert_eq!(ENV_VARS.len(), 27);
    }

    #[test]
    fn a_value_that_does_not_parse_names_its_variable() {
        for (var, value) in [
            ("RACTOR_DIST_PORT", "seventy"),
            ("RACTOR_DIST_HEARTBEAT_MS", "-1"),
            ("RACTOR_DIST_DISCOVERY", "dns:nameonly"),
            ("RACTOR_DIST_NAMESERVER", "localhost"),
            ("RACTOR_DIST_WEIGHT", "heavy"),
            ("RACTOR_DIST_TLS_CA", "/tls/ca.pem"),
            ("RACTOR_DIST_ALLOW_DEFAULT_COOKIE", "maybe"),
        ] {
            let err = DistConfig::default()
                .apply_env(vars(&[(var, value)]))
                .unwrap_err();
            assert!(
                matches!(&err, ConfigError::Env { var: v, .. } if v == var),
                "{err}"
            );
        }
    }
}
