//! `mastodon-comments demo`: the daemon against a stand-in Mastodon that
//! serves a built-in sample thread (or a fixture folder), over plain HTTP,
//! with a sample article page that shows the comments. The sample's
//! avatars, emoji and media are served by the stand-in too, so the page
//! shows every picture.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::app::App;
use crate::config::{Config, Token};
use crate::http::Extra;
use crate::request::{Request, Response};
use crate::server::{self, Protocol};
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
    let demo = match fixtures {
        // A fixture folder as it is: its pictures name hosts that do not
        // exist, which the browser tests answer themselves.
        Some(dir) => start(Scenario::from_dir(dir)?).await?,
        None => start_sample().await?,
    };
    let listener = listen::bind(listen)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(signals::stop_on_signal(shutdown.clone()));
    let addr = listener.describe();
    println!("demo: open http://{addr}/");
    println!("demo: or try: curl http://{addr}{}comments.json", demo.article);
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
    with_standin(standin, &expect)
}

/// [`start`] for the built-in sample thread, whose avatars (and any custom
/// emoji and media) the stand-in serves itself, so the demo page shows
/// every picture.
pub async fn start_sample() -> anyhow::Result<Demo> {
    let scenario = sample_scenario();
    let expect = scenario.expect();
    let standin = StandIn::start_local_with_images(scenario).await?;
    with_standin(standin, &expect)
}

fn with_standin(standin: StandIn, expect: &serde_json::Value) -> anyhow::Result<Demo> {
    let article_url = expect["article"]["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| anyhow::anyhow!("the scenario's expect.json has no article.url"))?;
    let mut config = Config::for_instance(Url::parse(&standin.url())?);
    config.token = Some(Token::new("demo-token"));
    config.userid = expect["author_account_id"].as_str().map(str::to_string);
    config.blog_url = Url::parse(&article_url.origin().ascii_serialization()).ok();
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
