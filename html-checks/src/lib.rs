//! The promise the daemon's answer makes to the page that shows it: every
//! string is safe to put into HTML as is (as text, inside a quoted
//! attribute, as a link target), and the thread hangs together. The
//! property tests (`tests/integration/properties.rs`) and the fuzz targets
//! (`fuzz/`) check it with these same functions, so a check added here
//! guards both.
//!
//! Each check answers `Err(description)`: the property tests fail the case
//! with it, the fuzz targets panic with it.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{BufferQueue, StartTag, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer};
use serde_json::Value;

/// Tags comment HTML may hold: Mastodon's markup plus the emoji `<img>`.
pub const TAGS: &[&str] = &[
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
/// Attributes comment HTML may hold (no `on*`, no `style`).
pub const ATTRIBUTES: &[&str] = &["href", "class", "rel", "src", "alt", "title", "draggable"];

/// Tag names a browser must never see come out of an answer string.
const FORBIDDEN_TAGS: &[&str] = &[
    "script", "iframe", "frame", "object", "embed", "svg", "math", "style", "form", "input", "button", "base", "meta",
    "link", "template", "dialog", "textarea", "select", "video", "audio", "source",
];

/// What the checks need to know of the daemon, passed in so that this
/// crate does not depend on it (the tests and the fuzz crate each build
/// the daemon their own way).
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// The longest URL the daemon writes (`limits::MAX_URL_BYTES`).
    pub max_url_bytes: usize,
    /// Whether a comment id is one the daemon keeps (`ids::valid`).
    pub valid_id: fn(&str) -> bool,
}

/// A start tag as a browser reads it: its name and its attributes (name,
/// value), character references decoded.
pub type Tag = (String, Vec<(String, String)>);

/// Tokenizes `html` as a browser would and returns its start tags.
pub fn start_tags(html: &str) -> Vec<Tag> {
    #[derive(Default)]
    struct Tags(RefCell<Vec<Tag>>);
    impl TokenSink for Tags {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            if let TagToken(t) = token
                && t.kind == StartTag
            {
                let attrs = t
                    .attrs
                    .iter()
                    .map(|a| (a.name.local.to_string(), a.value.to_string()))
                    .collect();
                self.0.borrow_mut().push((t.name.to_string(), attrs));
            }
            TokenSinkResult::Continue
        }
    }
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tok = Tokenizer::new(Tags::default(), Default::default());
    let _ = tok.feed(&input);
    tok.end();
    tok.sink.0.take()
}

