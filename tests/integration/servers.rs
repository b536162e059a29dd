//! The servers bloggers post from besides stock Mastodon, each from its own
//! documented shapes (`tests/fixtures/mastodon/h-…` to `l-…`: GoToSocial,
//! Akkoma, glitch-soc, Mastodon 4.5's filters and quotes), through the real
//! FastCGI path: nothing a logged-out visitor of that server could not see
//! is published, one odd entry costs that entry, and every string is safe.

use std::collections::HashSet;

use mastodon_comments::server::Protocol;
use mastodon_comments::standin::{Exchange, StandIn};
use serde_json::Value;

use crate::common::*;

const SERVERS: [&str; 5] = [
    "h-gotosocial",
    "i-akkoma",
    "j-glitch-soc",
    "k-mastodon-filters",
    "l-mastodon-quotes",
];

/// The answer for a scenario's article over FastCGI, with the author's
/// token unless `token` is false; the stand-in for further checks.
async fn over_fastcgi(name: &str, token: bool) -> (FcgiResponse, StandIn, std::sync::Arc<mastodon_comments::App>) {
    let (s, config) = standin(name, token).await;
    let app = app(config);
    settle(&app).await;
    let d = daemon(app.clone(), Protocol::Fastcgi).await;
    let resp = fcgi_get(&d.socket, &comments_uri(name)).await;
    (resp, s, app)
}

