//! The service: `handle(&App, Request) -> Response`, independent of the
//! transport (FastCGI, HTTP, the `lookup` command) so tests drive it
//! directly.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::time::Instant;

use crate::cache::{AnswerCache, Entry, Freshness};
use crate::coalesce::Coalescer;
use crate::config::Config;
use crate::cpu::{self, JobError};
use crate::ctx::Ctx;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::ids::StatusId;
use crate::limits;
use crate::mastodon::model::{self, Context, Status};
use crate::mastodon::tls::NoCaRoots;
use crate::mastodon::{Mastodon, UpstreamError};
use crate::media::{Images, Key, Proxy};
use crate::moderation::{self, AuthorLists, Lists};
use crate::pending::PendingReplies;
use crate::query;
use crate::render::{self, Policy, Rules};
use crate::request::{Request, Response};
use crate::roots::Discovery;
use crate::state::State;

/// Where an answer came from, for the request log and `STATUS=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Cache,
    Upstream,
    Stale,
    NoRoot,
    Error,
}

/// Counters for the operator.
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub cache_hits: AtomicU64,
    pub stale_served: AtomicU64,
}

/// The parts that a config reload replaces together.
struct Live {
    ctx: Ctx,
    /// What the config says may be published.
    policy: Arc<Policy>,
    no_root: Bytes,
    /// `Cache-Control` values, made once per config.
    cc_found: String,
    cc_no_root: String,
    cc_stale: String,
}

/// Why the daemon cannot serve a config: it refuses to start on it, and a
/// reload keeps the config it has.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    NoCaRoots(#[from] NoCaRoots),
    /// The image tokens' key cannot be read or made.
    #[error("{0}")]
    MediaKey(String),
}

/// Everything a request needs; shared by all connections.
pub struct App {
    live: RwLock<Arc<Live>>,
    state: Arc<State>,
    discovery: Discovery,
    cache: AnswerCache,
    fetches: Coalescer<StatusId, Result<Entry, UpstreamError>>,
    lists: Arc<AuthorLists>,
    /// Replies awaiting the author's approval; what the instance is known
    /// to support is kept across reloads for the same account.
    pending: Arc<PendingReplies>,
    /// The image tokens' key, read (or made) when a config first turns
    /// `proxy_media` on, then kept: a reload never changes it.
    media_key: std::sync::Mutex<Option<Key>>,
    /// The image fetches (`proxy_media`), shared by every config.
    media: Proxy,
    pub metrics: Metrics,
}

/// A reply has no `"stale"` key of its own in the serialized form; this
/// suffix is swapped to produce the stale copy without re-rendering.
const FRESH_SUFFIX: &[u8] = b",\"stale\":false}";
const STALE_SUFFIX: &[u8] = b",\"stale\":true}";

fn serialize(answer: &render::Answer) -> (Bytes, Bytes) {
    let mut body = answer.to_json();
    if body.last() == Some(&b'}') {
        body.pop();
        let mut stale = body.clone();
        body.extend_from_slice(FRESH_SUFFIX);
        stale.extend_from_slice(STALE_SUFFIX);
        (Bytes::from(body), Bytes::from(stale))
    } else {
        let b = Bytes::from(body);
        (b.clone(), b)
    }
}

impl App {
    /// Fails when the instance is `https` and the system has no CA
    /// certificates to check it with (see [`mastodon::tls`](crate::mastodon::tls)).
    pub fn new(config: Config, state: Arc<State>) -> Result<App, SetupError> {
        let cache = AnswerCache::new(config.cache_fresh, config.cache_keep, config.cache_entries);
        let media_key = std::sync::Mutex::new(None);
        let images = images(&config, &state, &media_key)?;
        let live = Self::live(config, state.clone(), images, None)?;
        let lists = Arc::new(AuthorLists::start(lists_source(&live.ctx)));
        Ok(App {
            live: RwLock::new(Arc::new(live)),
            state,
            discovery: Discovery::default(),
            cache,
            fetches: Coalescer::default(),
            lists,
            pending: Arc::default(),
            media_key,
            media: Proxy::default(),
            metrics: Metrics::default(),
        })
    }

