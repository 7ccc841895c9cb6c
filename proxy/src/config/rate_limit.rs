//! `rate_limit:` of the edge config: the Redis server that `rate-limit` counts in, shared by
//! every edge that names it (see `docs/cluster.md`, "Shared rate-limit counters").

use std::sync::Arc;

use super::check::{Checker, key};
use super::raw::RawRateLimit;
use crate::rate_limit_redis::RedisWindows;

/// Validates `rate_limit:`; the store it gives dials nothing until a request needs it. A
/// reload that names the `running` store's URL again keeps that store (one connection).
pub(super) fn rate_limit_section(
    cx: &mut Checker<'_>,
    raw: &RawRateLimit,
    running: Option<Arc<RedisWindows>>,
) -> Option<Arc<RedisWindows>> {
    let url = raw.redis.trim();
    if let Some(store) = running.filter(|r| r.is_for(url)) {
        return Some(store);
    }
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
        assert_eq!(store.shown_url(), "redis://…@10.0.0.5:6380/2");
    }

    #[test]
    fn a_reload_naming_the_same_url_keeps_the_store() {
        let text = format!("{BASE}rate_limit:\n  redis: redis://10.0.0.5:6379\n");
        let load_with = |text: &str, running| {
            crate::config::load::load_text(
                &Arc::from("edge.yml"),
                text,
                Path::new("/etc/sluice"),
                &sluice_modules::builtin_registry(),
                running,
            )
            .unwrap()
            .rate_limit_redis
            .unwrap()
        };
        let first = load_with(&text, None);
        let again = load_with(&text, Some(first.clone()));
        assert!(Arc::ptr_eq(&first, &again));
        let moved = load_with(
            &format!("{BASE}rate_limit:\n  redis: redis://10.0.0.6:6379\n"),
            Some(first.clone()),
        );
        assert!(!Arc::ptr_eq(&first, &moved));
        assert!(load(BASE).unwrap().rate_limit_redis.is_none());
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
            (
                "  redis: rediss://u:hunter2@h:6379\n",
                "edge.yml:6:10",
                "rediss://…@h:6379",
            ),
        ];
        for (section, at, what) in cases {
            let e = load(&format!("{BASE}rate_limit:\n{section}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(at) && e.contains(what), "{section}: {e}");
            assert!(!e.contains("hunter2"), "no password in errors: {e}");
        }
    }
}
