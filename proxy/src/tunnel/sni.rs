//! Reading the server name (SNI) out of a TLS ClientHello without terminating TLS: enough of
//! the first record is read to parse it, and the bytes read are handed back to be replayed.

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

/// A cursor over a byte slice that refuses to read past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

/// The host name of the SNI extension of the ClientHello at the start of `data` (a TLS
/// record), lower case without a trailing dot; `None` when it is not one or names no host.
pub fn server_name(data: &[u8]) -> Option<String> {
    let mut rec = Reader(data);
    if rec.u8()? != 0x16 {
        return None;
    }
    rec.take(2)?; // record version
    let len = rec.u16()?;
    // The ClientHello may be cut short by the record; parse what this record holds.
    let body = rec.0.get(..len.min(rec.0.len()))?;
    let mut hs = Reader(body);
    if hs.u8()? != 0x01 {
        return None;
    }
    hs.u24()?;
    hs.take(2 + 32)?; // client version, random
    let sid = hs.u8()?;
    hs.take(sid)?;
    let suites = hs.u16()?;
    hs.take(suites)?;
    let comp = hs.u8()?;
    hs.take(comp)?;
    let ext_len = hs.u16()?;
    let mut exts = Reader(hs.take(ext_len.min(hs.0.len()))?);
    while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
        let data = exts.take(len)?;
        if kind != 0 {
            continue;
        }
        let mut list = Reader(data);
        let list_len = list.u16()?;
        let mut names = Reader(list.take(list_len)?);
        while let Some(name_type) = names.u8() {
            let len = names.u16()?;
            let name = names.take(len)?;
            if name_type == 0 {
                let name = std::str::from_utf8(name).ok()?;
                return Some(name.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello record with an SNI extension for `name`.
    fn hello(name: &str) -> Vec<u8> {
        let mut sni = Vec::new();
        let entry_len = 3 + name.len();
        sni.extend_from_slice(&(entry_len as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name.as_bytes());
        let mut exts = vec![0x00, 0x0a, 0x00, 0x02, 0x00, 0x1d]; // another extension first
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        exts.extend_from_slice(&sni);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn finds_the_name() {
        assert_eq!(
            server_name(&hello("App.Example.com.")).as_deref(),
            Some("app.example.com")
        );
    }

    #[test]
    fn not_tls_or_cut_short() {
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n\r\n"), None);
        let h = hello("a.example.com");
        for n in 0..h.len() {
            assert_eq!(server_name(&h[..n]), None, "{n}");
        }
    }

    #[tokio::test]
    async fn reads_one_record_only() {
        let mut data = hello("x.test");
        let first = data.len();
        data.extend_from_slice(b"more bytes after the record");
        let mut buf = Vec::new();
        read_first_record(&mut data.as_slice(), &mut buf).await;
        assert_eq!(buf.len(), first);
        let mut buf = Vec::new();
        read_first_record(&mut &b"GET / HTTP/1.1\r\n"[..], &mut buf).await;
        assert!(buf.starts_with(b"G"));
    }
}
