//! Arbitrary text → the sanitizer's fast paths (Mastodon's own markup
//! without a parser, URLs already in canonical form): wherever they answer,
//! the answer is byte for byte what the parsers give for the same input
//! (`sanitize::clean_html_parsed`, `sanitize::url_parsed`), and the URL
//! is safe in every HTML context (`fuzz_checks::RULES`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mastodon_comments::sanitize;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(fast) = sanitize::clean_html_fast(text) {
        assert_eq!(fast, sanitize::clean_html_parsed(text), "HTML input: {text:?}");
    }
    let url = sanitize::url(text);
    assert_eq!(url, sanitize::url_parsed(text), "URL input: {text:?}");
    if let Err(e) = fuzz_checks::RULES.url(&url) {
        panic!("{e}\n  URL input: {text:?}");
    }
});