    fn live(
        config: Config,
        state: Arc<State>,
        images: Option<Images>,
        previous: Option<&Live>,
    ) -> Result<Live, SetupError> {
        let config_max_age = config.max_age;
        let mut policy = Policy::from_config(&config);
        policy.images = images.map(Arc::new);
        let mastodon = match previous {
            Some(p) => Mastodon::renewed(&config, &p.ctx.mastodon),
            None => Mastodon::new(&config),
        }?;
        Ok(Live {
            policy: Arc::new(policy),
            ctx: Ctx {
                config: Arc::new(config),
                mastodon: Arc::new(mastodon),
                state,
                author: Arc::default(),
            },
            no_root: serialize(&render::no_root()).0,
            cc_found: format!("max-age={}", config_max_age.as_secs()),
            cc_no_root: format!("max-age={}", limits::NO_ROOT_MAX_AGE.min(config_max_age).as_secs()),
            cc_stale: format!("max-age={}", limits::STALE_MAX_AGE.min(config_max_age).as_secs()),
        })
    }

    /// Swaps in a new config (SIGHUP); requests in flight finish with the
    /// old one.
    pub fn reload(&self, config: Config) -> Result<(), SetupError> {
        // A config the daemon cannot work with changes nothing.
        let images = images(&config, &self.state, &self.media_key)?;
        let (fresh, keep, entries) = (config.cache_fresh, config.cache_keep, config.cache_entries);
        let (max_entries, miss_retry) = (config.max_state_entries, config.miss_retry);
        let previous = self.current();
        let live = Self::live(config, self.state.clone(), images, Some(&previous))?;
        self.cache.reconfigure(fresh, keep, entries);
        self.state.set_limits(max_entries, miss_retry);
        self.lists.set_source(lists_source(&live.ctx));
        if live.ctx.mastodon.account_key() != previous.ctx.mastodon.account_key() {
            self.pending.forget_support();
        }
        if let Ok(mut l) = self.live.write() {
            *l = Arc::new(live);
        }
        Ok(())
    }

    fn current(&self) -> Arc<Live> {
        match self.live.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.current().ctx.config.clone()
    }

    pub fn mastodon(&self) -> Arc<Mastodon> {
        self.current().ctx.mastodon.clone()
    }

    /// Where the author's blocks and mutes stand.
    pub fn lists(&self) -> Lists {
        self.lists.current()
    }

    /// One line for `systemctl status`.
    pub fn status_line(&self) -> String {
        let m = self.mastodon();
        let last = m
            .counters
            .last_error
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .map(|e| format!(", last upstream error: {e}"))
            .unwrap_or_default();
        let lists = match self.lists.current() {
            Lists::Pending { .. } => ", the author's blocks and mutes not loaded yet (comments withheld)",
            _ => "",
        };
        format!(
            "{} requests, {} cache hits, {} stale, {} upstream calls, {} upstream errors{last}{lists}",
            self.metrics.requests.load(Ordering::Relaxed),
            self.metrics.cache_hits.load(Ordering::Relaxed),
            self.metrics.stale_served.load(Ordering::Relaxed),
            m.counters.calls.load(Ordering::Relaxed),
            m.counters.errors.load(Ordering::Relaxed),
        )
    }

    /// Answers one request. Never panics on input, never takes longer than
    /// the configured deadline (plus scheduling).
    pub async fn handle(&self, req: &Request) -> Response {
        let started = Instant::now();
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let head = req.method == "HEAD";
        let live = self.current();
        if let Some(images) = live.policy.images.as_deref() {
            let path = req.uri.split_once('?').map_or(req.uri.as_str(), |(p, _)| p);
            if let Some(token) = path.strip_prefix(images.prefix()) {
                let mut resp = self.image(&live, images, req, token).await;
                tracing::info!(status = resp.status, ms = started.elapsed().as_millis() as u64, "image");
                if head {
                    resp.body = Bytes::new();
                }
                return resp;
            }
        }
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let result = AssertUnwindSafe(crate::mastodon::counting_calls(calls.clone(), self.respond(req)))
            .catch_unwind()
            .await;
        let (mut resp, source, path) = match result {
            Ok(Ok((resp, source, path))) => (resp, source, path),
            Ok(Err((e, path))) => (e.response(), Source::Error, path),
            // A bug must cost one answer, not the connection or the daemon.
            Err(_) => (
                Error::Internal("a request handler panicked (a bug; please report it)".into()).response(),
                Source::Error,
                None,
            ),
        };
        match source {
            Source::Cache => {
                self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            }
            Source::Stale => {
                self.metrics.stale_served.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        tracing::info!(
            path = path.as_deref().unwrap_or("-"),
            status = resp.status,
            ms = started.elapsed().as_millis() as u64,
            source = ?source,
            upstream_calls = calls.load(Ordering::Relaxed),
            "request"
        );
        if head {
            resp.body = Bytes::new();
        }
        resp
    }

    /// An image path (`proxy_media`): served by the image proxy; the log
    /// says why one failed, never the reader.
    async fn image(&self, live: &Live, images: &Images, req: &Request, token: &str) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Error::Method.response();
        }
        let deadline = Deadline::after(live.ctx.config.timeout);
        let (resp, reason) = self
            .media
            .serve(images.key(), token, &live.ctx.config.url, deadline)
            .await;
        if resp.status != 200 {
            tracing::info!(status = resp.status, "image not served: {reason}");
        }
        resp
    }

