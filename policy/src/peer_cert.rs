//! A certificate from a TLS handshake as policies see it (`conn.tls.client.*`, and the
//! `client` of `actions.ngrok.terminate_tls`): the listener hands over the DER it received and
//! the fields ngrok names are read here once per connection, with `x509-parser`.
//!
//! Spellings follow Go's `crypto/x509`, which ngrok's edge is written in: `subject` and
//! `issuer` are RFC 2253 strings in Go's order (`CN=alice,O=Acme`), `serial_number` is
//! decimal, `signature_algorithm` is Go's name (`SHA256-RSA`, `ECDSA-SHA256`, `Ed25519`).

use std::time::{Duration, SystemTime};

use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::oid_registry::{
    OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME,
    OID_X509_ORGANIZATION_NAME, OID_X509_ORGANIZATIONAL_UNIT, OID_X509_POSTAL_CODE,
    OID_X509_SERIALNUMBER, OID_X509_STATE_OR_PROVINCE_NAME, OID_X509_STREET_ADDRESS,
};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// Why a certificate could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the certificate cannot be read: {0}")]
pub struct PeerCertError(String);

/// A distinguished name (subject or issuer), whole and by attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    /// RFC 2253, last RDN first, as Go's `pkix.Name.String()`.
    pub text: String,
    /// The first common name (`CN`).
    pub common_name: String,
    /// `C` values.
    pub country: Vec<String>,
    /// `L` values.
    pub locality: Vec<String>,
    /// `O` values.
    pub organization: Vec<String>,
    /// `OU` values.
    pub organizational_unit: Vec<String>,
    /// `postalCode` values.
    pub postal_code: Vec<String>,
    /// `ST` values.
    pub province: Vec<String>,
    /// `street` values.
    pub street_address: Vec<String>,
}

/// The subject alternative names, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AltNames {
    /// DNS names.
    pub dns_names: Vec<String>,
    /// E-mail addresses.
    pub email_addresses: Vec<String>,
    /// IP addresses.
    pub ip_addresses: Vec<String>,
    /// URIs.
    pub uris: Vec<String>,
}

impl AltNames {
    /// Every name, DNS names first, comma separated (the `san` string).
    pub fn text(&self) -> String {
        [
            &self.dns_names,
            &self.email_addresses,
            &self.ip_addresses,
            &self.uris,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// One certificate extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExtension {
    /// Its OID, dotted.
    pub id: String,
    /// Whether it is marked critical.
    pub critical: bool,
    /// Its DER value.
    pub value: Vec<u8>,
}

/// The facts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Subject.
    pub subject: DistinguishedName,
    /// Issuer.
    pub issuer: DistinguishedName,
    /// Serial number, decimal.
    pub serial_number: String,
    /// Signature algorithm, Go's name (else the dotted OID).
    pub signature_algorithm: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Subject alternative names.
    pub san: AltNames,
    /// Extensions, in certificate order.
    pub extensions: Vec<CertExtension>,
    /// The certificate as received (DER).
    pub der: Vec<u8>,
}

impl PeerCertificate {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, PeerCertError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| PeerCertError(e.to_string()))?;
        let validity = cert.validity();
        let time = |secs: i64| {
            if secs >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            }
        };
        let mut san = AltNames::default();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(n) => san.dns_names.push((*n).to_string()),
                    GeneralName::RFC822Name(n) => san.email_addresses.push((*n).to_string()),
                    GeneralName::URI(n) => san.uris.push((*n).to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Some(ip) = ip_address(b) {
                            san.ip_addresses.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(PeerCertificate {
            subject: distinguished_name(cert.subject()),
            issuer: distinguished_name(cert.issuer()),
            serial_number: cert.tbs_certificate.serial.to_string(),
            signature_algorithm: signature_algorithm(
                &cert.signature_algorithm.algorithm.to_id_string(),
            ),
            not_before: time(validity.not_before.timestamp()),
            not_after: time(validity.not_after.timestamp()),
            san,
            extensions: cert
                .extensions()
                .iter()
                .map(|e| CertExtension {
                    id: e.oid.to_id_string(),
                    critical: e.critical,
                    value: e.value.to_vec(),
                })
                .collect(),
            der: der.to_vec(),
        })
    }

    /// Reads the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, PeerCertError> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| PeerCertError(format!("not PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            return Err(PeerCertError(format!(
                "a PEM {:?} block, not a CERTIFICATE",
                block.label
            )));
        }
        Self::from_der(&block.contents)
    }

    /// The certificate's DER in standard base64 (PEM's body, RFC 9440's `Client-Cert`).
    pub fn der_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        let b64 = self.der_base64();
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

