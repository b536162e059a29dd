//! The whole cache-fill pipeline: upstream JSON (the root status and its
//! context) → parse → visibility filter → sanitize → answer JSON.
//!
//! - the 200-reply fixture thread `e-long-thread`, and one reply alone;
//! - 4,096 replies (the most Mastodon sends a token) in three shapes: one
//!   chain (each reply answers the one before), a bushy tree (each reply
//!   answers one of the four before it) and a flat list (all answer the
//!   root), made of small statuses (the fields the daemon reads, a short
//!   paragraph with a mention: about 940 bytes each, 3.8 MB in all) and of
//!   the fixture's full replies given new ids (1.9 KB each with the whole
//!   account object: 7.8 MB, just under the default 8 MiB body cap);
//! - a 20,000-reply chain of tiny statuses (id, parent, visibility, a few
//!   words: 6 MB, what a hostile instance fits under the cap).
//!
//!     cargo bench --bench render

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mastodon_comments::{Config, render};
use serde_json::Value;

const SCENARIO: &str = "tests/fixtures/mastodon/e-long-thread";
const ROOT: &str = "117002443161611776";

fn read(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO).join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config() -> Config {
    let mut c = Config::for_instance(url::Url::parse("https://mastodon.example").expect("url"));
    c.userid = Some("109308551561216011".into());
    c
}

/// How reply `i` (0-based) picks its parent.
#[derive(Clone, Copy)]
enum Shape {
    Chain,
    Bushy,
    Flat,
}

/// The parent of reply `i` (0-based) in `shape`, by id.
fn parent(i: usize, shape: Shape, id: &dyn Fn(usize) -> String) -> String {
    match shape {
        Shape::Chain if i > 0 => id(i - 1),
        Shape::Bushy if i > 0 => id(i - 1 - i % 4.min(i)),
        _ => ROOT.to_string(),
    }
}

fn reply_id(i: usize) -> String {
    format!("{}", 200_000_000_000_000_000u64 + i as u64)
}

/// A context of `n` replies shaped like `shape`, made of the fixture's
/// replies with new ids.
fn shaped(fixture: &[Value], n: usize, shape: Shape) -> Vec<u8> {
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
fn tiny_chain(n: usize) -> Vec<u8> {
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
fn small(n: usize, shape: Shape) -> Vec<u8> {
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

fn long_thread(c: &mut Criterion) {
    let status = read(&format!("statuses/{ROOT}.json"));
    let context = read(&format!("context/{ROOT}.json"));
    let config = config();
    let answer = render::from_upstream_json(&status, &context, &config).expect("the fixture renders");
    let replies = serde_json::from_slice::<Value>(&answer).expect("json")["stats"]["replies"]
        .as_u64()
        .unwrap_or(0);
    assert!(replies >= 200, "expected the 200-reply thread, got {replies}");

    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Bytes((status.len() + context.len()) as u64));
    g.bench_function("e-long-thread (200 replies)", |b| {
        b.iter(|| render::from_upstream_json(black_box(&status), black_box(&context), &config).expect("renders"))
    });
    // The single status alone: the fixed cost of a small thread.
    let one = format!(
        "{{\"descendants\":[{}]}}",
        String::from_utf8_lossy(&read("statuses/117002474270752769.json"))
    );
    g.throughput(Throughput::Bytes((status.len() + one.len()) as u64));
    g.bench_function("one reply", |b| {
        b.iter(|| render::from_upstream_json(black_box(&status), black_box(one.as_bytes()), &config).expect("renders"))
    });

    let fixture: Vec<Value> = serde_json::from_slice::<Value>(&context).expect("json")["descendants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let threads = [
        ("4,096 small replies, one chain", 4096, small(4096, Shape::Chain)),
        ("4,096 small replies, bushy tree", 4096, small(4096, Shape::Bushy)),
        ("4,096 small replies, flat", 4096, small(4096, Shape::Flat)),
        ("20,000 tiny replies, one chain", 20_000, tiny_chain(20_000)),
        (
            "4,096 full replies, one chain",
            4096,
            shaped(&fixture, 4096, Shape::Chain),
        ),
        (
            "4,096 full replies, bushy tree",
            4096,
            shaped(&fixture, 4096, Shape::Bushy),
        ),
        ("4,096 full replies, flat", 4096, shaped(&fixture, 4096, Shape::Flat)),
    ];
    for (name, n, context) in threads {
        let answer = render::from_upstream_json(&status, &context, &config).expect("renders");
        let v: Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(v["stats"]["replies"].as_u64(), Some(n as u64), "{name}");
        eprintln!("{name}: {} bytes of upstream JSON", context.len());
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(20);
        g.bench_function(name, |b| {
            b.iter(|| render::from_upstream_json(black_box(&status), black_box(&context), &config).expect("renders"))
        });
    }
    g.finish();
}

criterion_group!(benches, long_thread);
criterion_main!(benches);
