//! The shape of every structured policy variable below its first level, so that a misspelt or
//! unsupported subfield (`req.user_agent.raw`, `conn.tls.cipher`) is a load error instead of an
//! expression that silently never matches. Mirrors what `crate::values` builds; the test at the
//! bottom keeps the two in step. Hidden `__x` keys hold the subfields of string-with-fields
//! variables (see `subfields::rewrite_subfields`).

/// What may follow a variable or field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A plain value (string, int, bool, list, timestamp): it has no fields.
    Leaf,
    /// A map whose keys are user data (headers, query params, `vars.*`): any key.
    Open,
    /// A fixed set of named fields.
    Fields(&'static [(&'static str, Shape)]),
}

use Shape::{Fields, Leaf, Open};

const GEO: &[(&str, Shape)] = &[
    ("city", Leaf),
    ("continent", Leaf),
    ("country", Leaf),
    ("country_code", Leaf),
    ("latitude", Leaf),
    ("longitude", Leaf),
    ("metro_code", Leaf),
    ("postal_code", Leaf),
    ("radius", Leaf),
    ("subdivision", Leaf),
    ("timezone", Leaf),
    ("is_eu", Leaf),
];

const IP: &[(&str, Shape)] = &[
    (
        "geo",
        Fields(&[
            ("location", Fields(GEO)),
            ("registered_location", Fields(GEO)),
        ]),
    ),
    ("categories", Leaf),
    ("is_on_blocklist", Leaf),
    ("is_tor_node", Leaf),
    ("as", Fields(&[("number", Leaf), ("organization", Leaf)])),
];

const CONTENT_TYPE: &[(&str, Shape)] = &[("raw", Leaf), ("parameters", Open)];

const URL: &[(&str, Shape)] = &[
    ("scheme", Leaf),
    ("host", Leaf),
    ("authority", Leaf),
    ("path", Leaf),
    ("raw_path", Leaf),
    ("query", Leaf),
    ("query_params", Open),
    ("raw", Leaf),
    ("uri", Leaf),
    ("user_password", Leaf),
    ("port", Leaf),
];

const USER_AGENT: &[(&str, Shape)] = &[
    ("name", Leaf),
    ("version", Leaf),
    ("os", Leaf),
    ("os_version", Leaf),
    ("device", Leaf),
    ("url", Leaf),
    ("is_mobile", Leaf),
    ("is_tablet", Leaf),
    ("is_desktop", Leaf),
    ("is_bot", Leaf),
];

const REQ: &[(&str, Shape)] = &[
    ("method", Leaf),
    ("url", Leaf),
    ("__url", Fields(URL)),
    ("host", Leaf),
    ("headers", Open),
    ("cookies", Open),
    ("content_type", Leaf),
    ("__content_type", Fields(CONTENT_TYPE)),
    ("content_encoding", Leaf),
    ("content_length", Leaf),
    ("location", Leaf),
    ("user_agent", Leaf),
    ("__user_agent", Fields(USER_AGENT)),
    ("version", Leaf),
    ("trailers", Open),
    (
        "ts",
        Fields(&[("header_received", Leaf), ("body_received", Leaf)]),
    ),
];

const RES: &[(&str, Shape)] = &[
    ("status_code", Leaf),
    ("headers", Open),
    ("cookies", Open),
    ("content_type", Leaf),
    ("__content_type", Fields(CONTENT_TYPE)),
    ("content_encoding", Leaf),
    ("content_length", Leaf),
    ("location", Leaf),
    ("trailers", Open),
];

/// The fields of a distinguished name (`conn.tls.client.subject.*`).
const DISTINGUISHED_NAME: &[(&str, Shape)] = &[
    ("common_name", Leaf),
    ("country", Leaf),
    ("locality", Leaf),
    ("organization", Leaf),
    ("organizational_unit", Leaf),
    ("postal_code", Leaf),
    ("province", Leaf),
    ("street_address", Leaf),
];

/// `conn.tls.client.*`.
const CERTIFICATE: &[(&str, Shape)] = &[
    ("extensions", Open),
    ("issuer", Leaf),
    ("__issuer", Fields(DISTINGUISHED_NAME)),
    ("subject", Leaf),
    ("__subject", Fields(DISTINGUISHED_NAME)),
    ("pem", Leaf),
    ("san", Leaf),
    (
        "__san",
        Fields(&[
            ("dns_names", Leaf),
            ("email_addresses", Leaf),
            ("ip_addresses", Leaf),
            ("uris", Leaf),
        ]),
    ),
    ("serial_number", Leaf),
    ("signature_algorithm", Leaf),
    (
        "validity",
        Fields(&[("not_after", Leaf), ("not_before", Leaf)]),
    ),
];

const CONN: &[(&str, Shape)] = &[
    ("client_ip", Leaf),
    ("__client_ip", Fields(IP)),
    ("client_port", Leaf),
    ("server_ip", Leaf),
    ("__server_ip", Fields(IP)),
    ("server_port", Leaf),
    ("server_region", Leaf),
    ("bytes_in", Leaf),
    ("bytes_out", Leaf),
    ("ts", Fields(&[("start", Leaf)])),
    (
        "tls",
        Fields(&[
            ("sni", Leaf),
            ("version", Leaf),
            ("cipher_suite", Leaf),
            ("negotiated_alpn", Leaf),
            ("session_resumed", Leaf),
            ("ja4_fingerprint", Leaf),
            ("client", Fields(CERTIFICATE)),
        ]),
    ),
    ("geo", Fields(GEO)),
];