fn ip_address(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// Go's `x509.SignatureAlgorithm` names for the common OIDs.
fn signature_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "SHA1-RSA",
        "1.2.840.113549.1.1.11" => "SHA256-RSA",
        "1.2.840.113549.1.1.12" => "SHA384-RSA",
        "1.2.840.113549.1.1.13" => "SHA512-RSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ECDSA-SHA1",
        "1.2.840.10045.4.3.2" => "ECDSA-SHA256",
        "1.2.840.10045.4.3.3" => "ECDSA-SHA384",
        "1.2.840.10045.4.3.4" => "ECDSA-SHA512",
        "1.3.101.112" => "Ed25519",
        other => other,
    }
    .to_string()
}

fn distinguished_name(name: &X509Name<'_>) -> DistinguishedName {
    let values = |oid: &Oid<'static>| values_of(name, oid);
    let common_name = values(&OID_X509_COMMON_NAME)
        .into_iter()
        .next()
        .unwrap_or_default();
    // Go's String(): the known attributes in its fixed order (one RDN per kind, its values
    // joined by `+`), then the others, the whole sequence last first.
    let known = [
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_STREET_ADDRESS, "STREET"),
        (&OID_X509_POSTAL_CODE, "POSTALCODE"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_X509_COMMON_NAME, "CN"),
        (&OID_X509_SERIALNUMBER, "SERIALNUMBER"),
    ];
    let mut rdns: Vec<String> = Vec::new();
    for (oid, label) in known {
        let mut vals = values(oid);
        if *oid == OID_X509_COMMON_NAME {
            vals.truncate(1);
        }
        if !vals.is_empty() {
            let parts: Vec<String> = vals
                .iter()
                .map(|v| format!("{label}={}", escape_rdn_value(v)))
                .collect();
            rdns.push(parts.join("+"));
        }
    }
    for attr in name.iter_attributes() {
        if known.iter().any(|(oid, _)| **oid == *attr.attr_type()) {
            continue;
        }
        let value = attr.as_str().map_or_else(
            |_| format!("#{}", hex::encode(attr.attr_value().data)),
            escape_rdn_value,
        );
        rdns.push(format!("{}={value}", attr.attr_type().to_id_string()));
    }
    rdns.reverse();
    DistinguishedName {
        text: rdns.join(","),
        common_name,
        country: values(&OID_X509_COUNTRY_NAME),
        locality: values(&OID_X509_LOCALITY_NAME),
        organization: values(&OID_X509_ORGANIZATION_NAME),
        organizational_unit: values(&OID_X509_ORGANIZATIONAL_UNIT),
        postal_code: values(&OID_X509_POSTAL_CODE),
        province: values(&OID_X509_STATE_OR_PROVINCE_NAME),
        street_address: values(&OID_X509_STREET_ADDRESS),
    }
}

/// The text values of the attributes of type `oid`.
fn values_of(name: &X509Name<'_>, oid: &Oid<'static>) -> Vec<String> {
    let oid = oid.clone();
    name.iter_by_oid(&oid)
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect()
}

/// RFC 2253 escaping of an attribute value.
fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == last);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_space
            || (i == 0 && c == '#')
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_rfc_2253() {
        assert_eq!(escape_rdn_value("a,b"), "a\\,b");
        assert_eq!(escape_rdn_value(" x "), "\\ x\\ ");
        assert_eq!(escape_rdn_value("#1"), "\\#1");
        assert_eq!(escape_rdn_value("plain"), "plain");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(PeerCertificate::from_der(b"not a certificate").is_err());
    }
}
