//! Every setting of [`DistConfig`] by name, in one scheme shared by configuration files,
//! environment variables and the console node's flags.
//!
//! A setting's **key** (`heartbeat_ms`) is its name in a TOML file; its **variable** is
//! `RACTOR_DIST_` and the key in capitals (`RACTOR_DIST_HEARTBEAT_MS`); its **flag** is
//! `--` and the key with dashes (`--heartbeat-ms`). Durations are whole milliseconds and
//! their keys end in `_ms`. [`SETTINGS`] lists them all with unit and default.

use std::time::Duration;

use super::{ConfigError, DistConfig, TlsFiles};

/// One setting of [`DistConfig`]: its key, variable and flag, the field it sets, its unit
/// and its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Its key in a configuration file (`heartbeat_ms`).
    pub key: &'static str,
    /// Its environment variable (`RACTOR_DIST_HEARTBEAT_MS`).
    pub env: &'static str,
    /// The console node's flag (`--heartbeat-ms`).
    pub flag: &'static str,
    /// The [`DistConfig`] field it sets, and how.
    pub field: &'static str,
    /// What a value is: its unit or format.
    pub unit: &'static str,
    /// Its default.
    pub default: &'static str,
    /// Whether it takes a list: several values in a file's array, a repeated flag, or one
    /// variable with the values separated as [`Setting::unit`] says.
    pub list: bool,
}

macro_rules! setting {
    ($key:literal, $env:literal, $flag:literal, $field:literal, $unit:literal, $default:literal) => {
        Setting {
            key: $key,
            env: $env,
            flag: $flag,
            field: $field,
            unit: $unit,
            default: $default,
            list: false,
        }
    };
    (list $key:literal, $env:literal, $flag:literal, $field:literal, $unit:literal, $default:literal) => {
        Setting {
            list: true,
            ..setting!($key, $env, $flag, $field, $unit, $default)
        }
    };
}

