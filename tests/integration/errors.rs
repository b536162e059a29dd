//! Every recorded error exchange of the `g-errors` fixture, answered by the
//! stand-in for the route it belongs to, and what the daemon makes of it:
//! a gone root is "no comments" (not an outage), unavailable search falls
//! back, a refused token falls back to public data, and real outages are
//! 503 with `Retry-After` and a JSON body.

use mastodon_comments::standin::{Exchange, route_name};

use crate::common::*;

const ARTICLE: &str = "/2026/07/01/slow-bread";

/// What the daemon must answer for one exchange.
#[derive(Debug, PartialEq)]
enum Want {
    /// 200 with this many of the thread's comments.
    Comments(usize),
    /// 200, `"comments": null`, `max-age=60`.
    NoRoot,
    /// 503, `Retry-After`, `{"error": …}`, `no-store`.
    Unavailable,
}

fn want(file: &str) -> Want {
    match file {
        // Mastodon is still fetching remote replies: what it has, now.
        "200-context-async-refresh" => Want::Comments(0),
        // The anonymous view of the same thread.
        "401-invalid-token" => Want::Comments(5),
        // v1 search is gone, but it is never asked: v2 finds the root.
        "404-v1-search-removed-html" | "404-v1-search-removed-json" => Want::Comments(5),
        "200-search-v2-no-elasticsearch"
        | "200-search-v2-resolve-article-url"
        | "401-search-offset-anonymous"
        | "401-search-resolve-anonymous"
        | "403-wrong-scope"
        | "404-context-unknown"
        | "404-status-unknown" => Want::NoRoot,
        "401-unauthenticated-api-disabled"
        | "429-rate-limited"
        | "429-rate-limited-paging"
        | "500-internal-error-json"
        | "502-proxy-html"
        | "503-unavailable-json" => Want::Unavailable,
        other => panic!("g-errors/http/{other}.json has no expectation here: add one"),
    }
}

#[tokio::test]
async fn every_recorded_error_exchange_is_handled() {
    let dir = fixtures().join("g-errors/http");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("g-errors/http")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 17, "{files:?}");
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let text = std::fs::read_to_string(&file).expect("read");
        let (path, exchange) = Exchange::from_envelope(&text).unwrap_or_else(|| panic!("{name}: not an envelope"));
        let route = route_name(&path);
        let with_token = exchange.authorized_only;
        let (s, mut config) = standin("a-simple-thread", with_token).await;
        match route {
            // The root is known; the thread fetch meets the exchange.
            "status" | "context" => {
                let root = path.split('/').nth(4).unwrap_or("");
                config.roots.insert(ARTICLE.into(), id(root));
            }
            // Only search can find the root.
            "search_v2" | "search_v1" => config.scan_pages = 0,
            // The timeline scan meets the exchange.
            _ => {}
        }
        let app = app(config);
        // The author's lists load before the exchange is in place: this
        // test is about the route that meets it.
        settle(&app).await;
        s.set_exchange(route, Some(exchange));
        let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
        let v = body_json(&resp);
        let cc = resp.header("Cache-Control").unwrap_or("");
        match want(&name) {
            Want::Comments(n) => {
                assert_eq!(resp.status, 200, "{name}: {v}");
                assert_eq!(v["stats"]["root"], "116843781319371281", "{name}: {v}");
                assert_eq!(v["comments"].as_object().map(|c| c.len()), Some(n), "{name}: {v}");
            }
            Want::NoRoot => {
                assert_eq!(resp.status, 200, "{name}: {v}");
                assert!(v["comments"].is_null(), "{name}: {v}");
                assert_eq!(cc, "max-age=60", "{name}");
            }
            Want::Unavailable => {
                assert_eq!(resp.status, 503, "{name}: {v}");
                assert!(v["error"].is_string(), "{name}: {v}");
                assert_eq!(cc, "no-store", "{name}");
                let ra: u64 = resp
                    .header("Retry-After")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_else(|| panic!("{name}: no numeric Retry-After"));
                assert!((1..=3600).contains(&ra), "{name}: Retry-After {ra}");
            }
        }
        // Anonymous search is never sent; v1 search only after a v2 404.
        if !with_token {
            assert_eq!(s.calls("search_v2") + s.calls("search_v1"), 0, "{name}");
        }
        assert_eq!(s.calls("search_v1"), 0, "{name}: v1 search on a current server");
    }
}

#[tokio::test]
async fn a_refused_token_falls_back_to_public_data_and_is_not_retried_at_once() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.roots.insert(ARTICLE.into(), id("116843781319371281"));
    config.cache_fresh = std::time::Duration::ZERO;
    config.cache_keep = std::time::Duration::ZERO;
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/401-invalid-token.json")).expect("read");
    let (_, refused) = Exchange::from_envelope(&text).expect("envelope");
    let app = app(config);
    settle(&app).await;
    for route in ["status", "context"] {
        s.set_exchange(route, Some(refused.clone()));
    }
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["stats"]["root"], "116843781319371281");
    let first = s.authorized_calls();
    // The next answer goes anonymous straight away: no second refusal.
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["comments"].as_object().map(|c| c.len()), Some(5));
    assert_eq!(s.authorized_calls(), first, "token not sent again while refused");
    assert!(app.status_line().contains("refused the token"), "{}", app.status_line());
}

#[tokio::test]
async fn without_userid_the_tokens_account_is_the_author() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.userid = None;
    let app = app(config);
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["stats"]["root"], "116843781319371281", "found by the timeline scan");
    assert_eq!(s.calls("verify_credentials"), 1);
    assert_eq!(s.calls("search_v2"), 0, "the scan found it first");
    // Asked once, not per request.
    get(&app, "/2026/07/02/other/comments.json").await;
    assert_eq!(s.calls("verify_credentials"), 1);
}

#[tokio::test]
async fn the_authors_blocks_are_honoured_and_a_failed_refresh_keeps_serving() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    s.set_blocks(&["bram"]);
    let app = app(config);
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    let shown: Vec<&String> = v["comments"]
        .as_object()
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    assert!(
        !shown.iter().any(|k| *k == "116843909470822146"),
        "blocked local account bram"
    );
    assert_eq!(v["withheld"], 1);
    assert_eq!(s.calls("blocks"), 1);

    // A failing blocks list: the thread is still served, and the refresh
    // is not retried on every request.
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    config.cache_keep = std::time::Duration::ZERO;
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/403-wrong-scope.json")).expect("read");
    s.set_exchange("blocks", Exchange::from_envelope(&text).map(|(_, x)| x));
    let app = crate::common::app(config);
    for _ in 0..3 {
        let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
        assert_eq!(v["comments"].as_object().map(|c| c.len()), Some(5));
    }
    assert_eq!(s.calls("blocks"), 1, "retried later, not per request");
    assert_eq!(s.calls("context"), 3);
}