    async fn respond(&self, req: &Request) -> Result<(Response, Source, Option<String>), (Error, Option<String>)> {
        if req.method != "GET" && req.method != "HEAD" {
            return Err((Error::Method, None));
        }
        let path = query::from_request(&req.uri, &req.query).map_err(|e| (Error::BadQuery(e), None))?;
        let live = self.current();
        let config = &live.ctx.config;
        if config.path_pattern.as_ref().is_some_and(|p| !p.is_match(&path)) {
            return Err((Error::NotArticle, Some(path)));
        }
        let deadline = Deadline::after(config.timeout);
        let found = deadline.bound(self.discovery.find(&live.ctx, &path, deadline)).await;
        let root = match found {
            Ok(Ok(root)) => root,
            Ok(Err(e)) => return Err((e.into(), Some(path))),
            Err(_) => return Err((Error::Upstream(UpstreamError::Timeout), Some(path))),
        };
        let Some(root) = root else {
            let resp = Response::json(200, live.cc_no_root.clone(), live.no_root.clone());
            return Ok((resp, Source::NoRoot, Some(path)));
        };
        match self.thread(&live, &root, deadline).await {
            Ok((entry, Source::Stale)) => {
                let mut resp = Response::json(200, live.cc_stale.clone(), entry.stale_body);
                resp.headers.push(("X-Comments-Stale", "1".into()));
                Ok((resp, Source::Stale, Some(path)))
            }
            // The instance is still completing the thread: cached briefly
            // everywhere, so its new replies show up soon.
            Ok((entry, source)) => {
                let cc = match entry.refresh_after {
                    Some(after) => format!("max-age={}", after.min(config.max_age).as_secs().max(1)),
                    None => live.cc_found.clone(),
                };
                Ok((Response::json(200, cc, entry.body), source, Some(path)))
            }
            Err(UpstreamError::NotFound) => {
                // The announcement was deleted: forget it, look again later.
                self.discovery.forget(&live.ctx, &path, &root);
                let resp = Response::json(200, live.cc_no_root.clone(), live.no_root.clone());
                Ok((resp, Source::NoRoot, Some(path)))
            }
            Err(e) => Err((e.into(), Some(path))),
        }
    }

    /// The answer for a root: fresh from the cache, else fetched (once for
    /// all concurrent askers), else the last good one, else the error.
    async fn thread(&self, live: &Live, root: &StatusId, deadline: Deadline) -> Result<(Entry, Source), UpstreamError> {
        let cached = self.cache.get(root);
        if let Some((entry, Freshness::Fresh)) = cached {
            return Ok((entry, Source::Cache));
        }
        let job = Thread {
            ctx: live.ctx.clone(),
            policy: live.policy.clone(),
            pending: self.pending.clone(),
            lists: self.lists.clone(),
            root: root.clone(),
        };
        // The fetch is shared by everyone asking meanwhile and outlives a
        // reader who gives up, so it has a deadline of its own: the
        // config's timeout from when it starts (limits::DEFAULT_TIMEOUT).
        let shared = Deadline::after(live.ctx.config.timeout);
        let fetched = deadline
            .bound(self.fetches.run(
                root.clone(),
                move || async move { job.fetch(shared).await },
                Err(UpstreamError::Bug),
            ))
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        match fetched {
            Ok(entry) => {
                self.cache.insert(root, entry.clone());
                Ok((entry, Source::Upstream))
            }
            Err(UpstreamError::NotFound) => Err(UpstreamError::NotFound),
            Err(e) => match cached {
                Some((entry, _)) => {
                    tracing::warn!("upstream failed ({e}); serving the last good answer");
                    Ok((entry, Source::Stale))
                }
                None => Err(e),
            },
        }
    }
}

