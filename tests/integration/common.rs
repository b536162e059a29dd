//! Shared test helpers: fixture scenarios, a stand-in Mastodon, the daemon
//! in process on a temporary unix socket, and a small FastCGI client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mastodon_comments::activity::Activity;
use mastodon_comments::config::{Config, Token};
use mastodon_comments::fastcgi::wire;
use mastodon_comments::ids::StatusId;
use mastodon_comments::server::{self, Listener, Protocol};
use mastodon_comments::standin::{Scenario, StandIn};
use mastodon_comments::state::State;
use mastodon_comments::{App, Request, Response};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub const AUTHOR: &str = "109308551561216011";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mastodon")
}

pub fn scenario(name: &str) -> Scenario {
    Scenario::from_dir(&fixtures().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn expect(name: &str) -> Value {
    scenario(name).expect()
}

/// A stand-in serving a scenario, and a config pointing at it as the
/// scenario's author (with the author's token unless `token` is false).
pub async fn standin(name: &str, token: bool) -> (StandIn, Config) {
    let scenario = scenario(name);
    let author = scenario.expect()["author_account_id"]
        .as_str()
        .unwrap_or(AUTHOR)
        .to_string();
    let s = StandIn::start_local(scenario).await.expect("stand-in");
    let mut c = Config::for_instance(url::Url::parse(&s.url()).expect("url"));
    c.userid = Some(author);
    c.blog_url = url::Url::parse("https://blog.example.org").ok();
    if token {
        c.token = Some(Token::new("author-token"));
    }
    c.timeout = Duration::from_secs(2);
    (s, c)
}

/// A status id the test knows to be one.
pub fn id(s: &str) -> StatusId {
    StatusId::parse(s).unwrap_or_else(|| panic!("{s:?} is a status id"))
}

pub fn app(config: Config) -> Arc<App> {
    let state = Arc::new(State::in_memory(config.max_state_entries, config.miss_retry));
    Arc::new(App::new(config, state).expect("app"))
}

/// Waits (at most 10 s) until the author's blocks and mutes are loaded
/// or known to be off: for tests about something else, so the background
/// load and the request under test do not race.
pub async fn settle(app: &App) {
    use mastodon_comments::moderation::Lists;
    for _ in 0..500 {
        if !matches!(app.lists(), Lists::Pending { loading: true, .. }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the author's lists did not settle: {:?}", app.lists());
}

/// GET through the service directly.
pub async fn get(app: &App, uri: &str) -> Response {
    app.handle(&Request::get(uri)).await
}

pub fn body_json(resp: &Response) -> Value {
    serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("status {} body is not JSON ({e}): {:?}", resp.status, resp.body))
}

/// The article path of a scenario, as a comments.json URI.
pub fn comments_uri(name: &str) -> String {
    let e = expect(name);
    format!("{}/comments.json", e["article"]["path"].as_str().expect("path"))
}

/// A daemon serving on a temporary unix socket in this process.
pub struct Daemon {
    pub socket: PathBuf,
    pub shutdown: CancellationToken,
    pub done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

pub async fn daemon(app: Arc<App>, protocol: Protocol) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("mc.sock");
    let listener = Listener::Unix(tokio::net::UnixListener::bind(&socket).expect("bind"));
    let shutdown = CancellationToken::new();
    let done = tokio::spawn(server::serve(
        listener,
        protocol,
        app,
        None,
        Arc::new(Activity::default()),
        shutdown.clone(),
    ));
    Daemon {
        socket,
        shutdown,
        done,
        _dir: dir,
    }
}

/// A parsed FastCGI answer.
#[derive(Debug, Clone)]
pub struct FcgiResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl FcgiResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// nginx's params for a GET of `uri`.
pub fn params(method: &str, uri: &str) -> Vec<(String, Vec<u8>)> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    [
        ("REQUEST_METHOD", method),
        ("REQUEST_URI", uri),
        ("DOCUMENT_URI", path),
        ("QUERY_STRING", query),
        ("SCRIPT_NAME", path),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "192.0.2.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect()
}

/// The bytes of one FastCGI request (BEGIN, PARAMS, empty STDIN).
pub fn request_bytes(id: u16, params: &[(String, Vec<u8>)], keep_conn: bool) -> Vec<u8> {
    let mut pairs = Vec::new();
    for (name, value) in params {
        wire::put_pair(&mut pairs, name.as_bytes(), value);
    }
    let mut out = Vec::new();
    wire::put_begin_request(&mut out, id, keep_conn);
    wire::put_stream(&mut out, wire::PARAMS, id, &pairs);
    wire::put_stream(&mut out, wire::STDIN, id, &[]);
    out
}

/// A FastCGI connection, like one of nginx's keep-alive upstream
/// connections.
pub struct Fcgi {
    stream: tokio::net::UnixStream,
}

impl Fcgi {
    pub async fn connect(socket: &Path) -> Fcgi {
        Fcgi {
            stream: tokio::net::UnixStream::connect(socket).await.expect("connect"),
        }
    }

    /// Sends several requests at once (multiplexed) and returns their
    /// answers in request order.
    pub async fn send_many(&mut self, reqs: &[Vec<(String, Vec<u8>)>]) -> Vec<FcgiResponse> {
        let mut bytes = Vec::new();
        for (i, p) in reqs.iter().enumerate() {
            bytes.extend(request_bytes(i as u16 + 1, p, true));
        }
        self.write(&bytes).await;
        self.answers(reqs.len()).await
    }

    /// Reads until the daemon closes the connection.
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        self.stream.read_to_end(out).await
    }

    /// Writes raw bytes (part of a request, several requests).
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads the answers of requests 1..=n, in id order.
    pub async fn answers(&mut self, n: usize) -> Vec<FcgiResponse> {
        let mut stdout: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
        let mut ended = 0;
        while ended < n {
            let mut h = wire::Header::default();
            self.stream.read_exact(&mut h.0).await.expect("record header");
            let mut content = vec![0u8; h.body_len()];
            self.stream.read_exact(&mut content).await.expect("record content");
            content.truncate(h.content_len());
            match h.kind() {
                wire::STDOUT => stdout.entry(h.id()).or_default().extend_from_slice(&content),
                wire::END_REQUEST => ended += 1,
                _ => {}
            }
        }
        (1..=n as u16)
            .map(|id| parse_cgi(stdout.remove(&id).unwrap_or_default()))
            .collect()
    }

    pub async fn send(&mut self, params: Vec<(String, Vec<u8>)>) -> FcgiResponse {
        self.send_many(&[params]).await.remove(0)
    }

    pub async fn get(&mut self, uri: &str) -> FcgiResponse {
        self.send(params("GET", uri)).await
    }
}

/// One GET on a fresh connection.
pub async fn fcgi_get(socket: &Path, uri: &str) -> FcgiResponse {
    Fcgi::connect(socket).await.get(uri).await
}

pub fn parse_cgi(raw: Vec<u8>) -> FcgiResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut headers = BTreeMap::new();
    let mut status = 200;
    for line in head.split("\r\n") {
        if let Some((k, v)) = line.split_once(": ") {
            if k.eq_ignore_ascii_case("status") {
                status = v.split(' ').next().and_then(|s| s.parse().ok()).unwrap_or(0);
            } else {
                headers.insert(k.to_ascii_lowercase(), v.to_string());
            }
        }
    }
    FcgiResponse { status, headers, body }
}

/// Every string anywhere in a JSON value.
pub fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

/// The URL fields of an answer.
pub fn url_fields(answer: &Value) -> Vec<String> {
    let mut out = vec![answer["stats"]["url"].as_str().unwrap_or("").to_string()];
    if let Some(comments) = answer["comments"].as_object() {
        for c in comments.values() {
            for u in [&c["url"], &c["author"]["avatar"], &c["author"]["url"]] {
                out.push(u.as_str().unwrap_or("").to_string());
            }
            for m in c["media"].as_array().into_iter().flatten() {
                out.push(m["url"].as_str().unwrap_or("").to_string());
                out.push(m["preview_url"].as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

/// Tokenizes HTML as a browser would: its start tags with their attributes.
pub use html_checks::start_tags;

/// The `href`s of HTML's links, as a browser reads them.
pub fn hrefs(html: &str) -> Vec<String> {
    start_tags(html)
        .into_iter()
        .filter(|(t, _)| t == "a")
        .flat_map(|(_, attrs)| attrs.into_iter().filter(|(n, _)| n == "href").map(|(_, v)| v))
        .collect()
}

/// The path of the built binary (integration tests get it from cargo).
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mastodon-comments"))
}
