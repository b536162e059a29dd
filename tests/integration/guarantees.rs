//! The daemon's promises on inputs nobody here wrote: a thread of any
//! length and shape is answered within the deadline while other requests
//! go on; moderation that has not loaded never fails open; a failed
//! look-up is never remembered as "not announced".

use std::sync::Arc;
use std::time::{Duration, Instant};

use mastodon_comments::App;
use mastodon_comments::moderation::Lists;
use mastodon_comments::standin::{Exchange, Mode, Scenario, StandIn};
use mastodon_comments::state::{Known, State};

use crate::common::*;

const ARTICLE: &str = "/2026/07/01/slow-bread";
const ROOT: &str = "116843781319371281";
/// A local account of `a-simple-thread` that replied.
const BRAM_REPLY: &str = "116843909470822146";

/// A thread whose replies form one chain (each answers the one before),
/// minimal statuses as a hostile or merely unusual instance sends them.
fn chain_scenario(root: &str, replies: usize) -> Scenario {
    let status = |id: &str, parent: Option<&str>| {
        serde_json::json!({
            "id": id, "in_reply_to_id": parent, "visibility": "public",
            "created_at": "2026-07-01T08:41:05.000Z", "uri": format!("https://m.example/s/{id}"),
            "content": format!("<p>reply {id}</p>"),
            "account": {"id": "7", "username": "u", "acct": "u@m.example", "display_name": "U"}
        })
    };
    let mut descendants = Vec::with_capacity(replies);
    let mut parent = root.to_string();
    for i in 0..replies {
        let id = format!("{}", 200_000_000 + i);
        descendants.push(status(&id, Some(&parent)));
        parent = id;
    }
    let context = serde_json::json!({"ancestors": [], "descendants": descendants}).to_string();
    let root_status = status(root, None).to_string();
    Scenario::from_files(&[
        (&format!("statuses/{root}.json"), &root_status),
        (&format!("context/{root}.json"), &context),
        (&format!("context-anonymous/{root}.json"), &context),
    ])
}

#[tokio::test]
async fn a_twenty_thousand_reply_chain_is_answered_in_time_while_others_are_served() {
    let root = "100000000";
    let standin = StandIn::start_local(chain_scenario(root, 20_000))
        .await
        .expect("stand-in");
    let mut config = mastodon_comments::Config::for_instance(url::Url::parse(&standin.url()).expect("url"));
    config.timeout = Duration::from_secs(2);
    config.roots.insert("/long".into(), id(root));
    let app = app(config);
    let first = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = get(&app, "/long/comments.json").await;
            (resp, started.elapsed(), Instant::now())
        })
    };
    // While the chain is being fetched and rendered, an article without a
    // root is answered at once.
    while standin.calls("context") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let other = get(&app, "/2026/07/02/no-root/comments.json").await;
    let other_took = started.elapsed();
    let other_done = Instant::now();
    assert_eq!(other.status, 200);
    assert!(body_json(&other)["comments"].is_null());
    let (resp, took, first_done) = first.await.expect("join");
    assert!(
        other_done < first_done,
        "the second answer ({other_took:?}) waited for the long thread ({took:?}, {} {})",
        resp.status,
        String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)])
    );
    assert!(other_took < Duration::from_secs(2), "{other_took:?}");
    // The long one: the whole chain, or 503 with Retry-After, in time.
    assert!(took < Duration::from_millis(2500), "{took:?}");
    match resp.status {
        200 => {
            let v = body_json(&resp);
            assert_eq!(v["stats"]["replies"], 20_000);
            assert_eq!(v["comments"]["200019999"]["reply_to"], "200019998");
        }
        503 => assert!(resp.header("Retry-After").is_some()),
        s => panic!("status {s}"),
    }
}

