//! The answer's JSON, written by hand.
//!
//! Writing is a fifth of a long thread's render, and most of that went to
//! serde_json's string escaping, which looks at one byte at a time. Here
//! strings are scanned eight bytes at a time (sanitized HTML has no `"`
//! and rarely a `\` or a control character), and the output is sized once.
//! The bytes are exactly serde_json's for the same [`Answer`] (same keys,
//! order and escapes), which the tests check, so existing page scripts
//! and cached copies see no difference.

use super::{Answer, Author, Comment, Comments, Media, QuoteLink, Stats};

impl Answer<'_> {
    /// The answer as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json_size_hint());
        out.extend_from_slice(b"{\"comments\":");
        match &self.comments {
            None => out.extend_from_slice(b"null"),
            Some(comments) => {
                out.push(b'{');
                for (i, (id, c)) in comments.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    string(&mut out, id);
                    out.push(b':');
                    comment(&mut out, c);
                }
                out.push(b'}');
            }
        }
        out.extend_from_slice(b",\"stats\":");
        stats(&mut out, &self.stats);
        out.extend_from_slice(b",\"withheld\":");
        number(&mut out, self.withheld as u64);
        out.push(b'}');
        out
    }

    /// Close to the final size (a reply's fields but its text are short
    /// and alike), so the buffer grows at most once instead of copying
    /// itself a dozen times.
    fn json_size_hint(&self) -> usize {
        const PER_COMMENT: usize = 640;
        let comments = self.comments.iter().flat_map(Comments::iter);
        comments.map(|(_, c)| c.toot.len() + PER_COMMENT).sum::<usize>() + 256
    }
}

