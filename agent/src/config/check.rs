//! `config check`: validates a config file, every endpoint's upstream and every traffic policy
//! (with the actions of the registry the binary was built with, as `sluice start` loads them),
//! reporting each problem as `file:line:col: path: message`.

use std::path::Path;
use std::sync::Arc;

use sluice_policy::{IpPolicyNames, LoadOptions, PolicyError, Registry, load_node, load_policy};
use sluice_source::{Node, PathSeg, parse};

use super::resolve::{check_bindings, resolve_endpoint, resolve_tunnel};
use super::types::EndpointConfig;
use super::{ConfigError, parse_file};

/// What a valid file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Number of v3 endpoints.
    pub endpoints: usize,
    /// Number of v2 tunnels.
    pub tunnels: usize,
    /// Policy warnings, rendered.
    pub warnings: Vec<String>,
}

fn policy_errors(err: PolicyError, prefix: &[PathSeg], out: &mut Vec<ConfigError>) {
    let prefix = PathSeg::render(prefix);
    for d in err.errors() {
        let path = match (prefix.is_empty(), d.path.is_empty()) {
            (true, _) => d.path.clone(),
            (false, true) => prefix.clone(),
            (false, false) => format!("{prefix}.{}", d.path),
        };
        out.push(ConfigError::At {
            file: d.file.to_string(),
            line: d.loc.line,
            col: d.loc.col,
            path: if path.is_empty() {
                path
            } else {
                format!("{path}: ")
            },
            message: format!("{} [{}]", d.message, d.code),
        });
    }
}

fn loc_of(node: &Node, path: &[PathSeg]) -> (u32, u32) {
    node.at(path).map_or((0, 0), |n| (n.loc.line, n.loc.col))
}

/// Validates the file at `path`; policies may use the actions of `registry`.
pub fn check(path: &Path, registry: &Registry) -> Result<CheckReport, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check_text(&name, &text, path, registry)
}

/// Validates config text; `name` is used in messages, `path` to find policy files, and
/// policies may use the actions of `registry`.
pub fn check_text(
    name: &str,
    text: &str,
    path: &Path,
    registry: &Registry,
) -> Result<CheckReport, ConfigError> {
    let file = parse_file(name, text, path)?;
    let root =
        parse(text).map_err(|(loc, m)| ConfigError::at(name, (loc.line, loc.col), &[], m))?;
    let file_name: Arc<str> = Arc::from(name);
    let mut errors = Vec::new();
    let mut report = CheckReport {
        endpoints: file.endpoints.len(),
        tunnels: file.tunnels.len(),
        warnings: file.warnings.clone(),
    };
    for (i, e) in file.endpoints.iter().enumerate() {
        let at = |k: &str| {
            vec![
                PathSeg::Key("endpoints".into()),
                PathSeg::Index(i),
                PathSeg::Key(k.into()),
            ]
        };
        if file.endpoints[..i].iter().any(|x| x.name == e.name) {
            errors.push(ConfigError::at(
                name,
                loc_of(&root, &at("name")),
                &at("name"),
                format!("duplicate endpoint name `{}`", e.name),
            ));
        }
        if let Err(m) = check_bindings(e.bindings.as_deref().unwrap_or_default(), e.url.as_deref())
        {
            errors.push(ConfigError::at(
                name,
                loc_of(&root, &at("bindings")),
                &at("bindings"),
                m,
            ));
            continue;
        }
        let resolved = match resolve_endpoint(&EndpointConfig {
            traffic_policy_file: None,
            ..e.clone()
        }) {
            Ok(r) => r,
            Err(err) => {
                errors.push(ConfigError::at(
                    name,
                    loc_of(&root, &at("upstream")),
                    &at("upstream"),
                    err.to_string(),
                ));
                continue;
            }
        };
        // The edge refuses secrets read from its own machine in an agent's policy.
        let options = LoadOptions {
            protocol: Some(resolved.kind.protocol(resolved.url.as_deref())),
            local_secrets: false,
            // The edge resolves named IP policies when it loads the policy at bind.
            ip_policies: IpPolicyNames::Deferred,
            shared_counters: None,
        };
        let result = match (&e.traffic_policy, &e.traffic_policy_file) {
            (Some(_), Some(_)) => {
                errors.push(ConfigError::at(
                    name,
                    loc_of(&root, &at("traffic_policy_file")),
                    &at("traffic_policy_file"),
                    "set traffic_policy or traffic_policy_file, not both",
                ));
                continue;
            }
            (Some(_), None) => match root.at(&at("traffic_policy")) {
                Some(node) => load_node(&file_name, node, registry, options)
                    .map_err(|err| (err, at("traffic_policy"))),
                None => continue,
            },
            (None, Some(f)) => {
                let p = match path.parent() {
                    Some(dir) if Path::new(f).is_relative() => dir.join(f),
                    _ => Path::new(f).to_path_buf(),
                };
                match std::fs::read_to_string(&p) {
                    Ok(t) => load_policy(&p.display().to_string(), &t, registry, options)
                        .map_err(|err| (err, Vec::new())),
                    Err(source) => {
                        errors.push(ConfigError::Io { path: p, source });
                        continue;
                    }
                }
            }
            (None, None) => continue,
        };
        match result {
            Ok(policy) => report
                .warnings
                .extend(policy.warnings().iter().map(ToString::to_string)),
            Err((err, prefix)) => policy_errors(err, &prefix, &mut errors),
        }
    }
    for (tname, t) in &file.tunnels {
        let at = vec![PathSeg::Key("tunnels".into()), PathSeg::Key(tname.clone())];
        match resolve_tunnel(tname, t) {
            Err(err) => errors.push(ConfigError::at(
                name,
                loc_of(&root, &at),
                &at,
                err.to_string(),
            )),
            Ok(r) => {
                let Some(text) = &r.traffic_policy else {
                    continue;
                };
                let options = LoadOptions {
                    protocol: Some(r.kind.protocol(r.url.as_deref())),
                    local_secrets: false,
                    ip_policies: IpPolicyNames::Deferred,
                    shared_counters: None,
                };
                let label = format!("{name} (policy of tunnel `{tname}`)");
                if let Err(err) = load_policy(&label, text, registry, options) {
                    policy_errors(err, &[], &mut errors);
                }
            }
        }
    }
    match errors.len() {
        0 => Ok(report),
        1 => Err(errors.remove(0)),
        _ => Err(ConfigError::Many(errors)),
    }
}
