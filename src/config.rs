//! The config file: the Go original's JSON (`url`, `token`, `userid`) plus
//! optional keys, parsed strictly and validated into a typed [`Config`].
//!
//! Every error names the key, what is wrong and how to fix it, because the
//! person reading it is a self-hoster looking at `journalctl`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex_lite::Regex;
use serde::Deserialize;
use url::Url;

use crate::ids::StatusId;
use crate::limits;
use crate::query;

/// A config problem, worded for the person who has to fix the file.
#[derive(Debug, thiserror::Error)]
#[error("config: {0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// The access token; never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Self {
        Token(s.into())
    }
    /// The secret itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Which reply visibilities may be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// `public` and `unlisted` replies (default).
    PublicUnlisted,
    /// `public` replies only.
    Public,
}

/// The file as written: every key optional except `url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    userid: Option<IdOrNumber>,
    blog_url: Option<String>,
    #[serde(default)]
    roots: BTreeMap<String, String>,
    path_pattern: Option<String>,
    timeout_seconds: Option<f64>,
    max_response_bytes: Option<usize>,
    miss_retry_seconds: Option<u64>,
    max_state_entries: Option<usize>,
    scan_pages: Option<u32>,
    searches_per_minute: Option<u32>,
    cache_fresh_seconds: Option<u64>,
    cache_keep_seconds: Option<u64>,
    cache_entries: Option<usize>,
    max_age_seconds: Option<u64>,
    max_upstream_requests: Option<usize>,
    visibility: Option<Visibility>,
    #[serde(default)]
    blocked_accounts: Vec<String>,
    #[serde(default)]
    blocked_domains: Vec<String>,
    #[serde(default)]
    hidden_statuses: Vec<String>,
    approve_only: Option<bool>,
    use_mastodon_blocks: Option<bool>,
    proxy_media: Option<bool>,
    media_prefix: Option<String>,
}

/// The Go original's `userid` is a string, but a number is an easy mistake.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IdOrNumber {
    Id(String),
    Number(u64),
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Mastodon instance, e.g. `https://mastodon.social` (no trailing slash).
    pub url: Url,
    pub token: Option<Token>,
    /// The blog author's account id on the instance.
    pub userid: Option<String>,
    /// Only links to this host (and port) count as article links.
    pub blog_url: Option<Url>,
    /// Explicit article path → root status id.
    pub roots: BTreeMap<String, StatusId>,
    pub path_pattern: Option<Regex>,
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub miss_retry: Duration,
    pub max_state_entries: usize,
    pub scan_pages: u32,
    pub searches_per_minute: u32,
    pub cache_fresh: Duration,
    pub cache_keep: Duration,
    pub cache_entries: usize,
    /// `Cache-Control: max-age` of an answer with comments (nginx caches
    /// it this long).
    pub max_age: Duration,
    pub max_upstream_requests: usize,
    pub visibility: Visibility,
    /// `user@domain`, lower case.
    pub blocked_accounts: HashSet<String>,
    /// Lower-case domains; subdomains are blocked too.
    pub blocked_domains: HashSet<String>,
    /// Status ids, or status URLs / URIs, never shown.
    pub hidden_statuses: HashSet<String>,
    pub approve_only: bool,
    pub use_mastodon_blocks: bool,
    /// Every image of the answer points at the blog's origin and is served
    /// through the daemon (see `media`); off, the answer names the images'
    /// own servers as the Go original did.
    pub proxy_media: bool,
    /// The path on the blog's origin nginx passes to the daemon for those
    /// images, `/…/` (ends with a slash).
    pub media_prefix: String,
}

/// Where the daemon may find things outside the file: systemd's credentials
/// directory. A struct so tests pass their own instead of setting env vars.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub credentials_directory: Option<PathBuf>,
}

impl Env {
    /// Reads the process environment.
    pub(crate) fn from_process() -> Self {
        Env {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        }
    }
}

