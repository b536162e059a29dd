//! The author's own Mastodon blocks, mutes and domain blocks (with a token
//! and `use_mastodon_blocks`), loaded in the background: at start, every
//! [`limits::MODERATION_REFRESH`], and [`limits::MODERATION_RETRY`] after
//! a failure; never on a request's path.
//!
//! Moderation never fails open: until the lists have loaded once, no answer
//! they could change is published (requests wait for the first load within
//! their deadline, else answer 503). A failed refresh keeps the lists
//! already loaded. A token without the scopes for them (403) is the
//! operator's choice, like `use_mastodon_blocks: false`: logged, and the
//! lists are not used.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::deadline::Deadline;
use crate::limits;
use crate::mastodon::api::ModerationList;
use crate::mastodon::model::BlockedAccount;
use crate::mastodon::{Mastodon, UpstreamError};
use crate::render::Moderation;

/// Where the lists come from: the client of the instance whose token is
/// the author's. `None`: the lists are not used.
#[derive(Clone)]
pub(crate) struct Source {
    pub mastodon: Arc<Mastodon>,
    /// Local accounts in the lists have no domain: this one.
    pub instance_host: String,
}

/// Where the lists stand.
#[derive(Debug, Clone)]
pub enum Lists {
    /// Not used (no token, `use_mastodon_blocks` off, or a token without
    /// the scopes for them).
    Off,
    /// Never loaded for this token yet.
    Pending {
        /// A load is under way (answers wait for it).
        loading: bool,
        /// When the next load starts, after a failed one.
        next_try: Instant,
    },
    Loaded(Arc<Moderation>),
}

/// The lists and the task that keeps them fresh; dropping it stops the task.
pub(crate) struct AuthorLists {
    state: watch::Receiver<Lists>,
    source: watch::Sender<Option<Source>>,
    task: Mutex<Task>,
}

/// The background task: started as soon as a runtime is there (an
/// `App` may be built before its runtime starts, e.g. in a fuzz target).
enum Task {
    NotStarted(Option<(watch::Receiver<Option<Source>>, watch::Sender<Lists>)>),
    Running(JoinHandle<()>),
}

impl Drop for AuthorLists {
    fn drop(&mut self) {
        if let Ok(Task::Running(task)) = self.task.get_mut().map(|t| &*t) {
            task.abort();
        }
    }
}

impl AuthorLists {
    /// Starts keeping the lists of `source`: at once inside a runtime, else
    /// on first use.
    pub fn start(source: Option<Source>) -> AuthorLists {
        let initial = if source.is_some() {
            Lists::Pending {
                loading: true,
                next_try: Instant::now(),
            }
        } else {
            Lists::Off
        };
        let (state_tx, state) = watch::channel(initial);
        let (source, source_rx) = watch::channel(source);
        let lists = AuthorLists {
            state,
            source,
            task: Mutex::new(Task::NotStarted(Some((source_rx, state_tx)))),
        };
        lists.ensure_running();
        lists
    }

    fn ensure_running(&self) {
        let Ok(mut task) = self.task.lock() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Task::NotStarted(parts) = &mut *task
            && let Some((source, state)) = parts.take()
        {
            *task = Task::Running(runtime.spawn(keep_fresh(source, state)));
        }
    }

    /// A reloaded config. Lists of another account (a new token or
    /// instance), or lists turned on, are loaded at once; for the same
    /// account the new client is used from the next refresh on.
    pub(crate) fn set_source(&self, source: Option<Source>) {
        self.ensure_running();
        let key = |s: &Option<Source>| s.as_ref().map(|s| s.mastodon.account_key());
        self.source.send_if_modified(|current| {
            let changed = key(current) != key(&source);
            *current = source;
            changed
        });
    }

    pub fn current(&self) -> Lists {
        self.state.borrow().clone()
    }

    /// The lists to render with. While they have never loaded: waits for a
    /// load under way until `deadline`, else (or after a failed load)
    /// [`UpstreamError::ListsPending`], so nothing they could hide is
    /// published.
    pub async fn get(&self, deadline: Deadline) -> Result<Arc<Moderation>, UpstreamError> {
        self.ensure_running();
        let mut state = self.state.clone();
        let settled = deadline
            .bound(state.wait_for(|l| !matches!(l, Lists::Pending { loading: true, .. })))
            .await;
        let lists = match settled {
            Ok(Ok(l)) => l.clone(),
            // The task stopped (shutdown): nothing is known.
            Ok(Err(_)) => return Err(UpstreamError::Bug),
            Err(_) => self.current(),
        };
        match lists {
            Lists::Off => Ok(Arc::default()),
            Lists::Loaded(m) => Ok(m),
            Lists::Pending { loading, next_try } => Err(UpstreamError::ListsPending {
                retry_after: if loading {
                    limits::DEFAULT_RETRY_AFTER.min(Duration::from_secs(5))
                } else {
                    next_try.saturating_duration_since(Instant::now())
                },
            }),
        }
    }
}