/// An app whose in-memory state the test can look at.
fn app_and_state(config: mastodon_comments::Config) -> (Arc<App>, Arc<State>) {
    let state = Arc::new(State::in_memory(config.max_state_entries, config.miss_retry));
    (Arc::new(App::new(config, state.clone()).expect("app")), state)
}

#[tokio::test]
async fn slow_block_lists_publish_nothing_they_could_hide() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.timeout = Duration::from_millis(800);
    s.set_blocks(&["bram"]);
    s.set_route_delay("blocks", Duration::from_millis(2500));
    let app = app(config);
    // While the lists load: 503, never cached, and bram's reply nowhere.
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.status, 503, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("Cache-Control"), Some("no-store"));
    assert!(resp.header("Retry-After").is_some());
    assert!(!String::from_utf8_lossy(&resp.body).contains(BRAM_REPLY));
    assert!(app.status_line().contains("not loaded yet"), "{}", app.status_line());
    settle(&app).await;
    assert!(matches!(app.lists(), Lists::Loaded(_)), "{:?}", app.lists());
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert!(v["comments"].get(BRAM_REPLY).is_none(), "{v}");
    assert_eq!(v["withheld"], 1);
}

#[tokio::test]
async fn failing_block_lists_publish_nothing_they_could_hide() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.cache_fresh = Duration::ZERO;
    s.set_blocks(&["bram"]);
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/500-internal-error-json.json")).expect("read");
    s.set_exchange("blocks", Exchange::from_envelope(&text).map(|(_, x)| x));
    let app = app(config);
    settle(&app).await;
    for _ in 0..3 {
        let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
        assert_eq!(resp.status, 503);
        assert_eq!(resp.header("Cache-Control"), Some("no-store"));
        let retry: u64 = resp
            .header("Retry-After")
            .and_then(|r| r.parse().ok())
            .expect("Retry-After");
        assert!((1..=30).contains(&retry), "{retry}");
    }
    assert_eq!(s.calls("blocks"), 1, "a failed load is retried later, not per request");
    assert_eq!(
        s.calls("context"),
        3,
        "the thread is still fetched (one round trip when the lists arrive)"
    );
}

#[tokio::test]
async fn a_refused_token_before_the_lists_ever_loaded_publishes_nothing() {
    let (s, config) = standin("a-simple-thread", true).await;
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/401-invalid-token.json")).expect("read");
    let (_, refused) = Exchange::from_envelope(&text).expect("envelope");
    for route in ["blocks", "status", "context"] {
        s.set_exchange(route, Some(refused.clone()));
    }
    let app = app(config);
    settle(&app).await;
    assert!(
        matches!(app.lists(), Lists::Pending { .. }),
        "{:?} {} {}",
        app.lists(),
        s.calls("blocks"),
        s.calls("mutes")
    );
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.status, 503, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("Cache-Control"), Some("no-store"));
}

#[tokio::test]
async fn with_the_lists_loaded_a_cold_request_is_one_round_trip() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.roots.insert(ARTICLE.into(), id(ROOT));
    config.cache_fresh = Duration::ZERO;
    let app = app(config);
    settle(&app).await;
    // The first fetch also learns that this instance has no interaction
    // requests (404, side by side with the thread); the next ones do not ask.
    assert_eq!(get(&app, &format!("{ARTICLE}/comments.json")).await.status, 200);
    assert_eq!(s.calls("interaction_requests"), 1);
    let before = s.total_calls();
    s.set_delay(Duration::from_millis(100));
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.status, 200);
    // Status and context side by side, and nothing else: the lists are
    // never fetched on a request's path.
    assert_eq!(s.total_calls() - before, 2);
    assert_eq!(s.calls("status") + s.calls("context"), 4, "two fetches of two calls");
    assert_eq!(s.max_concurrent(), 2, "status and context at once");
}