impl Config {
    /// Reads, parses and validates the config file.
    pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let text = read_small(path, limits::MAX_CONFIG_FILE_BYTES).map_err(|e| {
            ConfigError(format!(
                "cannot read {}: {e}; pass the path of the JSON config file",
                path.display()
            ))
        })?;
        Self::parse(&text, path.parent(), env).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and validates config JSON; relative `token_file` paths are
    /// resolved against `base`.
    pub fn parse(text: &str, base: Option<&Path>, env: &Env) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| {
            ConfigError(format!(
                "{e}; see the configuration reference in the README for the keys"
            ))
        })?;
        validate(raw, base, env)
    }

    /// A config for a stand-in instance (demo, tests).
    pub fn for_instance(url: Url) -> Config {
        Config {
            url,
            token: None,
            userid: None,
            blog_url: None,
            roots: BTreeMap::new(),
            path_pattern: None,
            timeout: limits::DEFAULT_TIMEOUT,
            max_response_bytes: limits::DEFAULT_MAX_RESPONSE_BYTES,
            miss_retry: limits::DEFAULT_MISS_RETRY,
            max_state_entries: limits::DEFAULT_MAX_STATE_ENTRIES,
            scan_pages: limits::DEFAULT_SCAN_PAGES,
            searches_per_minute: limits::DEFAULT_SEARCHES_PER_MINUTE,
            cache_fresh: limits::DEFAULT_CACHE_FRESH,
            cache_keep: limits::DEFAULT_CACHE_KEEP,
            cache_entries: limits::DEFAULT_CACHE_ENTRIES,
            max_age: limits::DEFAULT_MAX_AGE,
            max_upstream_requests: limits::DEFAULT_MAX_UPSTREAM,
            visibility: Visibility::PublicUnlisted,
            blocked_accounts: HashSet::new(),
            blocked_domains: HashSet::new(),
            hidden_statuses: HashSet::new(),
            approve_only: false,
            use_mastodon_blocks: true,
            proxy_media: false,
            media_prefix: DEFAULT_MEDIA_PREFIX.to_string(),
        }
    }
}

fn read_small(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(text)
}

/// True for `localhost` and loopback addresses: the only hosts plain http
/// is allowed for (tests and the demo's stand-in instance).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a).is_loopback(),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a).is_loopback(),
        None => false,
    }
}

