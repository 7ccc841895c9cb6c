//! Watching the certificate files the edge config names (`certificates:`): a change on disk
//! reloads the config as SIGHUP does, so a renewed certificate (certbot, a secret mount) is
//! served without a signal. The folders holding the files are watched, not the files, so a
//! file replaced by a rename or a symlink swap is seen too; events are debounced, so a
//! certificate and key written one after the other give one reload. A broken new file is
//! refused by the reload like any invalid config, and the old certificate keeps serving.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;

use crate::config::EdgeConfig;

/// Quiet time after the last change before the reload.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// The certificate and key files of `config`.
pub(crate) fn cert_files(config: &EdgeConfig) -> Vec<PathBuf> {
    config
        .certificates
        .iter()
        .flat_map(|c| c.files.iter().cloned())
        .collect()
}

/// A file as events name it: its folder resolved (absolute, symlinks followed), then its name.
fn normalized(path: &Path) -> Option<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Watches a set of files; each debounced change to one of them sends its path.
pub(crate) struct CertWatch {
    debouncer: Debouncer<RecommendedWatcher>,
    files: Arc<Mutex<HashSet<PathBuf>>>,
    folders: HashSet<PathBuf>,
}

impl CertWatch {
    /// A watcher over `files`, and the channel its changes arrive on.
    pub(crate) fn new(
        files: &[PathBuf],
    ) -> Result<(CertWatch, mpsc::UnboundedReceiver<PathBuf>), notify::Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let watched: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let seen = watched.clone();
        let debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| {
            let events = match events {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "watching certificate files");
                    return;
                }
            };
            let Ok(files) = seen.lock() else { return };
            let changed = events
                .iter()
                .filter_map(|e| normalized(&e.path))
                .find(|p| files.contains(p));
            if let Some(path) = changed {
                let _ = tx.send(path);
            }
        })?;
        let mut watch = CertWatch {
            debouncer,
            files: watched,
            folders: HashSet::new(),
        };
        watch.set(files);
        Ok((watch, rx))
    }

    /// Watches `files` from now on (the files of a newly loaded config).
    pub(crate) fn set(&mut self, files: &[PathBuf]) {
        let files: HashSet<PathBuf> = files.iter().filter_map(|f| normalized(f)).collect();
        let folders: HashSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        for gone in self.folders.difference(&folders) {
            let _ = self.debouncer.watcher().unwatch(gone);
        }
        for new in folders.difference(&self.folders) {
            if let Err(e) = self
                .debouncer
                .watcher()
                .watch(new, RecursiveMode::NonRecursive)
            {
                tracing::warn!(folder = %new.display(), error = %e, "cannot watch certificate files; SIGHUP still reloads them");
            }
        }
        self.folders = folders;
        if let Ok(mut watched) = self.files.lock() {
            *watched = files;
        }
    }
}
