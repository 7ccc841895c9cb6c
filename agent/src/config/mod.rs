//! Agent config files: ngrok's v3 format and the legacy v2 `tunnels:` map.
//!
//! [`load`] reads several files and merges them in order (later agent keys win; endpoints and
//! tunnels replace earlier ones of the same name). [`Config::resolve`] turns the chosen
//! endpoints and tunnels into [`ResolvedEndpoint`]s ready to bind. [`check`] validates a file,
//! including every traffic policy, with `file:line:col` errors. [`add_authtoken`] edits a file
//! in place.

mod authtoken;
mod check;
pub mod legacy;
pub mod legacy_login;
mod paths;
mod resolve;
mod settings;
pub mod tls_termination;
pub mod types;
mod unsupported;
pub mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_v2;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_source::{NodeDeserializer, PathSeg, parse};

pub use authtoken::add_authtoken;
pub use check::{CheckReport, check, check_text};
pub use legacy::LegacyOptions;
pub use legacy_login::LegacyLogin;
pub use paths::{default_path, ngrok_paths};
pub use resolve::{
    ResolvedEndpoint, bind_tls_scheme, check_bindings, check_subdomain, kind_of_url,
    resolve_endpoint, resolve_tunnel, schemes,
};
pub use settings::{
    ConsoleColor, ConsoleUi, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TOLERANCE,
};
pub use types::{AgentSection, ConfigFile, EndpointConfig, TunnelConfig, UpstreamConfig};
pub use values::{GoDuration, LogTarget, Scalar, WebAddr, edge_addrs};

/// A config problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A located problem in a file.
    #[error("{file}:{line}:{col}: {path}{message}")]
    At {
        /// The file.
        file: String,
        /// 1-based line (0 when unknown).
        line: u32,
        /// 1-based column.
        col: u32,
        /// JSON path followed by `: `, or empty.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Several problems (from [`check`]).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
    /// A legacy option that cannot be translated.
    #[error("{0}")]
    Legacy(String),
    /// A problem with no location (e.g. after merging files).
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    pub(crate) fn at(
        file: &str,
        loc: (u32, u32),
        path: &[PathSeg],
        message: impl Into<String>,
    ) -> Self {
        let path = PathSeg::render(path);
        ConfigError::At {
            file: file.to_string(),
            line: loc.0,
            col: loc.1,
            path: if path.is_empty() {
                path
            } else {
                format!("{path}: ")
            },
            message: message.into(),
        }
    }
}

/// Several files merged.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Agent settings.
    pub agent: AgentSection,
    /// v3 endpoints, in order.
    pub endpoints: Vec<EndpointConfig>,
    /// v2 tunnels, by name.
    pub tunnels: BTreeMap<String, TunnelConfig>,
    /// The files read.
    pub files: Vec<PathBuf>,
    /// Warnings about keys the files set that sluice cannot act on, to show the user.
    pub warnings: Vec<String>,
    /// Set when no file was named and sluice's own default file is absent, so ngrok's default
    /// file (this one) was read instead.
    pub ngrok_fallback: Option<PathBuf>,
    /// For each agent key the files set, the file whose value won (the last to set it).
    pub agent_sources: BTreeMap<String, PathBuf>,
}

/// Reads one file (with `file:line:col` errors).
pub fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(&path.display().to_string(), &text, path)
}

/// Parses config text; `name` is used in errors and `path` is recorded as each endpoint's source.
pub fn parse_file(name: &str, text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    let node =
        parse(text).map_err(|(loc, msg)| ConfigError::at(name, (loc.line, loc.col), &[], msg))?;
    let mut file: ConfigFile = NodeDeserializer::deserialize(&node).map_err(|e| {
        let loc = e.loc.map_or((0, 0), |l| (l.line, l.col));
        ConfigError::at(name, loc, &e.path, e.message)
    })?;
    match file.version.as_ref().map(|v| v.0.as_str()) {
        Some("3") | Some("2") | None => {}
        Some(other) => {
            let loc = node
                .get("version")
                .map_or((0, 0), |n| (n.loc.line, n.loc.col));
            return Err(ConfigError::at(
                name,
                loc,
                &[PathSeg::Key("version".into())],
                format!("unsupported config version `{other}` (expected 3, or 2 for legacy files)"),
            ));
        }
    }
    let edges = [
        (
            file.agent.as_ref().and_then(|a| a.connect_url.as_deref()),
            ["agent", "connect_url"],
        ),
        (file.server_addr.as_deref(), ["server_addr", ""]),
    ];
    for (value, keys) in edges {
        if let Some(Err(msg)) = value.map(edge_addrs) {
            let at: Vec<PathSeg> = keys
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| PathSeg::Key((*k).into()))
                .collect();
            let loc = node.at(&at).map_or((0, 0), |n| (n.loc.line, n.loc.col));
            return Err(ConfigError::at(name, loc, &at, msg));
        }
    }
    file.warnings = unsupported::review(&file, &node, name)?;
    file.warnings.extend(legacy_login::deprecation_warnings(
        &file.tunnels,
        &node,
        name,
    ));
    for e in &mut file.endpoints {
        e.source = path.to_path_buf();
    }
    Ok(file)
}

impl Config {
    /// Overlays one file on the merged config.
    pub fn merge(&mut self, file: ConfigFile, path: &Path) {
        let settings = file.agent_settings();
        for key in settings.keys_set() {
            self.agent_sources
                .insert(key.to_owned(), path.to_path_buf());
        }
        self.agent.merge(&settings);
        self.warnings.extend(file.warnings.iter().cloned());
        for e in file.endpoints {
            match self.endpoints.iter_mut().find(|x| x.name == e.name) {
                Some(slot) => *slot = e,
                None => self.endpoints.push(e),
            }
        }
        self.tunnels.extend(file.tunnels);
        self.files.push(path.to_path_buf());
    }
}

/// Reads and merges `paths` in order; with no paths, the default file if it exists, else
/// ngrok's default file if that exists (see [`Config::ngrok_fallback`]).
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let defaults: Vec<PathBuf> = match paths {
        [] => match default_path().filter(|p| p.exists()) {
            Some(own) => vec![own],
            None => {
                let found = ngrok_paths().into_iter().find(|p| p.exists());
                if let Some(p) = &found {
                    let own = default_path().map(|d| d.display().to_string());
                    config.warnings.push(format!(
                        "reading ngrok's config file {} since sluice's own ({}) does not exist",
                        p.display(),
                        own.as_deref().unwrap_or("none")
                    ));
                }
                config.ngrok_fallback = found.clone();
                found.into_iter().collect()
            }
        },
        _ => paths.to_vec(),
    };
    for path in &defaults {
        let file = read_file(path)?;
        config.merge(file, path);
    }
    Ok(config)
}
