//! Tests of `proxy_protocol.rs`.

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

#[test]
fn decodes_what_it_encodes_with_the_payload_after() {
    let pairs = [
        ("192.168.0.1:56324", "192.168.0.11:443"),
        ("[2001:db8::1]:4000", "[::1]:80"),
        ("10.0.0.1:1", "[::1]:2"),
        ("[::ffff:10.0.0.1]:0", "10.0.0.2:65535"),
    ];
    for (s, d) in pairs {
        let want = canonical(sa(s), sa(d));
        for mut bytes in [
            encode_v1(sa(s), sa(d)).into_bytes(),
            encode_v2(sa(s), sa(d)),
        ] {
            let len = bytes.len();
            bytes.extend_from_slice(b"payload");
            let h = decode(&bytes).expect("own header decodes");
            assert_eq!(h.addresses, Some(want), "{s} {d}");
            assert_eq!(h.len, len);
            for n in 0..len {
                assert_eq!(decode(&bytes[..n]), Err(DecodeError::Incomplete), "{n}");
            }
        }
    }
}

#[test]
fn v1_is_strict() {
    for bad in [
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "GET / HTTP/1.1\r\n",
    ] {
        assert!(
            matches!(decode(bad.as_bytes()), Err(DecodeError::Invalid(_))),
            "{bad:?}"
        );
    }
    let long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(100));
    assert!(matches!(
        decode(long.as_bytes()),
        Err(DecodeError::Invalid(_))
    ));
    let unknown = decode(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET").expect("unknown");
    assert_eq!((unknown.addresses, unknown.len), (None, 35));
    assert_eq!(decode(b"PROXY UNKNOWN\r\n").map(|h| h.len), Ok(15));
}

#[test]
fn v2_is_strict() {
    let good = encode_v2(sa("1.2.3.4:1"), sa("5.6.7.8:2"));
    let with = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        decode(&b)
    };
    assert!(matches!(with(12, 0x11), Err(DecodeError::Invalid(_)))); // version 1
    assert!(matches!(with(12, 0x22), Err(DecodeError::Invalid(_)))); // command 2
    assert!(matches!(with(13, 0x41), Err(DecodeError::Invalid(_)))); // family 4
    assert!(matches!(with(15, 11), Err(DecodeError::Invalid(_)))); // too short
    // LOCAL carries no addresses; UNSPEC neither.
    assert_eq!(with(12, 0x20).map(|h| h.addresses), Ok(None));
    assert_eq!(with(13, 0x00).map(|h| h.addresses), Ok(None));
    // A well-formed TLV is skipped, a cut one refused.
    let mut tlv = good.clone();
    tlv[15] = 12 + 4;
    tlv.extend_from_slice(&[0x04, 0x00, 0x01, 0xAA]);
    assert_eq!(decode(&tlv).map(|h| h.len), Ok(32));
    tlv[15] = 12 + 3;
    assert!(matches!(decode(&tlv[..31]), Err(DecodeError::Invalid(_))));
}
