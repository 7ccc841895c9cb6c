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
pub mod etcd;
pub mod internal;
mod nginx;
pub mod pebble;
pub mod proxies;
pub mod ssh;
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
    H1, Reply, get, h1_conn, h1_over, h1_request, h1_send, raw, raw_bytes, read_reply, read_until,
    send,
};
pub use edge::Edge;
pub use nginx::Nginx;
pub use tls_client::{h2_tls, https_get, tls_connect};
pub use tls_upstream::start_tls_upstream;
pub use upstream::{
    BIG, Gate, Seen, big_body, start_echo, start_echo_h2c, start_echo_seen, start_ws_echo,
};

/// A port nothing listens on (at the moment of asking), for a server a test starts.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports nothing listens on, for servers a test starts.
///
/// They come from below Linux's ephemeral range (32768 and up), where the client sockets of
/// every test (and of the processes they start) get their ports: a port picked by binding port
/// 0 is in that range, and another test's outgoing connection could take it between the pick
/// and the server's bind. Ports are also never handed out twice in one test binary, whose
/// tests run in parallel. 21000 and up stays clear of the embedded edge's default TCP range.
pub fn free_ports(n: u16) -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let base = 21000 + rand::random::<u16>() % (32000 - 21000 - n);
        let ports = base..base + n;
        let free = ports
            .clone()
            .all(|p| !given.contains(&p) && StdListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            given.extend(ports);
            return base;
        }
    }
    panic!("no run of {n} free ports below the ephemeral range");
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