/// Every setting, in the order of [`DistConfig`]'s fields.
pub const SETTINGS: &[Setting] = &[
    setting!(
        "name",
        "RACTOR_DIST_NAME",
        "--name",
        "name",
        "text without '@' or whitespace",
        "node (the console node requires one)"
    ),
    setting!(
        "host",
        "RACTOR_DIST_HOST",
        "--host",
        "host",
        "IP literal (IPv6 too) or host name",
        "127.0.0.1"
    ),
    setting!(
        "port",
        "RACTOR_DIST_PORT",
        "--port",
        "port",
        "TCP port, not 0",
        "7100 (the console node requires one)"
    ),
    setting!(
        "listen",
        "RACTOR_DIST_LISTEN",
        "--listen",
        "listen",
        "IP address; 0.0.0.0 or :: for every interface",
        "none: host's addresses"
    ),
    setting!(
        "cookie",
        "RACTOR_DIST_COOKIE",
        "--cookie",
        "cookie",
        "text",
        "ractor-dist (refused beyond loopback)"
    ),
    setting!(
        "allow_default_cookie",
        "RACTOR_DIST_ALLOW_DEFAULT_COOKIE",
        "--allow-default-cookie",
        "allow_default_cookie",
        "true or false (a flag without value)",
        "false"
    ),
    setting!(
        "tls_cert",
        "RACTOR_DIST_TLS_CERT",
        "--tls-cert",
        "tls.cert",
        "path of a PEM file (with tls_key and tls_ca)",
        "none: no TLS"
    ),
    setting!(
        "tls_key",
        "RACTOR_DIST_TLS_KEY",
        "--tls-key",
        "tls.key",
        "path of a PEM file",
        "none"
    ),
    setting!(
        "tls_ca",
        "RACTOR_DIST_TLS_CA",
        "--tls-ca",
        "tls.ca",
        "path of a PEM file",
        "none"
    ),
    setting!(
        "handshake_timeout_ms",
        "RACTOR_DIST_HANDSHAKE_TIMEOUT_MS",
        "--handshake-timeout-ms",
        "handshake_timeout",
        "milliseconds, not 0",
        "5000"
    ),
    setting!(
        "max_pending",
        "RACTOR_DIST_MAX_PENDING",
        "--max-pending",
        "max_pending_connections",
        "connections, not 0",
        "64"
    ),
    setting!(list "seeds", "RACTOR_DIST_SEEDS", "--seed", "seeds", "HOST:PORT (a variable: separated by commas or spaces)", "none"),
    setting!(list "discovery", "RACTOR_DIST_DISCOVERY", "--discovery", "discovery", "static:HOST:PORT[,...], dns:NAME:PORT, srv:NAME, host:FIRST-LAST, multicast:GROUP:PORT (a variable: separated by spaces or ';')", "none"),
    setting!(
        "refresh_ms",
        "RACTOR_DIST_REFRESH_MS",
        "--refresh-ms",
        "refresh_interval",
        "milliseconds; 0: discovery only at start",
        "5000"
    ),
    setting!(
        "nameserver",
        "RACTOR_DIST_NAMESERVER",
        "--nameserver",
        "nameserver",
        "IP:PORT of a DNS server",
        "the system's resolver"
    ),
    setting!(
        "heartbeat_ms",
        "RACTOR_DIST_HEARTBEAT_MS",
        "--heartbeat-ms",
        "heartbeat_interval",
        "milliseconds",
        "500"
    ),
    setting!(
        "deadline_ms",
        "RACTOR_DIST_DEADLINE_MS",
        "--deadline-ms",
        "heartbeat_deadline",
        "milliseconds, above heartbeat_ms",
        "3000"
    ),
    setting!(
        "reconnect_min_ms",
        "RACTOR_DIST_RECONNECT_MIN_MS",
        "--reconnect-min-ms",
        "reconnect_min",
        "milliseconds",
        "200"
    ),
    setting!(
        "reconnect_max_ms",
        "RACTOR_DIST_RECONNECT_MAX_MS",
        "--reconnect-max-ms",
        "reconnect_max",
        "milliseconds",
        "5000"
    ),
    setting!(
        "weight",
        "RACTOR_DIST_WEIGHT",
        "--weight",
        "weight",
        "number within 0.001..=1000",
        "1.0"
    ),
    setting!(
        "restart_limit",
        "RACTOR_DIST_RESTART_LIMIT",
        "--restart-limit",
        "restart_limit",
        "restarts per restart_window_ms",
        "5"
    ),
    setting!(
        "restart_window_ms",
        "RACTOR_DIST_RESTART_WINDOW_MS",
        "--restart-window-ms",
        "restart_window",
        "milliseconds",
        "10000"
    ),
    setting!(
        "max_active",
        "RACTOR_DIST_MAX_ACTIVE",
        "--max-active",
        "max_active",
        "actors of on-demand kinds; 0: no cap",
        "0"
    ),
    setting!(
        "request_ms",
        "RACTOR_DIST_REQUEST_MS",
        "--request-ms",
        "request_timeout",
        "milliseconds",
        "5000"
    ),
    setting!(
        "handoff_ms",
        "RACTOR_DIST_HANDOFF_MS",
        "--handoff-ms",
        "handoff_timeout",
        "milliseconds, above heartbeat_ms",
        "5000"
    ),
    setting!(
        "max_frame_bytes",
        "RACTOR_DIST_MAX_FRAME_BYTES",
        "--max-frame-bytes",
        "max_frame_bytes",
        "bytes within 1 KiB..=16 MiB - 64 KiB",
        "15728640 (15 MiB)"
    ),
    setting!(
        "replicas",
        "RACTOR_DIST_REPLICAS",
        "--replicas",
        "replicas",
        "nodes keeping each spec, at least 1",
        "2"
    ),
    setting!(list "dial_via", "RACTOR_DIST_DIAL_VIA", "--dial-via", "dial_via", "ADDR=VIA (a file: also a table; a variable: separated by commas or spaces)", "none"),
    setting!(
        "hold_per_name",
        "RACTOR_DIST_HOLD_PER_NAME",
        "--hold-per-name",
        "hold_per_name",
        "messages, at least 1",
        "10000"
    ),
    setting!(
        "hold_per_node",
        "RACTOR_DIST_HOLD_PER_NODE",
        "--hold-per-node",
        "hold_per_node",
        "messages, at least hold_per_name",
        "100000"
    ),
    setting!(
        "gossip_ms",
        "RACTOR_DIST_GOSSIP_MS",
        "--gossip-ms",
        "gossip_interval",
        "milliseconds, not 0",
        "1000"
    ),
    setting!(
        "replica_push",
        "RACTOR_DIST_REPLICA_PUSH",
        "--replica-push",
        "replica_push",
        "deltas or full",
        "deltas"
    ),
    setting!(
        "data_dir",
        "RACTOR_DIST_DATA_DIR",
        "--data-dir",
        "data_dir",
        "path of a directory",
        "none: nothing on disk"
    ),
];

/// Variables read for a setting under an older spelling: (variable, key).
pub(crate) const ENV_ALIASES: &[(&str, &str)] =
    &[("RACTOR_DIST_HANDSHAKE_MS", "handshake_timeout_ms")];

/// The setting of a key, if there is one.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