fn validate(raw: RawConfig, base: Option<&Path>, env: &Env) -> Result<Config, ConfigError> {
    let url = instance_url(&raw.url)?;

    let token = load_token(raw.token, raw.token_file, base, env)?;

    let userid = author_id(raw.userid)?;

    let blog_url = blog_url(raw.blog_url)?;

    let roots = roots(raw.roots, &url)?;

    let path_pattern = match raw.path_pattern {
        None => None,
        Some(p) => Some(
            Regex::new(&p)
                .map_err(|e| ConfigError(format!("\"path_pattern\" is not a valid regular expression: {e}")))?,
        ),
    };

    let timeout = match raw.timeout_seconds {
        None => limits::DEFAULT_TIMEOUT,
        Some(s) if (0.1..=60.0).contains(&s) => Duration::from_secs_f64(s),
        Some(s) => {
            return err(format!(
                "\"timeout_seconds\" must be between 0.1 and 60, got {s}; nginx's fastcgi_read_timeout is 60 s"
            ));
        }
    };
    let max_response_bytes = bounded(
        "max_response_bytes",
        raw.max_response_bytes,
        limits::DEFAULT_MAX_RESPONSE_BYTES,
        64 * 1024,
        256 * 1024 * 1024,
    )?;
    let miss_retry = Duration::from_secs(bounded(
        "miss_retry_seconds",
        raw.miss_retry_seconds,
        limits::DEFAULT_MISS_RETRY.as_secs(),
        10,
        7 * 86400,
    )?);
    let max_state_entries = bounded(
        "max_state_entries",
        raw.max_state_entries,
        limits::DEFAULT_MAX_STATE_ENTRIES,
        10,
        1_000_000,
    )?;
    let scan_pages = bounded("scan_pages", raw.scan_pages, limits::DEFAULT_SCAN_PAGES, 0, 100)?;
    let searches_per_minute = bounded(
        "searches_per_minute",
        raw.searches_per_minute,
        limits::DEFAULT_SEARCHES_PER_MINUTE,
        0,
        60,
    )?;
    let cache_fresh = Duration::from_secs(bounded(
        "cache_fresh_seconds",
        raw.cache_fresh_seconds,
        limits::DEFAULT_CACHE_FRESH.as_secs(),
        0,
        86400,
    )?);
    let cache_keep = Duration::from_secs(bounded(
        "cache_keep_seconds",
        raw.cache_keep_seconds,
        limits::DEFAULT_CACHE_KEEP.as_secs(),
        cache_fresh.as_secs(),
        7 * 86400,
    )?);
    let cache_entries = bounded(
        "cache_entries",
        raw.cache_entries,
        limits::DEFAULT_CACHE_ENTRIES,
        1,
        100_000,
    )?;
    let max_age = Duration::from_secs(bounded(
        "max_age_seconds",
        raw.max_age_seconds,
        limits::DEFAULT_MAX_AGE.as_secs(),
        1,
        86400,
    )?);
    let max_upstream_requests = bounded(
        "max_upstream_requests",
        raw.max_upstream_requests,
        limits::DEFAULT_MAX_UPSTREAM,
        1,
        64,
    )?;

    let blocked_accounts = blocked_accounts(raw.blocked_accounts)?;
    let blocked_domains = blocked_domains(raw.blocked_domains)?;
    let hidden_statuses = hidden_statuses(raw.hidden_statuses, &url)?;

    let approve_only = raw.approve_only.unwrap_or(false);
    if approve_only && token.is_none() {
        return err(
            "\"approve_only\" needs a token: only the author's token shows which replies the author favourited",
        );
    }

    let proxy_media = raw.proxy_media.unwrap_or(false);
    let media_prefix = media_prefix(raw.media_prefix)?;
    if proxy_media && blog_url.is_none() {
        return err(
            "\"proxy_media\" needs \"blog_url\": the answer's image URLs point at the blog's own origin; \
             add e.g. \"blog_url\": \"https://blog.example.org\"",
        );
    }

    Ok(Config {
        url,
        token,
        userid,
        blog_url,
        roots,
        path_pattern,
        timeout,
        max_response_bytes,
        miss_retry,
        max_state_entries,
        scan_pages,
        searches_per_minute,
        cache_fresh,
        cache_keep,
        cache_entries,
        max_age,
        max_upstream_requests,
        visibility: raw.visibility.unwrap_or(Visibility::PublicUnlisted),
        blocked_accounts,
        blocked_domains,
        hidden_statuses,
        approve_only,
        use_mastodon_blocks: raw.use_mastodon_blocks.unwrap_or(true),
        proxy_media,
        media_prefix,
    })
}

/// Where nginx sends the proxied images unless the config says otherwise:
/// a path of its own, apart from every article's `comments.json`.
pub const DEFAULT_MEDIA_PREFIX: &str = "/comments-media/";

/// `media_prefix`: an absolute path of plain segments ending in `/`, so
/// nginx can route it with a `location` of its own and every image URL
/// made from it is inert in an unquoted attribute.
fn media_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let Some(p) = raw else {
        return Ok(DEFAULT_MEDIA_PREFIX.to_string());
    };
    let plain_segments = p.len() > 2
        && p.len() <= limits::MAX_MEDIA_PREFIX_BYTES
        && p.starts_with('/')
        && p.ends_with('/')
        && p[1..p.len() - 1].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if !plain_segments {
        return err(format!(
            "\"media_prefix\" must be a path like \"{DEFAULT_MEDIA_PREFIX}\" (starting and ending with /, letters, digits, -, _ and . only, at most {} bytes), got {p:?}; \
             leave it out for the default",
            limits::MAX_MEDIA_PREFIX_BYTES
        ));
    }
    Ok(p)
}

