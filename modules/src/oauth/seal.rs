//! Sealing cookie contents: AES-256-GCM (from `ring`, already the TLS crypto of the workspace)
//! under one key per process, so a session cookie is both secret and tamper-proof.
//!
//! The key comes from the host: `sluice edge` calls [`load_or_create_key`] with its state dir,
//! so a restart keeps users logged in. Without a host key (policy tests, `policy check`) a
//! random key is made once per process.

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Name of the key file in the edge's state dir.
pub const KEY_FILE: &str = "oauth-session.key";

const KEY_LEN: usize = 32;

/// A sealing key: seals and opens cookie values.
pub struct SealKey {
    key: LessSafeKey,
}

impl SealKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| format!("a session key is {KEY_LEN} bytes"))?;
        Ok(SealKey {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts and authenticates `plain`; `purpose` (e.g. the cookie name) is bound as
    /// associated data, so a value sealed for one cookie does not open as another.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| "sealing failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    /// Opens a value from [`SealKey::seal`]; `None` if it was altered, sealed for another
    /// purpose or under another key.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = B64.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// Fills `buf` from the system's secure random source.
pub fn random(buf: &mut [u8]) -> Result<(), String> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| "the system random source failed".to_string())
}

/// `n` random bytes as unpadded URL-safe base64 (states, nonces, PKCE verifiers).
pub fn random_token(n: usize) -> Result<String, String> {
    let mut buf = vec![0u8; n];
    random(&mut buf)?;
    Ok(B64.encode(buf))
}

fn slot() -> &'static RwLock<Option<Arc<SealKey>>> {
    static SLOT: OnceLock<RwLock<Option<Arc<SealKey>>>> = OnceLock::new();
    SLOT.get_or_init(|| RwLock::new(None))
}

/// The process's key: the installed one, else a random one made on first use.
pub fn current() -> Result<Arc<SealKey>, String> {
    if let Some(key) = slot()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        return Ok(key.clone());
    }
    let mut guard = slot()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(key) = guard.as_ref() {
        return Ok(key.clone());
    }
    let mut bytes = [0u8; KEY_LEN];
    random(&mut bytes)?;
    let key = Arc::new(SealKey::from_bytes(&bytes)?);
    *guard = Some(key.clone());
    Ok(key)
}

/// Loads the session key from `<dir>/oauth-session.key` (32 random bytes), creating it
/// (mode 0600) on first use, and installs it for every `oauth` / `openid-connect` action of
/// this process: sessions sealed before a restart still open after it.
pub fn load_or_create_key(dir: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = dir.join(KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            let mut bytes = vec![0u8; KEY_LEN];
            random(&mut bytes).map_err(std::io::Error::other)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(mut file) => {
                    file.write_all(&bytes)?;
                    bytes
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path)?,
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    let key = SealKey::from_bytes(&bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    *slot()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(key));
    Ok(())
}
