//! Ports for the servers the agent's tests start.

use std::sync::atomic::{AtomicU32, Ordering};

/// A loopback port nothing listens on, never handed out twice in one test binary (its tests
/// run in parallel, and a port picked by binding port 0 and let go can come back from the next
/// such pick). Taken below Linux's ephemeral range (32768 and up), where outgoing connections
/// get their ports; each binary starts at its own place (by process id) in 21000-31999 and
/// steps through all of it.
pub fn free_port() -> u16 {
    const SPAN: u32 = 11_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        // 101 and SPAN share no factor: every offset comes once before any comes again.
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 21_000 + (start + k.wrapping_mul(101)) % SPAN;
        let port = u16::try_from(port).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 21000 and 32000");
}