impl DistConfig {
    /// Sets the setting `key` (a key of [`SETTINGS`]) from its text, as a variable or a
    /// flag spells it. A list setting gets this one value (a variable's list is split by
    /// its reader); see [`DistConfig::set_list`].
    ///
    /// ```
    /// use ractor_dist::DistConfig;
    ///
    /// let mut config = DistConfig::default();
    /// config.set("heartbeat_ms", "200").unwrap();
    /// assert_eq!(config.heartbeat_interval, std::time::Duration::from_millis(200));
    /// assert!(config.set("port", "seventy").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Setting`] naming the key when it is unknown or its value does not
    /// parse; the configuration is then unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match setting(key) {
            Some(s) if s.list => self.set_list(key, [value]),
            Some(_) => self
                .set_one(key, value)
                .map_err(|reason| ConfigError::Setting {
                    key: key.to_string(),
                    reason,
                }),
            None => Err(unknown(key)),
        }
    }

    /// Sets the list setting `key` (`seeds`, `discovery`, `dial_via`) to `values`, replacing
    /// what it held.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Setting`] naming the key when it is unknown, not a list, or one of
    /// the values does not parse; the configuration is then unchanged.
    pub fn set_list<S: AsRef<str>>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = S>,
    ) -> Result<(), ConfigError> {
        let bad = |reason: String| ConfigError::Setting {
            key: key.to_string(),
            reason,
        };
        let values: Vec<String> = values
            .into_iter()
            .map(|v| v.as_ref().trim().to_string())
            .collect();
        match key {
            "seeds" => self.seeds = values,
            "discovery" => {
                self.discovery = values
                    .iter()
                    .map(|spec| spec.parse().map_err(|e| bad(format!("{e}"))))
                    .collect::<Result<_, _>>()?;
            }
            "dial_via" => {
                let mut via = std::collections::BTreeMap::new();
                for v in &values {
                    let (to, through) = v
                        .split_once('=')
                        .ok_or_else(|| bad(format!("{v:?} is not ADDR=VIA")))?;
                    via.insert(to.trim().to_string(), through.trim().to_string());
                }
                self.dial_via = via;
            }
            _ if setting(key).is_some() => return Err(bad("takes one value, not a list".into())),
            _ => return Err(unknown(key)),
        }
        Ok(())
    }

    /// The key of a TLS file that is missing while another one is set (the three go
    /// together), if any.
    pub(crate) fn tls_missing(&self) -> Option<&'static str> {
        let tls = self.tls.as_ref()?;
        [
            ("tls_cert", &tls.cert),
            ("tls_key", &tls.key),
            ("tls_ca", &tls.ca),
        ]
        .into_iter()
        .find(|(_, path)| path.as_os_str().is_empty())
        .map(|(key, _)| key)
    }

    /// Sets a setting that takes one value; the reason when it does not parse.
    fn set_one(&mut self, key: &str, value: &str) -> Result<(), String> {
        let text = value.trim();
        let ms = || -> Result<Duration, String> {
            text.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{text:?} is not a whole number of milliseconds ({e})"))
        };
        let count = || -> Result<usize, String> {
            text.parse::<usize>()
                .map_err(|e| format!("{text:?} is not a whole number ({e})"))
        };
        let flag = || -> Result<bool, String> {
            text.parse::<bool>()
                .map_err(|_| format!("{text:?} is not true or false"))
        };
        match key {
            "name" => self.name = text.to_string(),
            "host" => self.host = text.to_string(),
            "listen" => {
                self.listen = Some(
                    text.parse()
                        .map_err(|e| format!("{text:?} is not an IP address ({e})"))?,
                );
            }
            "port" => {
                self.port = text
                    .parse()
                    .map_err(|e| format!("{text:?} is not a port ({e})"))?;
            }
            // A cookie is taken as written.
            "cookie" => self.cookie = value.to_string(),
            "allow_default_cookie" => self.allow_default_cookie = flag()?,
            "tls_cert" | "tls_key" | "tls_ca" => {
                let files = self.tls.get_or_insert_with(|| TlsFiles {
                    cert: Default::default(),
                    key: Default::default(),
                    ca: Default::default(),
                });
                let path = match key {
                    "tls_cert" => &mut files.cert,
                    "tls_key" => &mut files.key,
                    _ => &mut files.ca,
                };
                *path = text.into();
            }
            "handshake_timeout_ms" => self.handshake_timeout = ms()?,
            "max_pending" => self.max_pending_connections = count()?,
            "refresh_ms" => {
                let every = ms()?;
                self.refresh_interval = (!every.is_zero()).then_some(every);
            }
            "nameserver" => {
                self.nameserver = Some(
                    text.parse()
                        .map_err(|e| format!("{text:?} is not IP:PORT ({e})"))?,
                );
            }
            "heartbeat_ms" => self.heartbeat_interval = ms()?,
            "deadline_ms" => self.heartbeat_deadline = ms()?,
            "reconnect_min_ms" => self.reconnect_min = ms()?,
            "reconnect_max_ms" => self.reconnect_max = ms()?,
            "weight" => {
                self.weight = text
                    .parse()
                    .map_err(|e| format!("{text:?} is not a number ({e})"))?;
            }
            "restart_limit" => {
                self.restart_limit = text
                    .parse()
                    .map_err(|e| format!("{text:?} is not a whole number ({e})"))?;
            }
            "restart_window_ms" => self.restart_window = ms()?,
            "max_active" => self.max_active = count()?,
            "request_ms" => self.request_timeout = ms()?,
            "handoff_ms" => self.handoff_timeout = ms()?,
            "max_frame_bytes" => self.max_frame_bytes = count()?,
            "replicas" => self.replicas = count()?,
            "hold_per_name" => self.hold_per_name = count()?,
            "hold_per_node" => self.hold_per_node = count()?,
            "gossip_ms" => self.gossip_interval = ms()?,
            "replica_push" => {
                self.replica_push = match text {
                    "deltas" => super::super::replicated::Push::Deltas,
                    "full" => super::super::replicated::Push::FullState,
                    other => return Err(format!("{other:?} is not deltas or full")),
                };
            }
            "data_dir" => self.data_dir = Some(text.into()),
            other => return Err(format!("unknown setting {other:?}")),
        }
        Ok(())
    }
}