fn comment(out: &mut Vec<u8>, c: &Comment<'_>) {
    out.extend_from_slice(b"{\"author\":");
    author(out, &c.author);
    out.extend_from_slice(b",\"toot\":");
    string(out, &c.toot);
    out.extend_from_slice(b",\"date\":");
    string(out, &c.date);
    out.extend_from_slice(b",\"url\":");
    string(out, &c.url);
    out.extend_from_slice(b",\"reply_to\":");
    string(out, c.reply_to);
    out.extend_from_slice(b",\"root\":");
    string(out, c.root);
    out.extend_from_slice(b",\"edited\":");
    match &c.edited {
        Some(e) => string(out, e),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"spoiler_text\":");
    string(out, &c.spoiler_text);
    out.extend_from_slice(b",\"sensitive\":");
    boolean(out, c.sensitive);
    out.extend_from_slice(b",\"media\":[");
    for (i, m) in c.media.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        media(out, m);
    }
    out.extend_from_slice(b"],\"favs\":");
    number(out, c.favs);
    out.extend_from_slice(b",\"reblogs\":");
    number(out, c.reblogs);
    out.extend_from_slice(b",\"quote\":");
    match &c.quote {
        Some(q) => quote(out, q),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn author(out: &mut Vec<u8>, a: &Author) {
    out.extend_from_slice(b"{\"display_name\":");
    string(out, &a.display_name);
    out.extend_from_slice(b",\"avatar\":");
    string(out, &a.avatar);
    out.extend_from_slice(b",\"url\":");
    string(out, &a.url);
    out.extend_from_slice(b",\"acct\":");
    string(out, &a.acct);
    out.extend_from_slice(b",\"bot\":");
    boolean(out, a.bot);
    out.push(b'}');
}

fn media(out: &mut Vec<u8>, m: &Media) {
    out.extend_from_slice(b"{\"type\":");
    string(out, m.kind);
    out.extend_from_slice(b",\"url\":");
    string(out, &m.url);
    out.extend_from_slice(b",\"preview_url\":");
    string(out, &m.preview_url);
    out.extend_from_slice(b",\"description\":");
    string(out, &m.description);
    out.push(b'}');
}

fn quote(out: &mut Vec<u8>, q: &QuoteLink) {
    out.extend_from_slice(b"{\"url\":");
    string(out, &q.url);
    out.extend_from_slice(b",\"acct\":");
    string(out, &q.acct);
    out.push(b'}');
}

fn stats(out: &mut Vec<u8>, s: &Stats) {
    out.extend_from_slice(b"{\"reblogs\":");
    number(out, s.reblogs);
    out.extend_from_slice(b",\"favs\":");
    number(out, s.favs);
    out.extend_from_slice(b",\"replies\":");
    number(out, s.replies as u64);
    out.extend_from_slice(b",\"url\":");
    string(out, &s.url);
    out.extend_from_slice(b",\"root\":");
    string(out, &s.root);
    out.push(b'}');
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `s` as a JSON string, escaped as serde_json escapes: `"`, `\` and the
/// control characters below U+0020, nothing else.
fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(word) = bytes.get(at..at + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if !needs_escape(u64::from_le_bytes(w)) {
                at += 8;
                continue;
            }
        }
        let b = bytes[at];
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..0x20 => 0,
            _ => {
                at += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[copied..at]);
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
        at += 1;
        copied = at;
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// Whether any of the eight bytes is `"`, `\` or below U+0020 (the
/// classic "has a zero byte" test, applied three ways; exact, so no
/// escape is missed).
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_space | zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64))) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).expect("a string serializes")
    }

    fn ours(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn every_escape_is_serde_jsons() {
        for b in 0u8..=0x7f {
            let one = (b as char).to_string();
            assert_eq!(ours(&one), serde(&one), "byte {b:#04x}");
            // In every position of a word, and past the last whole word.
            for pad in 0..17 {
                let s = format!("{}{one}{}", "a".repeat(pad), "b".repeat(16 - pad));
                assert_eq!(ours(&s), serde(&s), "byte {b:#04x} after {pad}");
            }
        }
        for s in ["", "é€😀", "a\u{7f}b", "<p>x</p>\u{2028}\u{2029}", "\"\\\"\\"] {
            assert_eq!(ours(s), serde(s), "{s:?}");
        }
    }

    /// The word test is exact both ways: it flags a word when, and only
    /// when, one of its bytes needs an escape (a word flagged wrongly would
    /// still be written right, byte by byte, but slowly).
    #[test]
    fn a_word_needs_escaping_exactly_when_a_byte_does() {
        for b in 0u8..=255 {
            let needs = b < 0x20 || b == b'"' || b == b'\\';
            for at in 0..8 {
                for fill in [b'a', b' ', 0x7f, 0xff, 0x21, 0x5d] {
                    let mut w = [fill; 8];
                    w[at] = b;
                    assert_eq!(
                        needs_escape(u64::from_le_bytes(w)),
                        needs,
                        "byte {b:#04x} at {at} among {fill:#04x}"
                    );
                }
            }
        }
    }

    #[test]
    fn numbers_are_serde_jsons() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX / 3, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).expect("number"));
        }
    }

    /// The buffer is sized close to the answer a real thread makes: not
    /// smaller (it would grow and copy itself), not twice as large.
    #[test]
    fn the_buffer_is_sized_close_to_the_answer() {
        let reply = |i: usize| Comment {
            author: std::sync::Arc::new(Author {
                display_name: format!("Person {i}"),
                avatar: format!("https://files.mastodon.example/cache/accounts/avatars/{i}/original/a.png"),
                url: format!("https://social{i}.example/@u{i}"),
                acct: format!("u{i}@social{i}.example"),
                bot: false,
            }),
            toot: format!("<p>Reply {i}: {}</p>", "that is a fair point. ".repeat(i % 7)),
            date: "2026-07-29T14:10:22.105Z".into(),
            url: format!("https://social{i}.example/users/u{i}/statuses/2000000000000{i:05}"),
            reply_to: "117002443161611776",
            root: "117002443161611776",
            edited: None,
            spoiler_text: String::new(),
            sensitive: false,
            media: Vec::new(),
            favs: 1,
            reblogs: 0,
            quote: None,
        };
        let ids: Vec<String> = (0..200).map(|i| format!("2000000000000{i:05}")).collect();
        let answer = Answer {
            comments: Some(Comments(
                ids.iter().enumerate().map(|(i, id)| (id.as_str(), reply(i))).collect(),
            )),
            stats: Stats::default(),
            withheld: 0,
        };
        let (hint, written) = (answer.json_size_hint(), answer.to_json().len());
        assert!(
            written <= hint && hint < 2 * written,
            "{written} bytes written, {hint} reserved"
        );
    }

    /// Any text, with every character that is escaped likely.
    fn text() -> impl Strategy<Value = String> {
        "\\PC*|[\\x00-\\x7f]{0,40}|[\"\\\\<>&'\\n\\t\\x00-\\x1f a-z]{0,24}"
    }

    fn comment() -> impl Strategy<Value = (String, Comment<'static>)> {
        let author =
            (text(), text(), text(), text(), any::<bool>()).prop_map(|(display_name, avatar, url, acct, bot)| {
                std::sync::Arc::new(Author {
                    display_name,
                    avatar,
                    url,
                    acct,
                    bot,
                })
            });
        let media = (
            text(),
            text(),
            text(),
            prop::sample::select(vec!["image", "video", "unknown"]),
        )
            .prop_map(|(url, preview_url, description, kind)| Media {
                kind,
                url,
                preview_url,
                description,
            });
        let quote = prop::option::of((text(), text()).prop_map(|(url, acct)| QuoteLink { url, acct }));
        (
            (text(), author, text(), text(), text()),
            (
                prop::option::of(text()),
                text(),
                any::<bool>(),
                prop::collection::vec(media, 0..3),
            ),
            (any::<u64>(), any::<u64>(), quote),
        )
            .prop_map(
                |((id, author, toot, date, url), (edited, spoiler_text, sensitive, media), (favs, reblogs, quote))| {
                    let c = Comment {
                        author,
                        toot,
                        date,
                        url,
                        reply_to: "109",
                        root: "1\"",
                        edited,
                        spoiler_text,
                        sensitive,
                        media,
                        favs,
                        reblogs,
                        quote,
                    };
                    (id, c)
                },
            )
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_does(s in text()) {
            prop_assert_eq!(ours(&s), serde(&s));
        }

        #[test]
        fn any_answer_is_written_as_serde_json_writes_it(
            comments in prop::collection::vec(comment(), 0..6),
            no_root in any::<bool>(),
            (reblogs, favs, replies, withheld) in (any::<u64>(), any::<u64>(), any::<usize>(), any::<usize>()),
            (url, root) in (text(), text()),
        ) {
            let (ids, comments): (Vec<String>, Vec<Comment<'static>>) = comments.into_iter().unzip();
            let answer = Answer {
                comments: (!no_root).then(|| {
                    let mut c: Vec<(&str, Comment)> = ids.iter().map(String::as_str).zip(comments).collect();
                    c.sort_by(|a, b| a.0.cmp(b.0));
                    c.dedup_by(|a, b| a.0 == b.0);
                    Comments(c)
                }),
                stats: Stats { reblogs, favs, replies, url, root },
                withheld,
            };
            let reference = serde_json::to_vec(&answer).expect("serializes");
            let written = answer.to_json();
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&reference));
        }
    }
}
