//! Makes remote content safe to publish: an HTML allow-list for `content`
//! (ammonia), escaping for plain-text fields, custom emoji as `<img>`, and
//! URL checks. Every string this module returns can be inserted into HTML
//! text or a single- or double-quoted attribute of any element as is: it
//! holds no `"` and no `'` at all. Text has them as character references,
//! URLs percent-encoded, and the attributes of the HTML it emits are
//! written unquoted (`<a href=https://… rel=nofollow&#32;noopener>`), with
//! every character an unquoted value may not hold as a reference, which
//! HTML decodes there just the same. So a page's quoted attribute can never
//! be closed by a field, whatever the element and its attributes' order.
//!
//! The upstream sanitizer is not trusted: a compromised or non-Mastodon
//! server can send anything.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use url::Url;

use crate::limits::MAX_URL_BYTES;
use crate::mastodon::model::Emoji;

mod fast;

/// The `rel` every link in a comment gets: no referrer, no `window.opener`,
/// no search-engine credit for spam.
pub const LINK_REL: &str = "nofollow noopener noreferrer ugc";
/// [`LINK_REL`] as [`push_unquoted_value`] writes it, for every link.
const LINK_REL_UNQUOTED: &str = "nofollow&#32;noopener&#32;noreferrer&#32;ugc";

/// Mastodon's own output tags only; built once.
static CONTENT: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    // `empty()` empties the tags only: no attribute is allowed but those
    // named below.
    b.generic_attributes(std::collections::HashSet::new())
        .tag_attributes(HashMap::new())
        .tag_attribute_values(HashMap::new())
        .generic_attribute_prefixes(std::collections::HashSet::new());
    b.add_tags([
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
    ])
    .add_tag_attributes("a", ["href"])
    .add_allowed_classes("a", ["mention", "hashtag", "u-url", "status-link"])
    .add_allowed_classes("span", ["h-card", "invisible", "ellipsis"])
    .add_allowed_classes("p", ["quote-inline"])
    .add_url_schemes(["http", "https"])
    .url_relative(ammonia::UrlRelative::Deny)
    .link_rel(Some(LINK_REL))
    .strip_comments(true)
    .attribute_filter(|_element, attribute, value| match attribute {
        "href" => {
            let safe = url(value);
            (!safe.is_empty()).then_some(Cow::Owned(safe))
        }
        _ => Some(Cow::Borrowed(value)),
    });
    b
});

/// Sanitizes a status's HTML `content` and turns its declared custom emoji
/// into images.
pub fn content(html: &str, emojis: &[Emoji]) -> String {
    match fast::clean(html) {
        // Already unquoted: only custom emoji could change it.
        Some(clean) if emojis.is_empty() => clean,
        Some(clean) => finish(clean, emojis),
        None => finish(CONTENT.clean(html).to_string(), emojis),
    }
}

/// The allow-listed HTML of `content`, unquoted, before emoji: Mastodon's
/// own markup without a parser (see `fast`), anything else through
/// ammonia. Both give the same bytes wherever the first applies.
#[doc(hidden)]
pub fn clean_html(html: &str) -> String {
    fast::clean(html).unwrap_or_else(|| clean_html_parsed(html))
}

/// [`clean_html`] through ammonia always; the reference the fast path is
/// tested against.
#[doc(hidden)]
pub fn clean_html_parsed(html: &str) -> String {
    finish(CONTENT.clean(html).to_string(), &[])
}

/// Whether the fast path takes `html` (for the tests that compare both).
#[doc(hidden)]
pub fn clean_html_fast(html: &str) -> Option<String> {
    fast::clean(html)
}

/// A plain-text field (`display_name`, `spoiler_text`) as HTML: escaped
/// text with the declared custom emoji as images.
pub fn text(plain: &str, emojis: &[Emoji]) -> String {
    finish(escape(plain), emojis)
}

