//! The whole cache-fill pipeline on a long thread: upstream JSON (the
//! root status and its 200-reply context, fixture `e-long-thread`) →
//! parse → visibility filter → sanitize → answer JSON.
//!
//!     cargo bench --bench render

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mastodon_comments::{Config, render};

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

fn long_thread(c: &mut Criterion) {
    let status = read(&format!("statuses/{ROOT}.json"));
    let context = read(&format!("context/{ROOT}.json"));
    let config = config();
    let answer = render::from_upstream_json(&status, &context, &config).expect("the fixture renders");
    let replies = serde_json::from_slice::<serde_json::Value>(&answer).expect("json")["stats"]["replies"]
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
    g.finish();
}

criterion_group!(benches, long_thread);
criterion_main!(benches);
