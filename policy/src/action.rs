//! The `Action` trait: what a policy action does in each phase it supports, and the
//! factory that builds it from its typed config at load time.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::build::BuildCx;
use crate::cx::{HttpCx, TcpCx};
use crate::diag::Code;
use crate::event_stream::EventCx;
use crate::exchange::{ActionError, Flow};
use crate::phase::Phase;

/// How an action affects the rest of its phase, for validation and `policy explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Never ends the phase.
    Never,
    /// Always ends the phase (`custom-response`, `deny`, `close-connection`).
    Always,
    /// Ends the phase only when it rejects traffic (auth, limits) or redirects.
    WhenRejecting,
}

/// Why a built action cannot serve yet (see [`Action::prepare`]): the code, the config key at
/// fault (relative to the action's `config`, e.g. `issuer_url`) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareError {
    /// The diagnostic code.
    pub code: Code,
    /// The config key at fault; empty for the config as a whole.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

/// A built action, ready to run. One method per phase; the engine only calls the phases the
/// factory declared, so implementations never check which phase they are in.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// Runs in `on_tcp_connect`.
    async fn on_tcp_connect(&self, _cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        Err(ActionError::internal(
            "action does not run in on_tcp_connect",
        ))
    }

    /// Runs in `on_http_request`.
    async fn on_http_request(&self, _cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        Err(ActionError::internal(
            "action does not run in on_http_request",
        ))
    }

    /// Runs in `on_http_response`.
    async fn on_http_response(&self, _cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        Err(ActionError::internal(
            "action does not run in on_http_response",
        ))
    }

    /// Runs in `on_event_stream_message`, once per Server-Sent Events message, while the
    /// response streams: synchronous, since it runs inside the body's stream.
    fn on_event_stream_message(&self, _cx: &mut EventCx<'_>) -> Result<Flow, ActionError> {
        Err(ActionError::internal(
            "action does not run in on_event_stream_message",
        ))
    }

    /// Fetches what the action needs from elsewhere before its policy serves traffic (an OpenID
    /// Connect issuer's discovery document), so a broken dependency is reported where an edge
    /// takes the policy in (its config load, an agent's bind) rather than only as a 5xx at
    /// request time. Offline tools (`policy check`, `policy test`) never call it.
    async fn prepare(&self) -> Result<(), PrepareError> {
        Ok(())
    }

    /// One line about this configured action, for `policy explain`.
    fn summary(&self) -> String {
        String::new()
    }
}

/// Builds actions of one `type` from config. Registered in a [`crate::Registry`].
pub trait ActionFactory: Send + Sync + 'static {
    /// The `type` string, e.g. `rate-limit`.
    fn type_name(&self) -> &'static str;
    /// Other accepted spellings (e.g. `oidc` for `openid-connect`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// Older spellings still accepted, each with a load warning naming [`Self::type_name`]
    /// (e.g. `webhook-validation` for `verify-webhook`).
    fn deprecated_aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// Phases the action may appear in.
    fn phases(&self) -> &'static [Phase];
    /// How it ends a phase.
    fn termination(&self) -> Termination;
    /// Whether it authenticates (at most one per policy).
    fn is_auth(&self) -> bool {
        false
    }
    /// What the action does, one sentence, for `policy explain`.
    fn about(&self) -> &'static str;
    /// JSON Schema of its `config` (draft-07).
    fn config_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// Whether `config` may be omitted.
    fn config_optional(&self) -> bool;
    /// Builds an action; problems are reported through `cx` and the result is then `None`.
    fn build(&self, cx: &mut BuildCx<'_>) -> Option<Box<dyn Action>>;
}

/// The convenient way to write an action: a typed config (`#[serde(deny_unknown_fields)]`)
/// and a constructor. Wrap it in [`Typed`] to register it.
pub trait TypedAction: Action + Sized {
    /// The config type.
    type Config: DeserializeOwned + JsonSchema + Default;
    /// The `type` string.
    const TYPE: &'static str;
    /// Accepted aliases.
    const ALIASES: &'static [&'static str] = &[];
    /// Older names, accepted with a warning naming [`Self::TYPE`].
    const DEPRECATED_ALIASES: &'static [&'static str] = &[];
    /// Phases it runs in.
    const PHASES: &'static [Phase];
    /// How it ends a phase.
    const TERMINATION: Termination;
    /// Whether it authenticates.
    const AUTH: bool = false;
    /// Whether `config` may be omitted (all fields have defaults).
    const CONFIG_OPTIONAL: bool = false;
    /// What it does, one sentence.
    const ABOUT: &'static str;

    /// Builds from a decoded config; report value problems with `cx.error_at` and return `None`.
    fn build(config: Self::Config, cx: &mut BuildCx<'_>) -> Option<Self>;
}

/// Adapts a [`TypedAction`] into an [`ActionFactory`].
pub struct Typed<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Typed<T> {
    /// The factory for `T`.
    pub fn new() -> Self {
        Typed(std::marker::PhantomData)
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Typed::new()
    }
}

impl<T: TypedAction> ActionFactory for Typed<T> {
    fn type_name(&self) -> &'static str {
        T::TYPE
    }
    fn aliases(&self) -> &'static [&'static str] {
        T::ALIASES
    }
    fn deprecated_aliases(&self) -> &'static [&'static str] {
        T::DEPRECATED_ALIASES
    }
    fn phases(&self) -> &'static [Phase] {
        T::PHASES
    }
    fn termination(&self) -> Termination {
        T::TERMINATION
    }
    fn is_auth(&self) -> bool {
        T::AUTH
    }
    fn about(&self) -> &'static str {
        T::ABOUT
    }
    fn config_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T::Config>()
    }
    fn config_optional(&self) -> bool {
        T::CONFIG_OPTIONAL
    }
    fn build(&self, cx: &mut BuildCx<'_>) -> Option<Box<dyn Action>> {
        let config = cx.config::<T::Config>(T::CONFIG_OPTIONAL)?;
        let action = T::build(config, cx)?;
        Some(Box::new(action))
    }
}
