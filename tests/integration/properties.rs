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

const CASES: u32 = 256;

// ---------------------------------------------------------------------
// Invariant checks: the answer's HTML safety, shared with the fuzz
// targets (html-checks/).

const RULES: html_checks::Rules = html_checks::Rules {
    max_url_bytes: MAX_URL_BYTES,
    valid_id: mastodon_comments::ids::valid,
};

fn rendered(root: &Value, context: &Value) -> Result<Option<Vec<u8>>, TestCaseError> {
    let status = serde_json::to_vec(root).expect("json");
    let context = serde_json::to_vec(context).expect("json");
    match render::from_upstream_json(&status, &context, &config()) {
        Ok(out) => Ok(Some(out)),
        // Refusing a root whose id is not an id is fine; anything else in
        // the generated statuses is well-formed.
        Err(_) if !mastodon_comments::ids::valid(root["id"].as_str().unwrap_or("")) => Ok(None),
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

fn emojis() -> impl Strategy<Value = Vec<Emoji<'static>>> {
    let code = prop::sample::select(vec!["blob", "evil", "ok_2", "", "a b", "x\"y", "blob:"]);
    prop::collection::vec(
        (code, nasty_url(), nasty_url()).prop_map(|(c, u, s)| Emoji {
            shortcode: c.to_string().into(),
            url: u.into(),
            static_url: s.into(),
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
                .map(|e| json!({"shortcode": e.shortcode.as_str(), "url": e.url.as_str(), "static_url": e.static_url.as_str()}))
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
        prop_assert!(html_checks::text(&out).is_ok(), "{}", out);
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
        if let Err(e) = RULES.html(&out) {
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
        if let Err(e) = RULES.html(&out) {
            prop_assert!(false, "{}\n  input: {:?}", e, s);
        }
        // The only markup is the emoji image.
        let tags = out.matches('<').count();
        prop_assert_eq!(tags, out.matches("<img class=emoji src=http").count(), "{}", out);
        if emojis.is_empty() {
            prop_assert!(html_checks::text(&out).is_ok(), "{}", out);
        }
    }

    #[test]
    fn urls_are_http_and_inert(raw in nasty_url()) {
        let out = sanitize::url(&raw);
        prop_assert!(RULES.url(&out).is_ok(), "{:?} -> {:?}", raw, out);
        prop_assert_eq!(sanitize::url(&out), out.clone(), "idempotent");
    }

    #[test]
    fn the_url_fast_path_gives_what_the_parser_gives(raw in prop_oneof![nasty_url(), plain_url()]) {
        prop_assert_eq!(sanitize::url(&raw), sanitize::url_parsed(&raw), "input: {:?}", raw);
    }

    #[test]
    fn urls_of_any_text_are_http_and_inert(raw in any::<String>()) {
        let out = sanitize::url(&raw);
        prop_assert!(RULES.url(&out).is_ok(), "{:?} -> {:?}", raw, out);
    }

    #[test]
    fn rendered_answers_are_safe((root, context, n) in thread()) {
        let Some(out) = rendered(&root, &context)? else { return Ok(()) };
        let v = match RULES.answer(&out) {
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

    /// With `proxy_media`, the answer keeps every promise, and every image
    /// it names (avatars, emoji, previews) is on the blog's origin.
    #[test]
    fn rendered_answers_with_proxied_images_are_safe((root, context, _n) in thread()) {
        let status = serde_json::to_vec(&root).expect("json");
        let context = serde_json::to_vec(&context).expect("json");
        let key = mastodon_comments::media::Key::ephemeral().expect("key");
        let blog = url::Url::parse("https://blog.example.org").expect("url");
        let images = mastodon_comments::media::Images::new(key, &blog, "/comments-media/");
        let Ok(out) = render::from_upstream_json_with_images(&status, &context, &config(), Some(images)) else {
            return Ok(());
        };
        let v = match RULES.answer(&out) {
            Ok(v) => v,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n  answer: {}", String::from_utf8_lossy(&out)))),
        };
        for (what, u) in crate::media::image_urls(&v) {
            prop_assert!(u.is_empty() || u.starts_with("https://blog.example.org/comments-media/"), "{} {:?}", what, u);
        }
    }

    #[test]
    fn rendered_threads_reach_the_root((root, context, _n) in thread()) {
        let Some(out) = rendered(&root, &context)? else { return Ok(()) };
        let v: Value = serde_json::from_slice(&out).expect("answer is JSON");
        if let Err(e) = html_checks::thread(&v) {
            return Err(TestCaseError::fail(format!("{e}\n  answer: {}", String::from_utf8_lossy(&out))));
        }
    }
}
