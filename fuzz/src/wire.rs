//! Targets for the runtime-free parsers in `sluice-wire`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sluice_wire::proxy_protocol::{self, DecodeError, canonical};
use sluice_wire::sni::server_name;

/// The first bytes of a connection on the https listener → the SNI host name, if any.
pub fn tls_sni(data: &[u8]) {
    if let Some(name) = server_name(data) {
        assert!(!name.ends_with('.'), "trailing dot removed: {name:?}");
        assert_eq!(name, name.to_ascii_lowercase(), "name lower-cased");
    }
    // Whatever the bytes, a state comes back; complete only for handshake records.
    if sluice_wire::sni::hello_state(data) == sluice_wire::sni::HelloState::Complete {
        assert_eq!(
            data.first(),
            Some(&0x16),
            "complete hellos are handshake records"
        );
    }
}

/// Arbitrary bytes through the strict decoder; and addresses made from the bytes through
/// both encoders, which the decoder must read back exactly.
pub fn proxy_protocol(data: &[u8]) {
    match proxy_protocol::decode(data) {
        Ok(h) => {
            assert!(h.len <= data.len(), "header inside the input");
            assert_eq!(
                proxy_protocol::decode(&data[..h.len]),
                Ok(h),
                "header alone"
            );
        }
        Err(DecodeError::Incomplete | DecodeError::Invalid(_)) => {}
    }

    let Some((src, dst)) = addresses(data) else {
        return;
    };
    let want = Some(canonical(src, dst));
    for bytes in [
        proxy_protocol::encode_v1(src, dst).into_bytes(),
        proxy_protocol::encode_v2(src, dst),
    ] {
        let h = proxy_protocol::decode(&bytes).expect("own header decodes");
        assert_eq!(h.addresses, want, "{src} {dst}");
        assert_eq!(h.len, bytes.len());
    }
}

/// Two socket addresses from the first 38 bytes: a family byte, 16 address bytes (the first
/// 4 for IPv4) and a port, twice.
fn addresses(data: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let addr = |b: &[u8]| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&b[1..17]);
        let ip = if b[0] & 1 == 0 {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        SocketAddr::new(ip, u16::from_be_bytes([b[17], b[18]]))
    };
    let b = data.get(..38)?;
    Some((addr(&b[..19]), addr(&b[19..])))
}
