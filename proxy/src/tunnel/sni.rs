//! Reading a connection's ClientHello without terminating TLS: enough bytes are read for
//! `sluice_wire::sni::server_name` to parse it (over several TLS records when it spans
//! them), within ngrok's limits (3 s, a 64 KiB handshake message), and handed back to be
//! replayed.

use std::time::Duration;

use sluice_wire::sni::{HelloState, MAX_HELLO_MESSAGE, hello_state};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes read while looking for the ClientHello: the largest message and the headers
/// of the records carrying it (at least 16 KiB each).
pub const HELLO_LIMIT: usize = MAX_HELLO_MESSAGE + 4 + 5 * (MAX_HELLO_MESSAGE / 16384 + 1);

/// Time allowed for the ClientHello to arrive (ngrok's TLS endpoints allow 3 s).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads from `io` into `buf` until the ClientHello is complete, the bytes cannot be one,
/// [`HELLO_LIMIT`] is reached, the peer stops sending or [`HELLO_TIMEOUT`] passes, and says
/// which (`Partial`: it never completed). Everything read is in `buf` afterwards, for replay.
pub async fn read_client_hello<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> HelloState {
    let _ = tokio::time::timeout(HELLO_TIMEOUT, async {
        let mut chunk = [0u8; 4096];
        while buf.len() < HELLO_LIMIT {
            if !buf.is_empty() && hello_state(buf) != HelloState::Partial {
                return;
            }
            let room = (HELLO_LIMIT - buf.len()).min(chunk.len());
            match io.read(&mut chunk[..room]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    hello_state(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::sni::{client_hello, server_name};

    #[tokio::test]
    async fn reads_the_hello_and_stops() {
        let mut data = client_hello("x.test");
        data.extend_from_slice(b"more bytes after the record");
        let mut buf = Vec::new();
        read_client_hello(&mut data.as_slice(), &mut buf).await;
        assert_eq!(server_name(&buf).as_deref(), Some("x.test"));
        let mut buf = Vec::new();
        read_client_hello(&mut &b"GET / HTTP/1.1\r\n"[..], &mut buf).await;
        assert!(buf.starts_with(b"G"));
    }
}
