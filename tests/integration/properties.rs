//! Property tests over the pure parts of the pipeline: query cleaning,
//! request → article path, the sanitizer and the whole render step. Each
//! property runs on generated inputs built from the fragments hostile
//! content is made of; the invariants are the ones the answer promises
//! (every string safe to put into HTML as is, paths clean and rooted).

use mastodon_comments::limits::{MAX_QUERY_BYTES, MAX_URL_BYTES};
use mastodon_comments::mastodon::model::Emoji;
use mastodon_comments::query::{self, QueryError};
use mastodon_comments::{Config, render, sanitize};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::common::start_tags;

const CASES: u32 = 256;

// ---------------------------------------------------------------------
// Invariant checks, shared by the properties below.

/// Tags comment HTML may hold: Mastodon's markup plus the emoji `<img>`.
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
/// Attributes comment HTML may hold (no `on*`, no `style`).
const ATTRIBUTES: &[&str] = &["href", "class", "rel", "src", "alt", "title", "draggable"];

/// A URL field: `""`, or absolute http(s) that cannot leave a quoted
/// attribute.
fn url_ok(u: &str) -> Result<(), String> {
    if u.is_empty() {
        return Ok(());
    }
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!("not http(s): {u:?}"));
    }
    if u.contains(['"', '\'', '<', '>', '`', '\\']) || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("unsafe character in URL {u:?}"));
    }
    if u.len() > MAX_URL_BYTES {
        return Err(format!("URL longer than {MAX_URL_BYTES}: {}", u.len()));
    }
    url_contexts_ok(u)
}

