//! `mastodon-comments demo`: the daemon against a stand-in Mastodon that
//! serves a built-in sample thread (or a fixture folder), over plain HTTP,
//! with a sample article page that shows the comments. The sample's
//! avatars, emoji and media are served by the stand-in too, and reach the
//! page through the daemon's image proxy (`proxy_media`) at the demo's own
//! address, so the page shows every picture and the browser loads nothing
//! from anywhere else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use url::{Origin, Url};

use crate::app::App;
use crate::config::{Config, Token};
use crate::http::Extra;
use crate::request::{Request, Response};
use crate::server::{self, Listener, Protocol};
use crate::standin::{Scenario, StandIn};
use crate::state::State;
use crate::{listen, signals};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The page script, stylesheet and demo page, as built in.
pub use embedded::{DEMO_HTML, WEB_CSS, WEB_JS};

/// `mastodon-comments demo`: serves the demo on `listen` until SIGTERM or
/// SIGINT, the sample thread or the fixture folder `fixtures`.
pub async fn run(listen: &str, fixtures: Option<&Path>) -> anyhow::Result<()> {
    let listener = listen::bind(listen)?;
    let origin = page_origin(&listener);
    let demo = match (fixtures, &origin) {
        // A fixture folder as it is, without the image proxy: its pictures
        // name hosts that do not exist, which the browser tests answer
        // themselves.
        (Some(dir), _) => start(Scenario::from_dir(dir)?).await?,
        (None, Some(origin)) => start_sample_proxied(origin).await?,
        // A unix socket has no address a page can name its pictures by.
        (None, None) => start_sample().await?,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(signals::stop_on_signal(shutdown.clone()));
    let base = origin.map_or_else(
        || format!("http://{}", listener.describe()),
        |o| o.ascii_serialization(),
    );
    println!("demo: open {base}/");
    println!("demo: or try: curl {base}{}comments.json", demo.article);
    server::serve(
        listener,
        Protocol::Http,
        demo.app,
        Some(demo.extra),
        Arc::default(),
        shutdown,
    )
    .await;
    Ok(())
}

/// The built-in sample thread.
pub(crate) fn sample_scenario() -> Scenario {
    Scenario::from_files(embedded::DEMO_SCENARIO)
}

/// A running demo: the stand-in instance and the service pointed at it.
pub struct Demo {
    pub standin: StandIn,
    pub app: Arc<App>,
    pub extra: Extra,
    /// The sample article's path, with its trailing slash.
    pub article: String,
}

/// Starts the stand-in for `scenario` and builds the service for it: the
/// author's token and account id, the blog's host from the scenario.
pub async fn start(scenario: Scenario) -> anyhow::Result<Demo> {
    let expect = scenario.expect();
    let standin = StandIn::start_local(scenario).await?;
    with_standin(standin, &expect, false)
}

/// [`start`] for the built-in sample thread, whose avatars (and any custom
/// emoji and media) the stand-in serves itself, so the demo page shows
/// every picture.
pub async fn start_sample() -> anyhow::Result<Demo> {
    let scenario = sample_scenario();
    let expect = scenario.expect();
    let standin = StandIn::start_local_with_images(scenario).await?;
    with_standin(standin, &expect, false)
}

/// [`start_sample`] for a page served at `origin`: the sample's blog is
/// moved there, and the answer names every picture on that origin, under
/// the image proxy's path (`proxy_media`), which the daemon fetches from
/// the stand-in, the configured instance. The image key is made for this
/// process: the demo keeps no state.
pub async fn start_sample_proxied(origin: &Origin) -> anyhow::Result<Demo> {
    let sample = sample_scenario();
    let blog = article_url(&sample.expect())?.origin().ascii_serialization();
    let scenario = sample.with_blog_at(&blog, &origin.ascii_serialization());
    let expect = scenario.expect();
    let standin = StandIn::start_local_with_images(scenario).await?;
    with_standin(standin, &expect, true)
}

/// The origin the demo's page is opened at: its TCP address, with a
/// loopback address for an unspecified one (`0.0.0.0`, `::`), which no
/// page can be opened at; `None` for a unix socket.
fn page_origin(listener: &Listener) -> Option<Origin> {
    let Listener::Tcp(l) = listener else { return None };
    let mut addr = l.local_addr().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(Url::parse(&format!("http://{addr}")).ok()?.origin())
}

fn article_url(expect: &serde_json::Value) -> anyhow::Result<Url> {
    expect["article"]["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| anyhow::anyhow!("the scenario's expect.json has no article.url"))
}

fn with_standin(standin: StandIn, expect: &serde_json::Value, proxy_media: bool) -> anyhow::Result<Demo> {
    let article_url = article_url(expect)?;
    let mut config = Config::for_instance(Url::parse(&standin.url())?);
    config.token = Some(Token::new("demo-token"));
    config.userid = expect["author_account_id"].as_str().map(str::to_string);
    config.blog_url = Url::parse(&article_url.origin().ascii_serialization()).ok();
    config.proxy_media = proxy_media;
    let state = Arc::new(State::in_memory(config.max_state_entries, config.miss_retry));
    let app = Arc::new(App::new(config, state)?);
    let article = article_url.path().to_string();
    let home = article.clone();
    let extra: Extra = Arc::new(move |req: &Request| page(req, &home));
    Ok(Demo {
        standin,
        app,
        extra,
        article,
    })
}

fn asset(content_type: &str, body: &'static str) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.to_string()),
            ("Cache-Control", "no-cache".into()),
        ],
        body: Bytes::from_static(body.as_bytes()),
    }
}

/// The demo's own routes; `None` passes the request to the service.
fn page(req: &Request, article: &str) -> Option<Response> {
    let path = req.uri.split('?').next().unwrap_or("");
    match path {
        "/" => Some(Response {
            status: 302,
            headers: vec![("Location", article.to_string()), ("Cache-Control", "no-cache".into())],
            body: Bytes::new(),
        }),
        "/mastodon-comments.js" => Some(asset("text/javascript; charset=utf-8", WEB_JS)),
        "/mastodon-comments.css" => Some(asset("text/css; charset=utf-8", WEB_CSS)),
        "/favicon.ico" => Some(Response {
            status: 204,
            headers: vec![],
            body: Bytes::new(),
        }),
        p if p.ends_with('/') => Some(asset("text/html; charset=utf-8", DEMO_HTML)),
        _ => None,
    }
}
