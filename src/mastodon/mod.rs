//! The Mastodon instance: one pooled HTTP client with bounds on time,
//! bytes and concurrency, rate-limit bookkeeping, the calls the daemon
//! makes ([`api`]), and the API model.
//!
//! Requests only ever go to the configured instance (redirects are not
//! followed, `Link` headers are read for their `max_id` only), so the token
//! cannot leak to another host.

pub mod api;
pub mod model;
pub mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::config::{Config, Token};
use crate::cpu::{self, JobError};
use crate::deadline::Deadline;
use crate::limits;

/// Why an upstream call gave nothing usable. Every variant is answered with
/// 503 + `Retry-After`, except where callers branch (`NotFound`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("the instance did not answer in time")]
    Timeout,
    #[error("cannot reach the instance: {0}")]
    Connect(String),
    #[error("the instance answered HTTP {0}")]
    Status(u16),
    #[error("the instance answered 404")]
    NotFound,
    #[error("rate-limited by the instance for {}s", .retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("the instance's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the instance's answer is not the expected JSON: {0}")]
    Body(String),
    /// 401/403 to a call made with the token: revoked, mistyped, or
    /// missing a scope.
    #[error(
        "the instance refused the token (HTTP {0}); check it and its scopes (read:statuses read:search read:blocks \
         read:mutes; on GoToSocial also read:notifications)"
    )]
    Refused(u16),
    /// 401/403 to the author's interaction requests (GoToSocial, a token
    /// without `read:notifications`): which replies await the author's
    /// approval cannot be known, so no thread is published.
    #[error(
        "the instance refuses the token the replies awaiting the author's approval (HTTP {0}), so those cannot be \
         told apart and no comments are published; give the token the scope read:notifications (create a new one \
         with read:statuses read:search read:blocks read:mutes read:notifications), then reload"
    )]
    PendingUnknown(u16),
    /// 401 to a call made without a token: the server reads nothing to
    /// anonymous callers (GoToSocial always, Mastodon in limited mode).
    #[error(
        "the instance refuses calls without a token (HTTP 401): this server requires the author's access token; \
         add it to the config (see Configuration and token in the README)"
    )]
    TokenRequired,
    /// The author's blocks and mutes have not loaded yet: nothing they
    /// could hide is published until they have.
    #[error("the author's blocks and mutes are not loaded yet")]
    ListsPending { retry_after: Duration },
    /// Not the instance's fault: the fetch task panicked (a bug of ours).
    #[error("the fetch failed inside mastodon-comments (a bug; please report it)")]
    Bug,
}

impl UpstreamError {
    /// What to put in `Retry-After`.
    pub(crate) fn retry_after(&self) -> Duration {
        match self {
            UpstreamError::RateLimited { retry_after } | UpstreamError::ListsPending { retry_after } => {
                (*retry_after).max(Duration::from_secs(1))
            }
            _ => limits::DEFAULT_RETRY_AFTER,
        }
    }
}

tokio::task_local! {
    /// Upstream calls made on behalf of the current request, for its log line.
    static REQUEST_CALLS: Arc<AtomicU32>;
}

/// Runs `fut` counting its upstream calls into `calls`.
pub(crate) async fn counting_calls<F: Future>(calls: Arc<AtomicU32>, fut: F) -> F::Output {
    REQUEST_CALLS.scope(calls, fut).await
}

/// Runs `fut` counting into the current request's counter, if any: work
/// spawned on behalf of a request (coalesced fetches) is charged to it.
pub(crate) fn inherit_calls<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let calls = REQUEST_CALLS.try_with(Arc::clone).ok();
    async move {
        match calls {
            Some(c) => REQUEST_CALLS.scope(c, fut).await,
            None => fut.await,
        }
    }
}

/// Whether a call carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// With the token when there is one; without it while the instance
    /// refuses it (public data still loads).
    Token,
    /// Only with the token: data about the token's account (its blocks,
    /// itself), which an anonymous call cannot stand in for.
    Required,
    Anonymous,
}

/// A decoded answer plus the `max_id` of its `Link: rel="next"` page.
#[derive(Debug)]
pub struct Page<T> {
    pub value: T,
    pub next_max_id: Option<String>,
    /// `Mastodon-Async-Refresh`'s `retry`: the instance is still fetching
    /// more of this (remote replies of a thread) and suggests asking again
    /// after this long.
    pub refresh_after: Option<Duration>,
}

#[derive(Debug, Default)]
struct RateState {
    /// No calls before this (after a 429, or when spacing calls out).
    blocked_until: Option<Instant>,
    /// Earliest time of the next call while `-Remaining` is low.
    next_slot: Option<Instant>,
}