/// HTML-escapes text for element content and quoted attributes; drops
/// NUL, which browsers turn into U+FFFD anyway.
pub fn escape(plain: &str) -> String {
    let mut out = String::with_capacity(plain.len() + plain.len() / 8);
    for c in plain.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

/// An absolute `http`/`https` URL that cannot break out of a quoted
/// attribute, or `""` when there is none. Servers send these characters
/// percent-encoded; a raw quote, angle bracket, backtick or space inside
/// a URL is an injection attempt, and the whole URL is dropped (so the
/// page never even loads an image from it). `'` is legal and encoded.
pub fn url(raw: &str) -> String {
    let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    // Nearly every URL a server sends is already canonical; the check
    // refuses everything the refusals below refuse, so it goes first.
    if fast::canonical_url(raw) {
        return raw.to_string();
    }
    if raw.is_empty()
        || raw.len() > MAX_URL_BYTES
        || raw.contains(|c: char| matches!(c, '"' | '<' | '>' | '`') || c.is_whitespace() || c.is_control())
    {
        return String::new();
    }
    url_parsed(raw)
}

/// [`url`] through the URL parser always; the reference its fast path is
/// tested against.
#[doc(hidden)]
pub fn url_parsed(raw: &str) -> String {
    let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    if raw.is_empty()
        || raw.len() > MAX_URL_BYTES
        || raw.contains(|c: char| matches!(c, '"' | '<' | '>' | '`') || c.is_whitespace() || c.is_control())
    {
        return String::new();
    }
    let Ok(mut u) = Url::parse(raw) else {
        return String::new();
    };
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return String::new();
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if !u
        .host_str()
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b)))
    {
        return String::new();
    }
    let mut s = String::from(u);
    // The url crate leaves these in some components; none may reach HTML.
    if s.contains(['\'', '"', '<', '>', '`', ' ', '\\']) {
        s = s
            .replace('\'', "%27")
            .replace('"', "%22")
            .replace('<', "%3C")
            .replace('>', "%3E")
            .replace('`', "%60")
            .replace(' ', "%20")
            .replace('\\', "%5C");
    }
    if s.len() > MAX_URL_BYTES { String::new() } else { s }
}

/// The last pass over sanitized HTML: quotes in text become references
/// (ammonia leaves them raw), the attributes of its tags are written
/// unquoted (see the module's doc), and `:shortcode:` in text (never
/// inside tags) becomes the emoji's image, for shortcodes the status
/// declares only. HTML already unquoted (the fast path's) comes out as it
/// went in, but for the emoji.
fn finish(html: String, emojis: &[Emoji]) -> String {
    // Shortcode → safe image URL; the first declaration with one wins.
    let mut known: HashMap<&str, String> = HashMap::new();
    if html.contains(':') {
        for e in emojis.iter().filter(|e| is_shortcode(&e.shortcode)) {
            if !known.contains_key(e.shortcode.as_str()) {
                let src = emoji_src(e);
                if !src.is_empty() {
                    known.insert(e.shortcode.as_str(), src);
                }
            }
        }
    }
    if known.is_empty() && !html.bytes().any(|b| matches!(b, b'"' | b'\'')) {
        return html;
    }
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let bytes = html.as_bytes();
    let (mut i, mut text_start) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        text_run(&html[text_start..i], &known, &mut out);
        // A tag as html5ever serializes it: attribute values are
        // double-quoted and may hold '>'.
        let mut end = i + 1;
        let mut in_quote = false;
        while end < bytes.len() {
            match bytes[end] {
                b'"' => in_quote = !in_quote,
                b'>' if !in_quote => {
                    end += 1;
                    break;
                }
                _ => {}
            }
            end += 1;
        }
        push_unquoted_tag(&html[i..end], &mut out);
        i = end;
        text_start = end;
    }
    text_run(&html[text_start..], &known, &mut out);
    out
}

/// Text between tags: quotes as references, then the emoji.
fn text_run(text: &str, known: &HashMap<&str, String>, out: &mut String) {
    if known.is_empty() || !text.contains(':') {
        push_escaped(text, out);
    } else {
        let mut escaped = String::with_capacity(text.len());
        push_escaped(text, &mut escaped);
        emoji_in_text(&escaped, known, out);
    }
}

/// Appends `s` with `'` and `"` as character references.
fn push_escaped(s: &str, out: &mut String) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'\'' => "&#39;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends a tag as html5ever serializes it (`<a href="v" class="c d">`,
/// values with `&` and `"` as references) with its values unquoted: an
/// empty value leaves the bare name, and see [`push_unquoted_value`].
fn push_unquoted_tag(tag: &str, out: &mut String) {
    let mut rest = tag;
    while let Some(open) = rest.find('"') {
        let (name, after) = (&rest[..open], &rest[open + 1..]);
        let close = after.find('"').unwrap_or(after.len());
        let value = &after[..close];
        if value.is_empty() {
            out.push_str(name.strip_suffix('=').unwrap_or(name));
        } else {
            out.push_str(name);
            push_unquoted_value(value, out);
        }
        rest = after.get(close + 1..).unwrap_or("");
    }
    push_escaped(rest, out);
}

