//! Every timeout, byte cap and count bound of the daemon in one place.
//!
//! Values a self-hoster may want to change are config keys whose defaults
//! live here; the rest are fixed because nothing legitimate comes close.

use std::time::Duration;

/// Whole-request deadline (config `timeout_seconds`): nginx workers wait on
/// us, and the Go original's client gave up after 5 s too.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP connect to the instance; a live instance answers well within this.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Cap on one upstream response body (config `max_response_bytes`); a
/// 4,096-reply context is about 3 MiB of JSON.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Longest article path we accept, in bytes after percent-decoding.
pub const MAX_QUERY_BYTES: usize = 512;
/// Longest raw `REQUEST_URI` / `QUERY_STRING` we look at.
pub(crate) const MAX_URI_BYTES: usize = 4096;
/// Longest URL we put into an answer; longer ones become "".
pub const MAX_URL_BYTES: usize = 2048;
/// How long an article without a root stays a miss before we look again
/// (config `miss_retry_seconds`): the Go original kept misses for ever.
pub const DEFAULT_MISS_RETRY: Duration = Duration::from_secs(300);
/// Entries in the state file (config `max_state_entries`); misses go first.
pub const DEFAULT_MAX_STATE_ENTRIES: usize = 10_000;
/// A full state drops misses down to this fraction of the bound below it
/// (1/64), so it sorts them once per that many new misses, not every time.
pub(crate) const STATE_TRIM_SLACK: usize = 64;
/// Timeline pages (40 posts each) one scan may read (config `scan_pages`).
pub(crate) const DEFAULT_SCAN_PAGES: u32 = 5;
/// A new timeline scan starts at most this often, however many misses come.
pub(crate) const SCAN_INTERVAL: Duration = Duration::from_secs(60);
/// After a scan failed (a deploy, a 500), the next one may start this soon:
/// a failed scan says nothing about the timeline, so it must not wait out
/// [`SCAN_INTERVAL`] while readers are told "not announced".
pub const SCAN_RETRY: Duration = Duration::from_secs(5);
/// Full-text searches per minute at most (config `searches_per_minute`).
pub(crate) const DEFAULT_SEARCHES_PER_MINUTE: u32 = 6;
/// An answer is served from the daemon's cache without asking upstream for
/// this long (config `cache_fresh_seconds`).
pub(crate) const DEFAULT_CACHE_FRESH: Duration = Duration::from_secs(60);
/// The last good answer is kept for stale-if-error this long (config
/// `cache_keep_seconds`), matching nginx's 10-minute cache.
pub(crate) const DEFAULT_CACHE_KEEP: Duration = Duration::from_secs(600);
/// `Cache-Control: max-age` of an answer with comments (config
/// `max_age_seconds`): the Go original's 10 minutes, which nginx caches.
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// `Cache-Control: max-age` of an answer without a root: short, so a new
/// announcement shows up soon.
pub(crate) const NO_ROOT_MAX_AGE: Duration = Duration::from_secs(60);
/// A thread the instance is still completing (`Mastodon-Async-Refresh`)
/// is fetched again after its `retry`, at most this long, and nginx keeps
/// that answer as long: new remote replies show up in a minute, not ten.
pub(crate) const ASYNC_REFRESH_MAX: Duration = Duration::from_secs(60);
/// `retry` when that header names none (Mastodon's own default).
pub(crate) const ASYNC_REFRESH_DEFAULT: Duration = Duration::from_secs(3);
/// Answers kept in memory at most (config `cache_entries`).
pub(crate) const DEFAULT_CACHE_ENTRIES: usize = 1_000;
/// Upstream requests in flight at once (config `max_upstream_requests`).
pub(crate) const DEFAULT_MAX_UPSTREAM: usize = 4;
/// Jobs (decoding, rendering) off the event loop at once: the 2-core VPS
/// this is made for has no more to give, and more would only queue there.
pub(crate) const CPU_JOBS: usize = 2;
/// Inputs smaller than this are decoded and rendered on the event loop
/// (well under a millisecond); larger ones go to the blocking threads.
pub(crate) const CPU_INLINE_BYTES: usize = 64 * 1024;
/// A long render looks at the clock after this many replies: often enough
/// to stop within a millisecond of the deadline, rarely enough to cost
/// nothing.
pub(crate) const RENDER_CHECK_EVERY: usize = 64;
/// Connections served at once; nginx keeps a handful open with keep-alive.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// Requests multiplexed on one FastCGI connection at once.
pub(crate) const MAX_REQUESTS_PER_CONNECTION: usize = 16;
/// Bytes of FastCGI params + stdin we accept for one request; nginx sends
/// about 1 KiB of params for a GET.
pub(crate) const MAX_FASTCGI_REQUEST_BYTES: usize = 64 * 1024;
/// A connection with no request for this long is closed.
pub(crate) const IDLE_CONNECTION: Duration = Duration::from_secs(120);
/// Shutdown waits this long for in-flight requests, below the unit's
/// `TimeoutStopSec=15s`.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A failed state write is retried after this long.
pub(crate) const STATE_RETRY: Duration = Duration::from_secs(30);
/// Largest state file we read at start.
pub(crate) const MAX_STATE_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// `Retry-After` when the upstream failed without saying when to come back.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// `Cache-Control: max-age` of a stale answer served because upstream failed.
pub(crate) const STALE_MAX_AGE: Duration = Duration::from_secs(30);
/// Below this share of `X-RateLimit-Limit` left, calls are spaced out.
pub(crate) const RATE_LIMIT_LOW_FRACTION: f64 = 0.1;
/// Moderation lists (blocks, mutes) are fetched again after this long.
pub(crate) const MODERATION_REFRESH: Duration = Duration::from_secs(600);
/// After a failed refresh of those lists, the next try comes this soon.
pub(crate) const MODERATION_RETRY: Duration = Duration::from_secs(30);
/// Without `userid`, a failed look-up of the token's account is retried
/// after this long.
pub(crate) const AUTHOR_RETRY: Duration = Duration::from_secs(60);
/// After the instance refuses the token (401), calls go without it this
/// long before the token is tried again.
pub(crate) const TOKEN_REFUSED_PAUSE: Duration = Duration::from_secs(600);
/// One load of the author's three lists may take this long in all; it runs
/// in the background, so it is not bound by a reader's deadline.
pub(crate) const MODERATION_LOAD: Duration = Duration::from_secs(20);
/// How often background work looks whether an upstream permit is spare.
pub(crate) const SPARE_CAPACITY_POLL: Duration = Duration::from_millis(20);
/// An instance without interaction requests (404) is not asked again for
/// this long (a reload asks again).
pub(crate) const NO_INTERACTION_REQUESTS: Duration = Duration::from_secs(86400);
/// A token the instance refuses its interaction requests (403: no
/// `read:notifications`) is tried again after this long; meanwhile threads
/// are withheld without asking.
pub(crate) const INTERACTION_REQUESTS_REFUSED_RETRY: Duration = Duration::from_secs(60);
/// Pages of interaction requests read at most (80 each): more replies than
/// that awaiting approval at once is not a blog's comment section.
pub(crate) const INTERACTION_REQUEST_PAGES: u32 = 5;
/// Pages of blocks / mutes / domain blocks read at most (80 entries each).
pub(crate) const MODERATION_PAGES: u32 = 5;
/// Largest config file we read.
pub(crate) const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;
/// Longest `media_prefix`: a path nginx routes, not a place for data.
pub(crate) const MAX_MEDIA_PREFIX_BYTES: usize = 64;
/// Largest avatar or custom emoji fetched for the image proxy: Mastodon
/// itself refuses avatars over 2 MiB and emoji over 256 KiB.
pub const MAX_ICON_BYTES: usize = 2 * 1024 * 1024;
/// Largest media preview fetched for the image proxy: Mastodon's previews
/// are small JPEGs, 8 MiB is any server's with room to spare.
pub const MAX_PREVIEW_BYTES: usize = 8 * 1024 * 1024;
/// Longest image token accepted: an image URL of [`MAX_URL_BYTES`] fits,
/// and nothing longer is even decoded.
pub(crate) const MAX_MEDIA_TOKEN_BYTES: usize = MAX_URI_BYTES - 2 * MAX_MEDIA_PREFIX_BYTES;
/// Image fetches in flight at once: each may hold up to its byte cap in
/// memory (at most 4 × 8 MiB), and nginx caches every image after the
/// first fetch, so more would buy little.
pub(crate) const MAX_MEDIA_FETCHES: usize = 4;
/// `Cache-Control: max-age` of a proxied image: a week; an image path names
/// one URL for ever, so nginx and browsers may keep it (`immutable`).
pub(crate) const MEDIA_MAX_AGE: Duration = Duration::from_secs(7 * 86400);
/// `Cache-Control: max-age` of an image that could not be served: short,
/// so a server's hiccup does not hide an avatar for long.
pub(crate) const MEDIA_FAILURE_MAX_AGE: Duration = Duration::from_secs(60);