/// The error of a key no setting has.
fn unknown(key: &str) -> ConfigError {
    ConfigError::Setting {
        key: key.to_string(),
        reason: "no such setting (see ractor_dist::core::config::SETTINGS)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_follows_the_naming_scheme() {
        for s in SETTINGS {
            assert_eq!(
                s.env,
                format!("RACTOR_DIST_{}", s.key.to_uppercase()),
                "{s:?}"
            );
            let flag = if s.key == "seeds" {
                "--seed".to_string() // one per flag, repeated
            } else {
                format!("--{}", s.key.replace('_', "-"))
            };
            assert_eq!(s.flag, flag, "{s:?}");
        }
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len(), "a key is listed twice");
    }

    #[test]
    fn every_setting_can_be_set_from_text() {
        let example = |s: &Setting| match s.key {
            "name" => "web-0",
            "host" => "::1",
            "cookie" => "s3cret",
            "allow_default_cookie" => "true",
            "tls_cert" | "tls_key" | "tls_ca" | "data_dir" => "/some/where",
            "seeds" => "10.0.0.1:7100",
            "discovery" => "dns:ractor:7100",
            "nameserver" => "127.0.0.1:53",
            "listen" => "0.0.0.0",
            "weight" => "2.5",
            "dial_via" => "10.0.0.1:7100=127.0.0.1:9000",
            "replica_push" => "full",
            _ => "7",
        };
        for s in SETTINGS {
            let mut config = DistConfig::default();
            config.set(s.key, example(s)).unwrap();
            assert_ne!(
                format!("{config:?}"),
                format!("{:?}", DistConfig::default()),
                "{} changed nothing",
                s.key
            );
        }
    }

    #[test]
    fn a_bad_value_names_its_key_and_changes_nothing() {
        for (key, value) in [
            ("port", "70000"),
            ("heartbeat_ms", "-1"),
            ("weight", "heavy"),
            ("allow_default_cookie", "maybe"),
            ("discovery", "dns:nameonly"),
            ("dial_via", "nowhere"),
            ("replica_push", "sometimes"),
            ("nameserver", "localhost"),
            ("hartbeat_ms", "100"),
        ] {
            let mut config = DistConfig::default();
            let err = config.set(key, value).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Setting { key: k, .. } if k == key),
                "{key}: {err}"
            );
            assert!(err.to_string().contains(key), "{err}");
            assert_eq!(
                format!("{config:?}"),
                format!("{:?}", DistConfig::default())
            );
        }
        assert!(DistConfig::default().set_list("port", ["1", "2"]).is_err());
    }

    #[test]
    fn tls_files_go_together() {
        let mut config = DistConfig::default();
        config.set("tls_ca", "/tls/ca.pem").unwrap();
        assert_eq!(config.tls_missing(), Some("tls_cert"));
        config.set("tls_cert", "/tls/a.pem").unwrap();
        assert_eq!(config.tls_missing(), Some("tls_key"));
        config.set("tls_key", "/tls/a.key").unwrap();
        assert_eq!(config.tls_missing(), None);
        assert_eq!(config.tls.unwrap().cert, std::path::Path::new("/tls/a.pem"));
    }
}
