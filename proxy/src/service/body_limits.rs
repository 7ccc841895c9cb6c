//! Request body limits while a request is handled: the body timeouts ([`BodyPace`]) turned
//! into the HTTP/1 session's read timeout before each body read and checked as each chunk
//! arrives, and the failures (`408`, `413`) `fail_to_proxy` answers.

use std::time::{Duration, Instant};

use http::StatusCode;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType, Result};
use sluice_policy::SyntheticResponse;

use super::{BodyFailure, Ctx, EdgeService};
use crate::body::HOST_BUFFER_LIMIT;
use crate::body_pace::BodyPace;
use crate::body_watch::BodyWatch;
use crate::errors;

/// Longest time spent reading the rest of a body after answering 413.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The error that stops proxying when a body is too slow.
fn timed_out() -> Box<Error> {
    let mut e = Error::explain(ErrorType::ReadTimedout, "the request body came too slowly");
    e.esource = ErrorSource::Downstream;
    e
}

impl EdgeService {
    /// Starts timing the request body, if one is expected, and arms the first read.
    pub(super) fn start_pace(&self, session: &mut Session, ctx: &mut Ctx) {
        if ctx.pace.is_some() || session.is_body_done() {
            return;
        }
        let pace = BodyPace::new(self.shared.body_timeouts, ctx.started);
        arm(session, &pace);
        ctx.pace = Some(pace);
    }

    /// Counts a chunk Pingora read and arms the next read; fails when the body is too slow.
    pub(super) fn pace_body(
        session: &mut Session,
        len: usize,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if session.was_upgraded() {
            // A websocket's bytes are not a request body.
            ctx.pace = None;
        }
        let Some(pace) = ctx.pace.as_mut() else {
            return Ok(());
        };
        pace.record(len);
        if end_of_stream {
            BodyWatch::arm(None);
            return Ok(());
        }
        if arm(session, pace) {
            Ok(())
        } else {
            ctx.body_failure = Some(BodyFailure::TimedOut);
            Err(timed_out())
        }
    }
}

/// Arms the next body read: the HTTP/1 read timeout, or the HTTP/2 stream's watch. False when
/// the body is already too slow.
pub(super) fn arm(session: &mut Session, pace: &BodyPace) -> bool {
    let now = Instant::now();
    let wait = pace.next_wait(now);
    match wait {
        Some(w) => {
            session.set_read_timeout(Some(w));
            BodyWatch::arm(Some(now + w));
        }
        None => BodyWatch::arm(None),
    }
    wait.is_some()
}

impl BodyFailure {
    /// Whether a proxying error means this: a body transform's `TooLarge`, or a timed-out
    /// read of a body being timed.
    pub(super) fn of(e: &Error, ctx: &Ctx) -> Option<BodyFailure> {
        if ctx.body_failure.is_some() {
            return ctx.body_failure;
        }
        match (e.etype(), e.esource()) {
            (ErrorType::ReadTimedout, ErrorSource::Downstream) if ctx.pace.is_some() => {
                Some(BodyFailure::TimedOut)
            }
            _ => None,
        }
    }

    /// Status, code and message of the answer.
    pub(super) fn answer(self) -> (StatusCode, u16, String) {
        match self {
            BodyFailure::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                errors::BODY_TOO_LARGE,
                format!(
                    "The request body is larger than the {HOST_BUFFER_LIMIT} bytes the edge buffers for the traffic policy."
                ),
            ),
            BodyFailure::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                errors::BODY_TIMEOUT,
                "The request body stalled or came too slowly.".to_string(),
            ),
        }
    }

    /// Sets what happens to the connection after the answer: a body too large is read to its
    /// end (for at most [`DRAIN_TIMEOUT`]) so the client sees the answer rather than a reset,
    /// and the connection may serve another request; a stalled one is closed.
    pub(super) fn settle_connection(self, session: &mut Session) {
        match self {
            BodyFailure::TooLarge => {
                session.set_close_on_response_before_downstream_finish(false);
                session.set_total_drain_timeout(Some(DRAIN_TIMEOUT));
            }
            BodyFailure::TimedOut => session.set_keepalive(None),
        }
    }

    /// The error page for a client whose `Accept` is `accept`.
    pub(super) fn page(self, accept: Option<&str>) -> SyntheticResponse {
        let (status, code, message) = self.answer();
        errors::error_page(status, code, &message, accept)
    }
}