/// `url`: the instance's https address, nothing more (plain http only on
/// loopback, for test instances).
fn instance_url(raw: &str) -> Result<Url, ConfigError> {
    let url = match Url::parse(raw.trim()) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => u,
        Ok(u) if u.scheme() == "http" && is_loopback(&u) => u,
        Ok(u) if u.scheme() == "http" => {
            return err(format!(
                "\"url\" must be an https URL (plain http only for loopback test instances), got {:?}; write \"https://{}\"",
                raw,
                u.host_str().unwrap_or("your.instance")
            ));
        }
        _ => {
            return err(format!(
                "\"url\" must be an absolute https URL, got {:?}; write e.g. \"https://mastodon.social\"",
                raw
            ));
        }
    };
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return err(format!(
            "\"url\" must be the instance's address only, got {:?}; write \"{}://{}\"",
            raw,
            url.scheme(),
            url.host_str().unwrap_or("")
        ));
    }
    Ok(url)
}

/// `userid`: the author's account id, as a string or a JSON number.
fn author_id(raw: Option<IdOrNumber>) -> Result<Option<String>, ConfigError> {
    Ok(match raw {
        None => None,
        Some(IdOrNumber::Number(n)) => Some(n.to_string()),
        Some(IdOrNumber::Id(s)) if s.is_empty() => None,
        Some(IdOrNumber::Id(s)) if crate::ids::valid(&s) => Some(s),
        Some(IdOrNumber::Id(s)) => {
            return err(format!(
                "\"userid\" must be your account's id (e.g. \"109308551561216011\"; letters and digits on some servers), got {s:?}; \
                 find it with curl https://YOUR.INSTANCE/api/v1/accounts/lookup?acct=YOURNAME"
            ));
        }
    })
}

/// `blog_url`: the blog's address, to tell its links from others.
fn blog_url(raw: Option<String>) -> Result<Option<Url>, ConfigError> {
    Ok(match raw {
        None => None,
        Some(s) => match Url::parse(s.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                return err(format!(
                    "\"blog_url\" must be the blog's absolute URL, got {s:?}; write e.g. \"https://blog.example.org\""
                ));
            }
        },
    })
}

/// `roots`: article (path or URL) → announcing status (id or URL on the
/// instance).
fn roots(raw: BTreeMap<String, String>, url: &Url) -> Result<BTreeMap<String, StatusId>, ConfigError> {
    let mut roots = BTreeMap::new();
    for (path, target) in raw {
        // Normalised exactly like request paths (percent-decoding,
        // `index.html`, trailing slash), so every key can match; a full
        // article URL stands for its path.
        let clean = query::from_url_or_path(&path).map_err(|e| {
            ConfigError(format!(
                "\"roots\" key {path:?} is not an article path ({e}); write it like \"/2018/12/01/post/\""
            ))
        })?;
        let id = status_id_from(&target, url).ok_or_else(|| {
            ConfigError(format!(
                "\"roots\" value for {path:?} must be a status id or a status URL on {}, got {target:?}",
                url.host_str().unwrap_or("")
            ))
        })?;
        roots.insert(clean, id);
    }
    Ok(roots)
}

/// `blocked_accounts`: `user@domain` each, normalised like every account
/// name (see `ids`).
fn blocked_accounts(raw: Vec<String>) -> Result<HashSet<String>, ConfigError> {
    let mut blocked_accounts = HashSet::new();
    for a in raw {
        let a = crate::ids::normalise_acct(&a);
        match a.split_once('@') {
            Some((user, domain)) if !user.is_empty() && domain.contains('.') => {
                blocked_accounts.insert(a);
            }
            _ => {
                return err(format!(
                    "\"blocked_accounts\" entries must be user@domain (e.g. \"spammer@bad.example\"), got {a:?}"
                ));
            }
        }
    }
    Ok(blocked_accounts)
}

