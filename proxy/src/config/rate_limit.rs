//! `rate_limit:` of the edge config: the Redis server that `rate-limit` counts in, shared by
//! every edge that names it (see `docs/cluster.md`, "Shared rate-limit counters").

use std::sync::Arc;

use super::check::{Checker, key};
use super::raw::RawRateLimit;
use crate::rate_limit_redis::RedisWindows;

/// Validates `rate_limit:`; the store it gives dials nothing until a request needs it.
pub(super) fn rate_limit_section(
    cx: &mut Checker<'_>,
    raw: &RawRateLimit,
) -> Option<Arc<RedisWindows>> {
    let url = raw.redis.trim();
    match RedisWindows::new(url) {
        Ok(store) => Some(store),
        Err(e) => {
            cx.error(&[key("rate_limit"), key("redis")], e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

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
    fn no_rate_limit_section_counts_in_memory() {
        assert!(load(BASE).unwrap().rate_limit_redis.is_none());
    }

    #[test]
    fn a_redis_url_is_taken() {
        let c = load(&format!(
            "{BASE}rate_limit:\n  redis: redis://:secret@10.0.0.5:6380/2\n"
        ))
        .unwrap();
        let store = c.rate_limit_redis.unwrap();
        assert_eq!(store.url(), "redis://…@10.0.0.5:6380/2");
    }

    #[test]
    fn bad_redis_urls_are_located() {
        let cases = [
            (
                "  redis: rediss://10.0.0.5:6379\n",
                "edge.yml:6:10",
                "only redis://",
            ),
            (
                "  redis: http://10.0.0.5:6379\n",
                "edge.yml:6:10",
                "not a Redis URL",
            ),
            ("  redis: redis://\n", "edge.yml:6:10", "give a host"),
            (
                "  redis: redis://h:notaport\n",
                "edge.yml:6:10",
                "redis://h:notaport",
            ),
            ("  url: redis://h\n", "edge.yml:6:", "url"),
        ];
        for (section, at, what) in cases {
            let e = load(&format!("{BASE}rate_limit:\n{section}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(at) && e.contains(what), "{section}: {e}");
        }
    }
}