#[tokio::test]
async fn a_failed_scan_is_not_a_miss_and_the_root_is_found_after_recovery() {
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.timeout = Duration::from_secs(2);
    let (app, state) = app_and_state(config);
    s.set_mode(Mode::Error);
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.status, 503);
    assert_eq!(state.lookup(ARTICLE), Known::Unknown, "no miss after a failed scan");
    // The instance is back; the next scan may start a few seconds later
    // (not a minute), and until then the answer says nothing lasting.
    s.set_mode(Mode::Ok);
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.header("Cache-Control"), Some("max-age=60"));
    assert_eq!(
        state.lookup(ARTICLE),
        Known::Unknown,
        "a skipped scan is no miss either"
    );
    tokio::time::sleep(mastodon_comments::limits::SCAN_RETRY).await;
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["stats"]["root"], ROOT, "{v}");
    assert_eq!(state.lookup(ARTICLE), Known::Roots(vec![id(ROOT)]));
}

#[tokio::test]
async fn a_failed_author_lookup_is_not_a_miss() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.userid = None;
    let (app, state) = app_and_state(config);
    settle(&app).await;
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/500-internal-error-json.json")).expect("read");
    s.set_exchange("verify_credentials", Exchange::from_envelope(&text).map(|(_, x)| x));
    // Search runs and finds nothing; without the author the timeline
    // could not be read, so that proves nothing.
    let other = "/2026/07/02/other";
    let resp = get(&app, &format!("{other}/comments.json")).await;
    assert_eq!(resp.status, 200);
    assert!(body_json(&resp)["comments"].is_null());
    assert_eq!(s.calls("search_v2"), 1);
    assert_eq!(state.lookup(other), Known::Unknown, "no miss without the author");
}

/// A Go state file of `n` entries after years of service: half found
/// roots, half misses kept for ever (`null`), the real article's root the
/// newest.
fn go_state_file(path: &std::path::Path, n: usize) {
    let mut roots = serde_json::Map::new();
    for i in 0..n / 2 {
        roots.insert(
            format!("/{i}/a"),
            serde_json::json!([format!("{}", 100_000_000_000u64 + i as u64)]),
        );
        roots.insert(format!("/{i}/scanner-probe"), serde_json::Value::Null);
    }
    roots.insert(ARTICLE.into(), serde_json::json!([ROOT]));
    std::fs::write(path, serde_json::json!({ "roots": roots }).to_string()).expect("write");
}

#[tokio::test]
async fn a_two_hundred_thousand_entry_go_state_file_is_read_bounded_and_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    go_state_file(&path, 200_000);
    let (_s, config) = standin("a-simple-thread", false).await;
    let state = Arc::new(State::load(&path, config.max_state_entries, config.miss_retry));
    assert_eq!(state.len(), config.max_state_entries);
    let app = Arc::new(App::new(config.clone(), state.clone()).expect("app"));
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["stats"]["root"], ROOT, "the newest root is kept and served");
    state.flush().await.expect("flush");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let roots = written["roots"].as_object().expect("roots");
    assert_eq!(
        roots.len(),
        config.max_state_entries,
        "the bounded file is written back"
    );
    assert_eq!(roots[ARTICLE], serde_json::json!([ROOT]));
    assert!(roots.values().all(|ids| ids.as_array().is_some_and(|a| !a.is_empty())));
}

/// A 200 answer with this body, as the instance's for one route.
fn answer_with(body: String) -> Exchange {
    Exchange {
        authorized_only: false,
        status: 200,
        headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
        body,
    }
}

/// The scenario's file with `extra` entries added to its list at `pointer`.
fn with_bad_entries(file: &str, pointer: &str) -> String {
    let text = std::fs::read_to_string(fixtures().join("a-simple-thread").join(file)).expect("fixture");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let list = v.pointer_mut(pointer).and_then(|l| l.as_array_mut()).expect("a list");
    // Akkoma's `null` for a post it cannot load, and entries of the wrong shape.
    list.insert(1, serde_json::Value::Null);
    list.push(serde_json::json!({"id": 5, "account": "nobody"}));
    list.push(serde_json::json!("not a status"));
    v.to_string()
}

