//! Cached, periodically refreshed JWKS sources.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http::Uri;
use tokio::time::Instant;

use super::fetch::Fetcher;
use super::{JwtError, KeySet, TokenPolicy, VerifiedToken, verify_token};

/// Most JWKS URLs a single cache may hold.
pub const MAX_JWKS_SOURCES: usize = 100;

/// Timing and size limits for [`JwksCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksCacheConfig {
    /// Age after which cached keys are refetched (lazily or in the background).
    pub refresh_interval: Duration,
    /// Minimum time between two fetch attempts of one source, for refetches
    /// triggered by an unknown `kid` and for retries after a failure.
    pub min_refetch_interval: Duration,
    /// Timeout for one whole fetch (connect, headers and body).
    pub fetch_timeout: Duration,
    /// Largest accepted JWKS response body, in bytes.
    pub max_response_bytes: usize,
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(15 * 60),
            min_refetch_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// Keys fetched from one or more JWKS URLs (`additional_jkus`), merged in
/// source order. Cloning is cheap and clones share the cache.
///
/// All sources must have been fetched successfully once; afterwards a failed
/// refresh keeps serving the previous keys of that source.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

struct Inner {
    sources: Vec<Source>,
    config: JwksCacheConfig,
    fetcher: Fetcher,
    generation: AtomicU64,
    merged: Mutex<Option<(u64, Arc<KeySet>)>>,
}

struct Source {
    url: Uri,
    state: Mutex<SourceState>,
    fetch_lock: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SourceState {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    last_error: Option<JwtError>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Fetch when missing or older than the refresh interval.
    Lazy,
    /// Fetch unless attempted within the minimum refetch interval.
    Force,
}

enum Decision {
    Ready,
    Fetch,
    Fail(JwtError),
}

impl JwksCache {
    /// Creates a cache for 1 to [`MAX_JWKS_SOURCES`] `http(s)://` URLs.
    /// Nothing is fetched until [`JwksCache::keys`] is first called.
    pub fn new(
        urls: impl IntoIterator<Item = impl AsRef<str>>,
        config: JwksCacheConfig,
    ) -> Result<Self, JwtError> {
        let sources = urls
            .into_iter()
            .map(|url| parse_url(url.as_ref()))
            .map(|url| {
                url.map(|url| Source {
                    url,
                    state: Mutex::new(SourceState::default()),
                    fetch_lock: tokio::sync::Mutex::new(()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if sources.is_empty() || sources.len() > MAX_JWKS_SOURCES {
            return Err(JwtError::InvalidConfig(format!(
                "between 1 and {MAX_JWKS_SOURCES} JWKS URLs are required, got {}",
                sources.len()
            )));
        }
        let fetcher = Fetcher::new(config.fetch_timeout, config.max_response_bytes)?;
        Ok(Self {
            inner: Arc::new(Inner {
                sources,
                config,
                fetcher,
                generation: AtomicU64::new(0),
                merged: Mutex::new(None),
            }),
        })
    }

    /// The configured JWKS URLs, in order.
    pub fn urls(&self) -> impl Iterator<Item = &Uri> {
        self.inner.sources.iter().map(|source| &source.url)
    }

    /// The merged keys of all sources, fetching any source that is missing or
    /// stale. Fails with 3422 (naming the URL) if a source has never been
    /// fetched successfully.
    pub async fn keys(&self) -> Result<Arc<KeySet>, JwtError> {
        for source in &self.inner.sources {
            self.inner.ensure(source, Mode::Lazy).await?;
        }
        Ok(self.inner.merged())
    }

    /// Like [`JwksCache::keys`], but if no key has this `kid`, refetches every
    /// source not attempted within `min_refetch_interval` (key rotation).
    pub async fn keys_for_kid(&self, kid: &str) -> Result<Arc<KeySet>, JwtError> {
        let keys = self.keys().await?;
        if keys.contains_kid(kid) {
            return Ok(keys);
        }
        for source in &self.inner.sources {
            self.inner.ensure(source, Mode::Force).await?;
        }
        Ok(self.inner.merged())
    }

    /// Verifies `token` with the cached keys; when the token names an unknown
    /// `kid`, refetches (rate-limited) and retries once.
    pub async fn verify(
        &self,
        token: &str,
        policy: &TokenPolicy,
        now: SystemTime,
    ) -> Result<VerifiedToken, JwtError> {
        let keys = self.keys().await?;
        match verify_token(token, &keys, policy, now) {
            Err(JwtError::KeyNotFound { kid: Some(kid), .. }) if !keys.contains_kid(&kid) => {
                let keys = self.keys_for_kid(&kid).await?;
                verify_token(token, &keys, policy, now)
            }
            result => result,
        }
    }
}

impl Inner {
    fn decide(&self, source: &Source, mode: Mode) -> Decision {
        let state = source.state.lock().unwrap_or_else(PoisonError::into_inner);
        let within =
            |at: Option<Instant>, period: Duration| at.is_some_and(|t| t.elapsed() < period);
        if mode == Mode::Lazy
            && state.keys.is_some()
            && within(state.fetched_at, self.config.refresh_interval)
        {
            return Decision::Ready;
        }
        if within(state.attempted_at, self.config.min_refetch_interval) {
            return match (&state.keys, &state.last_error) {
                (Some(_), _) => Decision::Ready,
                (None, Some(err)) => Decision::Fail(err.clone()),
                (None, None) => Decision::Fetch,
            };
        }
        Decision::Fetch
    }

    async fn ensure(&self, source: &Source, mode: Mode) -> Result<(), JwtError> {
        match self.decide(source, mode) {
            Decision::Ready => return Ok(()),
            Decision::Fail(err) => return Err(err),
            Decision::Fetch => {}
        }
        let _guard = source.fetch_lock.lock().await;
        // Another task may have fetched while we waited for the lock.
        match self.decide(source, mode) {
            Decision::Ready => return Ok(()),
            Decision::Fail(err) => return Err(err),
            Decision::Fetch => {}
        }
        let result = self.fetcher.fetch(&source.url).await;
        let mut state = source.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        state.attempted_at = Some(now);
        match result {
            Ok(keys) => {
                state.keys = Some(Arc::new(keys));
                state.fetched_at = Some(now);
                state.last_error = None;
                self.generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(err) => {
                state.last_error = Some(err.clone());
                if state.keys.is_some() {
                    tracing::warn!(%err, "JWKS refresh failed; keeping previous keys");
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    fn merged(&self) -> Arc<KeySet> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_generation, keys)) = merged.as_ref()
            && *cached_generation == generation
        {
            return Arc::clone(keys);
        }
        let mut keys = KeySet::new();
        for source in &self.sources {
            let state = source.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(source_keys) = &state.keys {
                keys.extend_from(source_keys);
            }
        }
        let keys = Arc::new(keys);
        *merged = Some((generation, Arc::clone(&keys)));
        keys
    }
}

fn parse_url(url: &str) -> Result<Uri, JwtError> {
    let invalid = |reason: &str| JwtError::InvalidConfig(format!("JWKS URL `{url}` {reason}"));
    let uri: Uri = url.parse().map_err(|_| invalid("is not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("must use http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    Ok(uri)
}
