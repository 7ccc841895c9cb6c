//! The routing table: Host → endpoint. An exact name beats a wildcard, and among wildcards the
//! most specific (longest suffix) wins: `foo.bar.example.com` goes to `*.bar.example.com` before
//! `*.example.com`. A wildcard matches one or more labels and never the bare suffix.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Endpoint;

/// Host-name routing over a fixed set of endpoints.
#[derive(Debug, Default)]
pub struct Routes<T = Arc<Endpoint>> {
    exact: HashMap<String, T>,
    /// `(".example.com", target)`, longest suffix first.
    wildcards: Vec<(String, T)>,
}

impl<T: Clone> Routes<T> {
    /// Builds the table from `(host pattern, target)` pairs; patterns are lower case.
    pub fn new(entries: impl IntoIterator<Item = (String, T)>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for (pattern, target) in entries {
            if let Some(suffix) = pattern.strip_prefix('*') {
                wildcards.push((suffix.to_string(), target));
            } else {
                exact.insert(pattern, target);
            }
        }
        wildcards.sort_by_key(|w: &(String, T)| std::cmp::Reverse(w.0.len()));
        Routes { exact, wildcards }
    }

    /// The target for a `Host` header value (port and trailing dot ignored, case-insensitive).
    pub fn lookup(&self, host: &str) -> Option<T> {
        let name = normalize(host);
        if let Some(t) = self.exact.get(&name) {
            return Some(t.clone());
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix.as_str()))
            .map(|(_, t)| t.clone())
    }
}

/// The patterns that can serve the normalized name `name`, most specific first: the name
/// itself, then `*.` over each parent (`a.b.example.com`: `*.b.example.com`, `*.example.com`,
/// `*.com`). The first one served wins, for agent-bound HTTP names and TLS names alike.
pub fn candidates(name: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(name.to_string()).chain(
        name.match_indices('.')
            .filter(|(i, _)| *i > 0)
            .map(|(i, _)| format!("*{}", &name[i..])),
    )
}

impl<T: Clone> Routes<T> {
    /// How specific the pattern serving `host` is: its position in [`candidates`] (0: the
    /// exact name), or `None` when nothing serves it.
    pub fn rank(&self, host: &str) -> Option<usize> {
        let name = normalize(host);
        candidates(&name).enumerate().find_map(|(i, c)| {
            let hit = match c.strip_prefix('*') {
                Some(suffix) => self.wildcards.iter().any(|(s, _)| s == suffix),
                None => self.exact.contains_key(&c),
            };
            hit.then_some(i)
        })
    }
}

/// Lower-cases a host and drops its port and trailing dot.
pub fn normalize(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Routes<&'static str> {
        Routes::new([
            ("app.example.com".to_string(), "exact"),
            ("*.example.com".to_string(), "wide"),
            ("*.bar.example.com".to_string(), "narrow"),
        ])
    }

    #[test]
    fn exact_beats_wildcard() {
        assert_eq!(table().lookup("app.example.com"), Some("exact"));
    }

    #[test]
    fn most_specific_wildcard_wins() {
        let t = table();
        assert_eq!(t.lookup("foo.bar.example.com"), Some("narrow"));
        assert_eq!(t.lookup("a.foo.bar.example.com"), Some("narrow"));
        assert_eq!(t.lookup("foo.example.com"), Some("wide"));
    }

    #[test]
    fn wildcard_needs_a_label() {
        let t = table();
        assert_eq!(t.lookup("example.com"), None);
        assert_eq!(t.lookup("bar.example.com"), Some("wide"));
        assert_eq!(t.lookup("xexample.com"), None);
    }

    #[test]
    fn port_case_and_dot_are_ignored() {
        let t = table();
        assert_eq!(t.lookup("APP.Example.com:8080"), Some("exact"));
        assert_eq!(t.lookup("app.example.com."), Some("exact"));
        assert_eq!(t.lookup("other.org"), None);
    }

    #[test]
    fn candidates_go_from_the_name_to_ever_wider_wildcards() {
        let all: Vec<String> = candidates("a.b.example.com").collect();
        assert_eq!(
            all,
            [
                "a.b.example.com",
                "*.b.example.com",
                "*.example.com",
                "*.com"
            ]
        );
        let t = table();
        assert_eq!(t.rank("app.example.com"), Some(0));
        assert_eq!(t.rank("foo.bar.example.com"), Some(1));
        assert_eq!(t.rank("foo.example.com"), Some(1));
        assert_eq!(t.rank("a.foo.example.com"), Some(2));
        assert_eq!(t.rank("other.org"), None);
    }

    #[test]
    fn normalize_v6() {
        assert_eq!(normalize("[::1]:8080"), "::1");
        assert_eq!(normalize("localhost"), "localhost");
    }
}