/// Counters for the operator's `STATUS=` line and the request log.
#[derive(Debug, Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// The client for one instance. Built once; cheap to share.
#[derive(Debug)]
pub struct Mastodon {
    /// Built on the first call: loading the TLS roots is most of the
    /// daemon's memory, and an idle daemon (or one answering from its
    /// state and nginx's cache) need not pay for it.
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
    timeout: Duration,
    pool: usize,
    base: Url,
    token: Option<Token>,
    max_body: usize,
    permits: Semaphore,
    /// Shared with the client a config reload replaces, for the same
    /// instance: a reload must not forget a rate limit.
    rate: Arc<Mutex<RateState>>,
    /// After the instance refused the token (401), calls go without it
    /// until then: public data still loads, and the log says why once.
    token_refused_until: Mutex<Option<Instant>>,
    /// Kept across config reloads (the operator's `STATUS=` counts).
    pub counters: Arc<Counters>,
}

impl Mastodon {
    /// Fails when the instance is `https` and the system has no CA
    /// certificates to check it with (see [`tls`]).
    pub fn new(config: &Config) -> Result<Self, tls::NoCaRoots> {
        tls::check_roots(&config.url)?;
        Ok(Mastodon {
            http: std::sync::OnceLock::new(),
            timeout: config.timeout,
            pool: config.max_upstream_requests,
            base: config.url.clone(),
            token: config.token.clone(),
            max_body: config.max_response_bytes,
            permits: Semaphore::new(config.max_upstream_requests),
            rate: Arc::default(),
            token_refused_until: Mutex::new(None),
            counters: Arc::default(),
        })
    }

    /// The client for a reloaded config: the counters carry over, and so
    /// does the rate-limit state when the instance is the same.
    pub(crate) fn renewed(config: &Config, previous: &Mastodon) -> Result<Self, tls::NoCaRoots> {
        let mut m = Mastodon::new(config)?;
        m.counters = previous.counters.clone();
        if m.base == previous.base {
            m.rate = previous.rate.clone();
        }
        Ok(m)
    }

