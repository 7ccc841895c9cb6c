//! PROXY protocol headers (HAProxy's spec, versions 1 and 2): the agent writes one before the
//! first byte sent to an upstream that asks for the client's address; [`decode`] reads one
//! back strictly, as a receiving upstream would.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12-byte signature that opens every v2 header.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Longest v1 header, `\r\n` included (the spec's bound).
pub const V1_MAX_LEN: usize = 107;

/// The pair of addresses a header carries, after [`canonical`]: both in one family, IPv4
/// when both are (or map to) IPv4, else IPv6.
pub fn canonical(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let unmap = |a: SocketAddr| match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => SocketAddr::new(IpAddr::V6(v6), a.port()),
        },
        IpAddr::V4(_) => a,
    };
    let (s, d) = (unmap(src), unmap(dst));
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
    let (src, dst) = canonical(src, dst);
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
    let (src, dst) = canonical(src, dst);
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

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    /// Source and destination of the proxied TCP connection; `None` for v1 `UNKNOWN`, a v2
    /// `LOCAL` command, or a v2 family other than TCP over IPv4/IPv6 (the receiver then uses
    /// the connection's own addresses, as the spec says).
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// Bytes the header takes at the start of the input; the payload follows.
    pub len: usize,
}

/// Why [`decode`] found no header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends before the header does: read more.
    #[error("incomplete PROXY protocol header")]
    Incomplete,
    /// The input is not a valid header, whatever follows.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(&'static str),
}

/// Decodes the PROXY protocol header (v1 or v2) at the start of `buf`, strictly: single
/// spaces, canonical decimal ports, address families that match the declared protocol, a v2
/// length that covers the addresses, and well-formed TLVs.
pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
    if prefix_of(buf, &V2_SIGNATURE) {
        if buf.len() < V2_SIGNATURE.len() {
            return Err(DecodeError::Incomplete);
        }
        return decode_v2(buf);
    }
    if prefix_of(buf, b"PROXY ") {
        if buf.len() < 6 {
            return Err(DecodeError::Incomplete);
        }
        return decode_v1(buf);
    }
    Err(DecodeError::Invalid("no PROXY protocol signature"))
}

/// Whether the shorter of `buf` and `sig` is a prefix of the other.
fn prefix_of(buf: &[u8], sig: &[u8]) -> bool {
    let n = buf.len().min(sig.len());
    buf[..n] == sig[..n]
}

fn decode_v1(buf: &[u8]) -> Result<Header, DecodeError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return Err(if buf.len() >= V1_MAX_LEN {
            DecodeError::Invalid("v1 header longer than 107 bytes")
        } else if window.contains(&b'\n') {
            DecodeError::Invalid("v1 header ends without \\r\\n")
        } else {
            DecodeError::Incomplete
        });
    };
    match window.get(cr + 1) {
        Some(b'\n') => {}
        Some(_) => return Err(DecodeError::Invalid("v1 header ends without \\r\\n")),
        None if buf.len() >= V1_MAX_LEN => {
            return Err(DecodeError::Invalid("v1 header longer than 107 bytes"));
        }
        None => return Err(DecodeError::Incomplete),
    }
    let len = cr + 2;
    let line = std::str::from_utf8(&buf[6..cr])
        .map_err(|_| DecodeError::Invalid("v1 header is not ASCII"))?;
    if line.starts_with("UNKNOWN") && matches!(line.as_bytes().get(7), None | Some(b' ')) {
        // The spec has receivers ignore whatever follows UNKNOWN up to the line end.
        return Ok(Header {
            version: 1,
            addresses: None,
            len,
        });
    }
    let mut fields = line.split(' ');
    let (Some(proto), Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(DecodeError::Invalid("v1 header needs exactly 5 fields"));
    };
    let (src, dst) = match proto {
        "TCP4" => (IpAddr::V4(parse_v4(src)?), IpAddr::V4(parse_v4(dst)?)),
        "TCP6" => (IpAddr::V6(parse_v6(src)?), IpAddr::V6(parse_v6(dst)?)),
        _ => {
            return Err(DecodeError::Invalid(
                "v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ));
        }
    };
    Ok(Header {
        version: 1,
        addresses: Some((
            SocketAddr::new(src, parse_port(sport)?),
            SocketAddr::new(dst, parse_port(dport)?),
        )),
        len,
    })
}

fn parse_v4(s: &str) -> Result<Ipv4Addr, DecodeError> {
    s.parse()
        .map_err(|_| DecodeError::Invalid("v1 TCP4 address is not IPv4"))
}

fn parse_v6(s: &str) -> Result<Ipv6Addr, DecodeError> {
    s.parse()
        .map_err(|_| DecodeError::Invalid("v1 TCP6 address is not IPv6"))
}

/// A port in canonical decimal: digits only, no leading zero, at most 65535.
fn parse_port(s: &str) -> Result<u16, DecodeError> {
    let bad = DecodeError::Invalid("v1 port is not a decimal number from 0 to 65535");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(bad);
    }
    s.parse().map_err(|_| bad)
}

fn decode_v2(buf: &[u8]) -> Result<Header, DecodeError> {
    let Some(fixed) = buf.get(12..16) else {
        return Err(DecodeError::Incomplete);
    };
    let (ver_cmd, family) = (fixed[0], fixed[1]);
    if ver_cmd >> 4 != 2 {
        return Err(DecodeError::Invalid("v2 version nibble is not 2"));
    }
    let local = match ver_cmd & 0x0F {
        0 => true,
        1 => false,
        _ => {
            return Err(DecodeError::Invalid(
                "v2 command is neither LOCAL nor PROXY",
            ));
        }
    };
    let body_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    let addr_len = match family {
        0x00 => 0,          // AF_UNSPEC
        0x11 | 0x12 => 12,  // IPv4 stream / datagram
        0x21 | 0x22 => 36,  // IPv6 stream / datagram
        0x31 | 0x32 => 216, // unix stream / datagram
        _ => return Err(DecodeError::Invalid("v2 family/transport byte is unknown")),
    };
    if body_len < addr_len && !local {
        return Err(DecodeError::Invalid(
            "v2 length is shorter than its addresses",
        ));
    }
    let len = 16 + body_len;
    let Some(body) = buf.get(16..len) else {
        return Err(DecodeError::Incomplete);
    };
    if local || family == 0x00 {
        // LOCAL (health checks and the like) and AF_UNSPEC: the body is ignored.
        return Ok(Header {
            version: 2,
            addresses: None,
            len,
        });
    }
    check_tlvs(&body[addr_len..])?;
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let addresses = match family {
        0x11 => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    body[at],
                    body[at + 1],
                    body[at + 2],
                    body[at + 3],
                ))
            };
            Some((
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            ))
        }
        0x21 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Some((
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            ))
        }
        _ => None,
    };
    Ok(Header {
        version: 2,
        addresses,
        len,
    })
}

/// TLVs (type, big-endian u16 length, value) must fill what follows the addresses exactly.
fn check_tlvs(mut rest: &[u8]) -> Result<(), DecodeError> {
    while !rest.is_empty() {
        let Some(head) = rest.get(..3) else {
            return Err(DecodeError::Invalid("v2 TLV is cut short"));
        };
        let n = usize::from(u16::from_be_bytes([head[1], head[2]]));
        rest = rest
            .get(3 + n..)
            .ok_or(DecodeError::Invalid("v2 TLV overruns the header"))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "proxy_protocol_tests.rs"]
mod tests;
