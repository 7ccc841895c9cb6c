//! Shared helpers of the `sluice edge` end-to-end tests: the real binary on loopback ports
//! ([`Edge`]), echo upstreams started in-process, real clients, and bounded polling.
//!
//! Each test file uses a part of this, so unused items are allowed here.
#![allow(dead_code, unused_imports)]

pub mod agent;
pub mod attack;
mod bulk;
mod client;
mod edge;
mod nginx;
mod tls_client;
mod tls_upstream;
mod upstream;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use bulk::{
    CHUNK, Generated, RssSampler, expected_sha256, hash_body, hex, rss_bytes, sha256, start_bulk,
};
pub use client::{
    H1, Reply, get, h1_conn, h1_request, h1_send, raw, raw_bytes, read_reply, read_until, send,
};
pub use edge::Edge;
pub use nginx::Nginx;
pub use tls_client::{h2_tls, tls_connect};
pub use tls_upstream::start_tls_upstream;
pub use upstream::{
    BIG, Gate, Seen, big_body, start_echo, start_echo_h2c, start_echo_seen, start_ws_echo,
};

/// A port nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A fresh, empty folder under the system temp folder.
pub fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-edge-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes a file whole (rename), so a watcher never reads half of it.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write tmp");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Polls `f` every 50 ms for up to 10 s until it returns `Some`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
