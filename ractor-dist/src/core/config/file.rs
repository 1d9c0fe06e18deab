//! [`DistConfig`] from a TOML file, and the layering of defaults, a file and the
//! environment ([`DistConfig::load`]).

use std::path::Path;

use super::env::reason_of;
use super::settings::{setting, SETTINGS};
use super::{ConfigError, DistConfig};

/// The environment variable naming a configuration file for [`DistConfig::load`] (and the
/// console node, whose `--config` wins over it).
pub const CONFIG_FILE_VAR: &str = "RACTOR_DIST_CONFIG";

impl DistConfig {
    /// The defaults with the settings of a TOML text applied (see
    /// [`DistConfig::apply_toml`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ractor_dist::DistConfig;
    ///
    /// let config = DistConfig::from_toml(r#"
    ///     name = "web-0"
    ///     port = 7100
    ///     host = "0.0.0.0"
    ///     cookie = "s3cret"
    ///     discovery = ["dns:ractor.default.svc.cluster.local:7100"]
    ///     heartbeat_ms = 250
    /// "#).unwrap();
    /// assert_eq!(config.heartbeat_interval, Duration::from_millis(250));
    /// assert!(DistConfig::from_toml("hartbeat_ms = 250").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// As [`DistConfig::apply_toml`] (the file is named `<toml>`).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_toml(text, "<toml>")?;
        Ok(config)
    }

    /// Sets the settings of a TOML text (the keys of [`SETTINGS`], at the top level) and
    /// leaves the others as they are; `file` names the text in errors. A value is a
    /// string, a number or a boolean as the setting's unit says; a list setting takes an
    /// array of strings (or one string), and `dial_via` also a table of `"ADDR" = "VIA"`.
    /// Returns the keys it set.
    ///
    /// # Errors
    ///
    /// [`ConfigError::FileSyntax`] when the text is not TOML; [`ConfigError::File`] naming
    /// the first key that is unknown, of the wrong type or whose value does not parse (the
    /// settings before it keep their new values), or the first TLS key set when the three
    /// TLS files are not all known.
    pub fn apply_toml(&mut self, text: &str, file: &str) -> Result<Vec<&'static str>, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::FileSyntax {
                    file: file.to_string(),
                    reason: e.message().to_string(),
                })?;
        let bad = |key: &str, reason: String| ConfigError::File {
            file: file.to_string(),
            key: key.to_string(),
            reason,
        };
        let mut set = Vec::new();
        // In the order of SETTINGS, whatever the file's order: errors are reproducible.
        for key in table.keys() {
            if setting(key).is_none() {
                return Err(bad(
                    key,
                    "no such setting (see ractor_dist::core::config::SETTINGS)".into(),
                ));
            }
        }
        for s in SETTINGS {
            let Some(value) = table.get(s.key) else {
                continue;
            };
            let result = match (value, s.list) {
                (toml::Value::Array(items), true) => items
                    .iter()
                    .map(|item| scalar(item).ok_or("an array of strings"))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|what| bad(s.key, format!("expected {what}")))
                    .and_then(|items| self.set_list(s.key, items)),
                (toml::Value::Table(pairs), true) if s.key == "dial_via" => pairs
                    .iter()
                    .map(|(to, via)| {
                        scalar(via)
                            .map(|via| format!("{to}={via}"))
                            .ok_or("a table of strings")
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|what| bad(s.key, format!("expected {what}")))
                    .and_then(|items| self.set_list(s.key, items)),
                (value, list) => match scalar(value) {
                    Some(text) if list => self.set_list(s.key, [text]),
                    Some(text) => self.set(s.key, &text),
                    None => Err(bad(
                        s.key,
                        format!(
                            "expected {} ({})",
                            if list { "an array" } else { "one value" },
                            s.unit
                        ),
                    )),
                },
            };
            result.map_err(|e| match e {
                e @ ConfigError::File { .. } => e,
                e => bad(s.key, reason_of(e)),
            })?;
            set.push(s.key);
        }
        if let Some(missing) = self.tls_missing() {
            if let Some(first) = set.iter().find(|key| key.starts_with("tls_")) {
                return Err(bad(
                    first,
                    format!("tls_cert, tls_key and tls_ca go together ({missing} is not set)"),
                ));
            }
        }
        Ok(set)
    }

    /// The defaults with the settings of a TOML file applied.
    ///
    /// # Errors
    ///
    /// [`ConfigError::FileSyntax`] when it cannot be read or is not TOML, else as
    /// [`DistConfig::apply_toml`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_file(path.as_ref())?;
        Ok(config)
    }

    /// Reads a TOML file and applies it (see [`DistConfig::apply_toml`]); returns the keys
    /// it set.
    ///
    /// # Errors
    ///
    /// As [`DistConfig::from_file`].
    pub fn apply_file(&mut self, path: &Path) -> Result<Vec<&'static str>, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileSyntax {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        self.apply_toml(&text, &file)
    }

    /// The configuration of a node deployed by a platform, from its sources in order of
    /// precedence: the `RACTOR_DIST_*` variables of this process (see
    /// [`DistConfig::apply_env`]) over the TOML file `file` (or, when `None`, the file
    /// named by `RACTOR_DIST_CONFIG`, if set) over the defaults. The console node's flags
    /// go over all of them.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] of the file, then of the variables. Unknown
    /// `RACTOR_DIST_*` variables are not errors (see [`DistConfig::apply_env`]).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars()).map(|(config, _)| config)
    }

    /// [`DistConfig::load`] with the variables given instead of read from the process;
    /// also returns the names of the unknown `RACTOR_DIST_*` variables.
    ///
    /// # Errors
    ///
    /// As [`DistConfig::load`].
    pub fn load_from(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let named = vars
            .iter()
            .find(|(k, _)| k == CONFIG_FILE_VAR)
            .map(|(_, v)| Path::new(v.trim()));
        let mut config = Self::default();
        if let Some(path) = file.or(named) {
            config.apply_file(path)?;
        }
        let unknown = config.apply_env(vars.iter().cloned())?;
        Ok((config, unknown))
    }
}

