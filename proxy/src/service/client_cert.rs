//! The client's certificate for the upstream, on HTTPS connections where the edge asked for
//! one (`terminate-tls` with a mutual TLS strategy): it goes in `Client-Cert`, RFC 9440's
//! header (the certificate's DER in base64 between colons). ngrok's documentation names no
//! header for this, so sluice uses the standard one. On those connections a `Client-Cert` the
//! client sent itself is always removed, so an upstream can trust the header it gets.

use sluice_policy::ClientAuth;

use crate::conn::ConnRecord;

/// The header's name.
pub(super) const CLIENT_CERT: &str = "client-cert";

/// What the upstream request's `Client-Cert` becomes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ClientCertHeader {
    /// The edge asked for no certificate: the request is left as the policy left it.
    Untouched,
    /// The edge asked: any value the client sent goes.
    Remove,
    /// The edge asked and the client presented this one (the header's value).
    Set(String),
}

/// The header for a request on `record`'s connection.
pub(super) fn client_cert_header(record: Option<&ConnRecord>) -> ClientCertHeader {
    let Some(record) = record else {
        return ClientCertHeader::Untouched;
    };
    let asked = record
        .https_termination
        .get()
        .is_some_and(|t| t.client_auth != ClientAuth::None);
    if !asked {
        return ClientCertHeader::Untouched;
    }
    match record.tls.as_ref().and_then(|t| t.client.as_ref()) {
        Some(cert) => ClientCertHeader::Set(format!(":{}:", cert.der_base64())),
        None => ClientCertHeader::Remove,
    }
}
