//! The service through `App::handle`: roots, answers, errors, state.

use std::sync::Arc;
use std::time::Duration;

use mastodon_comments::standin::Mode;
use mastodon_comments::state::{Known, State};
use mastodon_comments::{App, Request};

use crate::common::*;

#[tokio::test]
async fn simple_thread_matches_the_go_contract() {
    let (s, config) = standin("a-simple-thread", true).await;
    let app = app(config);
    let resp = get(&app, &comments_uri("a-simple-thread")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(resp.header("Cache-Control"), Some("max-age=600"));
    let v = body_json(&resp);
    let e = expect("a-simple-thread");
    let comments = v["comments"].as_object().expect("comments");
    let want = e["comments"].as_object().expect("expected comments");
    assert_eq!(comments.len(), want.len());
    for (id, w) in want {
        let c = &comments[id];
        assert_eq!(c["reply_to"], w["reply_to"], "{id}");
        assert_eq!(c["root"], w["root"], "{id}");
        assert_eq!(c["date"], w["date"], "{id}");
        assert_eq!(c["url"], w["url"], "{id}");
        assert_eq!(c["author"]["avatar"], w["author"]["avatar"], "{id}");
        assert_eq!(c["author"]["url"], w["author"]["url"], "{id}");
        assert_eq!(c["author"]["display_name"], w["author"]["display_name_text"], "{id}");
        for t in w["text_contains"].as_array().into_iter().flatten() {
            let t = t.as_str().unwrap_or("");
            let text = c["toot"]
                .as_str()
                .unwrap_or("")
                .replace("&nbsp;", "\u{a0}")
                .replace("&amp;", "&");
            assert!(text.contains(t), "{id}: {t} in {}", c["toot"]);
        }
    }
    let st = &e["stats"];
    assert_eq!(v["stats"]["reblogs"], st["reblogs"]);
    assert_eq!(v["stats"]["favs"], st["favs"]);
    assert_eq!(v["stats"]["replies"], st["replies"]);
    assert_eq!(v["stats"]["url"], st["url"]);
    assert_eq!(v["stats"]["root"], st["root"]);
    assert_eq!(v["withheld"], 0);
    assert_eq!(v["stale"], false);
    // Root found by the timeline scan: one page, then status + context.
    assert_eq!(s.calls("account_statuses"), 1);
    assert_eq!(s.calls("status"), 1);
    assert_eq!(s.calls("context"), 1);
}

#[tokio::test]
async fn decoys_are_not_roots() {
    let (_s, config) = standin("a-simple-thread", true).await;
    let app = app(config);
    let v = body_json(&get(&app, "/2026/07/01/slow-bread/comments.json").await);
    assert_eq!(v["stats"]["root"], "116843781319371281");
    // The part-2 post is the root of its own article, not of this one.
    let v = body_json(&get(&app, "/2026/07/01/slow-bread-part-2/comments.json").await);
    assert_eq!(v["stats"]["root"], "116855223153469973");
    // Search results with decoys only (another account, a reply, a boost).
    let (_s, mut config) = standin("a-simple-thread", true).await;
    config.scan_pages = 0;
    let app2 = app_with(config);
    let v = body_json(&get(&app2, "/comments.json?search=/2026/07/01/slow-bread/").await);
    assert_eq!(v["stats"]["root"], "116843781319371281", "found by search: {v}");
}

fn app_with(config: mastodon_comments::Config) -> Arc<App> {
    app(config)
}

#[tokio::test]
async fn no_root_answers_null_for_a_minute_and_is_retried_later() {
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.miss_retry = Duration::from_secs(10);
    let state = Arc::new(State::in_memory(100, config.miss_retry));
    let app = Arc::new(App::new(config, state.clone()).expect("app"));
    let resp = get(&app, "/2099/01/01/unannounced/comments.json").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Cache-Control"), Some("max-age=60"));
    let v = body_json(&resp);
    assert_eq!(v["comments"], serde_json::Value::Null);
    assert_eq!(v["stats"]["replies"], 0);
    assert_eq!(v["stats"]["root"], "");
    assert_eq!(state.lookup("/2099/01/01/unannounced"), Known::RecentMiss);
    // A recent miss costs nothing upstream.
    let before = s.total_calls();
    get(&app, "/2099/01/01/unannounced/comments.json").await;
    assert_eq!(s.total_calls(), before);
}

#[tokio::test]
async fn explicit_roots_in_the_config_win() {
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.userid = None;
    config.roots.insert("/my/article".into(), id("116843781319371281"));
    let app = app(config);
    let v = body_json(&get(&app, "/my/article/comments.json").await);
    assert_eq!(v["stats"]["root"], "116843781319371281");
    assert_eq!(v["comments"].as_object().map(|c| c.len()), Some(5));
    assert_eq!(s.calls("account_statuses") + s.calls("search_v2"), 0);
}

#[tokio::test]
async fn old_servers_get_v1_search_after_a_v2_404() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.scan_pages = 0;
    s.set_old_server(true);
    let app = app(config);
    let v = body_json(&get(&app, "/2026/07/01/slow-bread/comments.json").await);
    assert_eq!(v["stats"]["root"], "116843781319371281");
    assert_eq!(s.calls("search_v2"), 1);
    assert_eq!(s.calls("search_v1"), 1);
}

