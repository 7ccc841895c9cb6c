//! The `on_event_stream_message` phase: a `text/event-stream` response is split into its
//! Server-Sent Events messages as it streams ([`parse`]), and the phase's rules run once per
//! message ([`run`]), each message sent on as soon as they ran.
//!
//! The phase sees what `on_http_response` saw (`conn`, `endpoint`, `req`, `res`, `time`,
//! `actions`), with its own `vars` per message. A response with a `Content-Encoding` other
//! than `identity` is not parsed (its bytes are not the event stream's text).

mod cx;
mod parse;
mod run;
#[cfg(test)]
mod tests;

pub use cx::EventCx;
pub use parse::{Piece, SseLine, SseMessage, SseSplitter};
pub(crate) use run::{EventStream, StreamContext};
pub use run::{FiredSet, MAX_MESSAGE_BYTES};
