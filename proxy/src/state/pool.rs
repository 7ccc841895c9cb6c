//! One public name (or TCP port) and the agent sessions serving it: a [`Pool`] of members,
//! one per session, picked round robin (closed sessions skipped), and the rules for a new
//! bind of a name already in use ([`Pool::admit`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sluice_tunnel::{AgentSession, BindRejection};

use crate::config::Endpoint;

/// One session serving a pooled name.
#[derive(Debug, Clone)]
pub struct Member {
    /// The endpoint as this session bound it (its own id and policy).
    pub endpoint: Arc<Endpoint>,
    /// The agent session behind it.
    pub session: AgentSession,
    /// The bind asked for pooling.
    pub pooling: bool,
}

/// The sessions serving one name, in bind order.
#[derive(Debug, Default)]
pub struct Pool {
    members: Vec<Member>,
    next: AtomicUsize,
}

/// What a new bind does to a pool ([`Pool::admit`]).
#[derive(Debug)]
pub enum Admission {
    /// Join (or, for a session already in it, replace its own member).
    Join,
    /// Join after these sessions (older sessions of the same agent) are closed.
    TakeOver(Vec<AgentSession>),
}

impl Pool {
    /// Whether no session serves the name.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members, in bind order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The next live member, round robin; `None` when every session has ended.
    pub fn pick(&self) -> Option<&Member> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[(start + i) % n])
            .find(|m| m.session.close_reason().is_none())
    }

    /// The member [`Pool::pick`] would give next, without moving the round robin.
    pub fn peek(&self) -> Option<&Member> {
        let n = self.members.len();
        let start = self.next.load(Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[(start + i) % n])
            .find(|m| m.session.close_reason().is_none())
    }

    /// Decides whether `session` may bind the name (`what`, for messages) with `pooling`:
    /// - its own earlier bind is replaced;
    /// - another account's session holds it: refused (`ERR_SLUICE_334`);
    /// - an older session of the same agent (account and client id) holds it: taken over;
    /// - another agent of the same account holds it: shared when both enabled pooling,
    ///   refused (`ERR_SLUICE_334`) otherwise.
    pub fn admit(
        &self,
        session: &AgentSession,
        pooling: bool,
        what: &str,
    ) -> Result<Admission, BindRejection> {
        let mut replaced = Vec::new();
        for m in &self.members {
            let old = &m.session;
            if old.id() == session.id() || old.close_reason().is_some() {
                continue;
            }
            if old.account() != session.account() {
                return Err(BindRejection::new(
                    "ERR_SLUICE_334",
                    format!("{what} is already bound by another account"),
                ));
            }
            if old.client_id() == session.client_id() {
                replaced.push(old.clone());
            } else if !(pooling && m.pooling) {
                return Err(BindRejection::new(
                    "ERR_SLUICE_334",
                    format!(
                        "{what} is already bound by another session (bind it with pooling \
                         enabled on every agent to share it)"
                    ),
                ));
            }
        }
        Ok(if replaced.is_empty() {
            Admission::Join
        } else {
            Admission::TakeOver(replaced)
        })
    }

    /// Adds `member`, replacing any earlier member of its session and dropping ended ones.
    pub fn insert(&mut self, member: Member) {
        let id = member.session.id().to_string();
        self.members
            .retain(|m| m.session.id() != id && m.session.close_reason().is_none());
        self.members.push(member);
    }

    /// Removes the members of the session with this id; true when any was removed.
    pub fn remove_session(&mut self, id: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.session.id() != id);
        before != self.members.len()
    }
}
