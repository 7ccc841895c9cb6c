//! One module per built-in action.

pub mod add_headers;
pub mod basic_auth;
pub mod circuit_breaker;
pub mod close_connection;
pub mod compress_response;
pub mod custom_response;
pub mod deny;
pub mod forward_internal;
pub mod http_request;
pub mod jwt_validation;
pub mod log;
pub mod oauth;
pub mod openid_connect;
pub mod rate_limit;
pub mod redirect;
pub mod remove_headers;
pub mod request_body_find_replace;
pub mod response_body_find_replace;
pub mod restrict_ips;
pub mod set_vars;
pub mod sse_find_replace;
pub mod terminate_tls;
pub mod url_rewrite;
pub mod verify_webhook;
