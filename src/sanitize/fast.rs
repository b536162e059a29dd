//! The common case of `content` without an HTML parser: the markup that
//! Mastodon itself emits (paragraphs, line breaks, mentions, hashtags,
//! links, a few inline tags), recognised exactly and written out the way
//! ammonia writes it, with its attributes already unquoted and the quotes
//! of its text as references (as [`super::finish`] writes them). Anything else (another tag or attribute, a comment,
//! an unusual reference, a misnested or unclosed tag, a control character)
//! is not recognised, and the caller runs the full parser instead.
//!
//! The output must be what [`super::clean_html_parsed`] makes of the same
//! input, byte for byte: the property tests and the render fuzz target compare
//! both on every input this accepts. It only ever gives up, never guesses.
//! Parsing real threads, most replies take this path, five to ten times
//! faster than building and serializing a DOM.

use std::borrow::Cow;

use super::{LINK_REL_UNQUOTED, push_unquoted_value, url};
use crate::limits::MAX_URL_BYTES;

/// Elements accepted, all of them phrasing content (allowed inside `<p>`
/// and inside each other without the parser moving anything), but `p`.
const INLINE: &[&str] = &["a", "span", "b", "strong", "i", "em", "u", "s", "del", "code"];

/// Classes kept, per element (the allow-list of [`super::CONTENT`]).
fn allowed_class(element: &str, class: &str) -> bool {
    match element {
        "a" => matches!(class, "mention" | "hashtag" | "u-url" | "status-link"),
        "span" => matches!(class, "h-card" | "invisible" | "ellipsis"),
        "p" => class == "quote-inline",
        _ => false,
    }
}

/// Sanitized `html` as ammonia would serialize it, written unquoted (see
/// the module's doc), or `None` when the input is not of the simple kind
/// this recognises.
pub fn clean(html: &str) -> Option<String> {
    let mut out = String::with_capacity(html.len() + 64);
    let mut open: Vec<&str> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        match rest.find('<') {
            Some(0) => {}
            Some(n) => {
                text(&rest[..n], &mut out)?;
                rest = &rest[n..];
                continue;
            }
            None => {
                text(rest, &mut out)?;
                break;
            }
        }
        let end = rest.find('>')?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            // An end tag closes the innermost open element, nothing else.
            if open.pop() != Some(name) {
                return None;
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
            continue;
        }
        if matches!(tag, "br" | "br/" | "br /") {
            out.push_str("<br>");
            continue;
        }
        let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        match name {
            "p" if open.is_empty() => {
                open.push("p");
                out.push_str("<p");
                attributes("p", attrs, &mut out)?;
                out.push('>');
            }
            n if INLINE.contains(&n) => {
                // A link inside a link is moved by the parser.
                if n == "a" && open.contains(&"a") {
                    return None;
                }
                let n = INLINE.iter().find(|i| **i == n)?;
                open.push(n);
                out.push('<');
                out.push_str(n);
                attributes(n, attrs, &mut out)?;
                if *n == "a" {
                    out.push_str(" rel=");
                    out.push_str(LINK_REL_UNQUOTED);
                }
                out.push('>');
            }
            _ => return None,
        }
    }
    open.is_empty().then_some(out)
}

/// Text: the references Mastodon writes decoded, then escaped again as
/// html5ever does (`&`, `<`, `>` and no-break space as references), and
/// quotes as references as [`super::finish`] writes them.
fn text(s: &str, out: &mut String) -> Option<()> {
    let mut rest = s;
    while let Some(i) = rest
        .find(|c: char| matches!(c, '&' | '>' | '"' | '\'' | '\u{a0}' | '\u{feff}') || (c.is_control() && c != '\n'))
    {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next()?;
        rest = &rest[i + c.len_utf8()..];
        let c = match c {
            '&' => {
                let (decoded, len) = reference(rest)?;
                rest = &rest[len..];
                decoded
            }
            '>' | '"' | '\'' | '\u{a0}' => c,
            // Tabs, carriage returns, NUL, a byte-order mark and the like:
            // the parser's rules.
            _ => return None,
        };
        out.push_str(match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            // A no-break space, the one character left `reference` gives.
            _ => "&nbsp;",
        });
    }
    out.push_str(rest);
    Some(())
}