/// Sanitized HTML: no quote character at all (so it can never close a
/// page's quoted attribute); every `<` that opens a tag opens an allowed
/// one, with allowed attributes; links and images point to safe URLs.
fn html_ok(html: &str) -> Result<(), String> {
    if html.contains('\0') {
        return Err(format!("NUL in {html:?}"));
    }
    if html.contains(['"', '\'']) {
        return Err(format!("a quote in emitted HTML {html:?}"));
    }
    if html.to_ascii_lowercase().contains("<script") {
        return Err(format!("<script in {html:?}"));
    }
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
                url_ok(&value)?;
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

/// Tag names a browser must never see come out of an answer string.
const FORBIDDEN_TAGS: &[&str] = &[
    "script", "iframe", "frame", "object", "embed", "svg", "math", "style", "form", "input", "button", "base", "meta",
    "link", "template", "dialog", "textarea", "select", "video", "audio", "source",
];

/// A string of the answer put into a page the naive way: as element
/// content, or inside a double- or single-quoted attribute of elements
/// that load something, before or after the attribute that loads. As
/// content, no element may come out that is not on the allow-list and no
/// attribute may run script or style. Inside an attribute, the element
/// keeps exactly its own attributes, with their values.
fn contexts_ok(s: &str) -> Result<(), String> {
    pages_ok(s, [format!("<div>{s}</div>")])?;
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
fn url_contexts_ok(s: &str) -> Result<(), String> {
    contexts_ok(s)?;
    pages_ok(
        s,
        [
            format!("<a href=\"{s}\">x</a>"),
            format!("<img alt='' src='{s}'>"),
            format!("<a href={s}>x</a>"),
        ],
    )
}

fn pages_ok<const N: usize>(s: &str, pages: [String; N]) -> Result<(), String> {
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

/// Escaped plain text: no markup, no quote to close an attribute.
fn text_ok(s: &str) -> Result<(), String> {
    if s.contains(['<', '>', '"', '\'', '\0']) {
        return Err(format!("unescaped character in {s:?}"));
    }
    Ok(())
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{pointer} is not a string in {v}"))
}

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

/// The whole answer: JSON, every string safe, every URL field safe, the
/// thread hangs together (each `reply_to` chain reaches the root).
fn answer_ok(bytes: &[u8]) -> Result<Value, String> {
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
        contexts_ok(s)?;
    }
    url_ok(str_at(&v, "/stats/url")?)?;
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
        if !render::valid_id(id) {
            return Err(format!("comment id {id:?}"));
        }
        for f in ["/author/avatar", "/author/url", "/url"] {
            url_ok(str_at(c, f)?).map_err(|e| format!("{f}: {e}"))?;
        }
        for f in ["/author/display_name", "/toot", "/spoiler_text"] {
            html_ok(str_at(c, f)?).map_err(|e| format!("{f}: {e}"))?;
        }
        text_ok(str_at(c, "/author/acct")?)?;
        if str_at(c, "/root")? != root {
            return Err(format!("comment {id} has another root"));
        }
        let date = str_at(c, "/date")?;
        if !(date.is_empty() || (date.len() == 24 && date.ends_with('Z'))) {
            return Err(format!("date {date:?}"));
        }
        for m in c["media"].as_array().ok_or("media is not an array")? {
            url_ok(str_at(m, "/url")?)?;
            url_ok(str_at(m, "/preview_url")?)?;
            text_ok(str_at(m, "/description")?)?;
        }
    }
    Ok(v)
}

/// The thread hangs together: from every comment, following `reply_to`
/// reaches the root (no cycle for a page script to loop on, no comment cut
/// off from the thread).
fn thread_ok(v: &Value) -> Result<(), String> {
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

fn rendered(root: &Value, context: &Value) -> Result<Option<Vec<u8>>, TestCaseError> {
    let status = serde_json::to_vec(root).expect("json");
    let context = serde_json::to_vec(context).expect("json");
    match render::from_upstream_json(&status, &context, &config()) {
        Ok(out) => Ok(Some(out)),
        // Refusing a root whose id is not an id is fine; anything else in
        // the generated statuses is well-formed.
        Err(_) if !render::valid_id(root["id"].as_str().unwrap_or("")) => Ok(None),
        Err(e) => Err(TestCaseError::fail(format!("render refused generated statuses: {e}"))),
    }
}

// ---------------------------------------------------------------------
// Generators.

/// What hostile text is made of, plus arbitrary text.
fn nasty() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        4 => prop::sample::select(vec![
            "<script>alert(1)</script>", "<SCRIPT>", "<scr<script>ipt>", "</script>", "\"", "'", "`", "<", ">", "&",
            "javascript:", "JaVaScRiPt:", "java\tscript:", "data:text/html,", "vbscript:", " onerror=alert(1) ",
            "onload=", "<img src=x onerror=alert(1)>", "<img", "<a href=\"", "<a href='javascript:alert(1)'>",
            "<svg/onload=alert(1)>", "<iframe src=//evil.example>", "<style>", "<!--", "-->", "<![CDATA[", "&lt;",
            "&#60;", "&#x3c;script&#x3e;", "&quot;", "&amp;", "&#0;", "\0", "\u{202e}", "\u{feff}", "\n", "\r\n",
            "\t", ":blob:", ":evil:", "</p>", "<p>", "<br>", "<span class=\"invisible\">", "</a>", "https://ok.example/",
            "http://", "//evil.example/", "\\", "%22", "%3C", "é", "🦊", " ", "=",
        ])
        .prop_map(str::to_string),
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
        1 => "[a-z ]{0,8}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|v| v.concat())
}

/// URLs as servers write them, most already canonical, some one character
/// away from it.
fn plain_url() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec!["https://", "http://", "HTTPS://", "https:/", "ftp://"]);
    let host = prop::sample::select(vec![
        "m.example",
        "files.mastodon.example",
        "M.example",
        "xn--bcher-kva.example",
        "a-b.example",
        "-a.example",
        "a--b.example",
        "a.example.",
        "1.2.3.4",
        "a.123",
        "0x7f.1",
        "m.example:443",
        "m.example:8443",
        "u@m.example",
        "[::1]",
        "m_x.example",
        "",
    ]);
    let segment = prop::sample::select(vec![
        "/",
        "/@nadia",
        "/users/nadia/statuses/116843781319371281",
        "/a%20b",
        "/a%2",
        "/a%zz",
        "/.",
        "/..",
        "/%2e",
        "/%2E%2e",
        "/a/./b",
        "/a/../b",
        "/a.b",
        "/~x",
        "/(x)",
        "/a;b=c",
        "/a,b",
        "/a'b",
        "/a{b}",
        "/a|b",
        "/a^b",
        "/a\\b",
        "/é",
        "?q=1&r=2",
        "?q=a/b",
        "?q='",
        "#frag",
        "#a#b",
        "#x?y",
        "?x#y",
        "",
        "/tags/bread",
    ]);
    (scheme, host, prop::collection::vec(segment, 0..5)).prop_map(|(s, h, p)| format!("{s}{h}{}", p.concat()))
}