/// The background task: loads, then sleeps until the next refresh (or a
/// reload), for as long as the [`AuthorLists`] lives.
async fn keep_fresh(mut source: watch::Receiver<Option<Source>>, state: watch::Sender<Lists>) {
    let mut account: Option<(String, Option<String>)> = None;
    loop {
        let current = source.borrow_and_update().clone();
        let wait = match current {
            None => {
                account = None;
                state.send_replace(Lists::Off);
                Duration::MAX
            }
            Some(src) => {
                // Lists of another account (a new token or instance) are
                // not this one's: load afresh, publish nothing meanwhile.
                let this = src.mastodon.account_key();
                if account.as_ref() != Some(&this) {
                    account = Some(this);
                    state.send_replace(Lists::Pending {
                        loading: true,
                        next_try: Instant::now(),
                    });
                } else if let Lists::Pending { next_try, .. } = *state.borrow() {
                    state.send_replace(Lists::Pending {
                        loading: true,
                        next_try,
                    });
                }
                refresh(&src, &state).await
            }
        };
        let sleep = tokio::time::sleep(wait.min(Duration::from_secs(86400 * 365)));
        tokio::select! {
            _ = sleep => {}
            changed = source.changed() => if changed.is_err() { return },
        }
    }
}

/// One load of the three lists; returns how long until the next.
async fn refresh(src: &Source, state: &watch::Sender<Lists>) -> Duration {
    let deadline = Deadline::after(limits::MODERATION_LOAD);
    match load(src, deadline).await {
        Ok(lists) => {
            if !matches!(*state.borrow(), Lists::Loaded(_)) {
                tracing::info!(
                    "the author's blocks and mutes are loaded: {} accounts, {} domains",
                    lists.accounts.len(),
                    lists.domains.len()
                );
            }
            state.send_replace(Lists::Loaded(Arc::new(lists)));
            limits::MODERATION_REFRESH
        }
        Err(UpstreamError::Refused(403)) => {
            tracing::warn!(
                "the token may not read the author's blocks and mutes (HTTP 403): they are not applied; \
                 give the token the scopes read:blocks and read:mutes, or set \"use_mastodon_blocks\": false"
            );
            state.send_replace(Lists::Off);
            limits::MODERATION_REFRESH
        }
        Err(e) => {
            let next_try = Instant::now() + limits::MODERATION_RETRY;
            let kept = match &*state.borrow() {
                Lists::Loaded(_) => "keeping the lists loaded before",
                _ => "answers with comments wait until they load",
            };
            tracing::warn!(
                "cannot load the author's blocks and mutes: {e}; {kept}; trying again in {}s",
                limits::MODERATION_RETRY.as_secs()
            );
            if !matches!(*state.borrow(), Lists::Loaded(_)) {
                state.send_replace(Lists::Pending {
                    loading: false,
                    next_try,
                });
            }
            limits::MODERATION_RETRY
        }
    }
}

/// Reads the three lists one call at a time: a refresh holds at most one
/// of the upstream permits, and only a spare one (see
/// [`Mastodon::wait_for_spare_capacity`]).
async fn load(src: &Source, deadline: Deadline) -> Result<Moderation, UpstreamError> {
    let m = &src.mastodon;
    let blocks = pages::<BlockedAccount>(m, ModerationList::Blocks, deadline).await?;
    let mutes = pages::<BlockedAccount>(m, ModerationList::Mutes, deadline).await?;
    let domains = pages::<String>(m, ModerationList::DomainBlocks, deadline).await?;
    let mut lists = Moderation::default();
    lists.accounts.extend(
        blocks
            .iter()
            .chain(mutes.iter())
            .filter_map(|a| crate::ids::full_acct(&a.acct, &src.instance_host)),
    );
    lists.domains.extend(
        domains
            .into_iter()
            .map(|d| d.trim().to_lowercase())
            .filter(|d| !d.is_empty()),
    );
    Ok(lists)
}

/// Reads a paginated list up to [`limits::MODERATION_PAGES`].
async fn pages<T: serde::de::DeserializeOwned + Send + 'static>(
    m: &Mastodon,
    list: ModerationList,
    deadline: Deadline,
) -> Result<Vec<T>, UpstreamError> {
    let mut all = Vec::new();
    let mut max_id: Option<String> = None;
    for _ in 0..limits::MODERATION_PAGES {
        m.wait_for_spare_capacity(deadline).await;
        let page = match m.author_list::<T>(list, max_id.as_deref(), deadline).await {
            Ok(page) => page,
            // A server without this list (GoToSocial has no domain blocks
            // of its users): nothing in it can hide anything.
            Err(UpstreamError::NotFound) if max_id.is_none() => {
                tracing::debug!("the instance has no {list:?} list: nothing to apply from it");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let done = page.value.is_empty();
        all.extend(page.value);
        match page.next_max_id {
            Some(next) if !done => max_id = Some(next),
            _ => break,
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Token};

    #[test]
    fn built_outside_a_runtime_it_starts_on_first_use() {
        let mut config = Config::for_instance(url::Url::parse("http://127.0.0.1:9").expect("url"));
        config.token = Some(Token::new("t"));
        let source = Source {
            mastodon: Arc::new(Mastodon::new(&config).expect("client")),
            instance_host: "127.0.0.1".into(),
        };
        // No runtime here: nothing is spawned, nothing panics.
        let lists = AuthorLists::start(Some(source));
        assert!(matches!(lists.current(), Lists::Pending { loading: true, .. }));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // In one, the first use starts the load; the closed port fails it,
        // so nothing is published.
        let got = rt.block_on(lists.get(Deadline::after(Duration::from_secs(5))));
        assert!(matches!(got, Err(UpstreamError::ListsPending { .. })), "{got:?}");
    }
}