/// The character references Mastodon writes, after their `&`: the
/// character and the bytes it took.
fn reference(after_amp: &str) -> Option<(char, usize)> {
    const KNOWN: [(&str, char); 7] = [
        ("amp;", '&'),
        ("lt;", '<'),
        ("gt;", '>'),
        ("quot;", '"'),
        ("#39;", '\''),
        ("apos;", '\''),
        ("nbsp;", '\u{a0}'),
    ];
    KNOWN
        .iter()
        .find(|(name, _)| after_amp.starts_with(name))
        .map(|(name, c)| (*c, name.len()))
}

/// An attribute value, double-quoted as in Mastodon's HTML, with its
/// references decoded.
fn value(quoted: &str) -> Option<(Cow<'_, str>, &str)> {
    let inner = quoted.strip_prefix('"')?;
    let end = inner.find('"')?;
    let (raw, rest) = (&inner[..end], &inner[end + 1..]);
    let special = |c: char| c == '&' || c == '<' || c.is_control();
    if !raw.contains(special) {
        // Nothing to decode or refuse (nearly every value): not copied.
        return Some((Cow::Borrowed(raw), rest));
    }
    let mut v = String::with_capacity(raw.len());
    let mut r = raw;
    while let Some(i) = r.find(special) {
        v.push_str(&r[..i]);
        if !r[i..].starts_with('&') {
            return None;
        }
        let (c, len) = reference(&r[i + 1..])?;
        v.push(c);
        r = &r[i + 1 + len..];
    }
    v.push_str(r);
    Some((Cow::Owned(v), rest))
}

/// The attributes of one start tag: `href` made safe (an unsafe one is not
/// recognised), `class` reduced to the allowed classes, `rel`, `target`
/// and `translate` dropped; anything else is not recognised. Written in
/// their order as html5ever does, unquoted as [`super::finish`] writes
/// them.
fn attributes(element: &str, mut rest: &str, out: &mut String) -> Option<()> {
    // Which of the attributes below the tag had so far.
    let mut seen = [false; 5];
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return Some(());
        }
        let (name, after) = rest.split_once('=')?;
        let known = match name {
            "href" => 0,
            "class" => 1,
            "rel" => 2,
            "target" => 3,
            "translate" => 4,
            _ => return None,
        };
        if seen[known] {
            // The parser keeps the first of two: not worth copying.
            return None;
        }
        seen[known] = true;
        let (v, after) = value(after)?;
        rest = after;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        match name {
            // A link ammonia drops changes the order of what is left (its
            // filter removes with swap_remove): not worth copying.
            "href" if element == "a" => {
                let safe = url(&v);
                if safe.is_empty() {
                    return None;
                }
                // `url`'s answer is ASCII without quotes, white space or
                // angle brackets: html5ever would write its `&` as `&amp;`,
                // and the rest is as `finish` unquotes any value.
                out.push_str(" href=");
                for (i, part) in safe.split('&').enumerate() {
                    if i > 0 {
                        out.push_str("&amp;");
                    }
                    push_unquoted_value(part, out);
                }
            }
            // Kept, reduced to the allowed classes (possibly none), on the
            // elements that have some; dropped on the others.
            "class" if matches!(element, "a" | "span" | "p") => {
                // An empty value is the bare name. The allowed classes are
                // letters and `-`: only the space between them is escaped.
                out.push_str(" class");
                let mut kept = v.split_ascii_whitespace().filter(|c| allowed_class(element, c));
                if let Some(first) = kept.next() {
                    out.push('=');
                    out.push_str(first);
                    for c in kept {
                        out.push_str("&#32;");
                        out.push_str(c);
                    }
                }
            }
            "class" => {}
            "rel" | "target" | "translate" => {}
            _ => return None,
        }
    }
}

