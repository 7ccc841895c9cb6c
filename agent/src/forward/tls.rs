//! rustls client settings for `https://` and `tls://` upstreams: certificates are not verified
//! unless `tls_verify` is set (ngrok's default), in which case the web PKI roots are used, or
//! the authorities given (`--upstream-tls-verify-cas`).

use rustls::ClientConfig;
use sluice_tls::ServerCerts;

/// A client config; `cas` (PEM) replaces the web PKI roots when verifying; `alpn` lists the
/// protocols to offer (e.g. `h2`, `http/1.1`).
pub fn client_config(
    verify: bool,
    cas: Option<&str>,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, rustls::Error> {
    let certs = match (verify, cas) {
        (false, _) => ServerCerts::Unverified,
        (true, None) => ServerCerts::WebPki,
        (true, Some(pem)) => ServerCerts::Roots(
            sluice_tls::server::authorities(&[pem])
                .map_err(|e| rustls::Error::General(e.to_string()))?,
        ),
    };
    sluice_tls::client_config(certs, alpn)
}
