//! The article path of a request: `REQUEST_URI` / `QUERY_STRING` →
//! `query::from_request` (percent-decoding, `?search=`, cleaning,
//! validation), on the URIs a blog actually sees.
//!
//!     cargo bench --bench query

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mastodon_comments::query;

const REQUESTS: &[(&str, &str, &str)] = &[
    ("plain", "/2026/07/01/slow-bread/comments.json", ""),
    (
        "search",
        "/comments.json?search=%2F2026%2F07%2F01%2Fslow-bread%2F",
        "search=%2F2026%2F07%2F01%2Fslow-bread%2F",
    ),
    (
        "cache buster",
        "/2026/07/01/slow-bread/comments.json?_=1751362865123",
        "_=1751362865123",
    ),
    ("dot segments", "/2026/07//01/./x/../slow-bread/comments.json", ""),
    ("unicode", "/2026/07/01/caf%C3%A9-cr%C3%A8me/comments.json", ""),
    ("refused", "/../../etc/passwd/comments.json", ""),
];

fn from_request(c: &mut Criterion) {
    let mut g = c.benchmark_group("query::from_request");
    for (name, uri, qs) in REQUESTS {
        g.bench_function(*name, |b| b.iter(|| query::from_request(black_box(uri), black_box(qs))));
    }
    g.bench_function("all six", |b| {
        b.iter(|| {
            for (_, uri, qs) in REQUESTS {
                let _ = black_box(query::from_request(black_box(uri), black_box(qs)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, from_request);
criterion_main!(benches);
