//! Ports for the servers the proxy's tests start.

use std::collections::HashSet;
use std::sync::Mutex;

/// A loopback port nothing listens on, never handed out twice in one test binary (its tests
/// run in parallel, and a port picked by binding port 0 and let go can come back from the next
/// such pick). Taken below Linux's ephemeral range (32768 and up), where outgoing connections
/// get their ports, so none of them can take it before the server binds it.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = 21000 + rand::random::<u16>() % (32000 - 21000);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port between 21000 and 32000");
}
