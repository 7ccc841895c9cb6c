//! Sliding-window counters in Redis (the edge's `rate_limit.redis`), shared by every edge that
//! names the same server.
//!
//! A bucket keeps one Redis counter per fixed window, `<key>:<window index>`. One Lua script
//! (run with EVALSHA) reads the current and the previous window's counters, admits the request
//! when `prev * (1 - e/R) + curr + 1 <= capacity` (the in-memory estimate; the offset `e/R` is
//! taken in steps of 1/2^20 of the window, rounded toward the stricter side, so the arithmetic
//! stays exact in Lua's doubles), and then INCRs the current counter and sets it to expire
//! after two windows. Redis runs the script atomically, so edges never over-admit together.
//!
//! Failures never hold a request: each call has [`CALL_TIMEOUT`]; a failed or late call makes
//! the caller count locally, and Redis is then left alone for [`RETRY_AFTER`] before the next
//! try. An outage is logged once (warn) and its end once (info); [`RedisWindows::is_up`] says
//! which state it is in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sluice_policy::{SharedCountersError, SharedWindows, WindowCounts, WindowHit};
use tokio::sync::OnceCell;

/// Longest a request waits for Redis before it is counted locally.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// After a failure, how long requests are counted locally without trying Redis.
pub const RETRY_AFTER: Duration = Duration::from_millis(RETRY_AFTER_MS);
const RETRY_AFTER_MS: u64 = 1_000;
/// The window offset's resolution in the script: 2^20 steps, so `prev * steps` stays below
/// 2^53 for any capacity up to 2e9.
const OFFSET_STEPS: u128 = 1 << 20;
/// Kept past two windows, for edges whose clocks differ a little.
const EXPIRY_SLACK_MS: u128 = 10_000;

const SCRIPT: &str = r"
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local cap = tonumber(ARGV[1])
local rest = tonumber(ARGV[2])
local steps = tonumber(ARGV[3])
if prev * rest + (curr + 1) * steps <= cap * steps then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, prev, curr}
end
return {0, prev, curr}
";