/// `blocked_domains`: domain names (`*.` and case dropped).
fn blocked_domains(raw: Vec<String>) -> Result<HashSet<String>, ConfigError> {
    let mut blocked_domains = HashSet::new();
    for d in raw {
        let d = d.trim().trim_start_matches("*.").to_lowercase();
        if d.is_empty() || d.contains('/') || d.contains('@') || !d.contains('.') {
            return err(format!(
                "\"blocked_domains\" entries must be domain names (e.g. \"bad.example\"), got {d:?}"
            ));
        }
        blocked_domains.insert(d);
    }
    Ok(blocked_domains)
}

/// `hidden_statuses`: ids or URLs; a status page on the instance hides
/// its id too.
fn hidden_statuses(raw: Vec<String>, url: &Url) -> Result<HashSet<String>, ConfigError> {
    let mut hidden_statuses = HashSet::new();
    for s in raw {
        let s = s.trim().to_string();
        if s.is_empty() {
            return err("\"hidden_statuses\" entries must be status ids or URLs, got \"\"");
        }
        // A status's page on the configured instance (`…/@alice@remote/ID`,
        // as the author sees it) names its id there: hide by id too.
        if let Some(id) = status_id_from(&s, url) {
            hidden_statuses.insert(id.to_string());
        }
        hidden_statuses.insert(s);
    }
    Ok(hidden_statuses)
}

fn bounded<T: PartialOrd + Copy + fmt::Display>(
    key: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if v >= min && v <= max => Ok(v),
        Some(v) => err(format!(
            "\"{key}\" must be between {min} and {max}, got {v}; leave it out for the default {default}"
        )),
    }
}

/// Token precedence: the config's `token`, then `token_file`, then systemd's
/// `$CREDENTIALS_DIRECTORY/token` (`LoadCredential=token:…`).
fn load_token(
    inline: Option<String>,
    file: Option<PathBuf>,
    base: Option<&Path>,
    env: &Env,
) -> Result<Option<Token>, ConfigError> {
    if inline.is_some() && file.is_some() {
        return err("set either \"token\" or \"token_file\", not both");
    }
    if let Some(t) = inline {
        let t = t.trim();
        return check_token(t, "\"token\"").map(|t| (!t.is_empty()).then(|| Token::new(t)));
    }
    let from_file = |path: &Path, what: &str| -> Result<Option<Token>, ConfigError> {
        let text = read_small(path, 64 * 1024).map_err(|e| {
            ConfigError(format!(
                "{what}: cannot read {}: {e}; check the path and that the daemon may read it",
                path.display()
            ))
        })?;
        let t = check_token(text.trim(), what)?;
        Ok((!t.is_empty()).then(|| Token::new(t)))
    };
    if let Some(p) = file {
        let p = match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        };
        return from_file(&p, "\"token_file\"");
    }
    if let Some(dir) = &env.credentials_directory {
        let p = dir.join("token");
        if p.exists() {
            return from_file(&p, "credential \"token\"");
        }
    }
    Ok(None)
}

fn check_token<'a>(t: &'a str, what: &str) -> Result<&'a str, ConfigError> {
    if t.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(t)
    } else {
        err(format!(
            "{what} must be the access token only (printable ASCII, no spaces or line breaks inside)"
        ))
    }
}

