//! Where an endpoint may be reached from: its binding (`public` or `internal`), read from a
//! bind's `bindings` list and its URL with ngrok's rules, so the agent (at config check) and
//! the edge (at bind) decide the same way.
//!
//! - A URL whose host ends in `.internal` implies the internal binding; asking for `public`
//!   with it is refused.
//! - The internal binding needs a URL ending in `.internal`.
//! - At most one binding; `kubernetes` is not supported here.

/// The top-level domain of internal endpoints.
pub const INTERNAL_SUFFIX: &str = ".internal";

/// Error code of a bind whose URL and binding disagree (ngrok's `ERR_NGROK_9029`).
pub const BINDING_MISMATCH: &str = "ERR_SLUICE_9029";

/// Error code of an invalid `bindings` list (several, or an unknown one).
pub const BINDING_INVALID: &str = "ERR_SLUICE_3212";

/// Who may reach an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EndpointBinding {
    /// The edge's public listeners route to it.
    #[default]
    Public,
    /// Only other endpoints of the same account (`forward-internal`), in-process on the edge;
    /// no public listener routes to it.
    Internal,
}

/// Why a bind's binding is refused: a code ([`BINDING_MISMATCH`] or [`BINDING_INVALID`]) and
/// a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BindingError {
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// Whether a host name (no port, any case, trailing dot allowed) is an internal name.
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.len() > INTERNAL_SUFFIX.len()
        && host
            .get(host.len() - INTERNAL_SUFFIX.len()..)
            .is_some_and(|s| s.eq_ignore_ascii_case(INTERNAL_SUFFIX))
}

/// The binding of a bind asking for `bindings` with `host` (`None`: the edge picks a name).
pub fn resolve(bindings: &[String], host: Option<&str>) -> Result<EndpointBinding, BindingError> {
    let asked = match bindings {
        [] => None,
        [one] => Some(match one.as_str() {
            "public" => EndpointBinding::Public,
            "internal" => EndpointBinding::Internal,
            "kubernetes" => {
                return Err(BindingError {
                    code: BINDING_INVALID,
                    message: "the kubernetes binding is not supported; use public or internal"
                        .into(),
                });
            }
            other => {
                return Err(BindingError {
                    code: BINDING_INVALID,
                    message: format!("unknown binding `{other}` (expected public or internal)"),
                });
            }
        }),
        _ => {
            return Err(BindingError {
                code: BINDING_INVALID,
                message: "give at most one binding (public or internal)".into(),
            });
        }
    };
    let internal_name = host.is_some_and(is_internal_host);
    match (asked, internal_name) {
        (Some(EndpointBinding::Public), true) => Err(BindingError {
            code: BINDING_MISMATCH,
            message: format!(
                "{} is an internal name: .internal URLs need the internal binding",
                host.unwrap_or_default()
            ),
        }),
        (Some(EndpointBinding::Internal), false) => Err(BindingError {
            code: BINDING_MISMATCH,
            message: match host {
                Some(h) => format!("the internal binding needs a URL ending in .internal, not {h}"),
                None => "the internal binding needs a URL ending in .internal".into(),
            },
        }),
        (_, true) => Ok(EndpointBinding::Internal),
        (_, false) => Ok(EndpointBinding::Public),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn internal_names() {
        assert!(is_internal_host("api.internal"));
        assert!(is_internal_host("API.Internal."));
        assert!(is_internal_host("*.svc.internal"));
        assert!(!is_internal_host("internal"));
        assert!(!is_internal_host(".internal"));
        assert!(!is_internal_host("api.internal.example.com"));
        assert!(!is_internal_host("apiinternal"));
    }

    #[test]
    fn url_and_binding_agree() {
        use EndpointBinding::*;
        assert_eq!(resolve(&[], Some("a.internal")), Ok(Internal));
        assert_eq!(resolve(&b(&["internal"]), Some("a.internal")), Ok(Internal));
        assert_eq!(resolve(&[], Some("a.example.com")), Ok(Public));
        assert_eq!(resolve(&[], None), Ok(Public));
        assert_eq!(resolve(&b(&["public"]), Some("a.example.com")), Ok(Public));
        let code = |r: Result<EndpointBinding, BindingError>| r.err().map(|e| e.code);
        assert_eq!(
            code(resolve(&b(&["public"]), Some("a.internal"))),
            Some(BINDING_MISMATCH)
        );
        assert_eq!(
            code(resolve(&b(&["internal"]), Some("a.example.com"))),
            Some(BINDING_MISMATCH)
        );
        assert_eq!(
            code(resolve(&b(&["internal"]), None)),
            Some(BINDING_MISMATCH)
        );
        assert_eq!(
            code(resolve(&b(&["public", "internal"]), None)),
            Some(BINDING_INVALID)
        );
        assert_eq!(
            code(resolve(&b(&["kubernetes"]), None)),
            Some(BINDING_INVALID)
        );
        assert_eq!(code(resolve(&b(&["x"]), None)), Some(BINDING_INVALID));
    }
}
