//! A stand-in Mastodon instance serving a fixture scenario over plain HTTP
//! on loopback: the demo runs the real client path against it, and the
//! tests make it slow, broken or hostile on purpose.
//!
//! Routes: `/api/v1/statuses/:id`, `…/:id/context` (authenticated view with
//! a token, anonymous view without), `/api/v1/accounts/:id/statuses`
//! (computed from the scenario's statuses, with `Link` paging),
//! `/api/v2/search`, `/api/v1/search` (404, as on Mastodon ≥ 3.0),
//! `/api/v1/blocks|mutes|domain_blocks`, `/api/v1/accounts/verify_credentials`
//! (the scenario's author), `/api/v1/interaction_requests` (GoToSocial's,
//! from `interaction-requests.json`; 404 without it, as on Mastodon),
//! `/api/v1/instance` and nodeinfo (`/.well-known/nodeinfo`,
//! `/nodeinfo/2.0`; the scenario's `instance.json` and `nodeinfo.json`, or
//! Mastodon 4.5's). Any route can be made to answer a canned
//! exchange of the fixtures' `http/` folders, and a token can be made to
//! lack scopes (403 where the server would ask for one). Control: `/__stand-in/mode?set=…`,
//! `/__stand-in/delay?ms=…`, `/__stand-in/calls`. Pictures, for the demo:
//! `/system/…` (see [`images`]), never slowed or broken by the mode.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::ids::order as id_order;
use crate::mastodon::api::{Endpoint, ModerationList};

pub mod images;
mod png;

use images::Images;

/// The folders of a scenario the stand-in reads (`""` is the top level).
pub const SCENARIO_DIRS: [&str; 7] = [
    "",
    "statuses",
    "context",
    "context-anonymous",
    "search",
    "accounts",
    "http",
];

/// A fixture scenario: relative file path → contents.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    files: HashMap<String, Arc<str>>,
}

impl Scenario {
    /// Reads a scenario folder (`statuses/`, `context/`, `search/`, …).
    pub fn from_dir(dir: &Path) -> std::io::Result<Scenario> {
        let mut files = HashMap::new();
        for sub in SCENARIO_DIRS {
            let d = dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") && p.is_file() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let key = if sub.is_empty() { name } else { format!("{sub}/{name}") };
                    files.insert(key, Arc::from(std::fs::read_to_string(&p)?));
                }
            }
        }
        if !files.contains_key("expect.json") {
            return Err(std::io::Error::other(format!(
                "{} is not a fixture scenario (no expect.json)",
                dir.display()
            )));
        }
        Ok(Scenario { files })
    }

    /// A scenario from (path, contents) pairs, e.g. embedded at build time.
    pub fn from_files(list: &[(&str, &str)]) -> Scenario {
        Scenario {
            files: list.iter().map(|(k, v)| (k.to_string(), Arc::from(*v))).collect(),
        }
    }

    pub fn file(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(|s| &**s)
    }

    /// The scenario with the blog moved from origin `from` to origin `to`
    /// (both `scheme://host[:port]`): every link to it in every file, and
    /// the search files named after it, so the thread announces articles
    /// on `to` and is found there (the demo serves its page at its own
    /// address).
    pub fn with_blog_at(&self, from: &str, to: &str) -> Scenario {
        let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let (from_key, to_key) = (encoded(from), encoded(to));
        let files = self
            .files
            .iter()
            .map(|(name, text)| {
                let name = match name.strip_prefix("search/") {
                    Some(q) => format!("search/{}", q.replace(&from_key, &to_key)),
                    None => name.clone(),
                };
                (name, Arc::from(text.replace(from, to)))
            })
            .collect();
        Scenario { files }
    }

    /// The scenario's `expect.json`.
    pub fn expect(&self) -> Value {
        self.file("expect.json")
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null)
    }

    fn statuses(&self) -> Vec<Value> {
        let mut all: Vec<Value> = self
            .files
            .iter()
            .filter(|(k, _)| k.starts_with("statuses/"))
            .filter_map(|(_, v)| serde_json::from_str(v).ok())
            .collect();
        all.sort_by(|a, b| id_order(b["id"].as_str().unwrap_or(""), a["id"].as_str().unwrap_or("")));
        all
    }
}

