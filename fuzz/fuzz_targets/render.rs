//! Arbitrary upstream JSON → `render::from_upstream_json` (parse, filter,
//! sanitize, serialize): never panics, and the answer is JSON whose every
//! field is safe to put into HTML (see `fuzz_checks::check_answer`).
//!
//! Input: two bytes (big-endian) giving the length of the status JSON,
//! then the status JSON, then the context JSON.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mastodon_comments::{Config, render};

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    let mut c = Config::for_instance(url::Url::parse("https://mastodon.example").expect("url"));
    c.userid = Some("109308551561216011".into());
    c
});

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_be_bytes(*head)).min(rest.len());
    let (status, context) = rest.split_at(split);
    if let Ok(answer) = render::from_upstream_json(status, context, &CONFIG) {
        fuzz_checks::check_answer(&answer);
    }
});
