//! [`DistConfig`] from environment variables (`RACTOR_DIST_*`), the way container
//! platforms pass configuration.

use super::settings::{setting, ENV_ALIASES, SETTINGS};
use super::{ConfigError, DistConfig, CONFIG_FILE_VAR};

/// The prefix of every variable.
pub const ENV_PREFIX: &str = "RACTOR_DIST_";

impl DistConfig {
    /// The defaults with every `RACTOR_DIST_*` variable of this process applied (see
    /// [`DistConfig::apply_env`]). [`DistConfig::load`] also reads a configuration file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] for the first variable whose value does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_env(std::env::vars())?;
        Ok(config)
    }

    /// Sets the fields named by the `RACTOR_DIST_*` variables among `vars` (the `env` of
    /// each of [`SETTINGS`]; `RACTOR_DIST_HANDSHAKE_MS` is read as
    /// `RACTOR_DIST_HANDSHAKE_TIMEOUT_MS`) and leaves the others as they are. A list
    /// variable holds its values separated by commas or whitespace
    /// (`RACTOR_DIST_DISCOVERY` by whitespace or `;`, since a `static:` spec holds commas).
    /// Returns the names of the variables with the prefix that name no setting (ignored; a
    /// caller may warn about them); `RACTOR_DIST_CONFIG`, the configuration file of
    /// [`DistConfig::load`], is not among them.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] naming the first variable whose value does not parse (the
    /// fields set before it keep their new values), or the first TLS variable set when the
    /// three TLS files are not all known.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<String>, ConfigError> {
        let mut unknown = Vec::new();
        let mut first_tls: Option<String> = None;
        for (var, value) in vars {
            if !var.starts_with(ENV_PREFIX) || var == CONFIG_FILE_VAR {
                continue;
            }
            let setting = SETTINGS.iter().find(|s| s.env == var).or_else(|| {
                let (_, key) = ENV_ALIASES.iter().find(|(alias, _)| *alias == var)?;
                setting(key)
            });
            let Some(setting) = setting else {
                unknown.push(var);
                continue;
            };
            let result = if setting.list {
                let separators: &[char] = if setting.key == "discovery" {
                    &[';', ' ', '\t', '\n']
                } else {
                    &[',', ' ', '\t', '\n']
                };
                self.set_list(
                    setting.key,
                    value.split(separators).filter(|s| !s.trim().is_empty()),
                )
            } else {
                self.set(setting.key, &value)
            };
            result.map_err(|e| ConfigError::Env {
                var: var.clone(),
                reason: reason_of(e),
            })?;
            if setting.key.starts_with("tls_") && first_tls.is_none() {
                first_tls = Some(var);
            }
        }
        if let (Some(var), Some(missing)) = (first_tls, self.tls_missing()) {
            let missing = setting(missing).map_or(missing, |s| s.env);
            return Err(ConfigError::Env {
                var,
                reason: format!(
                    "RACTOR_DIST_TLS_CERT, RACTOR_DIST_TLS_KEY and RACTOR_DIST_TLS_CA go together ({missing} is not set)"
                ),
            });
        }
        Ok(unknown)
    }
}

/// The reason of a [`ConfigError::Setting`] (the key is named by its caller's variant).
pub(super) fn reason_of(e: ConfigError) -> String {
    match e {
        ConfigError::Setting { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::DiscoverySpec;
    use std::time::Duration;

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
        assert_eq!(ENV_PREFIX, "RACTOR_DIST_");
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

    #[test]
    fn every_setting_is_read_from_its_variable() {
        for s in SETTINGS {
            let value = match s.key {
                "allow_default_cookie" => "true",
                "discovery" => "dns:a:1;dns:b:2",
                "seeds" => "a:1,b:2",
                "dial_via" => "a:1=b:2 c:3=d:4",
                "nameserver" => "127.0.0.1:53",
                "listen" => "::",
                "replica_push" => "full",
                "host" | "name" | "cookie" => "x",
                _ => "9",
            };
            let mut c = DistConfig::default();
            let result = c.apply_env(vars(&[(s.env, value)]));
            if s.key.starts_with("tls_") {
                // Alone, a TLS file is refused (the three go together).
                assert!(matches!(result, Err(ConfigError::Env { ref var, .. }) if var == s.env));
                continue;
            }
            assert_eq!(result, Ok(vec![]), "{}", s.env);
            assert_ne!(
                format!("{c:?}"),
                format!("{:?}", DistConfig::default()),
                "{}",
                s.env
            );
        }
        let mut c = DistConfig::default();
        c.apply_env(vars(&[
            ("RACTOR_DIST_DIAL_VIA", "a:1=b:2, c:3=d:4"),
            ("RACTOR_DIST_CONFIG", "/etc/ractor-dist.toml"),
        ]))
        .unwrap();
        assert_eq!(c.dial_via.len(), 2);
    }
}
