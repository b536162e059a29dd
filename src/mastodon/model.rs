//! The parts of Mastodon's API entities the daemon reads.
//!
//! Lenient where servers differ (missing or `null` fields take defaults),
//! strict where the answer would be meaningless without them (`id`,
//! `account`, `descendants`): a wrong shape is an upstream error.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// A string of an upstream answer: borrowed from the answer's bytes when
/// the JSON string holds no escape (most of them), owned otherwise.
/// Copying each string of a long thread, then freeing it, was a tenth of
/// its render. Reads as a `&str`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text<'a>(Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Text<'_> {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Str;
        impl<'de> Visitor<'de> for Str {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Str)
    }
}

/// `null` and absent both become the type's default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Counts are never negative on a sane server; a hostile one gets 0.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct Status<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub uri: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub url: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub created_at: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub edited_at: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub in_reply_to_id: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub visibility: Text<'a>,
    #[serde(default, deserialize_with = "null_default")]
    pub sensitive: bool,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub spoiler_text: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub content: Text<'a>,
    #[serde(borrow)]
    pub account: Account<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub media_attachments: Vec<Attachment<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub emojis: Vec<Emoji<'a>>,
    #[serde(default, deserialize_with = "count")]
    pub reblogs_count: u64,
    #[serde(default, deserialize_with = "count")]
    pub favourites_count: u64,
    /// Only its presence matters: a boost is never a root.
    #[serde(default)]
    pub reblog: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub card: Option<Card<'a>>,
    /// Seen only with the author's token: whether the author favourited it.
    #[serde(default, deserialize_with = "null_default")]
    pub favourited: Option<bool>,
    /// The token owner's filters that matched (authenticated calls only).
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub filtered: Vec<FilterResult<'a>>,
    /// Not federated: GoToSocial, glitch-soc and Hometown never show such a
    /// post to a logged-out visitor (GoToSocial sends the field only when
    /// true, glitch-soc only on local posts).
    #[serde(default, deserialize_with = "null_default")]
    pub local_only: Option<bool>,
    /// Mastodon 4.4+: the post this one quotes, and whether it may. Boxed:
    /// rare, and as large as the rest of the status.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub quote: Option<Box<Quote<'a>>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FilterResult<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub filter: Option<Filter<'a>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Filter<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub title: Text<'a>,
    /// Where the filter applies: `home`, `notifications`, `public`,
    /// `thread`, `account`. Mastodon sends every match whatever the
    /// context; the client applies only its own.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub context: Vec<Text<'a>>,
    /// `hide`, `warn` or (4.4) `blur`; anything else is a warning.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub filter_action: Text<'a>,
}

/// Mastodon 4.4+ `Quote` (or `ShallowQuote`): `state` is `accepted` when
/// the quoted author allowed it; `pending`, `rejected`, `revoked`,
/// `deleted`, `unauthorized`, `blocked_*`, `muted_account` or anything new
/// mean the quoted post must not be shown.
#[derive(Debug, Clone, Deserialize)]
pub struct Quote<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub state: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub quoted_status: Option<QuotedStatus<'a>>,
}

/// The parts of a quoted post the daemon reads: enough to link it, and to
/// judge whether it may be linked at all.
#[derive(Debug, Clone, Deserialize)]
pub struct QuotedStatus<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub uri: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub url: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub visibility: Text<'a>,
    #[serde(default, deserialize_with = "null_default")]
    pub local_only: Option<bool>,
    /// Without one the post cannot be attributed, so it is not linked.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub account: Option<Account<'a>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub username: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub acct: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub display_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub url: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub avatar: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub avatar_static: Text<'a>,
    #[serde(default, deserialize_with = "null_default")]
    pub bot: bool,
    /// Silenced by the instance's moderators.
    #[serde(default, deserialize_with = "null_default")]
    pub limited: bool,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub emojis: Vec<Emoji<'a>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Emoji<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub shortcode: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub url: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub static_url: Text<'a>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attachment<'a> {
    #[serde(borrow, default, deserialize_with = "null_default", rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub url: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub preview_url: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub description: Option<Text<'a>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Card<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub url: Text<'a>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Context<'a> {
    #[serde(borrow)]
    pub descendants: Vec<Status<'a>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SearchResults<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub statuses: Vec<Status<'a>>,
}

/// Statuses of a list the instance sent, and how many of its entries were
/// dropped: a `null` (Akkoma renders one for a post it cannot load) or an
/// entry of the wrong shape costs that entry, never the whole list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listed<'a> {
    pub statuses: Vec<Status<'a>>,
    pub dropped: usize,
    /// Why the first dropped entry was, for the log.
    pub first_problem: Option<String>,
}

/// Raw entries of a list, for the entry-by-entry second pass.
#[derive(Deserialize)]
struct RawContext<'a> {
    #[serde(borrow)]
    descendants: Vec<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct RawSearch {
    #[serde(default, deserialize_with = "null_default")]
    statuses: Vec<Box<serde_json::value::RawValue>>,
}

