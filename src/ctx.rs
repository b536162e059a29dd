//! What the service works with under one config: the config itself, the
//! instance's client, the state file and the author's account. A config
//! reload swaps the whole of it; work in flight keeps the one it started
//! with.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::config::Config;
use crate::deadline::Deadline;
use crate::limits;
use crate::mastodon::{Mastodon, UpstreamError};
use crate::state::State;

/// What the service works with under one config; cheap to clone into
/// spawned (coalesced) tasks.
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub mastodon: Arc<Mastodon>,
    pub state: Arc<State>,
    pub author: Arc<Author>,
}

/// The author's account id when the config has no `userid` (the Go
/// original's config did not need one): the token's own account, asked
/// once (`verify_credentials`), again at most every
/// [`limits::AUTHOR_RETRY`] while that fails.
#[derive(Debug, Default)]
pub struct Author {
    id: tokio::sync::OnceCell<String>,
    failed_at: Mutex<Option<Instant>>,
}

impl Ctx {
    /// `userid` from the config, else the token's account once known.
    pub fn userid(&self) -> Option<&str> {
        self.config
            .userid
            .as_deref()
            .or_else(|| self.author.id.get().map(String::as_str))
    }

    /// Learns the token's account id if the config names none. `false`
    /// when it should be known and is not (the look-up failed).
    pub(crate) async fn resolve_author(&self, deadline: Deadline) -> bool {
        if self.config.userid.is_some() || !self.mastodon.has_token() || self.author.id.initialized() {
            return true;
        }
        let recently_failed = self
            .author
            .failed_at
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() < limits::AUTHOR_RETRY);
        if recently_failed {
            return false;
        }
        let r = self
            .author
            .id
            .get_or_try_init(|| async {
                let me = self.mastodon.verify_credentials(deadline).await?;
                if crate::ids::valid(&me.id) {
                    tracing::info!(
                        "no \"userid\" in the config: using the token's account {} (@{}); set \"userid\" to skip this call",
                        me.id,
                        me.acct
                    );
                    Ok(me.id.to_string())
                } else {
                    Err(UpstreamError::Body("verify_credentials without an account id".into()))
                }
            })
            .await;
        if let Err(e) = r {
            tracing::warn!("cannot learn the author's account from the token: {e}; set \"userid\" in the config");
            if let Ok(mut t) = self.author.failed_at.lock() {
                *t = Some(Instant::now());
            }
            return false;
        }
        true
    }
}