/// HTML the way Mastodon and other servers write statuses, with some of
/// what they should not: the fast path's territory and its edges.
fn mastodon_html() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop::sample::select(vec![
            "<p>", "</p>", "<br>", "<br />", "<br/>", "<span>", "</span>", "<a>", "</a>", "<b>", "</b>",
            "<strong>", "</strong>", "<em>", "</em>", "<i>", "</i>", "<code>", "</code>", "<del>", "</del>",
            "<s>", "</s>", "<u>", "</u>", "<span class=\"h-card\" translate=\"no\">",
            "<span class=\"invisible\">", "<span class=\"ellipsis\">", "<span class=\"evil h-card\">",
            "<a href=\"https://m.example/@nadia\" class=\"u-url mention\">",
            "<a href=\"https://m.example/tags/bread\" class=\"mention hashtag\" rel=\"tag\">",
            "<a href=\"https://ok.example/a?b=1&amp;c=2\" target=\"_blank\" rel=\"nofollow noopener\" translate=\"no\">",
            "<a href=\"javascript:alert(1)\">", "<a href=\"/relative\">", "<a href=\"https://x.example/&quot;\">",
            "<a class=\"\" href=\"https://x.example/\">", "<a href=\"https://x.example/\" href=\"https://y.example/\">",
            "<a href='https://x.example/'>", "<a href=https://x.example/>", "<a title=\"t\" href=\"https://x.example/\">",
            "<p class=\"quote-inline\">", "<p class=\"x\">", "<b class=\"mention\">", "<ul>", "<li>", "</li>",
            "<pre>", "<blockquote>", "<P>", "<script>", "<!-- c -->", "<img src=x>",
            "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;", "&nbsp;", "&copy;", "&#x27;", "&#60;", "&",
            "\u{a0}", ">", "<", "\"", "'", "\n", "\t", "\r", "\0", ":blob:", "@nadia", "#bread", " ", "é 🦊",
        ])
        .prop_map(str::to_string),
        2 => "[a-zA-Z ,.!?]{1,12}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

/// Absolute, relative and hostile URLs.
fn nasty_url() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "https://",
        "http://",
        "HTTPS://",
        "javascript:",
        "JAVASCRIPT:",
        "data:",
        "//",
        "",
        " https://",
        "\0https://",
        "java\nscript:",
        "ftp://",
        "https:",
        "https:///",
        "http://user:pw@",
    ]);
    let host = prop::sample::select(vec![
        "m.example",
        "files.mastodon.example",
        "xn--bcher-kva.example",
        "[::1]",
        "127.0.0.1",
        "évil.example",
        "a\"b",
        "a<b",
        "",
        "m.example:8443",
        "m.example:99999",
    ]);
    (scheme, host, nasty()).prop_map(|(s, h, p)| format!("{s}{h}/{p}"))
}

fn emojis() -> impl Strategy<Value = Vec<Emoji>> {
    let code = prop::sample::select(vec!["blob", "evil", "ok_2", "", "a b", "x\"y", "blob:"]);
    prop::collection::vec(
        (code, nasty_url(), nasty_url()).prop_map(|(c, u, s)| Emoji {
            shortcode: c.to_string(),
            url: u,
            static_url: s,
        }),
        0..3,
    )
}

/// Rooted or not, with empty, `.` and `..` segments.
fn path_like() -> impl Strategy<Value = String> {
    let seg = prop::sample::select(vec![
        "",
        ".",
        "..",
        "a",
        "b",
        "2026",
        "slow-bread",
        "...",
        ".a",
        "é",
        "a b",
    ]);
    (any::<bool>(), prop::collection::vec(seg, 0..10), any::<bool>()).prop_map(|(rooted, segs, trailing)| {
        let mut s = if rooted { "/".to_string() } else { String::new() };
        s.push_str(&segs.join("/"));
        if trailing {
            s.push('/');
        }
        s
    })
}