impl Rules {
    /// A URL field: `""`, or absolute http(s) that cannot leave a quoted
    /// attribute, bounded, and inert in every context a page may put it.
    pub fn url(&self, u: &str) -> Result<(), String> {
        if u.is_empty() {
            return Ok(());
        }
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(format!("not http(s): {u:?}"));
        }
        if u.contains(['"', '\'', '<', '>', '`', '\\']) || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("unsafe character in URL {u:?}"));
        }
        if u.len() > self.max_url_bytes {
            return Err(format!("URL longer than {}: {}", self.max_url_bytes, u.len()));
        }
        url_contexts(u)
    }

    /// Sanitized HTML: no quote character at all (so it can never close a
    /// page's quoted attribute); every `<` opens an allowed tag with
    /// allowed, unquoted attributes, both as written and as a browser
    /// tokenizes it; links and images point to safe URLs.
    pub fn html(&self, html: &str) -> Result<(), String> {
        if html.contains('\0') {
            return Err(format!("NUL in {html:?}"));
        }
        if html.contains(['"', '\'']) {
            return Err(format!("a quote in emitted HTML {html:?}"));
        }
        if html.to_ascii_lowercase().contains("<script") {
            return Err(format!("<script in {html:?}"));
        }
        self.markup(html)?;
        let tags = start_tags(html);
        let openers = html
            .as_bytes()
            .windows(2)
            .filter(|w| w[0] == b'<' && w[1].is_ascii_alphabetic())
            .count();
        if tags.len() != openers {
            return Err(format!(
                "{openers} tag openers but {} start tags in {html:?}",
                tags.len()
            ));
        }
        for (name, attrs) in tags {
            if !TAGS.contains(&name.as_str()) {
                return Err(format!("tag {name:?} in {html:?}"));
            }
            for (attr, value) in attrs {
                if !ATTRIBUTES.contains(&attr.as_str()) {
                    return Err(format!("attribute {attr:?} in {html:?}"));
                }
                if attr == "href" || attr == "src" {
                    if value.is_empty() {
                        return Err(format!("empty {attr} in {html:?}"));
                    }
                    self.url(&value)?;
                }
                // URL attributes are checked above (an http(s) URL may well
                // hold "javascript:" in its path); any other must not.
                else if value.to_ascii_lowercase().contains("javascript:") {
                    return Err(format!("javascript: in an attribute of {html:?}"));
                }
            }
        }
        Ok(())
    }

    /// The markup as written, read without a tokenizer (so a tokenizer's
    /// leniency cannot hide anything): every `<` opens or closes an
    /// allowed tag, attributes are allowed and unquoted, unquoted values
    /// hold nothing that would end or reopen markup.
    fn markup(&self, html: &str) -> Result<(), String> {
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
            if !TAGS.contains(&name.as_str()) {
                return Err(format!("tag {name:?} in {html:?}"));
            }
            loop {
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
                match b.get(i) {
                    Some(b'>') => {
                        i += 1;
                        break;
                    }
                    None => return Err(format!("unterminated tag in {html:?}")),
                    _ => {}
                }
                let a = i;
                while i < b.len() && !matches!(b[i], b'=' | b' ' | b'>') {
                    i += 1;
                }
                let attr = html[a..i].to_ascii_lowercase();
                if !ATTRIBUTES.contains(&attr.as_str()) {
                    return Err(format!("attribute {attr:?} in {html:?}"));
                }
                if b.get(i) == Some(&b'=') {
                    i += 1;
                    let v = i;
                    // An unquoted value ends at white space or '>'.
                    while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'>') {
                        if matches!(b[i], b'<' | b'=' | b'`') {
                            return Err(format!("{:?} in an unquoted value of {html:?}", b[i] as char));
                        }
                        i += 1;
                    }
                    let value = decode_references(&html[v..i]);
                    if value.is_empty() {
                        return Err(format!("empty value after = in {html:?}"));
                    }
                    if attr == "href" || attr == "src" {
                        self.url(&value)?;
                    } else if value.to_ascii_lowercase().contains("javascript:") {
                        return Err(format!("javascript: in an attribute of {html:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The whole answer: JSON, every string safe in every context, every
    /// URL and HTML field safe as what it is, ids valid, and the thread
    /// hangs together (see [`thread`]). Returns the parsed answer.
    pub fn answer(&self, bytes: &[u8]) -> Result<Value, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("answer is not JSON: {e}"))?;
        let mut all = Vec::new();
        strings(&v, &mut all);
        for s in &all {
            if s.contains('\0') || s.to_ascii_lowercase().contains("<script") {
                return Err(format!("unsafe string {s:?}"));
            }
            // The invariant behind every context: no quote to close one with.
            if s.contains(['"', '\'']) {
                return Err(format!("a quote in answer string {s:?}"));
            }
            contexts(s)?;
        }
        self.url(str_at(&v, "/stats/url")?)
            .map_err(|e| format!("stats.url: {e}"))?;
        let root = str_at(&v, "/stats/root")?.to_string();
        let Some(comments) = v["comments"].as_object() else {
            return if v["comments"].is_null() {
                Ok(v.clone())
            } else {
                Err("comments is neither object nor null".into())
            };
        };
        if v.pointer("/stats/replies").and_then(Value::as_u64) != Some(comments.len() as u64) {
            return Err("stats.replies is not the number of comments".into());
        }
        for (id, c) in comments {
            if !(self.valid_id)(id) {
                return Err(format!("comment id {id:?}"));
            }
            for f in ["/author/avatar", "/author/url", "/url"] {
                self.url(str_at(c, f)?).map_err(|e| format!("{f}: {e}"))?;
            }
            for f in ["/author/display_name", "/toot", "/spoiler_text"] {
                self.html(str_at(c, f)?).map_err(|e| format!("{f}: {e}"))?;
            }
            text(str_at(c, "/author/acct")?).map_err(|e| format!("author.acct: {e}"))?;
            if str_at(c, "/root")? != root {
                return Err(format!("comment {id} has another root"));
            }
            let date = str_at(c, "/date")?;
            if !(date.is_empty() || (date.len() == 24 && date.ends_with('Z'))) {
                return Err(format!("date {date:?}"));
            }
            for (k, m) in c["media"].as_array().ok_or("media is not an array")?.iter().enumerate() {
                self.url(str_at(m, "/url")?)
                    .map_err(|e| format!("media[{k}].url: {e}"))?;
                self.url(str_at(m, "/preview_url")?)
                    .map_err(|e| format!("media[{k}].preview_url: {e}"))?;
                text(str_at(m, "/description")?).map_err(|e| format!("media[{k}].description: {e}"))?;
            }
        }
        thread(&v)?;
        Ok(v)
    }
}

/// Escaped plain text (alt text, acct): no markup, no quote to close an
/// attribute.
pub fn text(s: &str) -> Result<(), String> {
    if s.contains(['<', '>', '"', '\'', '\0']) {
        return Err(format!("unescaped character in {s:?}"));
    }
    Ok(())
}

/// The thread hangs together: from every comment, following `reply_to`
/// reaches the root (no cycle for a page script to loop on, no comment cut
/// off from the thread).
pub fn thread(v: &Value) -> Result<(), String> {
    let root = str_at(v, "/stats/root")?;
    let Some(comments) = v["comments"].as_object() else {
        return Ok(());
    };
    for id in comments.keys() {
        let mut at = id.as_str();
        for _ in 0..=comments.len() {
            if at == root {
                break;
            }
            at = comments
                .get(at)
                .and_then(|c| c["reply_to"].as_str())
                .ok_or_else(|| format!("reply_to chain from {id} leaves the thread at {at:?}"))?;
        }
        if at != root {
            return Err(format!("reply_to chain from {id} does not reach the root {root}"));
        }
    }
    Ok(())
}

/// A string of the answer put into a page the naive way: as element
/// content, or inside a double- or single-quoted attribute of elements
/// that load something, before or after the attribute that loads. As
/// content, no element may come out that is not on the allow-list and no
/// attribute may run script or style. Inside an attribute, the element
/// keeps exactly its own attributes, with their values.
fn contexts(s: &str) -> Result<(), String> {
    pages(s, [format!("<div>{s}</div>")])?;
    const ELEMENTS: [(&str, &str, &str, &str); 6] = [
        ("div", "title", "class", "box"),
        ("img", "alt", "src", "/ok.png"),
        ("a", "title", "href", "/article"),
        ("script", "data-x", "src", "/widget.js"),
        ("iframe", "title", "src", "/frame"),
        ("link", "title", "href", "/style.css"),
    ];
    for (element, field, own, value) in ELEMENTS {
        for q in ['"', '\''] {
            for page in [
                format!("<{element} {field}={q}{s}{q} {own}={q}{value}{q}>"),
                format!("<{element} {own}={q}{value}{q} {field}={q}{s}{q}>"),
            ] {
                let tags = start_tags(&page);
                let Some((name, attrs)) = tags.first() else {
                    return Err(format!("no element in {page:?}"));
                };
                let names: Vec<&str> = attrs.iter().map(|(n, _)| n.as_str()).collect();
                let own_value = attrs.iter().find(|(n, _)| n == own).map(|(_, v)| v.as_str());
                if name != element || attrs.len() != 2 || !names.contains(&field) || own_value != Some(value) {
                    return Err(format!("{s:?} changed the attributes of {page:?}: <{name}> {attrs:?}"));
                }
                if tags.len() > 1 && element != "script" && element != "iframe" {
                    return Err(format!("{s:?} added an element in {page:?}: {tags:?}"));
                }
            }
        }
    }
    Ok(())
}

/// A URL field in the contexts any string may go, and as a link or image
/// target.
fn url_contexts(s: &str) -> Result<(), String> {
    contexts(s)?;
    pages(
        s,
        [
            format!("<a href=\"{s}\">x</a>"),
            format!("<img alt='' src='{s}'>"),
            format!("<a href={s}>x</a>"),
        ],
    )
}

/// `s` put into each page: no element after the first that is forbidden or
/// not allowed, no attribute that runs script or style.
fn pages<const N: usize>(s: &str, pages: [String; N]) -> Result<(), String> {
    for page in pages {
        for (i, (tag, attrs)) in start_tags(&page).iter().enumerate() {
            if i > 0 && (FORBIDDEN_TAGS.contains(&tag.as_str()) || !TAGS.contains(&tag.as_str())) {
                return Err(format!("<{tag}> from {s:?} in {page:?}"));
            }
            for (name, value) in attrs {
                let v = value.trim().to_ascii_lowercase();
                let script_url = ["javascript:", "data:", "vbscript:"].iter().any(|p| v.starts_with(p));
                let active = (name.starts_with("on") || matches!(name.as_str(), "style" | "srcdoc" | "formaction"))
                    && !v.is_empty();
                if active || (matches!(name.as_str(), "href" | "src" | "action" | "xlink:href") && script_url) {
                    return Err(format!("attribute {name}={value:?} on <{tag}> from {s:?} in {page:?}"));
                }
            }
        }
    }
    Ok(())
}

/// An attribute value as a browser reads it: the character references the
/// daemon writes (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#N;`) decoded.
fn decode_references(value: &str) -> String {
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
            n => n
                .strip_prefix('#')
                .and_then(|d| d.parse::<u32>().ok())
                .and_then(char::from_u32),
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

fn str_at<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{pointer} is not a string in {v}"))
}

/// Every string of the answer, object keys included.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}