/// How the answer names images under a config: proxied with `proxy_media`
/// (the key read or made on first use: `media.key` beside the state file,
/// or one for this process when the state is in memory only), else as
/// they are.
fn images(config: &Config, state: &State, key: &std::sync::Mutex<Option<Key>>) -> Result<Option<Images>, SetupError> {
    let (true, Some(blog_url)) = (config.proxy_media, config.blog_url.as_ref()) else {
        return Ok(None);
    };
    let mut key = key
        .lock()
        .map_err(|_| SetupError::MediaKey("the media key's lock is poisoned (a bug; please report it)".into()))?;
    let key = match &mut *key {
        Some(k) => k.clone(),
        slot => {
            let k = match state.path() {
                Some(p) => Key::load_or_create(&p.with_file_name(MEDIA_KEY_FILE))
                    .map_err(|e| SetupError::MediaKey(e.to_string()))?,
                None => {
                    Key::ephemeral().map_err(|_| SetupError::MediaKey("the system's random source failed".into()))?
                }
            };
            *slot = Some(k.clone());
            k
        }
    };
    Ok(Some(Images::new(key, blog_url, &config.media_prefix)))
}

/// The image tokens' key file, beside the state file.
pub const MEDIA_KEY_FILE: &str = "media.key";

/// Where the author's lists come from under a config: the instance with
/// the author's token, when the config uses them.
fn lists_source(ctx: &Ctx) -> Option<moderation::Source> {
    let config = &ctx.config;
    (config.use_mastodon_blocks && ctx.mastodon.has_token()).then(|| moderation::Source {
        mastodon: ctx.mastodon.clone(),
        instance_host: config.url.host_str().unwrap_or("").to_ascii_lowercase(),
    })
}

/// One thread fetch, owned, so it can run in a task of its own.
struct Thread {
    ctx: Ctx,
    policy: Arc<Policy>,
    pending: Arc<PendingReplies>,
    lists: Arc<AuthorLists>,
    root: StatusId,
}

impl Thread {
    /// Fetches the root and its context concurrently (with the author's
    /// lists, which are ready in the background), then decodes and renders
    /// in one job, off the event loop when the thread is large.
    async fn fetch(self, deadline: Deadline) -> Result<Entry, UpstreamError> {
        let root = self.root;
        let m = &self.ctx.mastodon;
        let (fetched, lists, pending) = tokio::join!(
            async { tokio::try_join!(m.status(&root, deadline), m.context(&root, deadline)) },
            self.lists.get(deadline),
            self.pending.ids(m, deadline)
        );
        let (status, context) = fetched?;
        let lists = lists?;
        let pending = pending?;
        let refresh_after = context.refresh_after;
        let (status, context) = (status.value, context.value);
        let author = self.ctx.userid().map(str::to_string);
        let policy = self.policy;
        let until = deadline.std();
        let size = status.len() + context.len();
        let job = move || {
            let rules = Rules {
                policy: &policy,
                author: author.as_deref(),
                lists: &lists,
                pending: &pending,
            };
            render_thread(&root, &status, &context, rules, until)
        };
        let (body, stale_body) = match cpu::run(size, deadline, job).await {
            Ok(r) => r?,
            Err(JobError::Expired) => return Err(UpstreamError::Timeout),
            Err(JobError::Panicked) => return Err(UpstreamError::Bug),
        };
        Ok(Entry {
            body,
            stale_body,
            filled: Instant::now(),
            fresh: true,
            refresh_after,
        })
    }
}

/// The CPU part of an answer: decode, filter, sanitize, serialize.
fn render_thread(
    root: &StatusId,
    status: &[u8],
    context: &[u8],
    rules: Rules<'_>,
    until: std::time::Instant,
) -> Result<(Bytes, Bytes), UpstreamError> {
    let status: Status = model::from_json(status).map_err(|e| UpstreamError::Body(e.to_string()))?;
    if *root != *status.id {
        return Err(UpstreamError::Body(format!("asked for status {root}, got another id")));
    }
    // One entry that is not a status (Akkoma's `null` for a post it cannot
    // load) costs that entry: dropped, logged, counted as withheld.
    let listed = model::decode_context(context).map_err(|e| UpstreamError::Body(e.to_string()))?;
    if listed.dropped > 0 {
        tracing::warn!(
            "the thread of {root}: dropped {} entries that are not statuses ({})",
            listed.dropped,
            listed.first_problem.as_deref().unwrap_or("?")
        );
    }
    let context = Context {
        descendants: listed.statuses,
    };
    let mut answer = render::render(&status, &context, rules, Some(until)).map_err(|_| UpstreamError::Timeout)?;
    answer.withheld += listed.dropped;
    Ok(serialize(&answer))
}
