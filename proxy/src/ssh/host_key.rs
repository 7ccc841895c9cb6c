//! The SSH gateway's host key: an Ed25519 key made on first start and kept in the state folder
//! (`ssh_host_ed25519_key`, mode 0600), so clients that trusted it once keep trusting it.

use std::path::Path;

use anyhow::Context;
use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;

/// The file name of the host key in the state folder.
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// Loads the host key from `state_dir`, making and saving one the first time.
pub fn load_or_create(state_dir: &Path) -> anyhow::Result<PrivateKey> {
    let path = state_dir.join(HOST_KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return PrivateKey::from_openssh(text)
            .with_context(|| format!("{} is not an OpenSSH private key", path.display()));
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let seed: [u8; 32] = rand::random();
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key
        .to_openssh(LineEnding::LF)
        .context("encoding the SSH host key")?;
    write_private(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "made a new SSH host key");
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_kept() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("sluice-host-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = load_or_create(&dir)?;
        let again = load_or_create(&dir)?;
        assert_eq!(first.public_key(), again.public_key());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
