//! The whole cache-fill pipeline: upstream JSON (the root status and its
//! context) → parse → visibility filter → sanitize → answer JSON.
//!
//! - the 200-reply fixture thread `e-long-thread`, and one reply alone;
//! - 4,096 replies (the most Mastodon sends a token) in three shapes: one
//!   chain (each reply answers the one before), a bushy tree (each reply
//!   answers one of the four before it) and a flat list (all answer the
//!   root); and a 20,000-reply chain (what a hostile instance fits under
//!   the 8 MiB cap). Their statuses are the fixture's real replies, given
//!   new ids, so content, accounts and emoji cost what real ones do.
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

/// A context of `n` replies shaped like `shape`, made of the fixture's
/// replies with new ids.
fn shaped(fixture: &[Value], n: usize, shape: Shape) -> Vec<u8> {
    let id = |i: usize| format!("{}", 200_000_000_000_000_000u64 + i as u64);
    let descendants: Vec<Value> = (0..n)
        .map(|i| {
            let mut s = fixture[i % fixture.len()].clone();
            let parent = match shape {
                Shape::Chain if i > 0 => id(i - 1),
                Shape::Bushy if i > 0 => id(i - 1 - i % 4.min(i)),
                _ => ROOT.to_string(),
            };
            s["id"] = Value::from(id(i));
            s["in_reply_to_id"] = Value::from(parent);
            s["visibility"] = Value::from("public");
            s
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
    for (name, n, shape) in [
        ("4,096 replies, one chain", 4096, Shape::Chain),
        ("4,096 replies, bushy tree", 4096, Shape::Bushy),
        ("4,096 replies, flat", 4096, Shape::Flat),
        ("20,000 replies, one chain", 20_000, Shape::Chain),
    ] {
        let context = shaped(&fixture, n, shape);
        let answer = render::from_upstream_json(&status, &context, &config).expect("renders");
        let v: Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(v["stats"]["replies"].as_u64(), Some(n as u64), "{name}");
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
