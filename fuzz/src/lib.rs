//! Invariants the fuzz targets check on the daemon's output. A violation
//! panics with a description, which libFuzzer reports as a crash.

use serde_json::Value;

/// Tags the comment HTML may hold: Mastodon's own markup plus the emoji
/// `<img>` the sanitizer adds.
const TAGS: &[&str] = &[
    "p",
    "br",
    "a",
    "span",
    "del",
    "s",
    "pre",
    "blockquote",
    "code",
    "b",
    "strong",
    "u",
    "i",
    "em",
    "ul",
    "ol",
    "li",
    "ruby",
    "rt",
    "rp",
    "img",
];
/// Attributes the comment HTML may hold.
const ATTRIBUTES: &[&str] = &["href", "class", "rel", "src", "alt", "title", "draggable"];

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

/// A URL field of the answer: empty, or absolute http(s) that cannot leave
/// a quoted attribute.
pub fn check_url(field: &str, u: &str) {
    if u.is_empty() {
        return;
    }
    assert!(
        u.starts_with("http://") || u.starts_with("https://"),
        "{field}: not http(s): {u:?}"
    );
    assert!(
        !u.contains(['"', '\'', '<', '>', '`', ' ', '\\', '\0']),
        "{field}: unsafe character in {u:?}"
    );
    assert!(!u.chars().any(char::is_whitespace), "{field}: whitespace in {u:?}");
}

/// Sanitized HTML: no quote character at all (it can never close a page's
/// quoted attribute); every `<` opens an allowed tag whose attributes are
/// allowed and unquoted; `href`/`src` values are safe URLs.
pub fn check_html(field: &str, html: &str) {
    assert!(!html.contains('\0'), "{field}: NUL in {html:?}");
    assert!(!html.contains(['"', '\'']), "{field}: a quote in {html:?}");
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "{field}: <script in {html:?}"
    );
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        assert!(TAGS.contains(&name.as_str()), "{field}: tag {name:?} in {html:?}");
        loop {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            match b.get(i) {
                Some(b'>') => {
                    i += 1;
                    break;
                }
                None => panic!("{field}: unterminated tag in {html:?}"),
                _ => {}
            }
            let a = i;
            while i < b.len() && !matches!(b[i], b'=' | b' ' | b'>') {
                i += 1;
            }
            let attr = html[a..i].to_ascii_lowercase();
            assert!(
                ATTRIBUTES.contains(&attr.as_str()),
                "{field}: attribute {attr:?} in {html:?}"
            );
            if b.get(i) == Some(&b'=') {
                i += 1;
                let v = i;
                // An unquoted value ends at white space or '>'.
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'>') {
                    assert!(
                        !matches!(b[i], b'<' | b'=' | b'`'),
                        "{field}: {:?} in an unquoted value of {html:?}",
                        b[i] as char
                    );
                    i += 1;
                }
                let value = decode_references(&html[v..i]);
                assert!(!value.is_empty(), "{field}: empty value after = in {html:?}");
                if attr == "href" || attr == "src" {
                    check_url(field, &value);
                }
                // URL attributes are checked above (an http(s) URL may
                // hold "javascript:" in its path); any other must not.
                assert!(
                    attr == "href" || attr == "src" || !value.to_ascii_lowercase().contains("javascript:"),
                    "{field}: javascript: in an attribute of {html:?}"
                );
            }
        }
    }
}

/// An attribute value as a browser reads it: the character references the
/// daemon writes (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#N;`) decoded.
pub fn decode_references(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            n => n.strip_prefix('#').and_then(|d| d.parse::<u32>().ok()).and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escaped plain text (alt text, acct): no markup at all.
pub fn check_text(field: &str, s: &str) {
    assert!(
        !s.contains(['<', '>', '"', '\'', '\0']),
        "{field}: unescaped character in {s:?}"
    );
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s,
        other => panic!("{pointer}: not a string: {other:?}"),
    }
}

fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| all_strings(v, out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(k.clone());
            all_strings(v, out);
        }),
        _ => {}
    }
}

/// The answer JSON: parses, and every field is safe to put into HTML as is.
pub fn check_answer(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).expect("the answer is not JSON");
    let mut strings = Vec::new();
    all_strings(&v, &mut strings);
    for s in &strings {
        assert!(!s.contains('\0'), "NUL in {s:?}");
        assert!(!s.to_ascii_lowercase().contains("<script"), "<script in {s:?}");
    }
    check_url("stats.url", str_at(&v, "/stats/url"));
    let root = str_at(&v, "/stats/root").to_string();
    let Some(comments) = v.get("comments").and_then(Value::as_object) else {
        assert!(v["comments"].is_null(), "comments neither object nor null");
        return v;
    };
    assert_eq!(
        v.pointer("/stats/replies").and_then(Value::as_u64),
        Some(comments.len() as u64),
        "stats.replies"
    );
    for (id, c) in comments {
        assert!(mastodon_comments::render::valid_id(id), "comment id {id:?}");
        for f in ["/author/avatar", "/author/url", "/url"] {
            check_url(f, str_at(c, f));
        }
        for f in ["/author/display_name", "/toot", "/spoiler_text"] {
            check_html(f, str_at(c, f));
        }
        check_text("author.acct", str_at(c, "/author/acct"));
        assert_eq!(str_at(c, "/root"), root, "comment root");
        let parent = str_at(c, "/reply_to");
        assert!(
            parent == root || comments.contains_key(parent),
            "reply_to {parent:?} is neither the root nor a shown comment"
        );
        // Following reply_to always reaches the root: no cycle for a page
        // script to loop on, no comment cut off from the thread.
        let mut at = id.as_str();
        for _ in 0..=comments.len() {
            if at == root {
                break;
            }
            at = str_at(&comments[at], "/reply_to");
        }
        assert_eq!(at, root, "reply_to chain from {id:?} does not reach the root");
        let date = str_at(c, "/date");
        assert!(
            date.is_empty() || (date.len() == 24 && date.ends_with('Z')),
            "date {date:?}"
        );
        for (k, m) in c["media"].as_array().expect("media").iter().enumerate() {
            check_url(&format!("media[{k}].url"), str_at(m, "/url"));
            check_url(&format!("media[{k}].preview_url"), str_at(m, "/preview_url"));
            check_text("media.description", str_at(m, "/description"));
        }
    }
    v
}
