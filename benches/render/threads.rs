//! The threads the render benchmark and `examples/render_once.rs` render:
//! the fixture's 200-reply thread, and generated contexts of thousands of
//! replies in three shapes (see `benches/render.rs`).

use std::path::Path;

use mastodon_comments::Config;
use serde_json::Value;

pub const SCENARIO: &str = "tests/fixtures/mastodon/e-long-thread";
pub const ROOT: &str = "117002443161611776";

pub fn read(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO).join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn config() -> Config {
    let mut c = Config::for_instance(url::Url::parse("https://mastodon.example").expect("url"));
    c.userid = Some("109308551561216011".into());
    c
}

/// How reply `i` (0-based) picks its parent.
#[derive(Clone, Copy)]
pub enum Shape {
    Chain,
    Bushy,
    Flat,
}

/// The parent of reply `i` (0-based) in `shape`, by id.
pub fn parent(i: usize, shape: Shape, id: &dyn Fn(usize) -> String) -> String {
    match shape {
        Shape::Chain if i > 0 => id(i - 1),
        Shape::Bushy if i > 0 => id(i - 1 - i % 4.min(i)),
        _ => ROOT.to_string(),
    }
}

pub fn reply_id(i: usize) -> String {
    format!("{}", 200_000_000_000_000_000u64 + i as u64)
}

/// A context of `n` replies shaped like `shape`, made of the fixture's
/// replies with new ids.
pub fn shaped(fixture: &[Value], n: usize, shape: Shape) -> Vec<u8> {
    let descendants: Vec<Value> = (0..n)
        .map(|i| {
            let mut s = fixture[i % fixture.len()].clone();
            s["id"] = Value::from(reply_id(i));
            s["in_reply_to_id"] = Value::from(parent(i, shape, &reply_id));
            s["visibility"] = Value::from("public");
            s
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"ancestors": [], "descendants": descendants})).expect("json")
}

/// A chain of `n` tiny replies, as a hostile instance sends them.
pub fn tiny_chain(n: usize) -> Vec<u8> {
    let descendants: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": reply_id(i), "in_reply_to_id": parent(i, Shape::Chain, &reply_id), "visibility": "public",
                "content": format!("<p>reply {i}</p>"), "account": {"id": "7", "acct": "u@x.example"}
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"ancestors": [], "descendants": descendants})).expect("json")
}

/// A context of `n` small replies shaped like `shape`, by 50 accounts.
pub fn small(n: usize, shape: Shape) -> Vec<u8> {
    let descendants: Vec<Value> = (0..n)
        .map(|i| {
            let id = reply_id(i);
            let who = i % 50;
            serde_json::json!({
                "id": id, "in_reply_to_id": parent(i, shape, &reply_id), "visibility": "public",
                "created_at": "2026-07-29T14:10:22.105Z",
                "uri": format!("https://social{who}.example/users/u{who}/statuses/{id}"),
                "url": format!("https://social{who}.example/@u{who}/{id}"),
                "content": format!("<p><span class=\"h-card\" translate=\"no\"><a href=\"https://mastodon.example/@nadia\" class=\"u-url mention\">@<span>nadia</span></a></span> Reply {i}: that is a fair point.</p>"),
                "replies_count": 0, "reblogs_count": 0, "favourites_count": 1, "edited_at": null, "spoiler_text": "",
                "sensitive": false, "media_attachments": [], "emojis": [],
                "account": {
                    "id": format!("{}", 110_000_000_000_000_000u64 + who as u64), "username": format!("u{who}"),
                    "acct": format!("u{who}@social{who}.example"), "display_name": format!("Person {who}"),
                    "url": format!("https://social{who}.example/@u{who}"),
                    "avatar": format!("https://files.mastodon.example/cache/accounts/avatars/{who}/original/a.png"),
                    "avatar_static": format!("https://files.mastodon.example/cache/accounts/avatars/{who}/original/a.png"),
                    "bot": false, "emojis": []
                }
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"ancestors": [], "descendants": descendants})).expect("json")
}

/// The fixture's replies, for [`shaped`].
pub fn fixture_replies() -> Vec<Value> {
    serde_json::from_slice::<Value>(&read(&format!("context/{ROOT}.json"))).expect("json")["descendants"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The root status the threads answer.
pub fn root_status() -> Vec<u8> {
    read(&format!("statuses/{ROOT}.json"))
}

/// The one-reply context: the fixture's single status alone, the fixed
/// cost of a small thread.
pub fn one_reply() -> Vec<u8> {
    let mut one = b"{\"descendants\":[".to_vec();
    one.extend(read("statuses/117002474270752769.json"));
    one.extend(b"]}");
    one
}

/// A generated thread: its benchmark name, how many replies it shows, and
/// its context JSON.
pub struct Thread {
    pub name: &'static str,
    pub replies: usize,
    pub context: Vec<u8>,
}

/// The generated threads, in the order the benchmark runs them; only
/// those whose short name (as `examples/render_once.rs` takes it) is in
/// `keys` (all when empty).
pub fn threads(keys: &[&str]) -> Vec<Thread> {
    type Make = Box<dyn Fn() -> Vec<u8>>;
    let fixture = std::rc::Rc::new(fixture_replies());
    let full = |shape| {
        let fixture = fixture.clone();
        Box::new(move || shaped(&fixture, 4096, shape)) as Make
    };
    let all: Vec<(&'static str, &'static str, usize, Make)> = vec![
        (
            "small-chain",
            "4,096 small replies, one chain",
            4096,
            Box::new(|| small(4096, Shape::Chain)),
        ),
        (
            "small-bushy",
            "4,096 small replies, bushy tree",
            4096,
            Box::new(|| small(4096, Shape::Bushy)),
        ),
        (
            "small-flat",
            "4,096 small replies, flat",
            4096,
            Box::new(|| small(4096, Shape::Flat)),
        ),
        (
            "tiny-chain",
            "20,000 tiny replies, one chain",
            20_000,
            Box::new(|| tiny_chain(20_000)),
        ),
        ("full-chain", "4,096 full replies, one chain", 4096, full(Shape::Chain)),
        ("full-bushy", "4,096 full replies, bushy tree", 4096, full(Shape::Bushy)),
        ("full-flat", "4,096 full replies, flat", 4096, full(Shape::Flat)),
    ];
    all.into_iter()
        .filter(|(key, ..)| keys.is_empty() || keys.contains(key))
        .map(|(_, name, replies, make)| Thread {
            name,
            replies,
            context: make(),
        })
        .collect()
}
