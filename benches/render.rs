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
//!
//! The threads are made in `benches/render/threads.rs`;
//! `examples/render_once.rs` renders any one of them once, for counting
//! instructions and comparing answers.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mastodon_comments::render;
use serde_json::Value;

#[path = "render/threads.rs"]
mod threads;
use threads::{ROOT, config, read, root_status};

fn long_thread(c: &mut Criterion) {
    let status = root_status();
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
    let one = threads::one_reply();
    g.throughput(Throughput::Bytes((status.len() + one.len()) as u64));
    g.bench_function("one reply", |b| {
        b.iter(|| render::from_upstream_json(black_box(&status), black_box(&one), &config).expect("renders"))
    });

    for threads::Thread {
        name,
        replies: n,
        context,
        ..
    } in threads::threads(&[])
    {
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