const ENDPOINT: &[(&str, Shape)] = &[
    ("id", Leaf),
    ("url", Leaf),
    ("protocol", Leaf),
    ("host", Leaf),
    ("port", Leaf),
    ("addr", Leaf),
];

/// The shape of a top-level variable.
pub(crate) fn root_shape(var: &str) -> Shape {
    match var {
        "req" => Fields(REQ),
        "res" => Fields(RES),
        "conn" => Fields(CONN),
        "endpoint" => Fields(ENDPOINT),
        "time" => Fields(&[("now", Leaf)]),
        _ => Open,
    }
}

/// How a path is written in the policy: `req.__url.path` is `req.url.path`.
fn written(path: &[&str]) -> String {
    path.iter()
        .map(|s| s.strip_prefix("__").unwrap_or(s))
        .collect::<Vec<_>>()
        .join(".")
}

/// Checks a dotted path below a top-level variable (`["req", "__url", "path"]`). Returns the
/// load error for the first segment that does not exist, with a "did you mean" when a known
/// field is close.
pub(crate) fn check_path(path: &[&str]) -> Result<(), String> {
    let Some((root, rest)) = path.split_first() else {
        return Ok(());
    };
    let mut shape = root_shape(root);
    for (i, seg) in rest.iter().enumerate() {
        let here = &path[..=i];
        match shape {
            Open => return Ok(()),
            Leaf => {
                return Err(format!(
                    "`{}` is not a variable: `{}` has no fields",
                    written(&path[..i + 2]),
                    written(here)
                ));
            }
            Fields(fields) => match fields.iter().find(|(name, _)| name == seg) {
                Some((_, next)) => shape = *next,
                None => return Err(unknown_field(here, seg, fields)),
            },
        }
    }
    Ok(())
}

fn unknown_field(parent: &[&str], field: &str, fields: &[(&str, Shape)]) -> String {
    let parent_text = written(parent);
    let visible: Vec<&str> = fields
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !n.starts_with("__"))
        .collect();
    let hint = special_hint(parent, field).or_else(|| {
        visible
            .iter()
            .map(|n| (strsim::jaro_winkler(n, field), *n))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| format!("`{parent_text}.{n}`"))
    });
    let hint = hint.map_or(String::new(), |h| format!("; did you mean {h}?"));
    format!(
        "`{parent_text}.{field}` is not a variable{hint} ({parent_text} has {})",
        visible.join(", ")
    )
}

/// Hints for names that ngrok users commonly write, beyond spelling.
fn special_hint(parent: &[&str], field: &str) -> Option<String> {
    Some(match (parent, field) {
        (["req"], "path" | "query" | "query_params" | "scheme" | "port") => {
            format!("`req.url.{field}`")
        }
        (["res"], "status" | "code") => "`res.status_code`".into(),
        (["req" | "res"], "header") => format!("`{}.headers`", parent[0]),
        (["req", "__user_agent"], "raw") => "`req.user_agent` (the header value itself)".into(),
        (["req", "__url"], "full") => "`req.url` (the full URL itself)".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_level_matches_the_field_lists_values_are_built_from() {
        use crate::cel::needs::{
            CONN_FIELDS, ENDPOINT_FIELDS, REQ_FIELDS, RES_FIELDS, TIME_FIELDS,
        };
        for (var, list) in [
            ("req", REQ_FIELDS),
            ("res", RES_FIELDS),
            ("conn", CONN_FIELDS),
            ("endpoint", ENDPOINT_FIELDS),
            ("time", TIME_FIELDS),
        ] {
            let Shape::Fields(fields) = root_shape(var) else {
                panic!("{var} has fixed fields");
            };
            let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, list, "{var}");
        }
    }

    #[test]
    fn known_paths_pass_and_user_maps_take_any_key() {
        for ok in [
            vec!["req", "__url", "path"],
            vec!["req", "__user_agent", "is_bot"],
            vec!["conn", "__client_ip", "geo", "location", "country"],
            vec!["req", "headers", "x-anything", "deeper"],
            vec!["vars", "mine", "x"],
            vec!["actions", "ngrok", "rate_limit", "limited"],
            vec!["req", "__url", "query_params", "q"],
        ] {
            assert_eq!(check_path(&ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn unknown_subfields_at_any_depth_fail_with_a_hint() {
        let e = check_path(&["req", "__user_agent", "raw"]).unwrap_err();
        assert!(e.contains("`req.user_agent.raw` is not a variable"), "{e}");
        assert!(e.contains("did you mean `req.user_agent`"), "{e}");
        let e = check_path(&["conn", "tls", "cipher"]).unwrap_err();
        assert!(e.contains("did you mean `conn.tls.cipher_suite`"), "{e}");
        let e = check_path(&["conn", "__client_ip", "geo", "locaton", "city"]).unwrap_err();
        assert!(e.contains("`conn.client_ip.geo.location`"), "{e}");
        let e = check_path(&["endpoint", "hots"]).unwrap_err();
        assert!(e.contains("did you mean `endpoint.host`"), "{e}");
        let e = check_path(&["req", "method", "x"]).unwrap_err();
        assert!(e.contains("`req.method` has no fields"), "{e}");
        assert!(check_path(&["req", "__url", "path", "x"]).is_err());
        assert!(check_path(&["time", "later"]).is_err());
    }
}
