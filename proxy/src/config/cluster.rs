//! `cluster:` of the edge config: the etcd members, this edge's id, its inter-edge listener
//! and lease, validated with their locations (see `docs/cluster.md`).

use std::path::Path;
use std::time::Duration;

use super::check::{Checker, key, parse_duration};
use super::model::ClusterConfig;
use super::raw::RawCluster;

/// Lease lifetime when none is given.
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// Validates `cluster:`; `state_dir` gives the default CA folder.
pub(super) fn cluster_section(
    cx: &mut Checker<'_>,
    raw: &RawCluster,
    base: &Path,
    state_dir: &Path,
) -> Option<ClusterConfig> {
    let before = cx.diagnostics.len();
    let at = |k: &'static str| [key("cluster"), key(k)];
    if raw.etcd.is_empty() {
        cx.error(
            &at("etcd"),
            "give at least one etcd client URL (http://host:2379)",
        );
    }
    let mut etcd = Vec::new();
    for (i, url) in raw.etcd.iter().enumerate() {
        let url = url.trim().trim_end_matches('/').to_string();
        let path = [
            key("cluster"),
            key("etcd"),
            sluice_source::PathSeg::Index(i),
        ];
        match url.strip_prefix("http://") {
            Some(rest) if !rest.is_empty() && !rest.contains('/') => etcd.push(url),
            _ if url.starts_with("https://") => cx.error(
                &path,
                format!("`{url}`: TLS to etcd is not supported yet; give an http:// URL"),
            ),
            _ => cx.error(
                &path,
                format!("`{url}` is not an etcd URL like http://host:2379"),
            ),
        }
    }
    let id = raw.edge_id.trim().to_string();
    let id_ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !id_ok {
        cx.error(
            &at("edge_id"),
            format!("`{id}`: an edge id is 1 to 63 letters, digits, `-`, `_` or `.`"),
        );
    }
    let listen = cx.socket_addr(&raw.listen, &at("listen"));
    let advertise = match &raw.advertise {
        Some(a) => cx.socket_addr(a, &at("advertise")),
        None => listen,
    };
    if let (None, Some(l)) = (&raw.advertise, listen)
        && l.ip().is_unspecified()
    {
        cx.error(
            &at("listen"),
            format!("{l} listens on every address: give `advertise`, the address other edges dial"),
        );
    }
    let lease_ttl = match &raw.lease_ttl {
        None => Some(DEFAULT_LEASE_TTL),
        Some(t) => match parse_duration(t) {
            Some(d)
                if d.subsec_nanos() == 0
                    && (Duration::from_secs(2)..=Duration::from_secs(600)).contains(&d) =>
            {
                Some(d)
            }
            _ => {
                cx.error(
                    &at("lease_ttl"),
                    format!("`{t}`: give whole seconds from 2s to 10m"),
                );
                None
            }
        },
    };
    let ca_dir = raw
        .ca_dir
        .as_ref()
        .map_or_else(|| state_dir.join("cluster"), |d| base.join(d));
    if cx.diagnostics.len() > before {
        return None;
    }
    Some(ClusterConfig {
        etcd,
        edge_id: id,
        listen: listen?,
        advertise: advertise?,
        lease_ttl: lease_ttl?,
        ca_dir,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::config::{ConfigError, EdgeConfig, load_str};

    const BASE: &str = "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nstate_dir: st\n";

    fn load(text: &str) -> Result<EdgeConfig, ConfigError> {
        load_str(
            &Arc::from("edge.yml"),
            text,
            Path::new("/etc/sluice"),
            &sluice_modules::builtin_registry(),
        )
    }

    #[test]
    fn no_cluster_section_is_a_single_edge() {
        assert_eq!(load(BASE).unwrap().cluster, None);
    }

    #[test]
    fn a_cluster_section_is_read_with_defaults() {
        let c = load(&format!(
            "{BASE}cluster:\n  etcd: [http://10.0.0.5:2379/]\n  edge_id: edge-a\n  listen: 127.0.0.1:7443\n"
        ))
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(c.etcd, vec!["http://10.0.0.5:2379".to_string()]);
        assert_eq!(c.edge_id, "edge-a");
        assert_eq!(c.advertise, c.listen);
        assert_eq!(c.lease_ttl, Duration::from_secs(10));
        assert_eq!(c.ca_dir, Path::new("/etc/sluice/st/cluster"));
    }

    #[test]
    fn cluster_errors_are_located() {
        let cases = [
            (
                "  etcd: [http://e:2379]\n  edge_id: a\n  listen: 127.0.0.1:7443\n  lease: 3s\n",
                "edge.yml:9:",
                "lease",
            ),
            (
                "  etcd: [https://e:2379]\n  edge_id: a\n  listen: 127.0.0.1:7443\n",
                "edge.yml:6:",
                "TLS to etcd",
            ),
            (
                "  etcd: []\n  edge_id: a\n  listen: 127.0.0.1:7443\n",
                "edge.yml:6:",
                "at least one",
            ),
            (
                "  etcd: [http://e:2379]\n  edge_id: a b\n  listen: 127.0.0.1:7443\n",
                "edge.yml:7:",
                "edge id",
            ),
            (
                "  etcd: [http://e:2379]\n  edge_id: a\n  listen: 0.0.0.0:7443\n",
                "edge.yml:8:",
                "advertise",
            ),
            (
                "  etcd: [http://e:2379]\n  edge_id: a\n  listen: 127.0.0.1:7443\n  lease_ttl: 1500ms\n",
                "edge.yml:9:",
                "whole seconds",
            ),
        ];
        for (section, at, what) in cases {
            let e = load(&format!("{BASE}cluster:\n{section}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(at) && e.contains(what), "{section}: {e}");
        }
    }
}