/// A TOML value as the text a variable or flag would hold; `None` for arrays, tables and
/// dates.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every setting of [`SETTINGS`] in one file (TLS included), as the README shows it.
    const FULL: &str = r#"
name = "web-0"
host = "::1"
port = 7101
listen = "::"
cookie = "s3cret"
allow_default_cookie = true
tls_cert = "/tls/web-0.pem"
tls_key = "/tls/web-0.key"
tls_ca = "/tls/ca.pem"
handshake_timeout_ms = 1500
max_pending = 8
seeds = ["10.0.0.1:7100", "[::1]:7102"]
discovery = ["dns:ractor.svc:7100", "static:a:1,b:2"]
refresh_ms = 0
nameserver = "127.0.0.1:5353"
heartbeat_ms = 200
deadline_ms = 2000
reconnect_min_ms = 10
reconnect_max_ms = 900
weight = 2.5
restart_limit = 3
restart_window_ms = 60000
max_active = 1000
request_ms = 3000
handoff_ms = 4000
max_frame_bytes = 65536
replicas = 3
dial_via = { "10.0.0.5:7100" = "127.0.0.1:9000" }
hold_per_name = 10
hold_per_node = 100
gossip_ms = 700
replica_push = "full"
data_dir = "/var/lib/ractor"
"#;

    #[test]
    fn every_setting_is_read_from_a_file() {
        let mut c = DistConfig::default();
        let set = c.apply_toml(FULL, "full.toml").unwrap();
        assert_eq!(set.len(), SETTINGS.len(), "every setting is in FULL");
        assert_eq!(c.node_name(), "web-0@[::1]");
        assert_eq!(c.port, 7101);
        assert_eq!(c.listen, Some("::".parse().unwrap()));
        assert!(c.allow_default_cookie);
        assert_eq!(c.tls.as_ref().unwrap().ca, Path::new("/tls/ca.pem"));
        assert_eq!(c.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(c.seeds, ["10.0.0.1:7100", "[::1]:7102"]);
        assert_eq!(c.discovery.len(), 2);
        assert_eq!(c.refresh_interval, None);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(200));
        assert_eq!(c.weight, 2.5);
        assert_eq!(c.restart_window, Duration::from_secs(60));
        assert_eq!(c.max_active, 1000);
        assert_eq!(c.dial_via["10.0.0.5:7100"], "127.0.0.1:9000");
        assert_eq!(c.replica_push, crate::core::replicated::Push::FullState);
        assert_eq!(c.data_dir, Some("/var/lib/ractor".into()));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn a_bad_file_names_the_file_and_the_key() {
        for (text, key) in [
            ("port = 70000", "port"),
            ("port = \"seventy\"", "port"),
            ("heartbeat_ms = -5", "heartbeat_ms"),
            ("hartbeat_ms = 5", "hartbeat_ms"),
            ("seeds = [1, [2]]", "seeds"),
            ("discovery = [\"dns:nameonly\"]", "discovery"),
            ("weight = [1.0]", "weight"),
            ("tls_ca = \"/tls/ca.pem\"", "tls_ca"),
            ("dial_via = { a = [\"b:1\"] }", "dial_via"),
        ] {
            let err = DistConfig::default()
                .apply_toml(text, "node.toml")
                .unwrap_err();
            assert!(
                matches!(&err, ConfigError::File { file, key: k, .. } if file == "node.toml" && k == key),
                "{text}: {err:?}"
            );
            let shown = err.to_string();
            assert!(
                shown.contains("node.toml") && shown.contains(key),
                "{shown}"
            );
        }
        let err = DistConfig::default()
            .apply_toml("port = ", "node.toml")
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::FileSyntax { ref file, .. } if file == "node.toml"),
            "{err}"
        );
        let err = DistConfig::from_file("/nonexistent/ractor-dist.toml").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/ractor-dist.toml"),
            "{err}"
        );
    }

    #[test]
    fn variables_win_over_the_file_which_wins_over_the_defaults() {
        let dir = std::env::temp_dir().join(format!("ractor-dist-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(
            &path,
            "name = \"from-file\"\nport = 7201\nheartbeat_ms = 300\n",
        )
        .unwrap();
        let vars = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // The file over the defaults; the variable over the file.
        let (c, unknown) = DistConfig::load_from(
            Some(&path),
            vars(&[("RACTOR_DIST_PORT", "7202"), ("RACTOR_DIST_LOGS", "1")]),
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.port), ("from-file", 7202));
        assert_eq!(c.heartbeat_interval, Duration::from_millis(300));
        assert_eq!(
            c.heartbeat_deadline,
            DistConfig::default().heartbeat_deadline
        );
        assert_eq!(unknown, ["RACTOR_DIST_LOGS"]);
        // The file named by RACTOR_DIST_CONFIG when none is given.
        let named = vars(&[("RACTOR_DIST_CONFIG", path.to_str().unwrap())]);
        let (c, unknown) = DistConfig::load_from(None, named.clone()).unwrap();
        assert_eq!((c.name.as_str(), c.port), ("from-file", 7201));
        assert!(unknown.is_empty());
        // A file given wins over the variable's.
        let other = dir.join("other.toml");
        std::fs::write(&other, "name = \"other\"").unwrap();
        let (c, _) = DistConfig::load_from(Some(&other), named).unwrap();
        assert_eq!((c.name.as_str(), c.port), ("other", 7100));
        // No file, no variables: the defaults.
        let (c, _) = DistConfig::load_from(None, vec![]).unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", DistConfig::default()));
        // A bad variable over a good file is named.
        let err = DistConfig::load_from(Some(&path), vars(&[("RACTOR_DIST_HEARTBEAT_MS", "soon")]))
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::Env { ref var, .. } if var == "RACTOR_DIST_HEARTBEAT_MS")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