    fn client(&self) -> Result<&reqwest::Client, UpstreamError> {
        self.http
            .get_or_init(|| {
                // ring: the smaller of rustls's crypto providers; installing
                // fails harmlessly when one is already installed.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let builder = reqwest::Client::builder();
                let builder = if tls::needs_no_roots(&self.base) {
                    builder.tls_certs_only(Vec::new())
                } else {
                    builder
                };
                builder
                    .user_agent(concat!("mastodon-comments/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(limits::CONNECT_TIMEOUT)
                    .timeout(self.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .pool_max_idle_per_host(self.pool)
                    .build()
                    .map_err(|e| format!("cannot set up HTTPS: {}", error_chain(&e)))
            })
            .as_ref()
            .map_err(|e| UpstreamError::Connect(e.clone()))
    }

    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Who the calls speak for: the instance and the token. Two clients
    /// with the same key see the same account's data.
    pub(crate) fn account_key(&self) -> (String, Option<String>) {
        (
            self.base.as_str().to_string(),
            self.token.as_ref().map(|t| t.expose().to_string()),
        )
    }

    /// Waits (until `deadline`) until a call would leave the permits a
    /// reader's thread fetch needs (status and context: two) free, so work
    /// in the background never makes a reader wait. With fewer permits in
    /// all, waits until all are free.
    pub(crate) async fn wait_for_spare_capacity(&self, deadline: Deadline) {
        let reserve = (self.pool - 1).min(2);
        while self.permits.available_permits() <= reserve && !deadline.expired() {
            tokio::time::sleep(limits::SPARE_CAPACITY_POLL).await;
        }
    }

    fn token_refused(&self) -> bool {
        self.token_refused_until
            .lock()
            .ok()
            .and_then(|u| *u)
            .is_some_and(|u| u > Instant::now())
    }

    /// GET an API path on the instance and decode its JSON (off the event
    /// loop when large, see `cpu`). This bounds bytes, concurrency, rate
    /// and time: nothing waits past `deadline`.
    async fn get<T: Deserialize<'static> + Send + 'static>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        auth: Auth,
        deadline: Deadline,
    ) -> Result<Page<T>, UpstreamError> {
        let page = self.get_bytes(path, query, auth, deadline).await?;
        let Page {
            value: bytes,
            next_max_id,
            refresh_after,
        } = page;
        let value = decode(bytes, deadline).await?;
        Ok(Page {
            value,
            next_max_id,
            refresh_after,
        })
    }

    /// GET an API path and return its body undecoded, for callers that
    /// decode and render in one job (the thread).
    async fn get_bytes(
        &self,
        path: &str,
        query: &[(&str, &str)],
        auth: Auth,
        deadline: Deadline,
    ) -> Result<Page<Vec<u8>>, UpstreamError> {
        self.check_rate()?;
        let _permit = match deadline.bound(self.permits.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(UpstreamError::Bug),
            Err(_) => return Err(UpstreamError::Timeout),
        };
        self.check_rate()?;
        self.count_call();
        let required = auth == Auth::Required;
        let auth = match auth {
            Auth::Token if self.token_refused() => Auth::Anonymous,
            Auth::Required if self.token.is_none() || self.token_refused() => {
                return Err(UpstreamError::Refused(401));
            }
            Auth::Required => Auth::Token,
            a => a,
        };
        let mut result = self.get_inner(path, query, auth, deadline).await;
        if matches!(result, Err(UpstreamError::Refused(401))) && auth == Auth::Token {
            if let Ok(mut until) = self.token_refused_until.lock() {
                *until = Some(Instant::now() + limits::TOKEN_REFUSED_PAUSE);
            }
            tracing::error!(
                "the instance refused the token (HTTP 401): check the token; reading public data without it for {}s",
                limits::TOKEN_REFUSED_PAUSE.as_secs()
            );
            if !required {
                self.note_error(&UpstreamError::Refused(401));
                self.count_call();
                result = self.get_inner(path, query, Auth::Anonymous, deadline).await;
            }
        }
        if let Err(e) = &result
            && !matches!(e, UpstreamError::NotFound)
        {
            self.note_error(e);
        }
        result
    }

    /// One call made, for the status line and for the request's log line.
    fn count_call(&self) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let _ = REQUEST_CALLS.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
    }

    /// One call failed: counted, and kept as the status line's last error.
    pub(crate) fn note_error(&self, e: &UpstreamError) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(e.to_string());
        }
    }

    async fn get_inner(
        &self,
        path: &str,
        query: &[(&str, &str)],
        auth: Auth,
        deadline: Deadline,
    ) -> Result<Page<Vec<u8>>, UpstreamError> {
        let mut url = self.base.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(UpstreamError::Timeout);
        }
        let mut req = self.client()?.get(url).timeout(remaining);
        if let (Auth::Token, Some(token)) = (auth, &self.token) {
            req = req.bearer_auth(token.expose());
        }
        let mut resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                UpstreamError::Timeout
            } else {
                UpstreamError::Connect(error_chain(&e))
            }
        })?;
        self.note_rate_headers(resp.status().as_u16(), resp.headers());
        let status = resp.status().as_u16();
        match status {
            200 => {}
            404 => return Err(UpstreamError::NotFound),
            401 | 403 if auth == Auth::Token && self.token.is_some() => return Err(UpstreamError::Refused(status)),
            401 => return Err(UpstreamError::TokenRequired),
            429 => {
                return Err(UpstreamError::RateLimited {
                    retry_after: self.blocked_for().unwrap_or(limits::DEFAULT_RETRY_AFTER),
                });
            }
            s => return Err(UpstreamError::Status(s)),
        }
        let next_max_id = resp
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_max_id);
        let refresh_after = resp
            .headers()
            .get("mastodon-async-refresh")
            .and_then(|v| v.to_str().ok())
            .and_then(async_refresh_retry);
        if resp.content_length().is_some_and(|n| n > self.max_body as u64) {
            return Err(UpstreamError::TooLarge(self.max_body));
        }
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(16 * 1024).min(1 << 20) as usize);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_body {
                        return Err(UpstreamError::TooLarge(self.max_body));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(UpstreamError::Timeout),
                Err(e) => return Err(UpstreamError::Connect(error_chain(&e))),
            }
        }
        Ok(Page {
            value: body,
            next_max_id,
            refresh_after,
        })
    }

    /// Fails fast while the instance asked us to wait, so a burst of
    /// requests never turns into a burst of 429s.
    fn check_rate(&self) -> Result<(), UpstreamError> {
        let now = Instant::now();
        let Ok(mut rate) = self.rate.lock() else {
            return Ok(());
        };
        if let Some(until) = rate.blocked_until {
            if until > now {
                return Err(UpstreamError::RateLimited {
                    retry_after: ceil_secs(until - now),
                });
            }
            rate.blocked_until = None;
        }
        if let Some(slot) = rate.next_slot {
            if slot > now {
                return Err(UpstreamError::RateLimited {
                    retry_after: ceil_secs(slot - now),
                });
            }
            rate.next_slot = None;
        }
        Ok(())
    }

    fn blocked_for(&self) -> Option<Duration> {
        let rate = self.rate.lock().ok()?;
        rate.blocked_until
            .map(|u| ceil_secs(u.saturating_duration_since(Instant::now())))
    }

    /// Reads `X-RateLimit-*`: after a 429, wait until `-Reset`; when
    /// `-Remaining` is below a tenth of `-Limit`, space calls out evenly
    /// until the reset.
    fn note_rate_headers(&self, status: u16, headers: &reqwest::header::HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let reset_in = header("x-ratelimit-reset").and_then(parse_reset);
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
        let limit = header("x-ratelimit-limit").and_then(|v| v.trim().parse::<u64>().ok());
        let Ok(mut rate) = self.rate.lock() else {
            return;
        };
        let now = Instant::now();
        if status == 429 {
            let wait = reset_in
                .or_else(|| {
                    header("retry-after")
                        .and_then(|v| v.trim().parse().ok())
                        .map(Duration::from_secs)
                })
                .unwrap_or(limits::DEFAULT_RETRY_AFTER)
                .clamp(Duration::from_secs(1), Duration::from_secs(3600));
            rate.blocked_until = Some(now + wait);
            return;
        }
        if let (Some(remaining), Some(limit), Some(reset_in)) = (remaining, limit, reset_in) {
            let low = (limit as f64 * limits::RATE_LIMIT_LOW_FRACTION).ceil() as u64;
            if remaining == 0 {
                rate.blocked_until = Some(now + reset_in.min(Duration::from_secs(3600)));
            } else if remaining <= low {
                // `remaining` is ≥ 1 here; a server may send any number.
                let spacing = reset_in.min(Duration::from_secs(3600)) / u32::try_from(remaining).unwrap_or(u32::MAX);
                rate.next_slot = Some(now + spacing);
            }
        }
    }
}

