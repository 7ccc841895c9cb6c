//! Reading the first TLS record of a connection without terminating TLS: enough bytes are read
//! for `sluice_wire::sni::server_name` to parse the ClientHello, and they are handed back to
//! be replayed.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes read while looking for the ClientHello (one TLS record and its header).
pub const HELLO_LIMIT: usize = 16 * 1024 + 5;

/// Time allowed for the ClientHello to arrive.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads from `io` into `buf` until the first TLS record is complete, the bytes cannot be a
/// TLS handshake, [`HELLO_LIMIT`] is reached, the peer stops sending or [`HELLO_TIMEOUT`]
/// passes. Everything read is in `buf` afterwards, for replay.
pub async fn read_first_record<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) {
    let _ = tokio::time::timeout(HELLO_TIMEOUT, async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(first) = buf.first()
                && *first != 0x16
            {
                return;
            }
            let need = match buf.get(3..5) {
                Some(len) => 5 + usize::from(u16::from_be_bytes([len[0], len[1]])),
                None => 5,
            };
            let want = need.min(HELLO_LIMIT);
            if buf.len() >= want {
                return;
            }
            let room = (want - buf.len()).min(chunk.len());
            match io.read(&mut chunk[..room]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::sni::{client_hello, server_name};

    #[tokio::test]
    async fn reads_one_record_only() {
        let mut data = client_hello("x.test");
        let first = data.len();
        data.extend_from_slice(b"more bytes after the record");
        let mut buf = Vec::new();
        read_first_record(&mut data.as_slice(), &mut buf).await;
        assert_eq!(buf.len(), first);
        assert_eq!(server_name(&buf).as_deref(), Some("x.test"));
        let mut buf = Vec::new();
        read_first_record(&mut &b"GET / HTTP/1.1\r\n"[..], &mut buf).await;
        assert!(buf.starts_with(b"G"));
    }
}