/// Accepts `1234`, `https://instance/@user/1234` or
/// `https://instance/users/user/statuses/1234` on the configured instance.
pub(crate) fn status_id_from(target: &str, instance: &Url) -> Option<StatusId> {
    let target = target.trim();
    if let Some(id) = StatusId::parse(target) {
        return Some(id);
    }
    let u = Url::parse(target).ok()?;
    if !u.host_str()?.eq_ignore_ascii_case(instance.host_str()?) {
        return None;
    }
    let last = u.path_segments()?.rfind(|s| !s.is_empty())?;
    StatusId::parse(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, ConfigError> {
        Config::parse(json, None, &Env::default())
    }

    #[test]
    fn go_original_config_works_unchanged() {
        let c = parse(r#"{"url": "https://mastodon.social", "token": "abc", "userid": "12345"}"#).expect("valid");
        assert_eq!(c.url.as_str(), "https://mastodon.social/");
        assert_eq!(c.token.as_ref().map(Token::expose), Some("abc"));
        assert_eq!(c.userid.as_deref(), Some("12345"));
        let c = parse(r#"{"url": "https://mastodon.social"}"#).expect("valid");
        assert!(c.token.is_none() && c.userid.is_none());
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let cases = [
            (r#"{"url": "mastodon.social"}"#, "\"url\" must be an absolute https URL"),
            (r#"{"url": "http://mastodon.social"}"#, "plain http only for loopback"),
            (r#"{"url": "https://m.example/api"}"#, "instance's address only"),
            (
                r#"{"url": "https://m.example", "userid": "@nadia"}"#,
                "\"userid\" must be your account's id",
            ),
            (r#"{"url": "https://m.example", "tokn": "x"}"#, "unknown field `tokn`"),
            (
                r#"{"url": "https://m.example", "timeout_seconds": 0}"#,
                "\"timeout_seconds\" must be between",
            ),
            (
                r#"{"url": "https://m.example", "path_pattern": "("}"#,
                "\"path_pattern\" is not a valid",
            ),
            (
                r#"{"url": "https://m.example", "roots": {"/a": "https://other.example/@x/1"}}"#,
                "\"roots\" value",
            ),
            (
                r#"{"url": "https://m.example", "roots": {"a/../..": "1"}}"#,
                "\"roots\" key",
            ),
            (
                r#"{"url": "https://m.example", "blocked_accounts": ["spammer"]}"#,
                "user@domain",
            ),
            (r#"{"url": "https://m.example", "approve_only": true}"#, "needs a token"),
            (r#"{"url": "https://m.example", "token": "a b"}"#, "access token only"),
            (
                r#"{"url": "https://m.example", "token": "a", "token_file": "t"}"#,
                "not both",
            ),
            (
                r#"{"url": "https://m.example", "proxy_media": true}"#,
                "needs \"blog_url\"",
            ),
            (
                r#"{"url": "https://m.example", "proxy_media": 1}"#,
                "expected a boolean",
            ),
            (
                r#"{"url": "https://m.example", "media_prefix": "media"}"#,
                "\"media_prefix\" must be a path",
            ),
            (
                r#"{"url": "https://m.example", "media_prefix": "/"}"#,
                "\"media_prefix\" must be a path",
            ),
            (
                r#"{"url": "https://m.example", "media_prefix": "/a/../b/"}"#,
                "\"media_prefix\" must be a path",
            ),
            (
                r#"{"url": "https://m.example", "media_prefix": "/a//"}"#,
                "\"media_prefix\" must be a path",
            ),
            (
                r#"{"url": "https://m.example", "media_prefix": "/a b/"}"#,
                "\"media_prefix\" must be a path",
            ),
            (
                r#"{"url": "https://m.example", "media_prefix": "/img"}"#,
                "\"media_prefix\" must be a path",
            ),
        ];
        for (json, want) in cases {
            let e = parse(json).expect_err(json).to_string();
            assert!(e.contains(want), "{json}: {e:?} lacks {want:?}");
            assert!(e.starts_with("config: "), "{e}");
        }
    }

    #[test]
    fn media_proxy_is_off_by_default_and_its_prefix_configurable() {
        let c = parse(r#"{"url": "https://m.example"}"#).expect("minimal");
        assert!(!c.proxy_media);
        assert_eq!(c.media_prefix, DEFAULT_MEDIA_PREFIX);
        let c = parse(
            r#"{"url": "https://m.example", "blog_url": "https://blog.example", "proxy_media": true, "media_prefix": "/blog/img-1.0/"}"#,
        )
        .expect("on");
        assert!(c.proxy_media);
        assert_eq!(c.media_prefix, "/blog/img-1.0/");
    }

    #[test]
    fn loopback_http_is_allowed_for_tests() {
        for u in ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"] {
            parse(&format!(r#"{{"url": "{u}"}}"#)).expect(u);
        }
    }

    #[test]
    fn hidden_statuses_by_id_url_or_the_instances_page_of_a_remote_status() {
        let c = parse(
            r#"{"url": "https://m.example", "hidden_statuses": ["5", "https://m.example/@alice@remote.example/6", "https://remote.example/users/alice/statuses/99"]}"#,
        )
        .expect("valid");
        for want in ["5", "6", "https://remote.example/users/alice/statuses/99"] {
            assert!(c.hidden_statuses.contains(want), "{want}: {:?}", c.hidden_statuses);
        }
        assert!(!c.hidden_statuses.contains("99"), "another server's id is not ours");
        assert!(
            parse(r#"{"url": "https://:pw@m.example"}"#).is_err(),
            "no credentials in url"
        );
    }

    #[test]
    fn numeric_userid_is_accepted() {
        let c = parse(r#"{"url": "https://m.example", "userid": 42}"#).expect("valid");
        assert_eq!(c.userid.as_deref(), Some("42"));
    }

    #[test]
    fn roots_accept_ids_and_status_urls() {
        let c = parse(
            r#"{"url": "https://m.example", "roots": {
                "/2018/12/01/post/": "101",
                "/b": "https://m.example/@nadia/102",
                "/c/index.html": "https://M.example/users/nadia/statuses/103",
                "/d%C3%A9j%C3%A0/": "104",
                "https://blog.example.org/e/": "105"}}"#,
        )
        .expect("valid");
        assert_eq!(c.roots.get("/2018/12/01/post").map(StatusId::as_str), Some("101"));
        assert_eq!(c.roots.get("/b").map(StatusId::as_str), Some("102"));
        // Keys are normalised like request paths, so each can match.
        assert_eq!(c.roots.get("/c").map(StatusId::as_str), Some("103"));
        assert_eq!(c.roots.get("/déjà").map(StatusId::as_str), Some("104"));
        assert_eq!(c.roots.get("/e").map(StatusId::as_str), Some("105"));
    }

    #[test]
    fn token_from_file_and_credentials_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("tok"), "secret-1\n").expect("write");
        let c = Config::parse(
            r#"{"url": "https://m.example", "token_file": "tok"}"#,
            Some(dir.path()),
            &Env::default(),
        )
        .expect("valid");
        assert_eq!(c.token.as_ref().map(Token::expose), Some("secret-1"));

        std::fs::write(dir.path().join("token"), "secret-2").expect("write");
        let env = Env {
            credentials_directory: Some(dir.path().to_path_buf()),
        };
        let c = Config::parse(r#"{"url": "https://m.example"}"#, None, &env).expect("valid");
        assert_eq!(c.token.as_ref().map(Token::expose), Some("secret-2"));
        // The config's own token wins over the credential.
        let c = Config::parse(r#"{"url": "https://m.example", "token": "t"}"#, None, &env).expect("valid");
        assert_eq!(c.token.as_ref().map(Token::expose), Some("t"));

        let e = Config::parse(
            r#"{"url": "https://m.example", "token_file": "/nonexistent/tok"}"#,
            None,
            &Env::default(),
        )
        .expect_err("missing file");
        assert!(e.to_string().contains("cannot read /nonexistent/tok"), "{e}");
    }

    #[test]
    fn token_is_never_printed() {
        let c = parse(r#"{"url": "https://m.example", "token": "hunter2"}"#).expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