#[tokio::test]
async fn search_is_never_sent_without_a_token() {
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.scan_pages = 0;
    let app = app(config);
    get(&app, "/2026/07/01/slow-bread/comments.json").await;
    assert_eq!(s.calls("search_v2") + s.calls("search_v1"), 0);
    assert_eq!(s.authorized_calls(), 0, "no token, no Authorization header");
}

#[tokio::test]
async fn methods_queries_and_patterns_are_checked() {
    let (s, mut config) = standin("a-simple-thread", false).await;
    config.path_pattern = regex_lite::Regex::new(r"^/\d{4}/\d{2}/\d{2}/[^/]+$").ok();
    let app = app(config);
    let mut post = Request::get("/2026/07/01/slow-bread/comments.json");
    post.method = "POST".into();
    let r = app.handle(&post).await;
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD")));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(body_json(&r)["error"].as_str().is_some());
    for bad in [
        "/%2e%2e/%2e%2e/etc/comments.json",
        "/a%00/comments.json",
        "/comments.json?search=nope",
    ] {
        let r = get(&app, bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            body_json(&r)["error"].as_str().unwrap_or("").starts_with("bad query"),
            "{bad}"
        );
    }
    let r = get(&app, "/wp-login.php/comments.json").await;
    assert_eq!(r.status, 404);
    assert_eq!(body_json(&r)["error"], "not an article path");
    assert_eq!(s.total_calls(), 0, "rejected requests never reach the instance");
    let mut head = Request::get("/2026/07/01/slow-bread/comments.json");
    head.method = "HEAD".into();
    let r = app.handle(&head).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn upstream_failures_are_503_with_retry_after_within_the_deadline() {
    for mode in [
        Mode::Error,
        Mode::Hang,
        Mode::Slow,
        Mode::Huge,
        Mode::Garbage,
        Mode::Html,
        Mode::WrongShape,
        Mode::MidClose,
        Mode::RateLimit,
    ] {
        let (s, mut config) = standin("a-simple-thread", true).await;
        config.timeout = Duration::from_millis(1500);
        config.max_response_bytes = 1024 * 1024;
        config
            .roots
            .insert("/2026/07/01/slow-bread".into(), id("116843781319371281"));
        let app = app(config);
        s.set_mode(mode);
        let started = std::time::Instant::now();
        let r = get(&app, "/2026/07/01/slow-bread/comments.json").await;
        let took = started.elapsed();
        assert_eq!(r.status, 503, "{mode:?}: {:?}", r.body);
        assert_eq!(r.header("Cache-Control"), Some("no-store"), "{mode:?}");
        let retry: u64 = r
            .header("Retry-After")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!(retry >= 1, "{mode:?}");
        if mode == Mode::RateLimit {
            assert!(
                (50..=61).contains(&retry),
                "Retry-After {retry} follows X-RateLimit-Reset"
            );
        }
        assert!(took < Duration::from_millis(2500), "{mode:?} took {took:?}");
        assert_eq!(
            body_json(&r)["error"],
            "comments are temporarily unavailable",
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn refused_connections_are_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let mut config =
        mastodon_comments::Config::for_instance(url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"));
    config.roots.insert("/a".into(), id("1"));
    let r = get(&app(config), "/a/comments.json").await;
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
}

#[tokio::test]
async fn a_deleted_root_is_forgotten() {
    let (_s, config) = standin("a-simple-thread", false).await;
    let state = Arc::new(State::in_memory(100, config.miss_retry));
    state.add_roots("/gone", &[id("999")]);
    let app = Arc::new(App::new(config, state.clone()).expect("app"));
    let r = get(&app, "/gone/comments.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(body_json(&r)["comments"], serde_json::Value::Null);
    assert_ne!(state.lookup("/gone"), Known::Roots(vec![id("999")]));
}

#[tokio::test]
async fn state_file_survives_concurrent_requests() {
    let (s, config) = standin("a-simple-thread", false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    std::fs::write(
        &path,
        r#"{"roots": {"/old/post": ["116843781319371281"], "/old/miss": []}}"#,
    )
    .expect("write");
    let state = Arc::new(State::load(&path, 1000, config.miss_retry));
    let app = Arc::new(App::new(config, state.clone()).expect("app"));
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (state, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move { state.writer(stop).await })
    };
    let mut tasks = Vec::new();
    for i in 0..60 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let uri = match i % 3 {
                0 => "/2026/07/01/slow-bread/comments.json".to_string(),
                1 => "/old/post/comments.json".to_string(),
                _ => format!("/2099/01/{i:02}/miss/comments.json"),
            };
            get(&app, &uri).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 200);
    }
    stop.cancel();
    writer.await.expect("writer");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("valid JSON");
    assert_eq!(v["roots"]["/old/post"][0], "116843781319371281");
    assert_eq!(v["roots"]["/2026/07/01/slow-bread"][0], "116843781319371281");
    // Twenty unknown paths cost at most one timeline scan and the search budget.
    assert!(v["misses"].as_object().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(s.calls("account_statuses") <= 1);
    assert!(s.calls("search_v2") <= 6, "{}", s.calls("search_v2"));
    assert!(v["roots"].get("/old/miss").is_none(), "Go misses are not kept as roots");
    // Nothing but the state file is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[tokio::test]
async fn identical_misses_are_coalesced() {
    let (s, config) = standin("a-simple-thread", true).await;
    s.set_delay(Duration::from_millis(100));
    let app = app(config);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            get(&app, "/2026/07/01/slow-bread/comments.json").await
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.expect("join");
        assert_eq!(r.status, 200);
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(s.calls("status"), 1);
    assert_eq!(s.calls("context"), 1);
    assert!(s.calls("account_statuses") + s.calls("search_v2") <= 1);
}

#[tokio::test]
async fn the_last_good_answer_is_served_when_upstream_fails() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.cache_fresh = Duration::ZERO;
    let app = app(config);
    let uri = "/2026/07/01/slow-bread/comments.json";
    let good = get(&app, uri).await;
    assert_eq!(good.status, 200);
    s.set_mode(Mode::Error);
    let stale = get(&app, uri).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("Cache-Control"), Some("max-age=30"));
    assert_eq!(stale.header("X-Comments-Stale"), Some("1"));
    let v = body_json(&stale);
    assert_eq!(v["stale"], true);
    assert_eq!(v["comments"], body_json(&good)["comments"]);
    // A daemon with nothing cached has only the error to give.
    let (s2, c2) = standin("a-simple-thread", true).await;
    s2.set_mode(Mode::Error);
    let cold = get(&app_with(c2), uri).await;
    assert_eq!(cold.status, 503);
}

#[tokio::test]
async fn rate_limits_stop_calls_until_the_reset() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.roots.insert("/a".into(), id("116843781319371281"));
    config.roots.insert("/b".into(), id("116855223153469973"));
    let app = app(config);
    s.set_mode(Mode::RateLimit);
    assert_eq!(get(&app, "/a/comments.json").await.status, 503);
    let calls = s.total_calls();
    s.set_mode(Mode::Ok);
    let r = get(&app, "/b/comments.json").await;
    assert_eq!(r.status, 503, "still waiting for X-RateLimit-Reset");
    let retry: u64 = r
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((50..=61).contains(&retry), "{retry}");
    assert_eq!(s.total_calls(), calls, "no call before the reset");
}

#[tokio::test]
async fn lookup_style_search_query_accepts_full_paths() {
    let (_s, config) = standin("a-simple-thread", false).await;
    let app = app(config);
    let v = body_json(
        &get(
            &app,
            "/x/comments.json?search=%2F2026%2F07%2F01%2Fslow-bread%2Findex.html",
        )
        .await,
    );
    assert_eq!(v["stats"]["root"], "116843781319371281");
}

#[tokio::test]
async fn concurrent_upstream_requests_are_capped() {
    for (cap, want_max) in [(1, 1), (4, 4)] {
        let (s, mut config) = standin("a-simple-thread", false).await;
        s.set_delay(Duration::from_millis(100));
        config.max_upstream_requests = cap;
        config.timeout = Duration::from_secs(5);
        for (i, root) in ["116843781319371281", "116855223153469973", "116782320844810768"]
            .iter()
            .enumerate()
        {
            config.roots.insert(format!("/r{i}"), id(root));
        }
        let app = app(config);
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move { get(&app, &format!("/r{i}/comments.json")).await.status })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("join"), 200);
        }
        assert_eq!(s.max_concurrent(), want_max, "cap {cap}");
    }
}

