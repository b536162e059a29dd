//! Arbitrary text → `query::clean` and `query::clean_article_path`:
//! never panics; a cleaned rooted path has no dot segments and no empty
//! ones; cleaning is idempotent; an accepted article path is clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mastodon_comments::query::{QueryError, clean, clean_article_path};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let once = clean(&input);
    assert_eq!(clean(&once), once, "clean is not idempotent");
    assert!(!once.is_empty());
    if input.starts_with('/') {
        fuzz_checks::check_clean_rooted(&once);
    } else {
        assert!(!once.starts_with('/'), "an unrooted path became rooted");
    }
    match clean_article_path(&input) {
        Ok(p) => {
            assert_eq!(p, once, "clean_article_path differs from clean");
            fuzz_checks::check_article_path(&p);
        }
        Err(QueryError::NotAbsolute) => assert!(!input.starts_with('/')),
        Err(QueryError::Escapes) => {
            // `..` climbing above "/" is refused, never silently dropped.
            assert!(input.split('/').any(|s| s == ".."));
        }
        Err(_) => {}
    }
});
