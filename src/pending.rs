//! Replies awaiting the author's approval (GoToSocial's interaction
//! policies): GoToSocial shows such a reply to the author's token, in the
//! thread, with no field saying it is pending, and never to a logged-out
//! visitor, so it must not be published until the author accepts it.
//!
//! The reliable signal is the author's list of interaction requests
//! (`GET /api/v1/interaction_requests`, scope `read:notifications`), asked
//! with every thread fetch, side by side with the thread. Servers without
//! it (Mastodon and the rest: 404) are remembered and not asked again for a
//! day. Where the list cannot be read (a token without the scope), the
//! note GoToSocial adds to a pending reply's content is what remains
//! (`render`); where it fails on a server that has it, nothing is
//! published (503), as with the author's block lists.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::Deserialize;
use tokio::time::Instant;

use crate::deadline::Deadline;
use crate::limits;
use crate::mastodon::{Mastodon, UpstreamError};

/// Whether the instance has interaction requests, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Support {
    Unknown,
    /// It answered the list: ask with every thread fetch.
    Yes,
    /// 404 (no such API), or the token may not read it (401/403): not
    /// asked again before then.
    NoUntil(Instant),
}

/// The interaction-requests side of one instance; shared by all requests.
#[derive(Debug)]
pub(crate) struct PendingReplies {
    support: Mutex<Support>,
}

impl Default for PendingReplies {
    fn default() -> Self {
        PendingReplies {
            support: Mutex::new(Support::Unknown),
        }
    }
}

/// One entry of `/api/v1/interaction_requests`: only the reply's id is
/// read.
#[derive(Deserialize)]
struct Request {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    id: String,
}

impl PendingReplies {
    /// The ids of the replies awaiting the author's approval; empty where
    /// the instance has no such list (or the token may not read it).
    pub async fn ids(&self, m: &Mastodon, deadline: Deadline) -> Result<HashSet<String>, UpstreamError> {
        if !m.has_token() || !self.worth_asking() {
            return Ok(HashSet::new());
        }
        match read(m, deadline).await {
            Ok(ids) => {
                self.set(Support::Yes);
                Ok(ids)
            }
            Err(UpstreamError::NotFound) => {
                self.set(Support::NoUntil(Instant::now() + limits::NO_INTERACTION_REQUESTS));
                Ok(HashSet::new())
            }
            Err(e @ (UpstreamError::Refused(_) | UpstreamError::TokenRequired)) => {
                tracing::warn!(
                    "cannot read the author's interaction requests ({e}); replies awaiting approval are \
                     recognised by GoToSocial's note in them only: give the token the scope read:notifications"
                );
                self.set(Support::NoUntil(Instant::now() + limits::NO_INTERACTION_REQUESTS));
                Ok(HashSet::new())
            }
            // A server that has the list and fails to give it now: nothing
            // that might be pending is published.
            Err(e) if self.known() => Err(e),
            // Not known to have it: this proves nothing either way; the
            // note in the content still guards, ask again next time.
            Err(e) => {
                tracing::debug!("interaction requests unavailable: {e}");
                Ok(HashSet::new())
            }
        }
    }

    /// Another instance or token (a reload): ask again what it supports.
    pub(crate) fn forget_support(&self) {
        self.set(Support::Unknown);
    }

    fn worth_asking(&self) -> bool {
        match self.support.lock().map(|s| *s) {
            Ok(Support::NoUntil(until)) => Instant::now() >= until,
            _ => true,
        }
    }

    fn known(&self) -> bool {
        self.support.lock().is_ok_and(|s| *s == Support::Yes)
    }

    fn set(&self, to: Support) {
        if let Ok(mut s) = self.support.lock() {
            *s = to;
        }
    }
}

/// Reads the pending replies, [`limits::INTERACTION_REQUEST_PAGES`] pages
/// of 80 at most.
async fn read(m: &Mastodon, deadline: Deadline) -> Result<HashSet<String>, UpstreamError> {
    let mut ids = HashSet::new();
    let mut max_id: Option<String> = None;
    for _ in 0..limits::INTERACTION_REQUEST_PAGES {
        let page = m
            .pending_replies::<Option<Request>>(max_id.as_deref(), deadline)
            .await?;
        let done = page.value.is_empty();
        ids.extend(
            page.value
                .into_iter()
                .flatten()
                .filter(|r| r.kind.as_deref().is_none_or(|k| k == "reply"))
                .filter_map(|r| r.reply.map(|reply| reply.id)),
        );
        match page.next_max_id {
            Some(next) if !done => max_id = Some(next),
            _ => break,
        }
    }
    Ok(ids)
}