/// A state directory that cannot be written (read-only, full, gone): the
/// daemon keeps answering from memory and writes once the disk is back.
#[tokio::test]
async fn an_unwritable_state_directory_does_not_stop_the_daemon() {
    let (_s, config) = standin("a-simple-thread", false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let blocked = dir.path().join("state");
    // A file where the directory should be: every write fails (ENOTDIR),
    // as on a read-only or full file system, even for root.
    std::fs::write(&blocked, "not a directory").expect("write");
    let path = blocked.join("state.json");
    let state = Arc::new(State::load(&path, 100, config.miss_retry).with_retry(Duration::from_millis(100)));
    let app = Arc::new(App::new(config, state.clone()).expect("app"));
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (state, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move { state.writer(stop).await })
    };
    let uri = "/2026/07/01/slow-bread/comments.json";
    assert_eq!(get(&app, uri).await.status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !state.write_failing() {
        assert!(std::time::Instant::now() < deadline, "the failed write was not noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still serving, from memory, without asking the timeline again.
    assert_eq!(get(&app, uri).await.status, 200);
    assert!(matches!(state.lookup("/2026/07/01/slow-bread"), Known::Roots(_)));
    // The disk comes back: the next retry writes the file.
    std::fs::remove_file(&blocked).expect("rm");
    std::fs::create_dir(&blocked).expect("mkdir");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the state was not written after the disk came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .contains("116843781319371281")
    );
    // The writer clears its failure once the rename is synced, a moment
    // after the file appears.
    while state.write_failing() {
        assert!(std::time::Instant::now() < deadline, "the failure was not cleared");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    writer.await.expect("writer");
}

/// The HTTPS client (rustls with ring, the system's CA roots) builds, and
/// an https instance that cannot be reached is a 503 about the
/// connection, not about TLS set-up.
#[tokio::test]
async fn the_https_client_is_set_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let mut config =
        mastodon_comments::Config::for_instance(url::Url::parse(&format!("https://127.0.0.1:{port}")).expect("url"));
    config.roots.insert("/a".into(), id("1"));
    let app = app(config);
    assert_eq!(get(&app, "/a/comments.json").await.status, 503);
    let last = app
        .mastodon()
        .counters
        .last_error
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_default();
    assert!(last.starts_with("cannot reach the instance"), "{last}");
    assert!(!last.contains("HTTPS"), "{last}");
}

/// SIGHUP swaps the config; the operator's counters and a rate limit in
/// force survive it.
#[tokio::test]
async fn a_reload_keeps_counters_and_rate_limits() {
    let (s, config) = standin("a-simple-thread", true).await;
    let app = app(config.clone());
    assert_eq!(get(&app, "/2026/07/01/slow-bread/comments.json").await.status, 200);
    s.set_mode(Mode::RateLimit);
    let mut fresh = config.clone();
    fresh.cache_fresh = Duration::ZERO;
    app.reload(fresh.clone()).expect("reload");
    assert_eq!(
        get(&app, "/2026/07/01/slow-bread/comments.json")
            .await
            .headers
            .iter()
            .find(|(k, _)| *k == "X-Comments-Stale")
            .map(|(_, v)| v.as_str()),
        Some("1")
    );
    let calls = s.total_calls();
    let before = app.status_line();
    assert!(before.contains("1 upstream errors"), "{before}");
    app.reload(fresh).expect("reload");
    assert_eq!(app.status_line(), before, "counters survive the reload");
    // Still rate-limited after the reload: no new call to the instance.
    get(&app, "/2026/07/01/slow-bread/comments.json").await;
    assert_eq!(s.total_calls(), calls, "the rate limit survived the reload");
}
