use std::path::PathBuf;

use super::{TestResult, get, send};
use crate::forward::file::{RangeAsk, parse_range};
use crate::forward::{HttpForwarder, HttpOptions};
use crate::upstream::{EndpointKind, Upstream};

struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `<tmp>/secret.txt` outside the served root `<tmp>/root` with `a.txt`, `page.html`, `sub/`.
fn tree(tag: &str) -> Result<(TempTree, HttpForwarder), Box<dyn std::error::Error + Send + Sync>> {
    let base =
        std::env::temp_dir().join(format!("sluice-agent-files-{tag}-{}", std::process::id()));
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub"))?;
    std::fs::write(base.join("secret.txt"), "secret")?;
    std::fs::write(root.join("a.txt"), "0123456789")?;
    std::fs::write(root.join("page.html"), "<p>hi</p>")?;
    std::fs::write(root.join("sub").join("<b>.json"), "{}")?;
    #[cfg(unix)]
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt"))?;
    let up = Upstream::parse(&format!("file://{}", root.display()), EndpointKind::Http)?;
    let fwd = HttpForwarder::new("files", up, HttpOptions::default(), None)?;
    Ok((TempTree(base), fwd))
}

fn header<'a>(h: &'a hyper::HeaderMap, k: &str) -> &'a str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn files_types_and_ranges() -> TestResult {
    let (_t, fwd) = tree("ranges")?;
    let (s, h, b) = send(&fwd, get("/a.txt", "x")?).await?;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"0123456789"[..]));
    assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    let (_, h, _) = send(&fwd, get("/page.html", "x")?).await?;
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let mut req = get("/a.txt", "x")?;
    req.headers_mut().insert("range", "bytes=2-4".parse()?);
    let (s, h, b) = send(&fwd, req).await?;
    assert_eq!((s.as_u16(), &b[..]), (206, &b"234"[..]));
    assert_eq!(header(&h, "content-range"), "bytes 2-4/10");
    let mut req = get("/a.txt", "x")?;
    req.headers_mut().insert("range", "bytes=-3".parse()?);
    let (s, _, b) = send(&fwd, req).await?;
    assert_eq!((s.as_u16(), &b[..]), (206, &b"789"[..]));
    let mut req = get("/a.txt", "x")?;
    req.headers_mut().insert("range", "bytes=20-".parse()?);
    let (s, h, _) = send(&fwd, req).await?;
    assert_eq!(s.as_u16(), 416);
    assert_eq!(header(&h, "content-range"), "bytes */10");
    let req =
        hyper::Request::post("/a.txt").body(http_body_util::Full::new(bytes::Bytes::new()))?;
    assert_eq!(send(&fwd, req).await?.0.as_u16(), 405);
    Ok(())
}

#[tokio::test]
async fn directory_listing_and_redirect() -> TestResult {
    let (_t, fwd) = tree("listing")?;
    let (s, h, b) = send(&fwd, get("/", "x")?).await?;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let html = String::from_utf8(b.to_vec())?;
    assert!(html.contains("<a href=\"a.txt\">a.txt</a>"), "{html}");
    assert!(html.contains("<a href=\"sub/\">sub/</a>"), "{html}");
    let (s, h, _) = send(&fwd, get("/sub", "x")?).await?;
    assert_eq!((s.as_u16(), header(&h, "location")), (301, "/sub/"));
    let (_, _, b) = send(&fwd, get("/sub/", "x")?).await?;
    let html = String::from_utf8(b.to_vec())?;
    assert!(
        html.contains("&lt;b&gt;.json") && html.contains("href=\"%3Cb%3E.json\""),
        "{html}"
    );
    let (s, _, b) = send(&fwd, get("/sub/%3Cb%3E.json", "x")?).await?;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"{}"[..]));
    Ok(())
}

#[tokio::test]
async fn no_escape_from_the_root() -> TestResult {
    let (_t, fwd) = tree("escape")?;
    for path in [
        "/..%2fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/link.txt",
        "/nope",
    ] {
        let (s, _, b) = send(&fwd, get(path, "x")?).await?;
        assert!(s.is_client_error(), "{path}: {s}");
        assert!(!String::from_utf8_lossy(&b).contains("secret"), "{path}");
    }
    Ok(())
}

#[test]
fn range_parsing() {
    assert_eq!(parse_range(None, 10), RangeAsk::Full);
    assert_eq!(parse_range(Some("bytes=0-"), 10), RangeAsk::Part(0, 9));
    assert_eq!(parse_range(Some("bytes=5-100"), 10), RangeAsk::Part(5, 9));
    assert_eq!(parse_range(Some("bytes=-100"), 10), RangeAsk::Part(0, 9));
    assert_eq!(parse_range(Some("bytes=10-"), 10), RangeAsk::Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=-0"), 10), RangeAsk::Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeAsk::Full);
    assert_eq!(parse_range(Some("items=0-1"), 10), RangeAsk::Full);
    assert_eq!(parse_range(Some("bytes=4-2"), 10), RangeAsk::Full);
}