/// Whether `raw` is an `http(s)` URL already in the form [`url`] gives
/// (the URL parser's serialization, with nothing to encode or drop), so it
/// can be returned as it is: a lower-case host name without port or
/// credentials, a path without dot segments, and only characters no part
/// of the URL would encode (no `'`, `"`, `<`, `>`, `` ` ``, `\\`, `{`,
/// `}`, `|`, `^`, space, controls or non-ASCII). Anything else goes
/// through the parser; the property tests compare both.
pub fn canonical_url(raw: &str) -> bool {
    if raw.len() > MAX_URL_BYTES {
        return false;
    }
    let Some(rest) = raw.strip_prefix("https://").or_else(|| raw.strip_prefix("http://")) else {
        return false;
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    if !canonical_host(host) || tail.is_empty() {
        return false;
    }
    canonical_tail(tail.as_bytes())
}

/// The path, query and fragment of a canonical URL, in one pass (this runs
/// for every URL of a thread): only bytes no part of the URL would encode,
/// every `%` the start of a two-digit hexadecimal escape, at most one `#`,
/// and no dot segment in the path (the parser resolves those).
fn canonical_tail(tail: &[u8]) -> bool {
    let plain = |b: u8| PLAIN[b as usize];
    let mut path_ended = false;
    let mut hashes = 0;
    // Where the current path segment starts.
    let mut segment = 0;
    for (i, &b) in tail.iter().enumerate() {
        let escape = || {
            tail.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        };
        match b {
            b'%' if !escape() => return false,
            b'/' | b'?' | b'#' if !path_ended => {
                if dot_segment(&tail[segment..i]) {
                    return false;
                }
                segment = i + 1;
                path_ended = b != b'/';
                hashes += usize::from(b == b'#');
            }
            // The query and fragment (the path has ended).
            b'?' => {}
            b'#' => hashes += 1,
            b if plain(b) => {}
            _ => return false,
        }
    }
    hashes <= 1 && (path_ended || !dot_segment(&tail[segment..]))
}

/// The bytes no part of a URL encodes: letters, digits and
/// `-._~!$&()*+,;=:@/%`, looked up rather than searched (every byte of
/// every URL of a thread passes here).
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&()*+,;=:@/%";
    let mut i = 0;
    while i < others.len() {
        t[others[i] as usize] = true;
        i += 1;
    }
    t
};

/// `.` or `..`, also written with `%2e` or `%2E`.
fn dot_segment(segment: &[u8]) -> bool {
    matches!(
        segment,
        b"." | b".."
            | [b'%', b'2', b'e' | b'E']
            | [b'%', b'2', b'e' | b'E', b'.']
            | [b'.', b'%', b'2', b'e' | b'E']
            | [b'%', b'2', b'e' | b'E', b'%', b'2', b'e' | b'E']
    )
}

