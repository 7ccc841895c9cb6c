//! Edges this edge just failed to reach for a name: routing prefers the name's other
//! placements for a few seconds, so when an edge dies, the requests after the one that found
//! out go to the edge its agent moved to instead of waiting for the dead edge's lease to end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a failed edge is passed over while the name has another placement: longer than
/// the mirror's refresh, shorter than a lease would usually be.
const PASS_OVER: Duration = Duration::from_secs(3);
/// Most marks kept (one per edge and name); older ones are dropped past it.
const MAX_MARKS: usize = 4096;

/// Recent dial failures by (edge id, name).
#[derive(Debug, Default)]
pub struct DownMarks {
    marks: Mutex<HashMap<(String, String), Instant>>,
}

impl DownMarks {
    /// Records that `edge` could not be reached, or no longer serves `host`.
    pub fn mark(&self, edge: &str, host: &str) {
        let Ok(mut marks) = self.marks.lock() else {
            return;
        };
        let now = Instant::now();
        if marks.len() >= MAX_MARKS {
            marks.retain(|_, at| now.duration_since(*at) < PASS_OVER);
        }
        if marks.len() < MAX_MARKS {
            marks.insert((edge.to_string(), host.to_string()), now);
        }
    }

    /// Records that `edge` served `host` again.
    pub fn clear(&self, edge: &str, host: &str) {
        if let Ok(mut marks) = self.marks.lock()
            && !marks.is_empty()
        {
            marks.remove(&(edge.to_string(), host.to_string()));
        }
    }

    /// Whether `edge` failed for `host` within the last few seconds.
    pub fn is_down(&self, edge: &str, host: &str) -> bool {
        let Ok(marks) = self.marks.lock() else {
            return false;
        };
        if marks.is_empty() {
            return false;
        }
        marks
            .get(&(edge.to_string(), host.to_string()))
            .is_some_and(|at| at.elapsed() < PASS_OVER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_per_edge_and_name_and_can_be_cleared() {
        let d = DownMarks::default();
        d.mark("a", "app.example");
        assert!(d.is_down("a", "app.example"));
        assert!(!d.is_down("b", "app.example"));
        assert!(!d.is_down("a", "other.example"));
        d.clear("a", "app.example");
        assert!(!d.is_down("a", "app.example"));
    }
}
