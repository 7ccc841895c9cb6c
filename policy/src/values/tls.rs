//! `conn.tls.*` (with `conn.tls.client.*`, the client's certificate under mutual TLS) and the
//! `actions.ngrok.terminate_tls` result, which repeats the handshake's facts. A connection
//! without a client certificate has the certificate fields empty (empty strings and lists,
//! validity at the Unix epoch), so expressions that test them evaluate cleanly.

use std::time::SystemTime;

use cel::Value;

use super::build::{BoxVal, boolean, bytes, list, map, s, timestamp};
use crate::exchange::TlsInfo;
use crate::peer_cert::{DistinguishedName, PeerCertificate};

/// `conn.tls.version` as ngrok writes it (`1.3`), from the listener's name for it
/// (`TLSv1_3` from rustls, `TLSv1.3` elsewhere).
pub(super) fn tls_version(v: Option<&str>) -> String {
    let v = v.unwrap_or_default();
    v.strip_prefix("TLSv")
        .map_or_else(|| v.to_string(), |n| n.replace('_', "."))
}

/// `conn.tls.cipher_suite` with Go's (IANA) names, as ngrok gives them: rustls calls the TLS 1.3
/// suites `TLS13_AES_128_GCM_SHA256` where Go says `TLS_AES_128_GCM_SHA256`; TLS 1.2 names agree.
pub(super) fn cipher_suite(c: Option<&str>) -> String {
    let c = c.unwrap_or_default();
    c.strip_prefix("TLS13_")
        .map_or_else(|| c.to_string(), |rest| format!("TLS_{rest}"))
}

/// `conn.tls`.
pub(super) fn tls_val(tls: &TlsInfo) -> BoxVal {
    map(vec![
        ("sni", s(tls.sni.clone().unwrap_or_default())),
        ("version", s(tls_version(tls.version.as_deref()))),
        ("cipher_suite", s(cipher_suite(tls.cipher_suite.as_deref()))),
        ("negotiated_alpn", s(tls.alpn.clone().unwrap_or_default())),
        ("session_resumed", boolean(false)),
        ("ja4_fingerprint", s("")),
        ("client", certificate_val(tls.client.as_deref())),
    ])
}

fn strings(v: &[String]) -> BoxVal {
    list(v.iter().map(|x| s(x.clone())).collect())
}

fn name_fields(n: &DistinguishedName) -> BoxVal {
    map(vec![
        ("common_name", s(n.common_name.clone())),
        ("country", strings(&n.country)),
        ("locality", strings(&n.locality)),
        ("organization", strings(&n.organization)),
        ("organizational_unit", strings(&n.organizational_unit)),
        ("postal_code", strings(&n.postal_code)),
        ("province", strings(&n.province)),
        ("street_address", strings(&n.street_address)),
    ])
}

/// `conn.tls.client`: the certificate's fields, or empty ones.
fn certificate_val(cert: Option<&PeerCertificate>) -> BoxVal {
    let empty;
    let (c, pem) = match cert {
        Some(c) => (c, c.pem()),
        None => {
            empty = PeerCertificate {
                subject: DistinguishedName::default(),
                issuer: DistinguishedName::default(),
                serial_number: String::new(),
                signature_algorithm: String::new(),
                not_before: SystemTime::UNIX_EPOCH,
                not_after: SystemTime::UNIX_EPOCH,
                san: Default::default(),
                extensions: Vec::new(),
                der: Vec::new(),
            };
            (&empty, String::new())
        }
    };
    map(vec![
        (
            "extensions",
            list(
                c.extensions
                    .iter()
                    .map(|e| {
                        map(vec![
                            ("id", s(e.id.clone())),
                            ("critical", boolean(e.critical)),
                            ("value", bytes(e.value.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("issuer", s(c.issuer.text.clone())),
        ("__issuer", name_fields(&c.issuer)),
        ("subject", s(c.subject.text.clone())),
        ("__subject", name_fields(&c.subject)),
        ("pem", s(pem)),
        ("san", s(c.san.text())),
        (
            "__san",
            map(vec![
                ("dns_names", strings(&c.san.dns_names)),
                ("email_addresses", strings(&c.san.email_addresses)),
                ("ip_addresses", strings(&c.san.ip_addresses)),
                ("uris", strings(&c.san.uris)),
            ]),
        ),
        ("serial_number", s(c.serial_number.clone())),
        ("signature_algorithm", s(c.signature_algorithm.clone())),
        (
            "validity",
            map(vec![
                ("not_after", timestamp(c.not_after)),
                ("not_before", timestamp(c.not_before)),
            ]),
        ),
    ])
}

/// `actions.ngrok.terminate_tls` after the edge's handshake: `cipher_suite`, `sni`,
/// `version`, `warnings` (none) and `client` (as `conn.tls.client`).
pub fn terminate_tls_result(tls: &TlsInfo) -> Value {
    let val = map(vec![
        ("cipher_suite", s(cipher_suite(tls.cipher_suite.as_deref()))),
        ("sni", s(tls.sni.clone().unwrap_or_default())),
        ("version", s(tls_version(tls.version.as_deref()))),
        ("warnings", list(Vec::new())),
        ("client", certificate_val(tls.client.as_deref())),
    ]);
    Value::try_from(val.as_ref()).unwrap_or(Value::Null)
}
