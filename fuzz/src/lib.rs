//! Invariants the fuzz targets check on the daemon's output. A violation
//! panics with a description, which libFuzzer reports as a crash.

use serde_json::Value;

/// The answer's HTML-safety checks (`html-checks/`, shared with the
/// property tests), with the daemon's own bounds.
pub const RULES: html_checks::Rules = html_checks::Rules {
    max_url_bytes: mastodon_comments::limits::MAX_URL_BYTES,
    valid_id: mastodon_comments::ids::valid,
};

/// An article path as the daemon uses it: rooted, clean, bounded, no
/// control characters, and a fixed point of cleaning.
pub fn check_article_path(p: &str) {
    assert!(p.starts_with('/'), "not rooted: {p:?}");
    assert!(
        p.len() <= mastodon_comments::limits::MAX_QUERY_BYTES,
        "too long: {}",
        p.len()
    );
    assert!(!p.chars().any(char::is_control), "control character: {p:?}");
    check_clean_rooted(p);
    assert_eq!(mastodon_comments::query::clean(p), p, "not a fixed point of clean");
    assert_eq!(
        mastodon_comments::query::clean_article_path(p).as_deref(),
        Ok(p),
        "not a fixed point of clean_article_path"
    );
}

/// The shape of `clean` output for a rooted path.
pub fn check_clean_rooted(p: &str) {
    assert!(p.starts_with('/'), "not rooted: {p:?}");
    for bad in ["//", "/./", "/../"] {
        assert!(!p.contains(bad), "{bad:?} in {p:?}");
    }
    assert!(p == "/" || !p.ends_with('/'), "trailing slash: {p:?}");
    assert!(!p.ends_with("/.") && !p.ends_with("/.."), "trailing dot segment: {p:?}");
}

/// The answer JSON: parses, and every field is safe to put into HTML as is
/// (the checks the property tests make too, in `html-checks/`).
pub fn check_answer(bytes: &[u8]) -> Value {
    RULES.answer(bytes).unwrap_or_else(|e| panic!("{e}"))
}