/// Go's `filepath.Clean` by its documented rules, applied as rewrites
/// until none applies (a model independent of the implementation's
/// single pass).
fn clean_model(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    loop {
        let before = segs.len();
        // An inner ".." and the name before it go (rule 3).
        if let Some(i) = (1..segs.len()).find(|&i| segs[i] == ".." && segs[i - 1] != "..") {
            segs.drain(i - 1..=i);
        } else if rooted && segs.first() == Some(&"..") {
            // ".." at the start of a rooted path goes (rule 4).
            segs.remove(0);
        }
        if segs.len() == before {
            break;
        }
    }
    match (rooted, segs.is_empty()) {
        (true, _) => format!("/{}", segs.join("/")),
        (false, true) => ".".into(),
        (false, false) => segs.join("/"),
    }
}

/// Whether `..` ever climbs above the root of a rooted path.
fn escapes_root(path: &str) -> bool {
    let mut depth = 0i64;
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn config() -> Config {
    let mut c = Config::for_instance(url::Url::parse("https://mastodon.example").expect("url"));
    c.userid = Some("109308551561216011".into());
    c
}

/// A status as the API has it, every string generated.
fn status(id: String, parent: Option<String>) -> impl Strategy<Value = Value> {
    let visibility = prop::sample::select(vec!["public", "unlisted", "private", "direct", "", "PUBLIC", "limited"]);
    let date = prop::sample::select(vec![
        "2026-07-01T08:41:05.000Z",
        "2026-07-01T08:41:05Z",
        "2026-07-01T08:41:05+02:00",
        "2026-07-01T08:41:05.000Z\"><script>",
        "",
        "yesterday",
    ]);
    let media = prop::collection::vec(
        (
            prop::sample::select(vec!["image", "video", "gifv", "audio", "unknown", "<b>"]),
            nasty_url(),
            nasty_url(),
            nasty(),
        )
            .prop_map(|(t, u, p, d)| json!({"type": t, "url": u, "preview_url": p, "description": d})),
        0..2,
    );
    let emoji_json = || {
        emojis().prop_map(|es| {
            es.into_iter()
                .map(|e| json!({"shortcode": e.shortcode, "url": e.url, "static_url": e.static_url}))
                .collect::<Vec<_>>()
        })
    };
    (
        (visibility, date, nasty(), nasty(), nasty(), nasty()),
        (nasty_url(), nasty_url(), nasty_url(), nasty_url()),
        (media, emoji_json(), emoji_json(), any::<bool>(), any::<u32>()),
    )
        .prop_map(
            move |(
                (vis, date, content, spoiler, name, acct),
                (uri, url, avatar, account_url),
                (media, emojis, account_emojis, bot, n),
            )| {
                json!({
                    "id": id,
                    "uri": uri,
                    "url": url,
                    "created_at": date,
                    "edited_at": if n % 3 == 0 { json!(date) } else { Value::Null },
                    "in_reply_to_id": parent,
                    "visibility": vis,
                    "sensitive": n % 2 == 0,
                    "spoiler_text": spoiler,
                    "content": content,
                    "account": {
                        "id": if n % 5 == 0 { "109308551561216011".to_string() } else { format!("{n}") },
                        "username": acct.clone(),
                        "acct": acct,
                        "display_name": name,
                        "url": account_url,
                        "avatar": avatar.clone(),
                        "avatar_static": avatar,
                        "bot": bot,
                        "emojis": account_emojis,
                    },
                    "media_attachments": media,
                    "emojis": emojis,
                    "reblogs_count": n % 7,
                    "favourites_count": if n % 11 == 0 { json!(-1) } else { json!(n % 13) },
                })
            },
        )
}

/// Ids: mostly Mastodon's, some hostile; replies point at the root, an
/// earlier reply, a missing status, themselves, or garbage.
fn thread() -> impl Strategy<Value = (Value, Value, usize)> {
    let id = prop_oneof![
        8 => (1u64..40).prop_map(|n| format!("1168437813193712{n:02}")),
        1 => prop::sample::select(vec!["1\"><img src=x>", "", "<script>", "abc-DEF_1", "1 2"]).prop_map(str::to_string),
    ];
    let root_id = prop_oneof![
        9 => Just("116843781319371281".to_string()),
        1 => prop::sample::select(vec!["1<script>", "\"", "abc"]).prop_map(str::to_string),
    ];
    (root_id, prop::collection::vec((id, 0usize..12), 0..8)).prop_flat_map(|(root_id, replies)| {
        let ids: Vec<String> = replies.iter().map(|(id, _)| id.clone()).collect();
        let n = replies.len();
        let statuses: Vec<_> = replies
            .into_iter()
            .enumerate()
            .map(|(k, (id, p))| {
                let parent = match p {
                    0..=3 => Some(root_id.clone()),
                    4..=8 if !ids.is_empty() => Some(ids[p % ids.len()].clone()),
                    9 => Some(id.clone()),
                    10 => Some("999".to_string()),
                    _ if k > 0 => Some(ids[k - 1].clone()),
                    _ => None,
                };
                status(id, parent)
            })
            .collect();
        (status(root_id.clone(), None), statuses)
            .prop_map(move |(root, descendants)| (root, json!({"ancestors": [], "descendants": descendants}), n))
    })
}

// ---------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn clean_is_go_filepath_clean(p in path_like()) {
        let cleaned = query::clean(&p);
        prop_assert_eq!(&cleaned, &clean_model(&p));
        prop_assert_eq!(query::clean(&cleaned), cleaned.clone(), "idempotent");
        if p.starts_with('/') {
            prop_assert!(cleaned.starts_with('/'));
            for bad in ["//", "/./", "/../"] {
                prop_assert!(!cleaned.contains(bad), "{} in {}", bad, cleaned);
            }
            prop_assert!(!cleaned.ends_with("/.") && !cleaned.ends_with("/.."));
            prop_assert!(cleaned == "/" || !cleaned.ends_with('/'));
            prop_assert!(!cleaned.split('/').any(|s| s == ".."), "no .. in a rooted clean path: {}", cleaned);
        }
    }

    #[test]
    fn clean_of_any_text_is_idempotent(s in any::<String>()) {
        let once = query::clean(&s);
        prop_assert_eq!(query::clean(&once), once);
    }

    #[test]
    fn article_paths_are_rooted_clean_and_never_escape(p in path_like()) {
        match query::clean_article_path(&p) {
            Ok(clean) => {
                prop_assert!(p.starts_with('/'));
                prop_assert!(!escapes_root(&p), "{:?} climbs above / but was accepted", p);
                prop_assert_eq!(&clean, &query::clean(&p));
                prop_assert_eq!(query::clean_article_path(&clean), Ok(clean.clone()));
            }
            Err(QueryError::NotAbsolute) => prop_assert!(!p.starts_with('/')),
            Err(QueryError::Escapes) => prop_assert!(p.starts_with('/') && escapes_root(&p)),
            Err(e) => prop_assert!(false, "unexpected {:?} for {:?}", e, p),
        }
    }

    #[test]
    fn from_request_never_panics_and_answers_clean_paths(uri in any::<String>(), qs in any::<String>()) {
        for (u, q) in [(uri.as_str(), qs.as_str()), (uri.as_str(), ""), ("/x/comments.json", qs.as_str())] {
            if let Ok(p) = query::from_request(u, q) {
                prop_assert!(p.starts_with('/'));
                prop_assert!(p.len() <= MAX_QUERY_BYTES);
                prop_assert!(!p.chars().any(char::is_control));
                prop_assert_eq!(query::clean(&p), p.clone());
            }
        }
    }

    #[test]
    fn from_request_finds_the_article_path(p in path_like(), junk in "[a-z=&%0-9]{0,12}") {
        let rooted = format!("/{p}");
        let want = query::clean_article_path(&rooted);
        // As a path: the daemon sees it percent-encoded, with comments.json.
        let uri = format!("{}/comments.json", percent_encode(&rooted));
        prop_assert_eq!(query::from_request(&uri, ""), want.clone());
        // As ?search=, among other parameters.
        let qs = format!("{junk}&search={}", percent_encode(&rooted));
        let got = query::from_request(&format!("/x/comments.json?{qs}"), &qs);
        if !junk.contains('%') {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn escape_leaves_nothing_to_break_out_with(s in nasty()) {
        let out = sanitize::escape(&s);
        prop_assert!(text_ok(&out).is_ok(), "{}", out);
        let back = out
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        prop_assert_eq!(back, s.replace('\0', ""));
    }

    #[test]
    fn content_is_allow_listed_html(s in nasty(), emojis in emojis()) {
        let out = sanitize::content(&s, &emojis);
        if let Err(e) = html_ok(&out) {
            prop_assert!(false, "{}\n  input: {:?}", e, s);
        }
    }

    #[test]
    fn the_fast_path_writes_what_ammonia_writes(s in mastodon_html()) {
        if let Some(fast) = sanitize::clean_html_fast(&s) {
            prop_assert_eq!(fast, sanitize::clean_html_parsed(&s), "input: {:?}", s);
        }
    }

    #[test]
    fn the_fast_path_writes_what_ammonia_writes_on_hostile_input(s in nasty()) {
        if let Some(fast) = sanitize::clean_html_fast(&s) {
            prop_assert_eq!(fast, sanitize::clean_html_parsed(&s), "input: {:?}", s);
        }
    }

    #[test]
    fn text_is_escaped_with_emoji_images_only(s in nasty(), emojis in emojis()) {
        let out = sanitize::text(&s, &emojis);
        if let Err(e) = html_ok(&out) {
            prop_assert!(false, "{}\n  input: {:?}", e, s);
        }
        // The only markup is the emoji image.
        let tags = out.matches('<').count();
        prop_assert_eq!(tags, out.matches("<img class=emoji src=http").count(), "{}", out);
        if emojis.is_empty() {
            prop_assert!(text_ok(&out).is_ok(), "{}", out);
        }
    }

    #[test]
    fn urls_are_http_and_inert(raw in nasty_url()) {
        let out = sanitize::url(&raw);
        prop_assert!(url_ok(&out).is_ok(), "{:?} -> {:?}", raw, out);
        prop_assert_eq!(sanitize::url(&out), out.clone(), "idempotent");
    }

    #[test]
    fn the_url_fast_path_gives_what_the_parser_gives(raw in prop_oneof![nasty_url(), plain_url()]) {
        prop_assert_eq!(sanitize::url(&raw), sanitize::url_parsed(&raw), "input: {:?}", raw);
    }

    #[test]
    fn urls_of_any_text_are_http_and_inert(raw in any::<String>()) {
        let out = sanitize::url(&raw);
        prop_assert!(url_ok(&out).is_ok(), "{:?} -> {:?}", raw, out);
    }

    #[test]
    fn rendered_answers_are_safe((root, context, n) in thread()) {
        let Some(out) = rendered(&root, &context)? else { return Ok(()) };
        let v = match answer_ok(&out) {
            Ok(v) => v,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n  answer: {}", String::from_utf8_lossy(&out)))),
        };
        // Only public and unlisted replies are ever shown.
        let comments = v["comments"].as_object().cloned().unwrap_or_default();
        for id in comments.keys() {
            let source = context["descendants"]
                .as_array()
                .and_then(|d| d.iter().rev().find(|s| s["id"] == id.as_str()));
            let vis = source.and_then(|s| s["visibility"].as_str()).unwrap_or("");
            prop_assert!(vis == "public" || vis == "unlisted", "{} shown with visibility {:?}", id, vis);
        }
        let root_id = root["id"].as_str().unwrap_or("");
        let valid_root = !root_id.is_empty() && root_id.len() <= 64
            && root_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_root {
            // Not an answer about the post asked for: no comments at all.
            prop_assert!(v["comments"].is_null(), "root id {:?} accepted", root_id);
            return Ok(());
        }
        let withheld = v["withheld"].as_u64().unwrap_or(u64::MAX) as usize;
        prop_assert_eq!(withheld + comments.len(), n, "withheld + shown = replies");
    }

    #[test]
    fn rendered_threads_reach_the_root((root, context, _n) in thread()) {
        let Some(out) = rendered(&root, &context)? else { return Ok(()) };
        let v: Value = serde_json::from_slice(&out).expect("answer is JSON");
        if let Err(e) = thread_ok(&v) {
            return Err(TestCaseError::fail(format!("{e}\n  answer: {}", String::from_utf8_lossy(&out))));
        }
    }
}
