//! The built-in Traffic Policy actions, one file per action under [`actions`], and
//! [`builtin_registry`] that registers them all.

pub mod actions;
mod compress;
pub mod credential;
mod find_replace;
mod http_call;
mod jwt;
mod limits;
mod oauth;
pub mod policy_fetch;
pub mod scalar_text;
mod util;
mod webhook;

pub use oauth::seal::{
    KEY_FILE as SESSION_KEY_FILE, load_or_create_key as load_or_create_session_key,
};
use sluice_policy::{Registry, Typed};

/// A registry with every built-in action.
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    r.register(Typed::<actions::add_headers::AddHeaders>::new())
        .register(Typed::<actions::verify_webhook::VerifyWebhook>::new())
        .register(Typed::<actions::basic_auth::BasicAuth>::new())
        .register(Typed::<actions::jwt_validation::JwtValidation>::new())
        .register(Typed::<actions::oauth::OAuth>::new())
        .register(Typed::<actions::openid_connect::OpenIdConnect>::new())
        .register(Typed::<actions::restrict_ips::RestrictIps>::new())
        .register(Typed::<actions::remove_headers::RemoveHeaders>::new())
        .register(Typed::<actions::custom_response::CustomResponse>::new())
        .register(Typed::<actions::deny::Deny>::new())
        .register(Typed::<actions::http_request::HttpRequest>::new())
        .register(Typed::<actions::forward_internal::ForwardInternal>::new())
        .register(Typed::<actions::close_connection::CloseConnection>::new())
        .register(Typed::<actions::terminate_tls::TerminateTls>::new())
        .register(Typed::<actions::set_vars::SetVars>::new())
        .register(Typed::<actions::rate_limit::RateLimit>::new())
        .register(Typed::<actions::circuit_breaker::CircuitBreaker>::new())
        .register(Typed::<actions::redirect::Redirect>::new())
        .register(Typed::<actions::url_rewrite::UrlRewrite>::new())
        .register(Typed::<
            actions::request_body_find_replace::RequestBodyFindReplace,
        >::new())
        .register(Typed::<
            actions::response_body_find_replace::ResponseBodyFindReplace,
        >::new())
        .register(Typed::<actions::sse_find_replace::SseFindReplace>::new())
        .register(Typed::<actions::log::Log>::new())
        .register(Typed::<actions::compress_response::CompressResponse>::new());
    r
}
