//! Replies awaiting the author's approval (GoToSocial's interaction
//! policies): GoToSocial shows such a reply to the author's token, in the
//! thread, with no field saying it is pending, and never to a logged-out
//! visitor, so it must not be published until the author accepts it.
//!
//! The reliable signal is the author's list of interaction requests
//! (`GET /api/v1/interaction_requests`, scope `read:notifications`), asked
//! with every thread fetch, side by side with the thread. Servers without
//! it (Mastodon and the rest: 404) are remembered and not asked again for a
//! day. The note GoToSocial adds to a pending reply's content when the
//! author's token reads it is a second line (`render`), not a substitute:
//! where the server refuses the token the list (403, a token without the
//! scope; only a server that has the list answers so, the others 404) or
//! fails to give it, nothing is published (503), as with the author's
//! block lists, and the refusal is logged with what to do.

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
    /// 404 (no such API): not asked again before then.
    NoUntil(Instant),
    /// It refused the token (403, with this status): threads are
    /// withheld, and it is asked again from then on.
    RefusedUntil(Instant, u16),
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
    /// the instance has no such list. An error where the instance has it
    /// and does not give it: the thread is not published.
    pub async fn ids(&self, m: &Mastodon, deadline: Deadline) -> Result<HashSet<String>, UpstreamError> {
        if !m.has_token() {
            return Ok(HashSet::new());
        }
        match self.support.lock().map(|s| *s) {
            Ok(Support::NoUntil(until)) if Instant::now() < until => return Ok(HashSet::new()),
            Ok(Support::RefusedUntil(until, status)) if Instant::now() < until => {
                return Err(UpstreamError::PendingUnknown(status));
            }
            _ => {}
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
            // 403 to the token: the server has the list (the others answer
            // 404) and the token lacks its scope. Fail closed, say what to
            // do, ask again a while later. (A 401 is the token refused
            // altogether, here or for every call: below.)
            Err(UpstreamError::Refused(status @ 403)) => {
                let e = UpstreamError::PendingUnknown(status);
                tracing::warn!("{e}");
                m.note_error(&e);
                self.set(Support::RefusedUntil(
                    Instant::now() + limits::INTERACTION_REQUESTS_REFUSED_RETRY,
                    status,
                ));
                Err(e)
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