/// How the stand-in misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 500 with Rails' JSON error.
    Error,
    /// Accepts the request and never answers.
    Hang,
    /// A valid answer at one byte per second.
    Slow,
    /// A 200 body of 300 MiB.
    Huge,
    /// 200 with invalid JSON.
    Garbage,
    /// 200 with a proxy's HTML error page.
    Html,
    /// 200 with valid JSON of the wrong shape.
    WrongShape,
    /// Promises 100 KiB and closes the connection after a few bytes.
    MidClose,
    /// 429 with Mastodon's rate-limit headers (reset in 60 s).
    RateLimit,
    /// 404 for everything.
    NotFound,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "ok" => Mode::Ok,
            "error" => Mode::Error,
            "hang" => Mode::Hang,
            "slow" => Mode::Slow,
            "huge" => Mode::Huge,
            "garbage" => Mode::Garbage,
            "html" => Mode::Html,
            "wrongshape" => Mode::WrongShape,
            "midclose" => Mode::MidClose,
            "ratelimit" => Mode::RateLimit,
            "notfound" => Mode::NotFound,
            _ => return None,
        })
    }
}

struct Shared {
    /// Where it listens (nodeinfo links to itself).
    addr: SocketAddr,
    scenario: Scenario,
    statuses: Vec<Value>,
    /// The pictures served under [`images::PREFIX`]: none unless started
    /// with [`StandIn::start_local_with_images`].
    images: Images,
    /// Requests for pictures, found or not (not API calls).
    picture_requests: AtomicU64,
    mode: Mutex<Mode>,
    delay: Mutex<Duration>,
    /// Extra latency of one route (a [`route_name`]).
    route_delays: Mutex<HashMap<String, Duration>>,
    calls: Mutex<BTreeMap<String, u64>>,
    total: AtomicU64,
    authorized: AtomicU64,
    /// Behave like Mastodon < 3.0: no `/api/v2/search`, `/api/v1/search` works.
    old_server: std::sync::atomic::AtomicBool,
    /// Behave like GoToSocial: every API call without a token is 401.
    require_token: std::sync::atomic::AtomicBool,
    /// Every API call with a token is 401 (a revoked or mistyped token).
    refuse_token: std::sync::atomic::AtomicBool,
    /// Scopes the token lacks: calls that need one are 403 (see [`scope_of`]).
    refused_scopes: Mutex<Vec<String>>,
    /// Search finds what the scenario has; off, it finds nothing, like
    /// Mastodon without Elasticsearch.
    full_text_search: std::sync::atomic::AtomicBool,
    /// Bodies of `/api/v1/blocks`, `/api/v1/mutes` and `/api/v1/domain_blocks`.
    blocks: Mutex<String>,
    mutes: Mutex<String>,
    domain_blocks: Mutex<String>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Route name → a canned exchange (`http/*.json` of a fixture) that
    /// answers it instead of the scenario.
    exchanges: Mutex<HashMap<String, Exchange>>,
}

/// One recorded answer: status, headers and body, as in the fixtures'
/// `http/*.json` envelopes.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Answer only calls that carry a token (the recorded request had one).
    pub authorized_only: bool,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Exchange {
    /// Reads an envelope `{"request": …, "response": {"status", "headers",
    /// "body" | "body_text"}}`; returns it with its request path.
    pub fn from_envelope(json: &str) -> Option<(String, Exchange)> {
        let v: Value = serde_json::from_str(json).ok()?;
        let path = v["request"]["path"].as_str()?.to_string();
        let r = &v["response"];
        let status = u16::try_from(r["status"].as_u64()?).ok()?;
        let headers = r["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let body = match (&r["body"], r["body_text"].as_str()) {
            (_, Some(text)) => text.to_string(),
            (Value::Null, None) => String::new(),
            (b, None) => b.to_string(),
        };
        let authorized_only = !v["request"]["authorization"].is_null();
        Some((
            path,
            Exchange {
                authorized_only,
                status,
                headers,
                body,
            },
        ))
    }
}

