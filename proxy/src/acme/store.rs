//! The ACME files in the state folder, one folder per CA directory so that switching CAs
//! never mixes accounts: `acme/<directory>/account.json` (the account's key, mode 0600) and
//! `acme/<directory>/certs/<name>.pem` with `<name>.key.pem` (mode 0600). A restart serves the
//! stored certificates at once and orders only what is missing or due.

use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;

use super::AcmeError;
use super::certs::ManagedCert;

/// The ACME folder of one CA directory.
#[derive(Debug, Clone)]
pub(super) struct Store {
    dir: PathBuf,
}

impl Store {
    /// The folder for `directory` under `state_dir`.
    pub(super) fn new(state_dir: &Path, directory: &str) -> Store {
        let slug: String = directory
            .trim_start_matches("https://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Store {
            dir: state_dir.join("acme").join(slug),
        }
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    fn cert_paths(&self, name: &str) -> (PathBuf, PathBuf) {
        let certs = self.dir.join("certs");
        (
            certs.join(format!("{name}.pem")),
            certs.join(format!("{name}.key.pem")),
        )
    }

    /// The stored account, if any.
    pub(super) fn load_account(&self) -> Result<Option<AccountCredentials>, AcmeError> {
        let path = self.account_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                AcmeError::Store(format!("{} is not an ACME account: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AcmeError::Store(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Stores the account (its private key included, so the file is private).
    pub(super) fn save_account(&self, credentials: &AccountCredentials) -> Result<(), AcmeError> {
        let text = serde_json::to_string(credentials)
            .map_err(|e| AcmeError::Store(format!("account: {e}")))?;
        write_private(&self.account_path(), &text)
    }

    /// Every stored certificate that still parses; a broken pair is logged and skipped.
    pub(super) fn load_certs(&self) -> Vec<(String, ManagedCert)> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("certs")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".pem").filter(|n| !n.ends_with(".key")) else {
                continue;
            };
            let (cert, key) = self.cert_paths(name);
            let loaded = std::fs::read_to_string(&cert)
                .and_then(|c| std::fs::read_to_string(&key).map(|k| (c, k)))
                .map_err(|e| AcmeError::Store(e.to_string()))
                .and_then(|(c, k)| ManagedCert::from_pem(&c, &k));
            match loaded {
                Ok(m) => out.push((name.to_string(), m)),
                Err(e) => tracing::warn!(
                    file = %cert.display(),
                    error = %e,
                    "ignoring a stored ACME certificate; a new one will be ordered"
                ),
            }
        }
        out
    }

    /// Stores `name`'s certificate chain and key, each replaced whole.
    pub(super) fn save_cert(
        &self,
        name: &str,
        chain_pem: &str,
        key_pem: &str,
    ) -> Result<(), AcmeError> {
        let (cert, key) = self.cert_paths(name);
        write_private(&key, key_pem)?;
        write_private(&cert, chain_pem)
    }
}

/// Writes `text` to `path` (mode 0600) through a temporary file renamed into place, so a
/// reader never sees half a file.
fn write_private(path: &Path, text: &str) -> Result<(), AcmeError> {
    use std::io::Write;
    let fail =
        |e: std::io::Error| AcmeError::Store(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(fail)
}
