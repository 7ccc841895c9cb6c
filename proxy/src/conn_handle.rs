//! How a request reaches the record of the connection it came on ([`ConnRecord`]), with no
//! lookup table: the handle travels with the session.
//!
//! - HTTP/1: the session's stream is the accept loop's [`Metered`] wrapper, which holds the
//!   record; [`of_session`] downcasts to it.
//! - HTTP/2: the streams of a connection share an h2 connection the session cannot reach, so
//!   the per-connection app puts the handle into each stream's request extensions
//!   ([`attach`]) before Pingora's proxy sees the request.

use std::sync::Arc;

use pingora::protocols::IO;
use pingora::protocols::http::ServerSession;

use crate::conn::ConnRecord;
use crate::metered::Metered;

/// The request extension carrying an HTTP/2 stream's connection record.
#[derive(Debug, Clone)]
struct ConnHandle(Arc<ConnRecord>);

/// Gives an HTTP/2 stream's request the handle of its connection's record. HTTP/1 sessions
/// need none (their stream carries it) and have no request yet when they start.
pub fn attach(session: &mut ServerSession, record: &Arc<ConnRecord>) {
    if session.is_http2() {
        session
            .req_header_mut()
            .extensions_mut()
            .insert(ConnHandle(record.clone()));
    }
}

/// The record of the connection `session` runs on; none for sessions not from the edge's
/// accept loop.
pub fn of_session(session: &ServerSession) -> Option<Arc<ConnRecord>> {
    match session.stream() {
        Some(stream) => {
            // The boxed stream itself, not the box (which is an `IO` too).
            let io: &dyn IO = &**stream;
            io.as_any()
                .downcast_ref::<Metered>()
                .map(|m| m.record().clone())
        }
        None => session
            .req_header()
            .extensions
            .get::<ConnHandle>()
            .map(|h| h.0.clone()),
    }
}