/// The stand-in's name for the API route of a path (see [`StandIn::calls`]).
pub fn route_name(path: &str) -> &'static str {
    Endpoint::parse(path).map_or("other", |e| e.name())
}

/// A running stand-in; dropping it does not stop it (it lives as long as
/// the runtime).
#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

type Body = BoxBody<Bytes, Infallible>;

impl StandIn {
    /// Starts serving `scenario` on `listener`.
    pub fn start(scenario: Scenario, listener: TcpListener) -> std::io::Result<StandIn> {
        StandIn::start_with(scenario, Images::default(), listener)
    }

    fn start_with(scenario: Scenario, images: Images, listener: TcpListener) -> std::io::Result<StandIn> {
        let addr = listener.local_addr()?;
        let statuses = scenario.statuses();
        // A scenario of a server without an anonymous API says so.
        let require_token = scenario.expect()["stand_in"]["require_token"] == Value::Bool(true);
        let shared = Arc::new(Shared {
            addr,
            scenario,
            statuses,
            images,
            picture_requests: AtomicU64::new(0),
            mode: Mutex::new(Mode::Ok),
            delay: Mutex::new(Duration::ZERO),
            route_delays: Mutex::new(HashMap::new()),
            calls: Mutex::new(BTreeMap::new()),
            total: AtomicU64::new(0),
            authorized: AtomicU64::new(0),
            old_server: std::sync::atomic::AtomicBool::new(false),
            require_token: std::sync::atomic::AtomicBool::new(require_token),
            refuse_token: std::sync::atomic::AtomicBool::new(false),
            refused_scopes: Mutex::new(Vec::new()),
            full_text_search: std::sync::atomic::AtomicBool::new(true),
            blocks: Mutex::new("[]".into()),
            mutes: Mutex::new("[]".into()),
            domain_blocks: Mutex::new("[]".into()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            exchanges: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(route(&s, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Ok(StandIn { addr, shared })
    }

    /// `mastodon-comments stand-in`: serves the scenario of `fixtures` on
    /// `listen`, every answer `delay` late, until SIGTERM or SIGINT; with
    /// `pictures`, its pictures too (as [`StandIn::start_local_with_images`]),
    /// their URLs on `origin` if given, else on the stand-in's own.
    pub async fn run(
        fixtures: &Path,
        listen: &str,
        delay: Duration,
        pictures: bool,
        origin: Option<&str>,
    ) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let scenario = Scenario::from_dir(fixtures)?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let standin = if pictures {
            let origin = match origin {
                Some(o) => url::Url::parse(o)
                    .map(|u| u.origin().ascii_serialization())
                    .map_err(|e| {
                        anyhow::anyhow!("--origin {o} is not a URL ({e}): give one like https://127.0.0.1:8443")
                    })?,
                None => format!("http://{}", listener.local_addr()?),
            };
            let (scenario, images) = Images::localize(&scenario, &origin);
            StandIn::start_with(scenario, images, listener)?
        } else {
            StandIn::start(scenario, listener)?
        };
        standin.set_delay(delay);
        println!("stand-in: listening on {}", standin.url());
        let stop = tokio_util::sync::CancellationToken::new();
        crate::signals::stop_on_signal(stop).await;
        Ok(())
    }

    /// Binds 127.0.0.1 on a free port and starts.
    pub async fn start_local(scenario: Scenario) -> std::io::Result<StandIn> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        StandIn::start(scenario, l)
    }

    /// Binds 127.0.0.1 on a free port and starts, serving the scenario's
    /// avatars, custom emoji and media previews itself: their URLs in every
    /// answer name pictures on the stand-in's own origin
    /// ([`Images::localize`]), so a page showing them loads them all.
    pub async fn start_local_with_images(scenario: Scenario) -> std::io::Result<StandIn> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", l.local_addr()?);
        let (scenario, images) = Images::localize(&scenario, &origin);
        StandIn::start_with(scenario, images, l)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = mode;
        }
    }

    /// The author's muted accounts (`acct`) and blocked domains.
    pub fn set_mutes(&self, accounts: &[&str], domains: &[&str]) {
        let accounts: Vec<Value> = accounts.iter().map(|a| serde_json::json!({"acct": a})).collect();
        if let Ok(mut m) = self.shared.mutes.lock() {
            *m = Value::from(accounts).to_string();
        }
        if let Ok(mut d) = self.shared.domain_blocks.lock() {
            *d = Value::from(domains.to_vec()).to_string();
        }
    }

    /// The author's blocked accounts (`acct`).
    pub fn set_blocks(&self, accounts: &[&str]) {
        let accounts: Vec<Value> = accounts.iter().map(|a| serde_json::json!({"acct": a})).collect();
        if let Ok(mut b) = self.shared.blocks.lock() {
            *b = Value::from(accounts).to_string();
        }
    }

    /// Answers every call of `route` (a [`route_name`]) with `exchange`;
    /// `None` goes back to the scenario.
    pub fn set_exchange(&self, route: &str, exchange: Option<Exchange>) {
        if let Ok(mut x) = self.shared.exchanges.lock() {
            match exchange {
                Some(e) => x.insert(route.to_string(), e),
                None => x.remove(route),
            };
        }
    }

    /// Answers every call without a token with 401, as GoToSocial does.
    pub fn set_require_token(&self, on: bool) {
        self.shared.require_token.store(on, Ordering::SeqCst);
    }

    /// Refuses every token (401), as for a revoked or mistyped one.
    pub fn set_refuse_token(&self, on: bool) {
        self.shared.refuse_token.store(on, Ordering::SeqCst);
    }

    /// Answers the calls that need one of `scopes` with 403, as to a token
    /// created without them: with GoToSocial's body on a scenario without
    /// an anonymous API, else with Mastodon's. Empty: every scope granted.
    pub fn set_refused_scopes(&self, scopes: &[&str]) {
        if let Ok(mut r) = self.shared.refused_scopes.lock() {
            *r = scopes.iter().map(|x| (*x).to_string()).collect();
        }
    }

    /// Whether search finds the scenario's statuses; off, it finds nothing,
    /// like Mastodon without Elasticsearch.
    pub fn set_full_text_search(&self, on: bool) {
        self.shared.full_text_search.store(on, Ordering::SeqCst);
    }

    /// Answers like Mastodon before 3.0 (v1 search only).
    pub fn set_old_server(&self, old: bool) {
        self.shared.old_server.store(old, Ordering::SeqCst);
    }

    /// Adds this much latency to the calls of one route (a [`route_name`]).
    pub fn set_route_delay(&self, route: &str, d: Duration) {
        if let Ok(mut m) = self.shared.route_delays.lock() {
            m.insert(route.to_string(), d);
        }
    }

    /// Adds this much latency to every API call.
    pub fn set_delay(&self, d: Duration) {
        if let Ok(mut m) = self.shared.delay.lock() {
            *m = d;
        }
    }

    /// Calls per route name (`status`, `context`, `account_statuses`,
    /// `search_v2`, `search_v1`, `blocks`, `mutes`, `domain_blocks`, `other`).
    pub fn calls(&self, route: &str) -> u64 {
        self.shared
            .calls
            .lock()
            .ok()
            .and_then(|c| c.get(route).copied())
            .unwrap_or(0)
    }

    /// Requests for pictures (under [`images::PREFIX`]), found or not;
    /// they are not API calls and not in [`StandIn::total_calls`].
    pub fn picture_requests(&self) -> u64 {
        self.shared.picture_requests.load(Ordering::SeqCst)
    }

    pub fn total_calls(&self) -> u64 {
        self.shared.total.load(Ordering::SeqCst)
    }

    /// The most API calls that were in progress at once.
    pub fn max_concurrent(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Calls that carried `Authorization: Bearer …`.
    pub fn authorized_calls(&self) -> u64 {
        self.shared.authorized.load(Ordering::SeqCst)
    }
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> hyper::Response<Body> {
    let mut r = hyper::Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json(status: u16, body: impl Into<Bytes>) -> hyper::Response<Body> {
    full(status, "application/json; charset=utf-8", body)
}

fn not_found() -> hyper::Response<Body> {
    json(404, r#"{"error":"Record not found"}"#)
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn route(s: &Shared, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Body> {
    let path = req.uri().path().to_string();
    let q = query_map(req.uri().query());
    if let Some(ctl) = path.strip_prefix("/__stand-in/") {
        return control(s, ctl, &q);
    }
    if let Some(picture) = s.images.answer(req.method(), &path) {
        s.picture_requests.fetch_add(1, Ordering::SeqCst);
        return picture;
    }
    let authed = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
    let endpoint = Endpoint::parse(&path);
    let name = endpoint.map_or("other", |e| e.name());
    s.total.fetch_add(1, Ordering::SeqCst);
    if authed {
        s.authorized.fetch_add(1, Ordering::SeqCst);
    }
    if let Ok(mut c) = s.calls.lock() {
        *c.entry(name.to_string()).or_default() += 1;
    }
    let delay = s.delay.lock().map(|d| *d).unwrap_or_default()
        + s.route_delays
            .lock()
            .ok()
            .and_then(|m| m.get(name).copied())
            .unwrap_or_default();
    if !delay.is_zero() {
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    // What the server is, it tells anyone (GoToSocial too).
    let about_server = matches!(
        endpoint,
        Some(Endpoint::Instance | Endpoint::NodeinfoIndex | Endpoint::Nodeinfo(_))
    );
    if !authed && !about_server && s.require_token.load(Ordering::SeqCst) {
        return json(401, r#"{"error":"Unauthorized: token not supplied"}"#);
    }
    if authed && !about_server && s.refuse_token.load(Ordering::SeqCst) {
        return json(401, r#"{"error":"The access token is invalid"}"#);
    }
    if authed && let Some(scope) = endpoint.and_then(|e| scope_of(s, e)) {
        let refused = s.refused_scopes.lock().is_ok_and(|r| r.iter().any(|x| x == scope));
        if refused {
            return if s.require_token.load(Ordering::SeqCst) {
                // GoToSocial: apiutil.TokenAuth, gtserror.NewErrorForbidden.
                json(403, r#"{"error":"Forbidden: token has insufficient scope permission"}"#)
            } else {
                json(403, r#"{"error":"This action is outside the authorized scopes"}"#)
            };
        }
    }
    let canned = s
        .exchanges
        .lock()
        .ok()
        .and_then(|x| x.get(name).cloned())
        .filter(|x| authed || !x.authorized_only);
    if let Some(x) = canned {
        let mut r = full(x.status, "application/json; charset=utf-8", x.body);
        for (k, v) in &x.headers {
            if let (Ok(k), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(k.as_bytes()),
                hyper::header::HeaderValue::from_str(v),
            ) {
                r.headers_mut().insert(k, v);
            }
        }
        return r;
    }
    let mode = s.mode.lock().map(|m| *m).unwrap_or(Mode::Ok);
    match mode {
        Mode::Ok => answer(s, endpoint, authed, &q),
        Mode::Slow => {
            let bytes = answer(s, endpoint, authed, &q)
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            trickle(bytes)
        }
        failing => failure(failing).await,
    }
}

/// The scope a call to `endpoint` needs, as GoToSocial's handlers ask it
/// (`internal/api/client/…`: `apiutil.TokenAuth(…, apiutil.ScopeRead…)`)
/// and Mastodon's controllers do. Not the author's timeline, whose scope
/// the two servers document differently, nor an endpoint the scenario's
/// server does not have (interaction requests outside GoToSocial: 404).
fn scope_of(s: &Shared, endpoint: Endpoint<'_>) -> Option<&'static str> {
    Some(match endpoint {
        Endpoint::Status(_) | Endpoint::Context(_) => "read:statuses",
        Endpoint::VerifyCredentials => "read:accounts",
        Endpoint::SearchV2 | Endpoint::SearchV1 => "read:search",
        Endpoint::Moderation(ModerationList::Blocks | ModerationList::DomainBlocks) => "read:blocks",
        Endpoint::Moderation(ModerationList::Mutes) => "read:mutes",
        Endpoint::InteractionRequests if s.scenario.file("interaction-requests.json").is_some() => "read:notifications",
        _ => return None,
    })
}

/// What the scenario answers on `endpoint`, as the server it models would.
fn answer(
    s: &Shared,
    endpoint: Option<Endpoint<'_>>,
    authed: bool,
    q: &HashMap<String, String>,
) -> hyper::Response<Body> {
    let old = s.old_server.load(Ordering::SeqCst);
    let search = |q: &HashMap<String, String>| {
        let key = url::form_urlencoded::byte_serialize(q.get("q").map_or("", String::as_str).as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        match s.scenario.file(&format!("search/{key}.json")) {
            Some(body) if s.full_text_search.load(Ordering::SeqCst) => json(200, body.to_string()),
            _ => json(200, r#"{"accounts":[],"statuses":[],"hashtags":[]}"#),
        }
    };
    let Some(endpoint) = endpoint else {
        return not_found();
    };
    match endpoint {
        Endpoint::SearchV2 if old => not_found(),
        Endpoint::SearchV1 if old => search(q),
        Endpoint::Status(id) => file(s, &format!("statuses/{id}.json")),
        Endpoint::Context(id) => context(s, id, authed),
        Endpoint::AccountStatuses(id) => account_statuses(s, id, q),
        Endpoint::SearchV2 if !authed => json(401, r#"{"error":"The access token is invalid"}"#),
        Endpoint::SearchV2 => search(q),
        Endpoint::SearchV1 => full(
            404,
            "text/html",
            "<html><body>The page you were looking for doesn't exist.</body></html>",
        ),
        Endpoint::VerifyCredentials if !authed => json(401, r#"{"error":"The access token is invalid"}"#),
        Endpoint::VerifyCredentials => {
            let id = s.scenario.expect()["author_account_id"]
                .as_str()
                .unwrap_or("")
                .to_string();
            file(s, &format!("accounts/{id}.json"))
        }
        Endpoint::Moderation(list) => {
            let body = match list {
                ModerationList::Blocks => &s.blocks,
                ModerationList::Mutes => &s.mutes,
                ModerationList::DomainBlocks => &s.domain_blocks,
            };
            json(200, body.lock().map(|m| m.clone()).unwrap_or_default())
        }
        // GoToSocial's; 404 (as on Mastodon) when the scenario has none.
        Endpoint::InteractionRequests if !authed => json(401, r#"{"error":"Unauthorized: token not supplied"}"#),
        Endpoint::InteractionRequests => file(s, "interaction-requests.json"),
        Endpoint::Instance | Endpoint::NodeinfoIndex | Endpoint::Nodeinfo(_) => about(s, endpoint),
    }
}

/// `statuses/:id/context`, as the token's account or anonymously sees it.
fn context(s: &Shared, id: &str, authed: bool) -> hyper::Response<Body> {
    let dir = if authed { "context" } else { "context-anonymous" };
    match s.scenario.file(&format!("{dir}/{id}.json")) {
        Some(body) => json(200, body.to_string()),
        // An existing status nobody replied to.
        None if s.scenario.file(&format!("statuses/{id}.json")).is_some() => {
            json(200, r#"{"ancestors":[],"descendants":[]}"#)
        }
        None => not_found(),
    }
}

/// What the instance says it is: `/api/v1/instance` and nodeinfo, from the
/// scenario or as a Mastodon 4.5.
fn about(s: &Shared, endpoint: Endpoint<'_>) -> hyper::Response<Body> {
    match endpoint {
        Endpoint::Instance => match s.scenario.file("instance.json") {
            Some(body) => json(200, body.to_string()),
            None => json(
                200,
                serde_json::json!({"uri": s.addr.to_string(), "title": "Stand-in", "version": "4.5.0"}).to_string(),
            ),
        },
        Endpoint::NodeinfoIndex => json(
            200,
            serde_json::json!({"links": [{
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": format!("http://{}/nodeinfo/2.0", s.addr),
            }]})
            .to_string(),
        ),
        Endpoint::Nodeinfo("2.0") => match s.scenario.file("nodeinfo.json") {
            Some(body) => json(200, body.to_string()),
            None => json(
                200,
                serde_json::json!({"version": "2.0", "software": {"name": "mastodon", "version": "4.5.0"},
                    "protocols": ["activitypub"], "openRegistrations": false})
                .to_string(),
            ),
        },
        _ => not_found(),
    }
}

/// What an instance in trouble answers, whatever was asked.
async fn failure(mode: Mode) -> hyper::Response<Body> {
    match mode {
        // Answered from the scenario by `route`.
        Mode::Ok | Mode::Slow => not_found(),
        Mode::Error => json(500, r#"{"status":500,"error":"Internal Server Error"}"#),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            json(500, "{}")
        }
        Mode::Huge => {
            const CHUNK: usize = 64 * 1024;
            const TOTAL: usize = 300 * 1024 * 1024;
            let chunk = Bytes::from(b"{\"id\":\"1\"},".repeat(CHUNK / 11));
            let first =
                futures_util::stream::once(async { Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"["))) });
            let rest = futures_util::stream::iter(0..TOTAL / chunk.len())
                .map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone())));
            let mut r = hyper::Response::new(BodyExt::boxed(StreamBody::new(first.chain(rest))));
            if let Ok(v) = "application/json".parse() {
                r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
            }
            r
        }
        Mode::Garbage => json(200, "{\"id\": \"1\", \"content\": <not json"),
        Mode::Html => full(
            200,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        ),
        Mode::WrongShape => json(200, r#"{"hello": ["world"], "descendants": "no"}"#),
        Mode::MidClose => {
            let stream = futures_util::stream::once(async {
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"{\"id\": \"1")))
            });
            let mut r = hyper::Response::new(BodyExt::boxed(StreamBody::new(stream)));
            r.headers_mut().insert(
                hyper::header::CONTENT_LENGTH,
                hyper::header::HeaderValue::from_static("102400"),
            );
            r
        }
        Mode::RateLimit => {
            let reset = humantime::format_rfc3339_micros(SystemTime::now() + Duration::from_secs(60)).to_string();
            let mut r = json(429, r#"{"error":"Too many requests"}"#);
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", hyper::header::HeaderValue::from_static("300"));
            h.insert("x-ratelimit-remaining", hyper::header::HeaderValue::from_static("0"));
            if let Ok(v) = reset.parse() {
                h.insert("x-ratelimit-reset", v);
            }
            r
        }
        Mode::NotFound => not_found(),
    }
}

/// `bytes` one a second: an instance that answers, too slowly to wait for.
fn trickle(bytes: Bytes) -> hyper::Response<Body> {
    let stream = futures_util::stream::iter(bytes.to_vec()).then(|b| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b])))
    });
    let mut r = hyper::Response::new(BodyExt::boxed(StreamBody::new(stream)));
    if let Ok(v) = "application/json".parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn file(s: &Shared, name: &str) -> hyper::Response<Body> {
    match s.scenario.file(name) {
        Some(body) => json(200, body.to_string()),
        None => not_found(),
    }
}

/// `GET /api/v1/accounts/:id/statuses`, computed like Mastodon: newest
/// first, `exclude_replies` (self-replies stay), `exclude_reblogs`,
/// `max_id`, `limit` (default 20, at most 40), `Link: rel="next"`.
fn account_statuses(s: &Shared, account: &str, q: &HashMap<String, String>) -> hyper::Response<Body> {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 40);
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let max_id = q.get("max_id");
    let page: Vec<&Value> = s
        .statuses
        .iter()
        .filter(|st| st["account"]["id"].as_str() == Some(account))
        .filter(|st| !flag("exclude_reblogs") || st["reblog"].is_null())
        .filter(|st| {
            !flag("exclude_replies")
                || st["in_reply_to_id"].is_null()
                || st["in_reply_to_account_id"].as_str() == Some(account)
        })
        .filter(|st| max_id.is_none_or(|m| id_order(st["id"].as_str().unwrap_or(""), m).is_lt()))
        .take(limit)
        .collect();
    let body = serde_json::to_string(&page).unwrap_or_else(|_| "[]".into());
    let mut r = json(200, body);
    if page.len() == limit
        && let Some(last) = page.last().and_then(|st| st["id"].as_str())
    {
        let link =
            format!("<http://stand-in/api/v1/accounts/{account}/statuses?limit={limit}&max_id={last}>; rel=\"next\"");
        if let Ok(v) = link.parse() {
            r.headers_mut().insert(hyper::header::LINK, v);
        }
    }
    r
}

fn control(s: &Shared, what: &str, q: &HashMap<String, String>) -> hyper::Response<Body> {
    match what {
        "mode" => match q.get("set").and_then(|m| Mode::parse(m)) {
            Some(m) => {
                if let Ok(mut cur) = s.mode.lock() {
                    *cur = m;
                }
                json(
                    200,
                    format!("{{\"mode\":{:?}}}", q.get("set").map_or("", String::as_str)),
                )
            }
            None => json(
                400,
                r#"{"error":"set= one of ok error hang slow huge garbage html wrongshape midclose ratelimit notfound"}"#,
            ),
        },
        "delay" => match q.get("ms").and_then(|m| m.parse::<u64>().ok()) {
            Some(ms) => {
                if let Ok(mut d) = s.delay.lock() {
                    *d = Duration::from_millis(ms);
                }
                json(200, format!("{{\"delay_ms\":{ms}}}"))
            }
            None => json(400, r#"{"error":"ms= a number of milliseconds"}"#),
        },
        "calls" => {
            let mut v = serde_json::Map::new();
            v.insert("total".into(), s.total.load(Ordering::SeqCst).into());
            v.insert("authorized".into(), s.authorized.load(Ordering::SeqCst).into());
            if let Ok(c) = s.calls.lock() {
                for (k, n) in c.iter() {
                    v.insert(k.clone(), (*n).into());
                }
            }
            json(200, Value::Object(v).to_string())
        }
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_the_blog_moves_its_links_and_the_search_for_it() {
        let s = Scenario::from_files(&[
            ("expect.json", r#"{"article":{"url":"https://blog.example.org/a/"}}"#),
            (
                "statuses/1.json",
                r#"{"content":"<a href=\"https://blog.example.org/a/\">blog.example.org/a/</a>"}"#,
            ),
            ("search/https%3A%2F%2Fblog.example.org%2Fa%2F.json", "{}"),
            ("search/%2Fa%2F.json", "{}"),
        ])
        .with_blog_at("https://blog.example.org", "http://127.0.0.1:8080");
        assert_eq!(s.expect()["article"]["url"], "http://127.0.0.1:8080/a/");
        assert_eq!(
            s.file("statuses/1.json"),
            Some(r#"{"content":"<a href=\"http://127.0.0.1:8080/a/\">blog.example.org/a/</a>"}"#)
        );
        assert!(s.file("search/http%3A%2F%2F127.0.0.1%3A8080%2Fa%2F.json").is_some());
        assert!(s.file("search/https%3A%2F%2Fblog.example.org%2Fa%2F.json").is_none());
        assert!(s.file("search/%2Fa%2F.json").is_some());
    }
}
