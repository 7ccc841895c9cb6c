//! Reloading the edge's config (on SIGHUP, a change to the file, or a change to a certificate
//! file it names): a valid new file whose policies prepare (see
//! [`crate::config::prepare_policies`]) swaps routes, policies and certificates; an invalid one
//! is refused with its errors and the running config keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sluice_policy::Registry;

use crate::cert_watch::cert_files;
use crate::config::{EdgeConfig, load_file_reusing, prepare_policies};
use crate::state::{Shared, State};

/// Modification time and size of the config file, to notice changes.
pub(crate) fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Re-reads the config; a valid one replaces routes, policies and certificates (and its
/// certificate files are returned, to be watched), an invalid one is refused with its errors
/// and the running config keeps serving.
pub(crate) async fn reload(
    path: &Path,
    registry: &Registry,
    running: &EdgeConfig,
    shared: &Shared,
    why: &str,
) -> Option<Vec<PathBuf>> {
    // The same Redis URL keeps the running store: one connection per edge across reloads.
    let store = shared.state.load().rate_limit_redis.clone();
    let loaded = match load_file_reusing(path, registry, store) {
        Ok(new) => prepare_policies(&new).await.map(|()| new),
        Err(e) => Err(e),
    };
    match loaded {
        Ok(new) => {
            let mut restart = Vec::new();
            if new.http != running.http || new.https != running.https {
                restart.push("listeners");
            }
            if new.admin != running.admin {
                restart.push("listeners.admin");
            }
            if new.state_dir != running.state_dir {
                restart.push("state_dir");
            }
            if new.idle_timeout != running.idle_timeout
                || new.header_read_timeout != running.header_read_timeout
                || new.body_timeouts != running.body_timeouts
            {
                restart.push("timeouts");
            }
            if new.auth_limits != running.auth_limits {
                restart.push("tunnel.auth_limits");
            }
            if new.acme != running.acme {
                restart.push("acme");
            }
            if new.events != running.events {
                restart.push("events");
            }
            shared.state.store(Arc::new(State::new(&new)));
            shared.metrics.reload("ok");
            tracing::info!(
                path = %path.display(),
                why,
                endpoints = new.endpoints.len(),
                certificates = new.certificates.len(),
                "config reloaded"
            );
            if !restart.is_empty() {
                tracing::warn!(
                    keys = %restart.join(", "),
                    "config changes that take effect after a restart"
                );
            }
            Some(cert_files(&new))
        }
        Err(e) => {
            shared.metrics.reload("refused");
            for d in &e.diagnostics {
                tracing::error!("{d}");
            }
            tracing::error!(
                path = %path.display(),
                why,
                "config reload refused; the running config keeps serving"
            );
            None
        }
    }
}