#[tokio::test]
async fn one_bad_entry_costs_that_entry_only_in_threads_timelines_and_search() {
    // The thread: every good reply shown, the three bad entries withheld.
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.roots.insert(ARTICLE.into(), id(ROOT));
    let app = app(config);
    settle(&app).await;
    s.set_exchange(
        "context",
        Some(answer_with(with_bad_entries(
            &format!("context/{ROOT}.json"),
            "/descendants",
        ))),
    );
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["comments"].as_object().map(|c| c.len()), Some(5), "{v}");
    assert_eq!(v["withheld"], 3);

    // The timeline scan: the announcement is still found.
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.scan_pages = 1;
    s.set_exchange(
        "account_statuses",
        Some(answer_with(with_bad_entries("account-statuses.json", ""))),
    );
    let v = body_json(&get(&app_and_state(config).0, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["stats"]["root"], ROOT, "{v}");

    // Search: the announcement is still found.
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.scan_pages = 0;
    s.set_exchange(
        "search_v2",
        Some(answer_with(with_bad_entries("search-v2.json", "/statuses"))),
    );
    let searching = crate::common::app(config);
    settle(&searching).await;
    let v = body_json(&get(&searching, &format!("{ARTICLE}/comments.json")).await);
    assert_eq!(v["stats"]["root"], ROOT, "{v}");
}

#[tokio::test]
async fn a_server_that_requires_a_token_is_named_to_the_operator() {
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.roots.insert(ARTICLE.into(), id(ROOT));
    s.set_require_token(true);
    let app = app(config);
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.status, 503);
    assert!(resp.header("Retry-After").is_some());
    assert!(
        app.status_line()
            .contains("this server requires the author's access token"),
        "{}",
        app.status_line()
    );
    // Readers are told nothing about it.
    assert!(!String::from_utf8_lossy(&resp.body).contains("token"));
}

#[tokio::test]
async fn a_thread_the_instance_is_still_completing_is_fetched_again_soon() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.roots.insert(ARTICLE.into(), id(ROOT));
    let app = app(config);
    settle(&app).await;
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/200-context-async-refresh.json")).expect("read");
    s.set_exchange("context", Exchange::from_envelope(&text).map(|(_, x)| x));
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(resp.status, 200);
    // Mastodon-Async-Refresh: retry=3: nginx keeps it 3 s, not 10 minutes.
    assert_eq!(resp.header("Cache-Control"), Some("max-age=3"));
    assert_eq!(s.calls("context"), 1);
    // Within those 3 s the daemon's cache answers; after them it asks again
    // and the remote replies that arrived meanwhile are there.
    get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(s.calls("context"), 1);
    s.set_exchange("context", None);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let resp = get(&app, &format!("{ARTICLE}/comments.json")).await;
    assert_eq!(s.calls("context"), 2);
    assert_eq!(resp.header("Cache-Control"), Some("max-age=600"));
    assert_eq!(body_json(&resp)["comments"].as_object().map(|c| c.len()), Some(5));
}

#[tokio::test]
async fn a_list_the_server_does_not_have_is_empty_not_a_failure() {
    // GoToSocial has no domain blocks of its users: 404.
    let (s, config) = standin("a-simple-thread", true).await;
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/404-status-unknown.json")).expect("read");
    s.set_exchange("domain_blocks", Exchange::from_envelope(&text).map(|(_, x)| x));
    s.set_blocks(&["bram"]);
    let app = app(config);
    settle(&app).await;
    assert!(matches!(app.lists(), Lists::Loaded(_)), "{:?}", app.lists());
    let v = body_json(&get(&app, &format!("{ARTICLE}/comments.json")).await);
    assert!(v["comments"].get(BRAM_REPLY).is_none(), "the blocks still apply: {v}");
    assert_eq!(v["withheld"], 1);
}
