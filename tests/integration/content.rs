//! What gets published: visibility, moderation, hostile content, emoji,
//! media, long threads, edge cases — against every fixture scenario.

use std::collections::HashSet;

use serde_json::Value;

use crate::common::*;

async fn answer(name: &str, token: bool) -> (Value, mastodon_comments::standin::StandIn) {
    let (s, config) = standin(name, token).await;
    let app = app(config);
    let r = get(&app, &comments_uri(name)).await;
    assert_eq!(r.status, 200, "{name}: {:?}", r.body);
    (body_json(&r), s)
}

fn ids(v: &Value) -> HashSet<String> {
    v["comments"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default()
}

/// Checks what every scenario's expect.json says must and must not appear.
fn check_expectations(name: &str, v: &Value) {
    let e = expect(name);
    let shown = ids(v);
    for id in e["hidden"].as_object().into_iter().flatten().map(|(k, _)| k) {
        assert!(!shown.contains(id), "{name}: hidden {id} is shown");
    }
    for (id, w) in e["comments"].as_object().into_iter().flatten() {
        assert!(shown.contains(id), "{name}: {id} is missing");
        let c = &v["comments"][id];
        if let Some(any) = w["reply_to_any_of"].as_array() {
            assert!(any.contains(&c["reply_to"]), "{name}: {id} reply_to {}", c["reply_to"]);
        } else if w["reply_to"].is_string() {
            assert_eq!(c["reply_to"], w["reply_to"], "{name}: {id}");
        }
        let links = hrefs(c["toot"].as_str().unwrap_or(""));
        for link in w["links"].as_array().into_iter().flatten() {
            let l = link.as_str().unwrap_or("");
            assert!(links.iter().any(|h| h == l), "{name}: {id} lacks link {l} in {links:?}");
        }
    }
    let text = v.to_string();
    for bad in e["must_not_contain"].as_array().into_iter().flatten() {
        assert!(
            !text.contains(bad.as_str().unwrap_or("\u{1}")),
            "{name}: output contains {bad}"
        );
    }
    for (id, p) in e["policy"].as_object().into_iter().flatten() {
        if p["recommended"] == "hide" {
            assert!(!shown.contains(id), "{name}: policy says hide {id}");
        }
    }
    let stats = &e["stats"];
    assert_eq!(v["stats"]["reblogs"], stats["reblogs"], "{name}");
    assert_eq!(v["stats"]["favs"], stats["favs"], "{name}");
    assert_eq!(v["stats"]["root"], stats["root"], "{name}");
    if let Some(any) = stats["replies_any_of"].as_array() {
        assert!(
            any.contains(&v["stats"]["replies"]),
            "{name}: replies {}",
            v["stats"]["replies"]
        );
    } else {
        assert_eq!(v["stats"]["replies"], stats["replies"], "{name}");
    }
    assert_eq!(v["stats"]["replies"].as_u64(), Some(shown.len() as u64));
    for u in url_fields(v) {
        assert!(
            u.is_empty() || (u.starts_with("https://") || u.starts_with("http://")),
            "{name}: URL field {u:?}"
        );
        assert!(!u.contains(['"', '\'', '<', '>', ' ', '`']), "{name}: URL field {u:?}");
    }
}

#[tokio::test]
async fn every_scenario_meets_its_expectations_with_a_token() {
    for name in [
        "a-simple-thread",
        "b-emoji-cw-media",
        "c-visibility",
        "d-hostile",
        "e-long-thread",
        "f-edge-cases",
    ] {
        let (v, _s) = answer(name, true).await;
        check_expectations(name, &v);
    }
}

#[tokio::test]
async fn anonymous_answers_show_what_the_anonymous_context_holds() {
    for name in ["a-simple-thread", "c-visibility", "e-long-thread"] {
        let (v, s) = answer(name, false).await;
        let e = expect(name);
        if let Some(list) = e["anonymous"]["comments"].as_array() {
            let want: HashSet<String> = list.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
            assert_eq!(ids(&v), want, "{name}");
        }
        assert_eq!(s.authorized_calls(), 0);
    }
}

#[tokio::test]
async fn private_and_direct_replies_are_never_published() {
    let (v, _s) = answer("c-visibility", true).await;
    let e = expect("c-visibility");
    let hidden: Vec<&String> = e["hidden"].as_object().expect("hidden").keys().collect();
    assert_eq!(hidden.len(), 4);
    let text = v.to_string();
    for id in hidden {
        assert!(!text.contains(id.as_str()), "{id} appears somewhere in the answer");
    }
    assert_eq!(v["withheld"], 4);
    // Public only.
    let (_s, mut config) = standin("c-visibility", true).await;
    config.visibility = mastodon_comments::config::Visibility::Public;
    let v2 = body_json(&get(&app(config), &comments_uri("c-visibility")).await);
    for c in v2["comments"].as_object().expect("comments").keys() {
        assert!(ids(&v).contains(c));
    }
    assert!(
        ids(&v2).len() < ids(&v).len(),
        "unlisted replies are dropped with visibility=public"
    );
}

#[tokio::test]
async fn hostile_content_is_inert() {
    let (v, _s) = answer("d-hostile", true).await;
    let e = expect("d-hostile");
    let mut all = Vec::new();
    strings(&v, &mut all);
    for s in &all {
        for bad in e["must_not_contain_raw"].as_array().into_iter().flatten() {
            let bad = bad.as_str().unwrap_or("\u{1}");
            assert!(!s.to_ascii_lowercase().contains(bad), "{bad:?} in {s:?}");
        }
    }
    for s in &all {
        // Script schemes only as escaped text, never in an attribute.
        for (tag, attrs) in start_tags(s) {
            for (name, value) in attrs {
                let value = value.trim().to_ascii_lowercase();
                for scheme in ["javascript:", "vbscript:", "data:"] {
                    assert!(!value.starts_with(scheme), "{scheme} in <{tag} {name}>: {s}");
                }
            }
        }
    }
    let comments = v["comments"].as_object().expect("comments");
    assert!(comments.keys().all(|k| k.bytes().all(|b| b.is_ascii_alphanumeric())));
    let mallory = &comments["116963534438403345"];
    assert_eq!(
        mallory["author"]["display_name"],
        "&lt;script&gt;alert(&quot;display_name&quot;)&lt;/script&gt;Mallory"
    );
    assert_eq!(mallory["author"]["url"], "");
    let toot = mallory["toot"].as_str().expect("toot");
    for text in [
        "click me",
        "mixed case",
        "entity",
        "leading space",
        "tab",
        "data uri",
        "vbs",
    ] {
        assert!(toot.contains(text), "{text} kept as text");
    }
    assert!(
        hrefs(toot).contains(&"https://ok.example/page?a=1&b=2".to_string()),
        "{toot}"
    );
    // The status with a hostile id is dropped and counted.
    assert_eq!(v["withheld"], 1);
    assert!(!v.to_string().contains("onerror=alert(28)"));
    let bad_date = &comments["116963652403203351"];
    assert_eq!(bad_date["date"], "");
    for c in comments.values() {
        assert!(c["toot"].as_str().unwrap_or("").contains("<") || c["media"].as_array().is_some());
        assert!(!c["toot"].as_str().unwrap_or("").contains("target="));
    }
}

#[tokio::test]
async fn emoji_content_warnings_and_media() {
    let (v, _s) = answer("b-emoji-cw-media", true).await;
    let c = &v["comments"];
    let ferris = &c["116885472149506833"];
    let name = ferris["author"]["display_name"].as_str().expect("name");
    assert_eq!(name.matches("<img class=emoji ").count(), 2, "{name}");
    let toot = ferris["toot"].as_str().expect("toot");
    assert_eq!(toot.matches("alt=:blobcat_heart: ").count(), 2, "{toot}");
    assert!(toot.contains("10:30:45") && toot.contains(":not_an_emoji:"), "{toot}");
    assert!(
        ferris["author"]["avatar"].as_str().unwrap_or("").ends_with(".png"),
        "avatar_static"
    );
    let maya = &c["116885540044802834"];
    assert!(
        maya["spoiler_text"]
            .as_str()
            .unwrap_or("")
            .starts_with("Desk photo (cable chaos) <img")
    );
    assert_eq!(maya["sensitive"], true);
    assert_eq!(
        maya["media"][0]["description"],
        "A walnut desk with a 36-key split keyboard, coiled &quot;aviator&quot; cables &amp; a mug that says &lt;WORK&gt;"
    );
    assert_eq!(maya["media"][0]["type"], "image");
    let bot = &c["116885658009864979"];
    assert_eq!(bot["author"]["bot"], true);
    assert_eq!(bot["media"][0]["description"], "");
    assert_eq!(bot["media"][0]["type"], "gifv");
    assert!(c["116888666112002839"]["author"]["display_name"] == "ليلى الحسن");
}

#[tokio::test]
async fn long_threads_use_the_token_for_all_replies() {
    let (v, _s) = answer("e-long-thread", true).await;
    assert_eq!(ids(&v).len(), 200);
    let (v, _s) = answer("e-long-thread", false).await;
    assert_eq!(ids(&v).len(), 60, "anonymous context is capped by Mastodon");
}

#[tokio::test]
async fn edge_cases() {
    let (v, _s) = answer("f-edge-cases", true).await;
    let c = &v["comments"];
    assert_eq!(c["117041410883591985"]["author"]["display_name"], "quinn");
    assert_eq!(c["117041414799363890"]["author"]["display_name"], "ws");
    assert_eq!(
        c["117041469849603892"]["reply_to"], "117041371545612033",
        "reply to a deleted status"
    );
    assert!(c["117041489510403893"]["edited"].is_string());
    assert!(
        c["117041568153603895"]["url"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://")
    );
    assert!(!v.to_string().contains("DELETED-PARENT-TEXT"));
}

#[tokio::test]
async fn moderation_lists_remove_replies_and_count_them() {
    let (_s, mut config) = standin("a-simple-thread", true).await;
    config.blocked_accounts.insert("alice@fosstodon.example".into());
    config.blocked_domains.insert("hachyderm.example".into());
    config.hidden_statuses.insert("116843909470822146".into());
    let v = body_json(&get(&app(config), "/2026/07/01/slow-bread/comments.json").await);
    let shown = ids(&v);
    assert!(!shown.contains("116843824087040785"), "blocked account");
    assert!(!shown.contains("116844193382402423"), "blocked domain");
    assert!(!shown.contains("116843909470822146"), "hidden status");
    assert_eq!(v["withheld"], 3);
    // Nadia's reply to Alice now hangs off the root.
    assert_eq!(v["comments"]["116843939838175762"]["reply_to"], "116843781319371281");
}

#[tokio::test]
async fn approve_only_shows_favourited_replies_and_the_authors_own() {
    for configured_userid in [true, false] {
        approve_only(configured_userid).await;
    }
}

/// With `userid` configured, or learned from the token.
async fn approve_only(configured_userid: bool) {
    let (_s, mut config) = standin("a-simple-thread", true).await;
    config.approve_only = true;
    if !configured_userid {
        config.userid = None;
    }
    let v = body_json(&get(&app(config), "/2026/07/01/slow-bread/comments.json").await);
    let context: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("a-simple-thread/context/116843781319371281.json")).expect("read"),
    )
    .expect("json");
    let want: HashSet<String> = context["descendants"]
        .as_array()
        .expect("descendants")
        .iter()
        .filter(|s| s["favourited"] == true || s["account"]["id"] == AUTHOR)
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids(&v), want, "userid configured: {configured_userid}");
}

#[tokio::test]
async fn the_authors_mastodon_mutes_and_domain_blocks_are_honoured() {
    let (s, config) = standin("a-simple-thread", true).await;
    s.set_mutes(&["bram"], &["misskey.example"]);
    let v = body_json(&get(&app(config), "/2026/07/01/slow-bread/comments.json").await);
    let shown = ids(&v);
    assert!(!shown.contains("116843909470822146"), "muted local account bram");
    assert!(!shown.contains("116844555927555084"), "blocked domain misskey.example");
    assert_eq!(v["withheld"], 2);
    assert_eq!(s.calls("mutes"), 1);
    // Without the token there is nothing to ask.
    let (s2, config) = standin("a-simple-thread", false).await;
    s2.set_mutes(&["bram"], &[]);
    let v = body_json(&get(&app(config), "/2026/07/01/slow-bread/comments.json").await);
    assert!(ids(&v).contains("116843909470822146"));
    assert_eq!(s2.calls("mutes"), 0);
}