fn shown(v: &Value) -> HashSet<String> {
    v["comments"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_server_scenario_meets_its_expectations() {
    for name in SERVERS {
        let (resp, _s, _app) = over_fastcgi(name, true).await;
        assert_eq!(resp.status, 200, "{name}");
        let v = resp.json();
        let e = expect(name);
        let ids = shown(&v);
        let text = v.to_string();
        for id in e["comments"].as_object().into_iter().flatten().map(|(k, _)| k) {
            assert!(ids.contains(id), "{name}: {id} is missing: {v}");
        }
        for (id, why) in e["hidden"].as_object().into_iter().flatten() {
            assert!(!text.contains(id.as_str()), "{name}: hidden {id} ({why}) appears");
        }
        for bad in e["must_not_contain"].as_array().into_iter().flatten() {
            assert!(
                !text.contains(bad.as_str().unwrap_or("\u{1}")),
                "{name}: contains {bad}"
            );
        }
        for (id, w) in e["comments"].as_object().into_iter().flatten() {
            let c = &v["comments"][id];
            let want = w["reply_to"].as_str().unwrap_or("");
            assert_eq!(c["reply_to"], want, "{name}: {id}");
            for t in w["text_contains"].as_array().into_iter().flatten() {
                assert!(
                    c["toot"].as_str().unwrap_or("").contains(t.as_str().unwrap_or("")),
                    "{name}: {id}"
                );
            }
        }
        assert_eq!(v["stats"]["replies"], e["stats"]["replies"], "{name}");
        assert_eq!(v["stats"]["root"], e["stats"]["root"], "{name}");
        if let Some(w) = e["withheld"].as_u64() {
            assert_eq!(v["withheld"], w, "{name}");
        }
        // Every string is inert wherever a page puts it.
        let mut all = Vec::new();
        strings(&v, &mut all);
        for s in &all {
            assert!(!s.contains(['"', '\'']), "{name}: a quote in {s:?}");
            assert!(!s.to_ascii_lowercase().contains("<script"), "{name}: {s:?}");
        }
        for u in url_fields(&v) {
            assert!(
                u.is_empty() || u.starts_with("https://") || u.starts_with("http://"),
                "{name}: {u}"
            );
        }
    }
}

#[tokio::test]
async fn anonymous_answers_show_only_what_the_server_shows_logged_out() {
    for name in ["i-akkoma", "j-glitch-soc", "k-mastodon-filters", "l-mastodon-quotes"] {
        let (resp, s, _app) = over_fastcgi(name, false).await;
        let want: HashSet<String> = expect(name)["anonymous"]["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        assert_eq!(shown(&resp.json()), want, "{name}");
        assert_eq!(s.authorized_calls(), 0);
    }
}

#[tokio::test]
async fn gotosocial_without_a_token_says_it_needs_one() {
    let (resp, _s, app) = over_fastcgi("h-gotosocial", false).await;
    assert_eq!(resp.status, 503);
    assert!(resp.header("Retry-After").is_some());
    assert!(
        app.status_line().contains("requires the author's access token"),
        "{}",
        app.status_line()
    );
}

/// GoToSocial's pending reply with its note taken out of the content.
fn pending_without_note() -> String {
    let path = fixtures().join("h-gotosocial/context/01KYY8TEM0909MJK8KFRB33EX3.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    for s in v["descendants"].as_array_mut().into_iter().flatten() {
        if let Some(content) = s["content"].as_str()
            && let Some(at) = content.find("<div class=\"gts-system-message")
        {
            let cut = content[..at].to_string();
            s["content"] = Value::from(cut);
        }
    }
    v.to_string()
}

fn ok_json(body: String) -> Exchange {
    Exchange {
        authorized_only: true,
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
    }
}

#[tokio::test]
async fn a_reply_awaiting_approval_is_withheld_by_the_interaction_requests_and_by_its_note() {
    const PENDING: &str = "01KYYPVCTRWJEP7CN8MY7G92XF";
    // The API is the signal: without the note, the reply is still withheld.
    let (s, config) = standin("h-gotosocial", true).await;
    s.set_exchange("context", Some(ok_json(pending_without_note())));
    let app = app(config);
    settle(&app).await;
    let v = body_json(&get(&app, &comments_uri("h-gotosocial")).await);
    assert!(!v.to_string().contains(PENDING), "{v}");
    assert_eq!(s.calls("interaction_requests"), 1);

    // The note is the second line: a list that does not name the reply (as
    // where GoToSocial's request went missing) still withholds the reply
    // that carries it.
    let (s, config) = standin("h-gotosocial", true).await;
    s.set_exchange("interaction_requests", Some(ok_json("[]".into())));
    let app = crate::common::app(config);
    settle(&app).await;
    let v = body_json(&get(&app, &comments_uri("h-gotosocial")).await);
    assert!(!v.to_string().contains(PENDING), "{v}");
    assert_eq!(shown(&v).len(), 1);
    assert_eq!(s.calls("interaction_requests"), 1);
}

/// A token without read:notifications (GoToSocial answers the list 403):
/// which replies await the author's approval cannot be known, so nothing
/// is published, not even with the note still there to go by; the status
/// line says which scope to add; the list is asked again a while later,
/// not with every request.
#[tokio::test]
async fn a_token_that_may_not_read_the_interaction_requests_publishes_nothing() {
    const PENDING: &str = "01KYYPVCTRWJEP7CN8MY7G92XF";
    let (s, mut config) = standin("h-gotosocial", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    config.cache_keep = std::time::Duration::ZERO;
    s.set_refused_scopes(&["read:notifications"]);
    let app = app(config);
    settle(&app).await;
    for _ in 0..2 {
        let resp = get(&app, &comments_uri("h-gotosocial")).await;
        assert_eq!(resp.status, 503, "{}", String::from_utf8_lossy(&resp.body));
        assert!(resp.header("Retry-After").is_some());
        assert_eq!(resp.header("Cache-Control"), Some("no-store"));
        assert!(!String::from_utf8_lossy(&resp.body).contains(PENDING));
    }
    assert_eq!(
        s.calls("interaction_requests"),
        1,
        "refused: not asked with every request"
    );
    let status = app.status_line();
    assert!(
        status.contains("give the token the scope read:notifications") && status.contains("no comments are published"),
        "{status}"
    );
    // With the scope, the same thread is published without the pending reply.
    s.set_refused_scopes(&[]);
    let (s2, mut config) = standin("h-gotosocial", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    let app = crate::common::app(config);
    settle(&app).await;
    let v = body_json(&get(&app, &comments_uri("h-gotosocial")).await);
    assert_eq!(shown(&v).len(), 1, "{v}");
    assert!(!v.to_string().contains(PENDING));
    assert_eq!(s2.calls("interaction_requests"), 1);
}

/// Mastodon has no interaction requests: a token without
/// read:notifications changes nothing there (404, not asked again).
#[tokio::test]
async fn read_notifications_is_not_needed_on_mastodon() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    s.set_refused_scopes(&["read:notifications"]);
    let app = app(config);
    settle(&app).await;
    for _ in 0..2 {
        assert_eq!(get(&app, &comments_uri("a-simple-thread")).await.status, 200);
    }
    assert_eq!(s.calls("interaction_requests"), 1);
}

#[tokio::test]
async fn failing_interaction_requests_on_a_server_that_has_them_publish_nothing() {
    let (s, mut config) = standin("h-gotosocial", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    config.cache_keep = std::time::Duration::ZERO;
    let app = app(config);
    settle(&app).await;
    assert_eq!(get(&app, &comments_uri("h-gotosocial")).await.status, 200);
    let text = std::fs::read_to_string(fixtures().join("g-errors/http/500-internal-error-json.json")).expect("read");
    s.set_exchange("interaction_requests", Exchange::from_envelope(&text).map(|(_, x)| x));
    let resp = get(&app, &comments_uri("h-gotosocial")).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("Cache-Control"), Some("no-store"));
}

#[tokio::test]
async fn a_mastodon_server_is_asked_for_interaction_requests_once() {
    let (s, mut config) = standin("a-simple-thread", true).await;
    config.cache_fresh = std::time::Duration::ZERO;
    let app = app(config);
    settle(&app).await;
    for _ in 0..3 {
        assert_eq!(get(&app, &comments_uri("a-simple-thread")).await.status, 200);
    }
    assert_eq!(s.calls("interaction_requests"), 1, "404: not asked again");
    assert_eq!(s.calls("context"), 3);
}

#[tokio::test]
async fn filters_apply_in_the_thread_context_only_with_their_action() {
    let (resp, _s, _app) = over_fastcgi("k-mastodon-filters", true).await;
    let v = resp.json();
    let e = expect("k-mastodon-filters");
    for (id, w) in e["comments"].as_object().into_iter().flatten() {
        let c = &v["comments"][id];
        if let Some(title) = w["content_warning_contains"].as_str() {
            let cw = c["spoiler_text"].as_str().unwrap_or("");
            assert!(cw.contains(title), "{id}: the warning names the filter: {cw:?}");
        }
        if w["sensitive"] == Value::Bool(true) {
            assert_eq!(c["sensitive"], true, "{id}: blurred media are sensitive");
            assert!(!c["media"].as_array().is_none_or(|m| m.is_empty()), "{id}");
        }
    }
    assert_eq!(v["withheld"], 1);
}

#[tokio::test]
async fn quotes_link_only_an_accepted_public_quoted_post() {
    let (resp, _s, _app) = over_fastcgi("l-mastodon-quotes", true).await;
    let v = resp.json();
    let e = expect("l-mastodon-quotes");
    for (id, w) in e["comments"].as_object().into_iter().flatten() {
        let c = &v["comments"][id];
        assert_eq!(c["quote"], w["quote"], "{id}: {c}");
    }
    for (id, link) in e["quote_links_hidden"].as_object().into_iter().flatten() {
        let toot = v["comments"][id]["toot"].as_str().unwrap_or("");
        let link = link.as_str().unwrap_or("\u{1}");
        assert!(
            !hrefs(toot).iter().any(|h| h == link),
            "{id} still links {link}: {toot}"
        );
        assert!(!toot.contains("RE:"), "{id}: {toot}");
    }
}
