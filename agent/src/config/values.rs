//! Small value types of the config file: scalars written as numbers or strings, Go durations
//! (`10s`, `1m30s`, `500ms`), `web_addr` (an address or `false`) and `log` targets.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A scalar kept as text, whether written `8080` or `"8080"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scalar(pub String);

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A duration written the Go way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

/// Parses a duration with Go's grammar (`300ms`, `10s`, `1m30s`, `1.5h`; see
/// [`sluice_wire::duration`]); `None` when it is not one.
pub fn parse_duration(s: &str) -> Option<Duration> {
    sluice_wire::parse_duration(s).ok()
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?;
        parse_duration(&s.0).map(GoDuration).ok_or_else(|| {
            de::Error::custom(format!("invalid duration `{s}` (e.g. 10s, 500ms, 1m30s)"))
        })
    }
}

/// `web_addr`: an address, or `false` to turn the web interface off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebAddr {
    /// Disabled.
    Disabled,
    /// Listen here.
    Addr(SocketAddr),
}

impl Default for WebAddr {
    fn default() -> Self {
        WebAddr::Addr(SocketAddr::from(([127, 0, 0, 1], 4040)))
    }
}

/// Parses `host:port` (`localhost` means 127.0.0.1) or a bare port.
pub fn parse_web_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(port) = s.parse::<u16>() {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    }
    s.parse().ok()
}

struct WebAddrVisitor;

impl Visitor<'_> for WebAddrVisitor {
    type Value = WebAddr;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an address such as 127.0.0.1:4040, or false")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<WebAddr, E> {
        if v {
            Err(E::custom(
                "web_addr: true is not an address; use an address or false",
            ))
        } else {
            Ok(WebAddr::Disabled)
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<WebAddr, E> {
        if v == "false" {
            return Ok(WebAddr::Disabled);
        }
        parse_web_addr(v).map(WebAddr::Addr).ok_or_else(|| {
            E::custom(format!(
                "invalid web_addr `{v}` (expected host:port or false)"
            ))
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WebAddr, E> {
        self.visit_str(&v.to_string())
    }
}

impl<'de> Deserialize<'de> for WebAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WebAddrVisitor)
    }
}

/// `log`: where logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// No logs.
    Off,
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file.
    File(String),
}

struct LogVisitor;

impl Visitor<'_> for LogVisitor {
    type Value = LogTarget;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("false, stdout, stderr or a path")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<LogTarget, E> {
        if v {
            Err(E::custom(
                "log: true is not a target; use stdout, stderr, a path or false",
            ))
        } else {
            Ok(LogTarget::Off)
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<LogTarget, E> {
        Ok(match v {
            "false" | "" => LogTarget::Off,
            "stdout" => LogTarget::Stdout,
            "stderr" => LogTarget::Stderr,
            path => LogTarget::File(path.to_string()),
        })
    }
}

impl<'de> Deserialize<'de> for LogTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LogVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("ten s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn web_addrs() {
        assert_eq!(
            parse_web_addr("4041"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4041)))
        );
        assert_eq!(
            parse_web_addr("localhost:4041"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4041)))
        );
        assert_eq!(parse_web_addr("[::1]:1"), "[::1]:1".parse().ok());
        assert_eq!(parse_web_addr("nope"), None);
    }
}

/// The edges of `connect_url`: one `host:port`, or several edges of one cluster separated by
/// commas (the agent tries them in turn).
pub fn edge_addrs(connect_url: &str) -> Result<Vec<&str>, String> {
    let addrs: Vec<&str> = connect_url
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if addrs.is_empty() {
        return Err(
            "connect_url names no edge: give host:port, or several separated by commas".into(),
        );
    }
    for addr in &addrs {
        let port = addr
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(_, p)| p.parse::<u16>().ok());
        if port.is_none() || addr.contains("://") || addr.contains('/') {
            return Err(format!(
                "connect_url: {addr:?} is not host:port (e.g. edge.example.com:4443); several edges are separated by commas"
            ));
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod edge_addrs_tests {
    use super::edge_addrs;

    #[test]
    fn connect_url_lists_edges_separated_by_commas() {
        assert_eq!(edge_addrs("a.example:4443"), Ok(vec!["a.example:4443"]));
        assert_eq!(
            edge_addrs(" a.example:4443 , [::1]:4443,"),
            Ok(vec!["a.example:4443", "[::1]:4443"])
        );
        for bad in [
            "",
            " , ",
            "a.example",
            "tls://a.example:443",
            "a.example:99999",
            ":443",
        ] {
            let e = edge_addrs(bad).expect_err(bad);
            assert!(e.contains("connect_url"), "{bad}: {e}");
        }
    }
}