/// A host name the parser leaves as it is: lower-case labels of letters,
/// digits and inner single `-` (so no punycode `xn--`), the last label
/// starting with a letter (so never an IP address), no empty label.
fn canonical_host(host: &str) -> bool {
    // One pass over the bytes, remembering the one before and where the
    // current label starts.
    let mut before = b'.';
    let mut label = 0;
    for (i, &b) in host.as_bytes().iter().enumerate() {
        let ok = match b {
            b'a'..=b'z' | b'0'..=b'9' => true,
            // Not first in a label, not doubled.
            b'-' => before != b'.' && before != b'-',
            // Not first, not after another dot or a `-`.
            b'.' => before != b'.' && before != b'-',
            _ => false,
        };
        if !ok {
            return false;
        }
        if b == b'.' {
            label = i + 1;
        }
        before = b;
    }
    // Not empty, no empty or `-`-ended last label, which starts with a letter.
    before != b'.' && before != b'-' && host.as_bytes().get(label).is_some_and(u8::is_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::super::{clean_html_parsed, url_parsed};
    use super::*;

    /// Where the fast path answers, it answers what the parser path (ammonia,
    /// then unquoted) answers, byte for byte: Mastodon's markup, and each edge where the two could part
    /// (misnesting, stray end tags, links in links, attributes where they
    /// are not allowed, classes, references, controls).
    #[test]
    fn where_the_fast_path_answers_it_writes_what_ammonia_writes() {
        let corpus = [
            r#"<p>Hi <span class="h-card" translate="no"><a href="https://m.example/@nadia" class="u-url mention">@<span>nadia</span></a></span></p>"#,
            r#"<p><a href="https://m.example/tags/bread" class="mention hashtag" rel="tag">#<span>bread</span></a></p>"#,
            r#"<p><a href="https://ok.example/a?b=1&amp;c=2" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">https://</span><span class="ellipsis">ok.example/a</span></a></p>"#,
            r#"<p class="quote-inline x">q</p><p class="x">p</p>"#,
            r#"<p><span class="evil h-card invisible">s</span><span class="evil">e</span></p>"#,
            r#"<p><a class="" href="https://x.example/">x</a><a href="https://x.example/" class="status-link evil">y</a></p>"#,
            r#"<p><b class="mention">b</b><i class="h-card">i</i></p>"#,
            r#"<p><span href="https://x.example/">s</span></p>"#,
            r#"<a href="https://x.example/">a<a href="https://y.example/">b</a></a>"#,
            r#"<a href="https://x.example/">a<b>b</b></a>"#,
            "<b>x</a>",
            "<span>x</a>",
            "<p><b>a</p></b>",
            "<b><p>x</p></b>",
            "<p>a<p>b</p></p>",
            "<p>a</p></p>",
            "<p>a",
            "<p>a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39; &apos;g&apos; h&nbsp;i</p>",
            "<p>a > b \u{a0} c</p>",
            "a &copy; b",
            "a & b",
            "a\tb",
            "a\rb",
            "a\r\nb",
            "a\0b",
            "a\u{feff}b",
            "line<br>break<br/>and<br />more",
            "<p><code>x</code><del>d</del><s>s</s><u>u</u><em>e</em><strong>s</strong></p>",
            r#"<a href="https://x.example/a<amp;b">x</a>"#,
            r#"<a href="https://x.example/" href="https://y.example/">x</a>"#,
            r#"<a href="https://x.example/"class="mention">x</a>"#,
            r#"<a href="HTTPS://X.Example/a">x</a>"#,
            r#"<a href="https://user:pw@x.example/a">x</a>"#,
            r#"<a href="javascript:alert(1)">x</a>"#,
            r#"<span class="h-card&#39;">x</span>"#,
            r#"<span class="&amp;h-card">x</span>"#,
            "<script>alert(1)</script>",
            "<P>x</P>",
        ];
        for html in corpus {
            if let Some(fast) = clean(html) {
                assert_eq!(fast, clean_html_parsed(html), "{html:?}");
            }
        }
    }

    /// A URL the fast check takes as it is must be exactly what the URL
    /// parser path gives for it, over the length cap too (the parser path
    /// drops it). Hosts, ports, credentials, dot segments, escapes,
    /// characters some component encodes: each taken only when the parser
    /// would leave it alone.
    #[test]
    fn a_url_taken_as_it_is_is_what_the_parser_gives() {
        let head = "https://m.example/";
        let at_cap = format!("{head}{}", "a".repeat(MAX_URL_BYTES - head.len()));
        let over_cap = format!("{at_cap}a");
        let mut urls: Vec<String> = [
            "https://m.example/@nadia",
            "http://m.example/users/nadia/statuses/1",
            "https://m.example",
            "https://m.example/",
            "https://M.example/x",
            "https://m.Example/x",
            "HTTPS://m.example/x",
            "https://m_x.example/x",
            "https://-a.example/x",
            "https://a-.example/x",
            "https://a--b.example/x",
            "https://xn--bcher-kva.example/x",
            "https://a.example./x",
            "https://a..example/x",
            "https://.example/x",
            "https://./x",
            "https://1.2.3.4/x",
            "https://a.123/x",
            "https://0x7f.1/x",
            "https://m.example:443/x",
            "https://m.example:8443/x",
            "https://u@m.example/x",
            "https://[::1]/x",
            "https://m.example/a/./b",
            "https://m.example/a/../b",
            "https://m.example/a/%2e/b",
            "https://m.example/a/%2E%2e/b",
            "https://m.example/a/.%2e/b",
            "https://m.example/.",
            "https://m.example/a.b/..c/...",
            "https://m.example/a%20b",
            "https://m.example/a%2",
            "https://m.example/a%zz",
            "https://m.example/a%",
            "https://m.example/a'b",
            "https://m.example/a{b}",
            "https://m.example/a|b",
            "https://m.example/a^b",
            "https://m.example/a\\b",
            "https://m.example/é",
            "https://m.example/?q=é",
            "https://m.example/#é",
            "https://m.example/?q='",
            "https://m.example/#a'b",
            "https://m.example/?q={x}",
            "https://m.example/#a{b}",
            "https://m.example/?q=1&r=2#f",
            "https://m.example/#a#b",
            "https://m.example/?a?b#c?d",
            "https://m.example/~x/(y)/a;b=c,d/*+$!",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        urls.push(at_cap.clone());
        urls.push(over_cap.clone());
        for raw in &urls {
            let parsed = url_parsed(raw);
            if canonical_url(raw) {
                assert_eq!(&parsed, raw, "taken as it is: {raw:?}");
            }
            assert_eq!(url(raw), parsed, "{raw:?}");
        }
        assert!(!canonical_url(&over_cap), "over the cap");
    }

    /// Mastodon's own markup takes the fast path, and comes out as ammonia
    /// writes it: mentions, hashtags, shortened links with their hidden
    /// parts, quote lines, line breaks, the references Mastodon writes in
    /// text and in links, a no-break space, inline formatting, plain text.
    #[test]
    fn mastodon_markup_takes_the_fast_path() {
        let corpus = [
            r#"<p>Hi <span class="h-card" translate="no"><a href="https://m.example/@nadia" class="u-url mention">@<span>nadia</span></a></span> &amp; &lt;3 &gt; &quot;q&quot; &#39;s&#39; &apos;t&apos;&nbsp;!</p><p>line<br />two<br>three</p>"#,
            r#"<p><a href="https://m.example/tags/bread" class="mention hashtag" rel="tag">#<span>bread</span></a></p>"#,
            r#"<p><a href="https://ok.example/a?b=1&amp;c=2" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">https://</span><span class="ellipsis">ok.example/a</span><span class="invisible">?b=1&amp;c=2</span></a></p>"#,
            r#"<p class="quote-inline">RE: <a href="https://m.example/@a/1" target="_blank" rel="nofollow noopener" translate="no">m.example/@a/1</a></p>"#,
            "<p>«\u{a0}bonjour\u{a0}»</p>",
            "<p><strong>b</strong> <b>b</b> <em>i</em> <i>i</i> <u>u</u> <code>c</code> <del>d</del> <s>s</s></p>",
            "plain text",
        ];
        for html in corpus {
            assert_eq!(clean(html), Some(clean_html_parsed(html)), "{html:?}");
        }
    }

    /// The URLs Mastodon sends are taken as they are, without the URL
    /// parser: profiles, statuses, tags, media, queries, fragments,
    /// percent escapes, host names with digits and hyphens, up to the
    /// length cap; and each is exactly what the parser gives.
    #[test]
    fn mastodon_urls_are_taken_as_they_are() {
        let head = "https://m.example/";
        let at_cap = format!("{head}{}", "a".repeat(MAX_URL_BYTES - head.len()));
        for raw in [
            "https://m.example/@nadia",
            "https://m.example/@nadia/109876543210",
            "http://m.example/users/nadia/statuses/1",
            "https://m.example/tags/bread",
            "https://files.m-2.example/media_attachments/files/109/876/original/ab12cd.png",
            "https://m.example/@nadia/1#reply",
            "https://ok.example/a?b=1&c=2",
            "https://ok.example/a?b=1#c",
            "https://m.example/a%20b%C3%A9?q=%2F#%3a",
            "https://m.example/~x/(y)/a;b=c,d/*+$!:@-._",
            "https://1a.example/x",
            "https://m.example/a?b=1?c=2",
            "https://m.example/a?b/../c/./d#e/../f",
            at_cap.as_str(),
        ] {
            assert!(canonical_url(raw), "{raw:?}");
            assert_eq!(url_parsed(raw), raw, "{raw:?}");
        }
    }

    /// Host names the parser would change, or that are not names, go
    /// through it: each rule of `canonical_host` on its own.
    #[test]
    fn only_plain_lower_case_host_names_are_taken_as_they_are() {
        for host in ["m.example", "a-b.c1.example", "x.y", "1a.example", "a.b-c"] {
            assert!(canonical_host(host), "{host:?}");
        }
        for host in [
            "",
            ".",
            "m.example.",
            ".m.example",
            "m..example",
            "-m.example",
            "m-.example",
            "m.example-",
            "m.-example",
            "xn--bcher-kva.example",
            "a--b.example",
            "M.example",
            "m_x.example",
            "m.example:443",
            "u@m.example",
            "1.2.3.4",
            "m.1example",
            "m.é.example",
            "m.exa mple",
        ] {
            assert!(!canonical_host(host), "{host:?}");
        }
    }

    /// Only the first `#` starts the fragment: a URL with a second one
    /// (counted after a path that ends in `#` or in `?`) goes through the
    /// URL parser, and gets what the parser gives.
    #[test]
    fn a_second_hash_goes_through_the_parser() {
        for raw in ["https://m.example/a#b#c", "https://m.example/a?b#c#d"] {
            assert!(!canonical_url(raw), "{raw:?}");
            assert_eq!(url(raw), url_parsed(raw), "{raw:?}");
        }
    }

    /// A host label with `--` (punycode is `xn--`) goes through the URL
    /// parser, which checks that it decodes: one that does not is dropped,
    /// never taken as it is.
    #[test]
    fn a_punycode_host_goes_through_the_parser() {
        for raw in [
            "https://xn--zz.example/x",
            "https://a.xn--zz/x",
            "https://xn--a-.example/x",
        ] {
            assert!(!canonical_url(raw), "{raw:?}");
            assert_eq!(url(raw), "", "{raw:?}");
        }
        assert_eq!(
            url("https://xn--bcher-kva.example/x"),
            "https://xn--bcher-kva.example/x"
        );
    }

    /// A control character in an attribute value sends the tag to the
    /// parser: html5ever turns NUL into U+FFFD, which [`url`] keeps (and
    /// encodes) where it would trim a NUL, so the fast path gives up on it.
    #[test]
    fn a_control_character_in_an_attribute_value_goes_to_the_parser() {
        for html in [
            "<p><a href=\"https://x.example/a\0\">x</a></p>",
            "<p><a href=\"\0https://x.example/a\">x</a></p>",
            "<p><span class=\"h-card\u{1}\">x</span></p>",
        ] {
            assert_eq!(clean(html), None, "{html:?}");
        }
        let parsed = clean_html_parsed("<p><a href=\"https://x.example/a\0\">x</a></p>");
        assert!(parsed.contains("https://x.example/a%EF%BF%BD"), "{parsed}");
    }
}