/// Decodes a list of statuses with `decode` (one of `model::decode_*`):
/// large bodies off the event loop, entries that are not statuses dropped
/// and logged once.
pub(crate) async fn decode_list(
    bytes: Vec<u8>,
    deadline: Deadline,
    what: &'static str,
    decode: fn(&[u8]) -> Result<model::Listed<'static>, serde_json::Error>,
) -> Result<model::Listed<'static>, UpstreamError> {
    let listed = match cpu::run(bytes.len(), deadline, move || decode(&bytes)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Err(UpstreamError::Body(e.to_string())),
        Err(JobError::Expired) => return Err(UpstreamError::Timeout),
        Err(JobError::Panicked) => return Err(UpstreamError::Bug),
    };
    if listed.dropped > 0 {
        tracing::warn!(
            "{what}: dropped {} entries that are not statuses ({}); the rest is used",
            listed.dropped,
            listed.first_problem.as_deref().unwrap_or("?")
        );
    }
    Ok(listed)
}

/// Decodes an answer's JSON; large bodies off the event loop.
pub(crate) async fn decode<T: Deserialize<'static> + Send + 'static>(
    bytes: Vec<u8>,
    deadline: Deadline,
) -> Result<T, UpstreamError> {
    match cpu::run(bytes.len(), deadline, move || model::from_json_owned::<T>(&bytes)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(UpstreamError::Body(e.to_string())),
        Err(JobError::Expired) => Err(UpstreamError::Timeout),
        Err(JobError::Panicked) => Err(UpstreamError::Bug),
    }
}

fn ceil_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// `X-RateLimit-Reset` is an ISO 8601 time (Mastodon); some servers send
/// seconds. Returns how long from now.
pub(crate) fn parse_reset(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        // Small numbers are "seconds from now", large ones a Unix time.
        if secs < 1_000_000_000 {
            return Some(Duration::from_secs(secs));
        }
        let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
        return Some(at.duration_since(SystemTime::now()).unwrap_or_default());
    }
    let at = humantime::parse_rfc3339_weak(v.trim_end_matches('Z').trim_end_matches("+00:00")).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The `retry` of a `Mastodon-Async-Refresh` header (`id="…", retry=3,
/// result_count=0`), bounded to [`limits::ASYNC_REFRESH_MAX`]; a header
/// without one still means "more is coming".
pub(crate) fn async_refresh_retry(value: &str) -> Option<Duration> {
    let retry = value.split(',').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == "retry").then(|| v.trim().trim_matches('"').parse::<u64>().ok())?
    });
    let secs = retry.unwrap_or(limits::ASYNC_REFRESH_DEFAULT.as_secs());
    Some(Duration::from_secs(secs).clamp(Duration::from_secs(1), limits::ASYNC_REFRESH_MAX))
}