impl<'a> Listed<'a> {
    fn strict(statuses: Vec<Status<'a>>) -> Listed<'a> {
        Listed {
            statuses,
            ..Listed::default()
        }
    }

    /// Each entry on its own: those that are statuses are kept.
    fn entry_by_entry<E>(raw: Vec<E>, decode: impl Fn(&E) -> Result<Status<'a>, serde_json::Error>) -> Listed<'a> {
        let mut out = Listed::default();
        for entry in &raw {
            match decode(entry) {
                Ok(s) => out.statuses.push(s),
                Err(e) => {
                    out.dropped += 1;
                    out.first_problem.get_or_insert_with(|| e.to_string());
                }
            }
        }
        out
    }
}

/// Decodes JSON, its strings borrowed from `bytes` where they can be. A
/// body that is valid UTF-8 as a whole (every sane server's) is checked
/// once here and read as text: serde_json then skips checking each string
/// again, a fifth of the decoding time of a long thread. Any other body is
/// read as bytes, exactly as before, so what decodes and what fails does
/// not change.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Decodes JSON into values that own every string: lists kept after their
/// body is gone (timeline pages, search results). Read through
/// `io::Read`, which has no string to lend, so nothing borrows `bytes`.
pub(crate) fn from_json_owned<T: Deserialize<'static>>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(bytes);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A context (`statuses/:id/context`), borrowing from `bytes`. The whole
/// list is decoded at once; only when that fails is it decoded again
/// entry by entry, so a good thread costs one pass. An answer without a
/// `descendants` list is an error.
pub(crate) fn decode_context(bytes: &[u8]) -> Result<Listed<'_>, serde_json::Error> {
    match from_json::<Context>(bytes) {
        Ok(c) => Ok(Listed::strict(c.descendants)),
        Err(_) => from_json::<RawContext>(bytes)
            .map(|r| Listed::entry_by_entry(r.descendants, |e| serde_json::from_str(e.get()))),
    }
}

/// A page of statuses (an account's timeline), kept after its body.
pub(crate) fn decode_statuses(bytes: &[u8]) -> Result<Listed<'static>, serde_json::Error> {
    match from_json_owned::<Vec<Status>>(bytes) {
        Ok(statuses) => Ok(Listed::strict(statuses)),
        Err(_) => from_json_owned::<Vec<Box<serde_json::value::RawValue>>>(bytes)
            .map(|raw| Listed::entry_by_entry(raw, |e| from_json_owned(e.get().as_bytes()))),
    }
}

/// Search results (`/api/v2/search`, `/api/v1/search`), kept after their
/// body.
pub(crate) fn decode_search(bytes: &[u8]) -> Result<Listed<'static>, serde_json::Error> {
    match from_json_owned::<SearchResults>(bytes) {
        Ok(r) => Ok(Listed::strict(r.statuses)),
        Err(_) => from_json_owned::<RawSearch>(bytes)
            .map(|r| Listed::entry_by_entry(r.statuses, |e| from_json_owned(e.get().as_bytes()))),
    }
}

/// An entry of `/api/v1/blocks` and `/api/v1/mutes`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BlockedAccount {
    #[serde(default, deserialize_with = "null_default")]
    pub acct: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &[u8] = br#"{"id":"7","uri":"https://x.example/7","url":null,"content":"<p>\"hi\" \u00e9</p>",
        "in_reply_to_id":"6","visibility":"public","spoiler_text":null,"account":{"acct":"a@x.example","display_name":null}}"#;

    #[test]
    fn strings_are_borrowed_from_the_body_unless_escaped() {
        let s: Status = from_json(REPLY).expect("a status");
        assert!(matches!(s.id.0, Cow::Borrowed("7")));
        assert!(matches!(s.account.acct.0, Cow::Borrowed("a@x.example")));
        // Escapes are decoded into a string of its own.
        assert!(matches!(&s.content.0, Cow::Owned(c) if c == "<p>\"hi\" é</p>"));
        // `null` reads as absent or empty, as before.
        assert_eq!(s.url, None);
        assert_eq!(s.spoiler_text, "");
        assert_eq!(s.account.display_name, "");
        assert_eq!(s.in_reply_to_id.as_deref(), Some("6"));
    }

    #[test]
    fn lists_kept_after_their_body_own_their_strings() {
        let mut page = b"[".to_vec();
        page.extend_from_slice(REPLY);
        page.extend_from_slice(b",null]");
        let listed = decode_statuses(&page).expect("a page");
        drop(page);
        assert_eq!((listed.statuses.len(), listed.dropped), (1, 1));
        let s = &listed.statuses[0];
        assert!(matches!(s.id.0, Cow::Owned(_)));
        assert_eq!((s.id.as_str(), s.content.as_str()), ("7", "<p>\"hi\" é</p>"));
    }

    #[test]
    fn a_string_field_of_another_type_is_an_error_and_costs_its_entry() {
        let bad =
            br#"{"descendants":[{"id":7,"account":{}},{"id":"8","account":{"acct":["x"]}},{"id":"9","account":{}}]}"#;
        let listed = decode_context(bad).expect("a context");
        assert_eq!(listed.statuses.len(), 1);
        assert_eq!(listed.dropped, 2);
        assert!(listed.first_problem.is_some_and(|p| p.contains("expected a string")));
    }
}
