//! The request URL as policies see it (`req.url` and its subfields).

use crate::exchange::EndpointInfo;

/// The parts of the request URL that policies read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host without port.
    pub host: String,
    /// Port, when written or implied by the endpoint.
    pub port: Option<u16>,
    /// Path with its leading `/`.
    pub path: String,
    /// Query without `?`.
    pub query: String,
    /// `user:password` written before `@` in the authority (absolute-form requests), or "".
    pub userinfo: String,
}

impl RequestUrl {
    /// Works the URL out from the request head and the endpoint.
    pub fn of(req: &http::request::Parts, endpoint: &EndpointInfo) -> RequestUrl {
        let scheme =
            req.uri
                .scheme_str()
                .map(str::to_string)
                .unwrap_or_else(|| match endpoint.protocol {
                    crate::Protocol::Https | crate::Protocol::Tls => "https".into(),
                    _ => "http".into(),
                });
        let authority = req
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                req.headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| endpoint.host.clone());
        let (host, port) = split_host_port(&authority);
        let userinfo = authority
            .rsplit_once('@')
            .map(|(u, _)| u.to_string())
            .unwrap_or_default();
        RequestUrl {
            scheme,
            host,
            port,
            path: req.uri.path().to_string(),
            query: req.uri.query().unwrap_or_default().to_string(),
            userinfo,
        }
    }

    /// `host[:port]` as written in the URL (default ports left out).
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) if !self.is_default_port(p) => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    /// The URL's authority as RFC 3986 has it: `user:password@host[:port]` when the request
    /// gave user information (`req.url.authority`), else the same as [`Self::authority`].
    pub fn authority_with_userinfo(&self) -> String {
        if self.userinfo.is_empty() {
            self.authority()
        } else {
            format!("{}@{}", self.userinfo, self.authority())
        }
    }

    fn is_default_port(&self, port: u16) -> bool {
        (self.scheme == "http" && port == 80) || (self.scheme == "https" && port == 443)
    }

    /// Path plus `?query` when there is one.
    pub fn uri(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The full URL: `scheme://authority/path?query`.
    pub fn full(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority(), self.uri())
    }

    /// The full URL with its user information, as `req.url` gives it.
    pub fn full_with_userinfo(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme,
            self.authority_with_userinfo(),
            self.uri()
        )
    }
}

fn split_host_port(authority: &str) -> (String, Option<u16>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (format!("[{host}]"), port);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (h.to_string(), p.parse().ok())
        }
        _ => (authority.to_string(), None),
    }
}

/// Splits `a=1&b=2` into decoded pairs (`+` is a space; a malformed `%` escape is kept as
/// written; invalid UTF-8 becomes U+FFFD).
pub(crate) fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_pairs() {
        assert_eq!(
            url_decode_pairs("a=1&b=x%20y&c&d=%zz&e=a+b"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into()),
                ("d".into(), "%zz".into()),
                ("e".into(), "a b".into()),
            ]
        );
    }

    #[test]
    fn splits_host_and_port() {
        assert_eq!(
            split_host_port("a.example:8080"),
            ("a.example".into(), Some(8080))
        );
        assert_eq!(split_host_port("[::1]:443"), ("[::1]".into(), Some(443)));
        assert_eq!(split_host_port("a.example"), ("a.example".into(), None));
    }
}
