//! Arbitrary FastCGI name-value pairs (the PARAMS stream nginx sends, in
//! the protocol's length encoding) → `fastcgi::from_params` →
//! `query::from_request`: never panics, and an accepted query is a clean,
//! bounded article path.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use mastodon_comments::fastcgi::{self, wire};
use mastodon_comments::query;

/// The pairs (at most 256) before the first one cut short: the daemon
/// refuses a PARAMS record cut short.
fn pairs(data: &[u8]) -> HashMap<&[u8], &[u8]> {
    wire::pairs(data)
        .take(256)
        .map_while(Result::ok)
        .map(|p| (p.name, p.value))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let params = pairs(data);
    let req = fastcgi::from_params(|name| params.get(name.as_bytes()).and_then(|v| std::str::from_utf8(v).ok()));
    if let Ok(path) = query::from_request(&req.uri, &req.query) {
        fuzz_checks::check_article_path(&path);
    }
});
