//! The HTTP/2 half of the body timeouts. Pingora applies a read timeout to HTTP/1 request
//! bodies (the service sets it from [`crate::body_pace::BodyPace`] before each read) but has
//! none for HTTP/2, where a stream whose body stops arriving would hold its upstream connection
//! for ever. So each HTTP/2 stream is handled under a [`BodyWatch`]: the service arms it with
//! the time the next body chunk is due, and when that passes the stream's handling is dropped,
//! which resets the stream and closes its upstream connection. (A chunk that arrives late is
//! answered 408 by the service itself.)
//!
//! The watch reaches the service through a task-local, set only around HTTP/2 streams;
//! [`BodyWatch::arm`] does nothing elsewhere.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

tokio::task_local! {
    static WATCH: Arc<BodyWatch>;
}

/// When the current HTTP/2 stream's next body chunk is due.
#[derive(Debug, Default)]
pub struct BodyWatch {
    deadline: Mutex<Option<Instant>>,
    changed: Notify,
}

impl BodyWatch {
    /// Runs one HTTP/2 stream's handling under a new watch; `None` when the watch ended it.
    pub async fn run<F: Future>(handling: F) -> Option<F::Output> {
        let watch = Arc::new(BodyWatch::default());
        let guarded = WATCH.scope(watch.clone(), handling);
        tokio::select! {
            biased;
            out = guarded => Some(out),
            () = watch.expired() => {
                tracing::debug!("HTTP/2 request body stalled: stream reset");
                None
            }
        }
    }

    /// Sets when the current stream's next body chunk is due (`None`: none is awaited).
    pub fn arm(deadline: Option<Instant>) {
        let _ = WATCH.try_with(|w| {
            if let Ok(mut d) = w.deadline.lock() {
                *d = deadline;
            }
            w.changed.notify_one();
        });
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline.lock().ok().and_then(|d| *d)
    }

    /// Resolves once an armed deadline passes without being moved.
    async fn expired(&self) {
        loop {
            let changed = self.changed.notified();
            match self.deadline() {
                None => changed.await,
                Some(due) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(due.into()) => {
                            if self.deadline() == Some(due) {
                                return;
                            }
                        }
                        () = changed => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_armed_watch_ends_the_handling_and_a_moved_one_does_not() {
        let out = BodyWatch::run(async {
            BodyWatch::arm(Some(Instant::now() + Duration::from_millis(50)));
            std::future::pending::<()>().await
        })
        .await;
        assert!(out.is_none());
        let out = BodyWatch::run(async {
            for _ in 0..5 {
                BodyWatch::arm(Some(Instant::now() + Duration::from_millis(40)));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            BodyWatch::arm(None);
            tokio::time::sleep(Duration::from_millis(80)).await;
            7
        })
        .await;
        assert_eq!(out, Some(7));
        // Outside a watch, arming does nothing.
        BodyWatch::arm(Some(Instant::now()));
    }
}
