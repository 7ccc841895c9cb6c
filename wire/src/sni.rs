//! The server name (SNI) of a TLS ClientHello, read without terminating TLS. The edge peeks
//! at the first records of a connection on its https listener and routes TLS endpoints by it.
//! A ClientHello may span several handshake records (large key shares, many extensions):
//! [`hello_state`] says when enough has arrived, and [`server_name`] joins the records.

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

/// Largest ClientHello handshake message looked at (ngrok's TLS endpoints allow 64 KiB).
pub const MAX_HELLO_MESSAGE: usize = 64 * 1024;

/// How far the ClientHello at the start of a connection has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloState {
    /// More bytes are needed.
    Partial,
    /// The whole ClientHello message is there.
    Complete,
    /// The bytes are not a TLS handshake, or the message is over [`MAX_HELLO_MESSAGE`].
    Invalid,
}

/// The handshake bytes carried by the handshake records at the start of `data`, joined (a
/// record cut short contributes what it holds), and whether the first handshake message is
/// complete in them. `None` when `data` does not start with handshake records.
fn handshake_bytes(data: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut rec = Reader(data);
    let mut hs = Vec::new();
    let mut complete = false;
    while !rec.0.is_empty() && !complete {
        if rec.u8()? != 0x16 {
            return None;
        }
        rec.take(2)?; // record version
        let len = rec.u16()?;
        let body = rec.take(len.min(rec.0.len()))?;
        hs.extend_from_slice(body);
        if let Some(h) = hs.get(1..4) {
            let msg =
                4 + ((usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]));
            complete = hs.len() >= msg;
        }
    }
    Some((hs, complete))
}

/// Whether `data` holds the whole ClientHello yet.
pub fn hello_state(data: &[u8]) -> HelloState {
    let Some((hs, complete)) = handshake_bytes(data) else {
        return HelloState::Invalid;
    };
    if hs.first().is_some_and(|t| *t != 0x01) {
        return HelloState::Invalid;
    }
    if let Some(h) = hs.get(1..4) {
        let msg = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        if msg > MAX_HELLO_MESSAGE {
            return HelloState::Invalid;
        }
    }
    if complete {
        HelloState::Complete
    } else {
        HelloState::Partial
    }
}

/// The host name of the SNI extension of the ClientHello at the start of `data` (TLS
/// handshake records, joined when the ClientHello spans several), lower case without a
/// trailing dot; `None` when it is not one or names no host.
pub fn server_name(data: &[u8]) -> Option<String> {
    let (body, _) = handshake_bytes(data)?;
    let mut hs = Reader(&body);
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

/// A minimal ClientHello record with an SNI extension for `name`, for tests and fuzz seeds.
#[doc(hidden)]
pub fn client_hello(name: &str) -> Vec<u8> {
    let len16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes();
    let mut sni = Vec::new();
    sni.extend_from_slice(&len16(3 + name.len()));
    sni.push(0);
    sni.extend_from_slice(&len16(name.len()));
    sni.extend_from_slice(name.as_bytes());
    let mut exts = vec![0x00, 0x0a, 0x00, 0x02, 0x00, 0x1d]; // another extension first
    exts.extend_from_slice(&[0, 0]);
    exts.extend_from_slice(&len16(sni.len()));
    exts.extend_from_slice(&sni);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&len16(exts.len()));
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&len16(hs.len()));
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_name() {
        assert_eq!(
            server_name(&client_hello("App.Example.com.")).as_deref(),
            Some("app.example.com")
        );
    }

    /// `record` split into records of at most `size` handshake bytes each.
    fn split(record: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in record[5..].chunks(size) {
            out.extend_from_slice(&[0x16, 0x03, 0x01]);
            out.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn a_hello_over_several_records_is_joined() {
        let one = client_hello("split.example.com");
        for size in [1, 7, 40] {
            let many = split(&one, size);
            assert_eq!(
                server_name(&many).as_deref(),
                Some("split.example.com"),
                "{size}"
            );
            assert_eq!(hello_state(&many), HelloState::Complete, "{size}");
            for n in 0..many.len() - 1 {
                assert_ne!(hello_state(&many[..n]), HelloState::Complete, "{size} {n}");
            }
        }
        assert_eq!(hello_state(&one), HelloState::Complete);
        assert_eq!(hello_state(&one[..10]), HelloState::Partial);
        assert_eq!(hello_state(b"GET / HTTP/1.1\r\n"), HelloState::Invalid);
        // A handshake message announcing more than 64 KiB is refused.
        let mut huge = one.clone();
        huge[6..9].copy_from_slice(&[0x01, 0x00, 0x01]);
        assert_eq!(hello_state(&huge), HelloState::Invalid);
    }

    #[test]
    fn not_tls_or_cut_short() {
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n\r\n"), None);
        let h = client_hello("a.example.com");
        for n in 0..h.len() {
            assert_eq!(server_name(&h[..n]), None, "{n}");
        }
    }
}