/// Appends an attribute value for an unquoted attribute: every character
/// such a value may not hold (white space, quotes, `=`, `<`, `>`, `` ` ``)
/// as a character reference. `&` is left as is: it only ever starts a
/// reference in serialized HTML and in [`url`]'s output (`&amp;`).
fn push_unquoted_value(value: &str, out: &mut String) {
    // Most values (URLs, class names) hold none of them: copied whole.
    let bytes = value.as_bytes();
    let Some(first) = bytes.iter().position(|&b| UNQUOTED_ESCAPE[b as usize]) else {
        out.push_str(value);
        return;
    };
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let entity = match b {
            b' ' => "&#32;",
            b'\t' => "&#9;",
            b'\n' => "&#10;",
            b'\x0c' => "&#12;",
            b'\r' => "&#13;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            b'=' => "&#61;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'`' => "&#96;",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&value[start..]);
}

/// The bytes [`push_unquoted_value`] writes as references.
const UNQUOTED_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let special = b" \t\n\x0c\r\"'=<>`";
    let mut i = 0;
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

fn emoji_in_text(text: &str, known: &HashMap<&str, String>, out: &mut String) {
    let mut rest = text;
    while let Some(start) = rest.find(':') {
        let after = &rest[start + 1..];
        let code_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let code = &after[..code_len];
        let src = (code_len > 0 && after[code_len..].starts_with(':'))
            .then(|| known.get(code))
            .flatten();
        if let Some(src) = src {
            out.push_str(&rest[..start]);
            out.push_str("<img class=emoji src=");
            push_unquoted_value(&src.replace('&', "&amp;"), out);
            for attr in [" alt=:", " title=:"] {
                out.push_str(attr);
                out.push_str(code);
                out.push(':');
            }
            out.push_str(" draggable=false>");
            rest = &after[code_len + 1..];
        } else {
            out.push_str(&rest[..start + 1]);
            rest = after;
        }
    }
    out.push_str(rest);
}

fn is_shortcode(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The non-animated image when it is safe, else the animated one.
fn emoji_src(e: &Emoji) -> String {
    let s = url(&e.static_url);
    if s.is_empty() { url(&e.url) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emoji<'a>(code: &'a str, url: &'a str) -> Emoji<'a> {
        Emoji {
            shortcode: code.into(),
            url: url.into(),
            static_url: url.into(),
        }
    }

    #[test]
    fn content_keeps_mastodon_markup() {
        let html = r#"<p>Hi <span class="h-card" translate="no"><a href="https://m.example/@nadia" class="u-url mention">@<span>nadia</span></a></span> <a href="https://m.example/tags/x" class="mention hashtag" rel="tag">#<span>x</span></a> Q&amp;A<br>two</p>"#;
        let out = content(html, &[]);
        assert!(out.contains(r#"<span class=h-card><a href=https://m.example/@nadia class=u-url&#32;mention rel=nofollow&#32;noopener&#32;noreferrer&#32;ugc>@<span>nadia</span></a></span>"#), "{out}");
        assert!(out.contains("Q&amp;A<br>two</p>"), "{out}");
        assert!(!out.contains("translate"), "{out}");
    }

    #[test]
    fn content_drops_everything_dangerous() {
        let html = concat!(
            r#"<p onclick="x()" style="color:red">a<script>alert(1)</script><iframe src="https://evil.example/frame"></iframe>"#,
            r#"<img src=x onerror=alert(2)><a href="javascript:alert(3)">js</a><a href=" jav&#x09;ascript:alert(4)">tab</a>"#,
            r#"<a href="data:text/html,<script>">data</a><a href="//evil.example/x">pr</a><a href="/rel">rel</a>"#,
            r#"<a href="https://ok.example/&quot;&gt;&lt;script&gt;" target="_self" rel="opener" id="x" class="quote-inline evil">q</a>"#,
            r#"<form><input></form><style>p{}</style><svg/onload=alert(5)><!-- c --></div></span><b><i>x</b></i></p>"#
        );
        let out = content(html, &[]);
        for bad in [
            "<script",
            "<iframe",
            "<img",
            "javascript",
            "data:",
            "evil.example",
            "onclick",
            "style",
            "onerror",
            "<form",
            "<input",
            "<svg",
            "target",
            "opener\"",
            "id=",
            "evil\"",
            "<!--",
            "\"/rel\"",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(
            !out.contains("ok.example/%22"),
            "a link that decodes to a quote is dropped: {out}"
        );
        for text in ["js", "tab", "data", "pr", "rel", "q"] {
            assert!(out.contains(&format!(">{text}</a>")), "{text} in {out}");
        }
    }

    #[test]
    fn content_text_carries_no_raw_quote() {
        assert_eq!(
            content(r#"<p>"quoted" it's <a href="https://m.example/it's">'a'</a></p>"#, &[]),
            r#"<p>&quot;quoted&quot; it&#39;s <a href=https://m.example/it%27s rel=nofollow&#32;noopener&#32;noreferrer&#32;ugc>&#39;a&#39;</a></p>"#
        );
    }

    #[test]
    fn text_is_escaped_for_text_and_both_quote_styles() {
        let out = text(
            r#"<script>alert("x")</script> it's & :blob:"#,
            &[emoji("blob", "https://f.example/b.png")],
        );
        assert_eq!(
            out,
            r#"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; it&#39;s &amp; <img class=emoji src=https://f.example/b.png alt=:blob: title=:blob: draggable=false>"#
        );
        assert_eq!(escape("a\0b"), "ab");
    }

    #[test]
    fn emoji_only_declared_and_safe_and_never_in_attributes() {
        let emojis = [
            emoji("ok", "https://f.example/ok.png"),
            emoji("evil", "javascript:alert(1)"),
        ];
        let out = content(
            r#"<p>:ok: 10:30:45 :nope: :evil: <a href="https://x.example/:ok:">:ok:</a></p>"#,
            &emojis,
        );
        assert_eq!(out.matches("<img").count(), 2, "{out}");
        assert!(out.contains("10:30:45 :nope: :evil:"), "{out}");
        assert!(out.contains("href=https://x.example/:ok: "), "{out}");
    }

    #[test]
    fn a_repeated_shortcode_uses_its_safe_declaration() {
        let emojis = [emoji("blob", "javascript:x"), emoji("blob", "https://f.example/b.png")];
        assert_eq!(
            content("<p>:blob:</p>", &emojis),
            r#"<p><img class=emoji src=https://f.example/b.png alt=:blob: title=:blob: draggable=false></p>"#
        );
    }

    #[test]
    fn emitted_html_carries_no_quote_and_values_are_unquoted_safely() {
        let html = r#"<p title='x'>a "b" 'c' <a href="https://m.example/a?x=1&amp;y='2'" class="mention hashtag">#t</a> :e:</p>"#;
        let out = content(html, &[emoji("e", "https://f.example/e.png?a=1&b=2")]);
        assert!(!out.contains(['"', '\'']), "{out}");
        assert_eq!(
            out,
            "<p>a &quot;b&quot; &#39;c&#39; <a href=https://m.example/a?x&#61;1&amp;y&#61;%272%27 \
             class=mention&#32;hashtag rel=nofollow&#32;noopener&#32;noreferrer&#32;ugc>#t</a> \
             <img class=emoji src=https://f.example/e.png?a&#61;1&amp;b&#61;2 alt=:e: title=:e: draggable=false></p>"
        );
        // Every character an unquoted value may not hold, as a reference.
        let mut v = String::new();
        push_unquoted_value("a b\tc\nd\x0ce\rf\"g'h=i<j>k`l&amp;", &mut v);
        assert_eq!(
            v,
            "a&#32;b&#9;c&#10;d&#12;e&#13;f&quot;g&#39;h&#61;i&lt;j&gt;k&#96;l&amp;"
        );
        // Each alone, and after plain bytes, and a value with none.
        for (c, entity) in [(' ', "&#32;"), ('=', "&#61;"), ('`', "&#96;"), ('"', "&quot;")] {
            let mut v = String::new();
            push_unquoted_value(&format!("{c}plain{c}"), &mut v);
            assert_eq!(v, format!("{entity}plain{entity}"));
        }
        let mut v = String::new();
        push_unquoted_value("https://m.example/a?b&amp;c", &mut v);
        assert_eq!(v, "https://m.example/a?b&amp;c");
        // The links' `rel`, written once.
        let mut v = String::new();
        push_unquoted_value(LINK_REL, &mut v);
        assert_eq!(v, LINK_REL_UNQUOTED);
        // An empty value leaves the bare name.
        let mut t = String::new();
        push_unquoted_tag(r#"<a class="" href="https://x.example/">"#, &mut t);
        assert_eq!(t, "<a class href=https://x.example/>");
    }

    #[test]
    fn a_url_longer_than_the_cap_is_dropped_before_and_after_encoding() {
        let head = "https://m.example/";
        let fits = format!("{head}{}", "a".repeat(MAX_URL_BYTES - head.len()));
        assert_eq!(url(&fits), fits, "exactly the cap");
        assert_eq!(url_parsed(&fits), fits);
        // Exactly the cap, and not canonical (an upper-case scheme): the
        // parser's path keeps it too.
        let upper = format!("HTTPS{}", &fits["https".len()..]);
        assert_eq!(upper.len(), MAX_URL_BYTES);
        assert_eq!(url(&upper), fits, "exactly the cap, through the parser");
        let over = format!("{fits}a");
        assert_eq!(url(&over), "", "one byte over the cap");
        assert_eq!(url_parsed(&over), "");
        // Under the cap as sent, over it once encoded: dropped too.
        let grows = format!("{head}{}", "é".repeat((MAX_URL_BYTES - head.len()) / 2));
        assert!(grows.len() <= MAX_URL_BYTES);
        assert_eq!(url(&grows), "");
    }

    #[test]
    fn nul_and_white_space_around_a_url_are_trimmed() {
        assert_eq!(url("\0 https://m.example/a\0\n"), "https://m.example/a");
        assert_eq!(url_parsed("\0https://M.example/a \0"), "https://m.example/a");
    }

    #[test]
    fn a_gt_inside_a_quoted_value_does_not_end_the_tag() {
        // html5ever writes '>' raw inside quoted values; the tag copier
        // must take the whole tag, or the rest would be read as text.
        assert_eq!(
            finish(
                r#"<a href="https://x.example/a>b" class="mention">t</a>"#.to_string(),
                &[]
            ),
            "<a href=https://x.example/a&gt;b class=mention>t</a>"
        );
    }

    #[test]
    fn only_declared_shortcodes_of_at_most_64_letters_become_images() {
        let long = "a".repeat(65);
        let max = "b".repeat(64);
        let emojis = [
            emoji(&long, "https://f.example/l.png"),
            emoji(&max, "https://f.example/m.png"),
        ];
        let out = text(&format!(":{long}: :{max}:"), &emojis);
        assert!(out.starts_with(&format!(":{long}: <img")), "{out}");
        assert_eq!(out.matches("<img").count(), 1, "{out}");
        // Not a shortcode at all: never matched, whatever is declared.
        let odd = [
            emoji("a-b", "https://f.example/x.png"),
            emoji("", "https://f.example/y.png"),
        ];
        assert_eq!(text(":a-b: ::", &odd), ":a-b: ::");
    }

    #[test]
    fn urls_are_absolute_http_and_inert() {
        let cases = [
            ("https://m.example/@alice", "https://m.example/@alice"),
            ("HTTPS://M.Example/a%20b", "https://m.example/a%20b"),
            ("https://m.example/a b", ""),
            ("https://m.example/a\"onmouseover=x", ""),
            ("https://evil.example/a.png\" onerror=\"alert(17)", ""),
            ("https://m.example/it's", "https://m.example/it%27s"),
            ("https://m.example/?q='", "https://m.example/?q=%27"),
            ("https://m.example/?q=<x>", ""),
            (
                "https://m.example/?q=%22%3E%3Cscript%3E",
                "https://m.example/?q=%22%3E%3Cscript%3E",
            ),
            ("https://m.example/a\tb", ""),
            ("https://user:pw@m.example/", "https://m.example/"),
            ("javascript:alert(1)", ""),
            ("data:text/html,x", ""),
            ("//evil.example/x", ""),
            ("/relative", ""),
            ("", ""),
            (
                "https://evil.example/x/onmouseover=alert(1)//",
                "https://evil.example/x/onmouseover=alert(1)//",
            ),
            ("https://m.example/a?b=1/onclick=x", "https://m.example/a?b=1/onclick=x"),
            (
                "https://m.example/media?w=100&h=50",
                "https://m.example/media?w=100&h=50",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(url(input), want, "{input}");
        }
    }

    /// Links in `content` go through [`url`] on the parser path too:
    /// credentials dropped, host lower-cased, a URL with a raw space
    /// dropped (the link keeps its text). Ammonia's own scheme check alone
    /// would keep them.
    #[test]
    fn links_on_the_parser_path_go_through_url() {
        let html = concat!(
            r#"<ul><li><a href="https://user:pw@M.Example/a">x</a>"#,
            r#"<a href="https://m.example/a b">y</a></li></ul>"#
        );
        assert_eq!(clean_html_fast(html), None, "the parser path");
        assert_eq!(
            clean_html_parsed(html),
            "<ul><li><a href=https://m.example/a rel=nofollow&#32;noopener&#32;noreferrer&#32;ugc>x</a><a rel=nofollow&#32;noopener&#32;noreferrer&#32;ugc>y</a></li></ul>"
        );
    }

    /// The URL parser path keeps every rule of [`url`] by itself: no raw
    /// white space, quote, angle bracket or backtick, http(s) with a host
    /// only, and the length cap on the URL as sent, even when parsing
    /// would shorten it (dot segments).
    #[test]
    fn the_url_parser_path_applies_every_rule_itself() {
        let shrinks = format!("https://m.example/{}x", "./".repeat(MAX_URL_BYTES / 2));
        assert!(shrinks.len() > MAX_URL_BYTES);
        for raw in [
            "https://m.example/a b",
            "https://m.example/a\tb",
            "https://m.example/a\u{85}b",
            "https://m.example/a\"b",
            "https://m.example/a<b",
            "https://m.example/a`b",
            "ftp://m.example/x",
            "javascript://m.example/%0Aalert(1)",
            "",
            shrinks.as_str(),
        ] {
            assert_eq!(url_parsed(raw), "", "{raw:?}");
            assert_eq!(url(raw), "", "{raw:?}");
        }
        assert_eq!(url_parsed("https://m.example/./x"), "https://m.example/x");
    }

    /// A shortcode is an emoji only between two colons: a declared name
    /// after one colon, followed by anything else, stays text.
    #[test]
    fn a_shortcode_needs_its_closing_colon() {
        let ok = [emoji("ok", "https://f.example/ok.png")];
        assert_eq!(text(":ok then :ok", &ok), ":ok then :ok");
        assert_eq!(text(":ok then :ok:", &ok).matches("<img").count(), 1);
    }

    /// Mastodon's own markup takes the parser-free path, and both paths
    /// write the same bytes for it.
    #[test]
    fn mastodon_markup_takes_the_fast_path_to_the_same_bytes() {
        let html = r#"<p>Hi <span class="h-card" translate="no"><a href="https://m.example/@nadia" class="u-url mention">@<span>nadia</span></a></span></p>"#;
        let fast = clean_html_fast(html).expect("Mastodon's markup takes the fast path");
        assert_eq!(fast, clean_html_parsed(html));
        assert_eq!(clean_html(html), fast);
    }

    /// A shortcode may hold letters, digits and underscores, as
    /// Mastodon's do (`blob_cat_2`); nothing else, and never nothing.
    #[test]
    fn a_shortcode_is_letters_digits_and_underscores() {
        let cat = [emoji("blob_cat_2", "https://f.example/c.png")];
        assert_eq!(
            text(":blob_cat_2:", &cat),
            "<img class=emoji src=https://f.example/c.png alt=:blob_cat_2: title=:blob_cat_2: draggable=false>"
        );
        assert!(is_shortcode("blob_cat_2"));
        for bad in ["", "blob-cat", "blob cat", "blob:cat", "é"] {
            assert!(!is_shortcode(bad), "{bad:?}");
        }
    }

    /// Two colons with nothing between them are never an emoji, whatever
    /// the shortcodes known: an emoji needs a name.
    #[test]
    fn two_colons_with_nothing_between_are_never_an_emoji() {
        let known = HashMap::from([("", "https://f.example/e.png".to_string())]);
        let mut out = String::new();
        emoji_in_text("a :: b", &known, &mut out);
        assert_eq!(out, "a :: b");
    }

    /// A tag cut off at the end of the input is copied to the end, never
    /// read past it.
    #[test]
    fn a_tag_cut_off_at_the_end_is_copied_to_the_end() {
        assert_eq!(
            finish(r#"<p>"a"</p><a href="https://x.example/"#.to_string(), &[]),
            "<p>&quot;a&quot;</p><a href=https://x.example/"
        );
        assert_eq!(finish(r#"'b' <br"#.to_string(), &[]), "&#39;b&#39; <br");
    }
}
