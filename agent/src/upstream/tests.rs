use super::*;

fn http(s: &str) -> String {
    Upstream::parse(s, EndpointKind::Http)
        .map(|u| u.to_string())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn http_forms() {
    assert_eq!(http("8080"), "http://localhost:8080");
    assert_eq!(http("443"), "https://localhost:443");
    assert_eq!(
        http("servername.local:9000"),
        "http://servername.local:9000"
    );
    assert_eq!(http("example.com"), "http://example.com:80");
    assert_eq!(http("example.com:443"), "https://example.com:443");
    assert_eq!(http("https://localhost:8443"), "https://localhost:8443");
    assert_eq!(http("https://"), "https://localhost:443");
    assert_eq!(http("http://"), "http://localhost:80");
    assert_eq!(
        http("HTTPS://Example.com/path?q"),
        "https://Example.com:443"
    );
    assert_eq!(http("http://[::1]:8080"), "http://[::1]:8080");
    assert_eq!(http("file:///var/log"), "file:///var/log");
    assert_eq!(http("file:///a%20b"), "file:///a b");
}

#[test]
fn tcp_and_tls_forms() {
    let tcp = |s| Upstream::parse(s, EndpointKind::Tcp).map(|u| u.to_string());
    assert_eq!(tcp("22").as_deref(), Ok("tcp://localhost:22"));
    assert_eq!(tcp("db:5432").as_deref(), Ok("tcp://db:5432"));
    assert_eq!(tcp("tls://db:5432").as_deref(), Ok("tls://db:5432"));
    assert!(matches!(tcp("tcp://db"), Err(UpstreamError::NeedsPort(_))));
    assert!(matches!(tcp("db"), Err(UpstreamError::NeedsPort(_))));
    assert!(matches!(
        tcp("http://db:80"),
        Err(UpstreamError::Mismatch { .. })
    ));
    let tls = Upstream::parse("443", EndpointKind::Tls).map(|u| u.scheme);
    assert_eq!(tls, Ok(Scheme::Tcp));
}

#[test]
fn errors() {
    assert_eq!(
        Upstream::parse("", EndpointKind::Http),
        Err(UpstreamError::Empty)
    );
    assert!(matches!(
        Upstream::parse("0", EndpointKind::Http),
        Err(UpstreamError::Port(_))
    ));
    assert!(matches!(
        Upstream::parse("70000", EndpointKind::Http),
        Err(UpstreamError::Port(_))
    ));
    assert!(matches!(
        Upstream::parse("ftp://x:1", EndpointKind::Http),
        Err(UpstreamError::Scheme(_))
    ));
    assert!(matches!(
        Upstream::parse("file://rel/x", EndpointKind::Http),
        Err(UpstreamError::FilePath(_))
    ));
    assert!(matches!(
        Upstream::parse("file:///x", EndpointKind::Tcp),
        Err(UpstreamError::Mismatch { .. })
    ));
    assert!(matches!(
        Upstream::parse("a b:80", EndpointKind::Http),
        Err(UpstreamError::Host(_))
    ));
    assert_eq!(AppProtocol::parse("http2"), Ok(AppProtocol::Http2));
    assert!(AppProtocol::parse("h3").is_err());
    assert_eq!(ProxyProtocol::from_number(2), Ok(ProxyProtocol::V2));
    assert!(ProxyProtocol::from_number(3).is_err());
}

#[test]
fn authority() {
    let u = Upstream::parse("https://example.com", EndpointKind::Http).map(|u| u.authority());
    assert_eq!(u.as_deref(), Ok("example.com"));
    let u = Upstream::parse("9000", EndpointKind::Http).map(|u| u.authority());
    assert_eq!(u.as_deref(), Ok("localhost:9000"));
}
