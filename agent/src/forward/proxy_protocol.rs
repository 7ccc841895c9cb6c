//! PROXY protocol header encoders (HAProxy's spec, versions 1 and 2), written before the first
//! byte sent to an upstream that asks for the client's address.

use std::net::{IpAddr, SocketAddr};

use crate::upstream::ProxyProtocol;

/// The 12-byte signature that opens every v2 header.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Encodes a header of `version` for a TCP connection from `src` to `dst`.
pub fn encode(version: ProxyProtocol, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    match version {
        ProxyProtocol::V1 => encode_v1(src, dst).into_bytes(),
        ProxyProtocol::V2 => encode_v2(src, dst),
    }
}

/// Both addresses in one family: IPv4 when both are (or map to) IPv4, else IPv6.
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |a: SocketAddr| match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    };
    let (s, d) = (canon(src), canon(dst));
    let to_v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if s.is_ipv4() == d.is_ipv4() {
        (s, d)
    } else {
        (to_v6(s), to_v6(d))
    }
}

/// The v1 text form: `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n`.
pub fn encode_v1(src: SocketAddr, dst: SocketAddr) -> String {
    let (src, dst) = same_family(src, dst);
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
}

/// The v2 binary form: signature, version 2 + PROXY command, family/transport, length,
/// addresses and ports (no TLVs).
pub fn encode_v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(src, dst);
    let mut out = Vec::with_capacity(16 + 36);
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(0x21); // version 2, command PROXY
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x11); // AF_INET, STREAM
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6.octets(),
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            };
            out.push(0x21); // AF_INET6, STREAM
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s));
            out.extend_from_slice(&v6(d));
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn v1_matches_spec_examples() {
        assert_eq!(
            encode_v1(sa("192.168.0.1:56324"), sa("192.168.0.11:443")),
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
        assert_eq!(
            encode_v1(sa("[2001:db8::1]:4000"), sa("[::1]:80")),
            "PROXY TCP6 2001:db8::1 ::1 4000 80\r\n"
        );
        // Mixed families are written as IPv6.
        assert_eq!(
            encode_v1(sa("10.0.0.1:1"), sa("[::1]:2")),
            "PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n"
        );
        // Mapped IPv4 is written as IPv4.
        assert_eq!(
            encode_v1(sa("[::ffff:10.0.0.1]:1"), sa("10.0.0.2:2")),
            "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"
        );
    }

    #[test]
    fn v2_ipv4_binary() {
        let got = encode_v2(sa("192.168.0.1:56324"), sa("192.168.0.11:443"));
        let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C]);
        want.extend_from_slice(&[192, 168, 0, 1, 192, 168, 0, 11]);
        want.extend_from_slice(&[0xDC, 0x04, 0x01, 0xBB]); // 56324, 443
        assert_eq!(got, want);
        assert_eq!(got.len(), 28);
    }

    #[test]
    fn v2_ipv6_binary() {
        let got = encode_v2(sa("[2001:db8::1]:4000"), sa("[::1]:80"));
        assert_eq!(&got[..12], &V2_SIGNATURE);
        assert_eq!(&got[12..16], &[0x21, 0x21, 0x00, 36]);
        assert_eq!(got.len(), 16 + 36);
        assert_eq!(&got[16..18], &[0x20, 0x01]);
        assert_eq!(got[16 + 31], 1); // last byte of ::1
        assert_eq!(&got[48..52], &[0x0F, 0xA0, 0x00, 0x50]);
    }
}