/// The `max_id` of the `rel="next"` entry of a `Link` header.
pub(crate) fn next_max_id(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params
            .split(';')
            .any(|p| p.trim().trim_start_matches("rel=").trim_matches('"') == "next" && p.trim().starts_with("rel="))
        {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let url = Url::parse(target).ok()?;
        let id = url.query_pairs().find(|(k, _)| k == "max_id")?.1.into_owned();
        crate::ids::valid(&id).then_some(id)
    })
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_page() {
        let link = r#"<https://mastodon.example/api/v1/accounts/1/statuses?exclude_replies=true&max_id=116782320844810768>; rel="next", <https://mastodon.example/api/v1/accounts/1/statuses?min_id=116863362662476310>; rel="prev""#;
        assert_eq!(next_max_id(link).as_deref(), Some("116782320844810768"));
        let only_prev = r#"<https://mastodon.example/api/v1/x?min_id=5>; rel="prev""#;
        assert_eq!(next_max_id(only_prev), None);
        assert_eq!(next_max_id("garbage"), None);
        let hostile = r#"<https://m.example/x?max_id=1%22%3E>; rel="next""#;
        assert_eq!(next_max_id(hostile), None);
    }

    fn headers(limit: &str, remaining: &str, reset_in: u64) -> reqwest::header::HeaderMap {
        let reset = humantime::format_rfc3339_micros(SystemTime::now() + Duration::from_secs(reset_in)).to_string();
        let mut h = reqwest::header::HeaderMap::new();
        for (k, v) in [
            ("x-ratelimit-limit", limit),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", &reset),
        ] {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        }
        h
    }

    #[test]
    fn calls_slow_down_when_the_limit_runs_low_and_stop_after_429() {
        let config = Config::for_instance(Url::parse("https://m.example").expect("url"));
        let m = Mastodon::new(&config).expect("client");
        m.note_rate_headers(200, &headers("300", "250", 100));
        assert!(m.check_rate().is_ok(), "plenty left");
        // 10 left for 100 s: one call every 10 s.
        m.note_rate_headers(200, &headers("300", "10", 100));
        match m.check_rate() {
            Err(UpstreamError::RateLimited { retry_after }) => {
                assert!((9..=10).contains(&retry_after.as_secs()), "{retry_after:?}")
            }
            other => panic!("expected spacing, got {other:?}"),
        }
        let m = Mastodon::new(&config).expect("client");
        m.note_rate_headers(429, &headers("300", "0", 120));
        match m.check_rate() {
            Err(UpstreamError::RateLimited { retry_after }) => {
                assert!((119..=120).contains(&retry_after.as_secs()), "{retry_after:?}")
            }
            other => panic!("expected a wait until the reset, got {other:?}"),
        }
    }

    #[test]
    fn async_refresh_header() {
        let r = |v| async_refresh_retry(v).map(|d| d.as_secs());
        assert_eq!(
            r(r#"id="ImNvbnRleHQ6MTE2OjpyZWZyZXNoIg==--4a8e", retry=3, result_count=0"#),
            Some(3)
        );
        assert_eq!(r(r#"id="x", retry=3600"#), Some(limits::ASYNC_REFRESH_MAX.as_secs()));
        assert_eq!(r(r#"id="x", retry=0"#), Some(1));
        assert_eq!(r(r#"id="x""#), Some(limits::ASYNC_REFRESH_DEFAULT.as_secs()));
    }

    #[test]
    fn reset_header_forms() {
        let soon = humantime::format_rfc3339_micros(SystemTime::now() + Duration::from_secs(120)).to_string();
        let d = parse_reset(&soon).expect("iso");
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_reset("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_reset("2001-01-01T00:00:00.000000Z"), Some(Duration::ZERO));
        assert_eq!(parse_reset("soon"), None);
        assert_eq!(
            parse_reset("18446744073709551615"),
            None,
            "a Unix time past SystemTime's range"
        );
        assert!(parse_reset("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn absurd_rate_headers_are_survived() {
        let config = Config::for_instance(Url::parse("https://m.example").expect("url"));
        let m = Mastodon::new(&config).expect("client");
        let max = u64::MAX.to_string();
        // Remaining 2^32 of a huge limit: below a tenth, and no u32.
        m.note_rate_headers(200, &headers(&max, "4294967296", 100));
        m.note_rate_headers(200, &headers(&max, &max, 100));
        let mut h = headers("300", "0", 0);
        h.insert("x-ratelimit-reset", max.parse().expect("header"));
        m.note_rate_headers(429, &h);
        // The lock is not poisoned: rate checks still work.
        assert!(matches!(m.check_rate(), Err(UpstreamError::RateLimited { .. })));
    }
}
