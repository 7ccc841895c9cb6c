//! rustls client settings for `https://` and `tls://` upstreams: certificates are not verified
//! unless `tls_verify` is set (ngrok's default), in which case the web PKI roots are used.

use rustls::ClientConfig;
use sluice_tls::ServerCerts;

/// A client config; `alpn` lists the protocols to offer (e.g. `h2`, `http/1.1`).
pub fn client_config(verify: bool, alpn: Vec<Vec<u8>>) -> Result<ClientConfig, rustls::Error> {
    let certs = if verify {
        ServerCerts::WebPki
    } else {
        ServerCerts::Unverified
    };
    sluice_tls::client_config(certs, alpn)
}