/// An edge config's Redis URL that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RedisUrlError {
    /// Not `redis://…`.
    #[error(
        "`{0}` is not a Redis URL like redis://127.0.0.1:6379 (only redis:// is supported; no TLS, no unix sockets)"
    )]
    Scheme(String),
    /// The client refused it.
    #[error("`{url}`: {reason}")]
    Invalid {
        /// The URL as written.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The Redis store of an edge: one multiplexed connection, opened on first use and reopened
/// after failures, shared by every `rate-limit` action of the edge.
pub struct RedisWindows {
    client: redis::Client,
    /// The URL as configured.
    url: String,
    /// The URL without its password, for logs.
    shown: String,
    conn: OnceCell<ConnectionManager>,
    script: redis::Script,
    health: Health,
}

/// Whether Redis answers, and when to try it again after it did not.
struct Health {
    down: AtomicBool,
    /// Since `base`, in milliseconds: no call before this while `down`.
    retry_at_ms: AtomicU64,
    base: Instant,
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl std::fmt::Debug for RedisWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWindows")
            .field("url", &self.shown)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl RedisWindows {
    /// A store for `url` (`redis://[user:password@]host[:port][/db]`); nothing is dialled yet.
    pub fn new(url: &str) -> Result<Arc<Self>, RedisUrlError> {
        let shown = without_password(url);
        let Some(rest) = url.strip_prefix("redis://") else {
            return Err(RedisUrlError::Scheme(shown));
        };
        let invalid = |reason: String| RedisUrlError::Invalid {
            url: shown.clone(),
            reason,
        };
        let host_part = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        if host_part.is_empty() || host_part.starts_with('/') || host_part.starts_with(':') {
            return Err(invalid("give a host, as in redis://127.0.0.1:6379".into()));
        }
        let client = redis::Client::open(url).map_err(|e| invalid(e.to_string()))?;
        Ok(Arc::new(RedisWindows {
            client,
            url: url.to_string(),
            shown,
            conn: OnceCell::new(),
            script: redis::Script::new(SCRIPT),
            health: Health {
                down: AtomicBool::new(false),
                retry_at_ms: AtomicU64::new(0),
                base: Instant::now(),
            },
        }))
    }

    /// False from a failed call until the next call that succeeds.
    pub fn is_up(&self) -> bool {
        !self.health.down.load(Ordering::Relaxed)
    }

    /// Whether this store was made for `url`.
    pub fn is_for(&self, url: &str) -> bool {
        self.url == url
    }

    /// The URL, without its password.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        self.conn
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
    }

    async fn call(&self, hit: WindowHit<'_>) -> Result<WindowCounts, SharedCountersError> {
        let fail = |e: String| SharedCountersError(e);
        let mut conn = self.connection().await.map_err(|e| fail(e.to_string()))?;
        let w = hit.window.as_nanos().max(1);
        // The offset in steps, rounded down: the previous window weighs a little more.
        let rest = OFFSET_STEPS - (hit.offset_nanos.min(w - 1) * OFFSET_STEPS / w);
        let expiry_ms = 2 * hit.window.as_millis() + EXPIRY_SLACK_MS;
        let prev_index = hit.index.saturating_sub(1);
        let reply: Vec<i64> = self
            .script
            .key(format!("{}:{}", hit.key, hit.index))
            .key(format!("{}:{prev_index}", hit.key))
            .arg(hit.capacity)
            .arg(rest.to_string())
            .arg(OFFSET_STEPS.to_string())
            .arg(expiry_ms.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let [admitted, prev, curr] = reply[..] else {
            return Err(fail(format!("unexpected script reply {reply:?}")));
        };
        // At index 0 there is no previous window (the key is the current one).
        let prev = if hit.index == 0 { 0 } else { prev };
        Ok(WindowCounts {
            admitted: admitted == 1,
            prev: u64::try_from(prev).unwrap_or(0),
            curr: u64::try_from(curr).unwrap_or(0),
        })
    }

    fn failed(&self, e: &SharedCountersError) {
        let retry_at = self.health.now_ms().saturating_add(RETRY_AFTER_MS);
        self.health.retry_at_ms.store(retry_at, Ordering::Relaxed);
        if !self.health.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                redis = %self.shown,
                "rate-limit counters: Redis does not answer ({e}); counting on this edge \
                 alone until it does"
            );
        }
    }

    fn succeeded(&self) {
        if self.health.down.swap(false, Ordering::Relaxed) {
            tracing::info!(redis = %self.shown, "rate-limit counters: Redis answers again");
        }
    }
}

#[async_trait]
impl SharedWindows for RedisWindows {
    async fn admit(&self, hit: WindowHit<'_>) -> Result<WindowCounts, SharedCountersError> {
        if self.health.down.load(Ordering::Relaxed)
            && self.health.now_ms() < self.health.retry_at_ms.load(Ordering::Relaxed)
        {
            return Err(SharedCountersError("Redis is down; counted locally".into()));
        }
        let result = match tokio::time::timeout(CALL_TIMEOUT, self.call(hit)).await {
            Ok(r) => r,
            Err(_) => Err(SharedCountersError(format!(
                "no answer within {}ms",
                CALL_TIMEOUT.as_millis()
            ))),
        };
        match &result {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed(e),
        }
        result
    }
}

/// `url` with whatever precedes `@` (user and password) replaced by `…`, for logs and errors.
fn without_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// What a policy load counts in: `store` (if the edge has one) with keys made in `scope`
/// (`config` for the edge config's endpoints, `account:<name>` for what an account's agents
/// bind), so that no two accounts ever share a count.
pub fn shared_counters(
    store: &Option<Arc<RedisWindows>>,
    scope: &str,
) -> Option<sluice_policy::SharedCounters> {
    store.as_ref().map(|s| sluice_policy::SharedCounters {
        store: s.clone(),
        scope: Arc::from(scope),
    })
}
