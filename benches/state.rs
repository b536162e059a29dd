//! Loading and bounding the state file: a Go state file after years of
//! service (half found roots, half misses kept for ever as `null`) of
//! 10,000 and 200,000 entries, read and trimmed to the default
//! `max_state_entries` (10,000).
//!
//!     cargo bench --bench state

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mastodon_comments::limits;
use mastodon_comments::state::State;

fn go_file(n: usize) -> String {
    let mut roots = serde_json::Map::new();
    for i in 0..n / 2 {
        roots.insert(
            format!("/{i}/a"),
            serde_json::json!([format!("{}", 100_000_000_000u64 + i as u64)]),
        );
        roots.insert(format!("/{i}/scanner-probe"), serde_json::Value::Null);
    }
    serde_json::json!({ "roots": roots }).to_string()
}

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("state");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [10_000, 200_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let text = go_file(n);
        g.bench_function(format!("load + bound, {n} entries"), |b| {
            b.iter_batched(
                || std::fs::write(&path, &text).expect("write"),
                |()| State::load(&path, limits::DEFAULT_MAX_STATE_ENTRIES, limits::DEFAULT_MISS_RETRY),
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
