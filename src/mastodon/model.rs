//! The parts of Mastodon's API entities the daemon reads.
//!
//! Lenient where servers differ (missing or `null` fields take defaults),
//! strict where the answer would be meaningless without them (`id`,
//! `account`, `descendants`): a wrong shape is an upstream error.

use serde::{Deserialize, Deserializer};

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
pub struct Status {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub uri: String,
    #[serde(default, deserialize_with = "null_default")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub created_at: String,
    #[serde(default, deserialize_with = "null_default")]
    pub edited_at: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub in_reply_to_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub visibility: String,
    #[serde(default, deserialize_with = "null_default")]
    pub sensitive: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub spoiler_text: String,
    #[serde(default, deserialize_with = "null_default")]
    pub content: String,
    pub account: Account,
    #[serde(default, deserialize_with = "null_default")]
    pub media_attachments: Vec<Attachment>,
    #[serde(default, deserialize_with = "null_default")]
    pub emojis: Vec<Emoji>,
    #[serde(default, deserialize_with = "count")]
    pub reblogs_count: u64,
    #[serde(default, deserialize_with = "count")]
    pub favourites_count: u64,
    /// Only its presence matters: a boost is never a root.
    #[serde(default)]
    pub reblog: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "null_default")]
    pub card: Option<Card>,
    /// Seen only with the author's token: whether the author favourited it.
    #[serde(default, deserialize_with = "null_default")]
    pub favourited: Option<bool>,
    /// The token owner's filters that matched (authenticated calls only).
    #[serde(default, deserialize_with = "null_default")]
    pub filtered: Vec<FilterResult>,
    /// Not federated: GoToSocial, glitch-soc and Hometown never show such a
    /// post to a logged-out visitor (GoToSocial sends the field only when
    /// true, glitch-soc only on local posts).
    #[serde(default, deserialize_with = "null_default")]
    pub local_only: Option<bool>,
    /// Mastodon 4.4+: the post this one quotes, and whether it may.
    #[serde(default, deserialize_with = "null_default")]
    pub quote: Option<Quote>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FilterResult {
    #[serde(default, deserialize_with = "null_default")]
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Filter {
    #[serde(default, deserialize_with = "null_default")]
    pub title: String,
    /// Where the filter applies: `home`, `notifications`, `public`,
    /// `thread`, `account`. Mastodon sends every match whatever the
    /// context; the client applies only its own.
    #[serde(default, deserialize_with = "null_default")]
    pub context: Vec<String>,
    /// `hide`, `warn` or (4.4) `blur`; anything else is a warning.
    #[serde(default, deserialize_with = "null_default")]
    pub filter_action: String,
}

/// Mastodon 4.4+ `Quote` (or `ShallowQuote`): `state` is `accepted` when
/// the quoted author allowed it; `pending`, `rejected`, `revoked`,
/// `deleted`, `unauthorized`, `blocked_*`, `muted_account` or anything new
/// mean the quoted post must not be shown.
#[derive(Debug, Clone, Deserialize)]
pub struct Quote {
    #[serde(default, deserialize_with = "null_default")]
    pub state: String,
    #[serde(default, deserialize_with = "null_default")]
    pub quoted_status: Option<QuotedStatus>,
}

/// The parts of a quoted post the daemon reads: enough to link it, and to
/// judge whether it may be linked at all.
#[derive(Debug, Clone, Deserialize)]
pub struct QuotedStatus {
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub uri: String,
    #[serde(default, deserialize_with = "null_default")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub visibility: String,
    #[serde(default, deserialize_with = "null_default")]
    pub local_only: Option<bool>,
    /// Without one the post cannot be attributed, so it is not linked.
    #[serde(default, deserialize_with = "null_default")]
    pub account: Option<Account>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub username: String,
    #[serde(default, deserialize_with = "null_default")]
    pub acct: String,
    #[serde(default, deserialize_with = "null_default")]
    pub display_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub avatar: String,
    #[serde(default, deserialize_with = "null_default")]
    pub avatar_static: String,
    #[serde(default, deserialize_with = "null_default")]
    pub bot: bool,
    /// Silenced by the instance's moderators.
    #[serde(default, deserialize_with = "null_default")]
    pub limited: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub emojis: Vec<Emoji>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Emoji {
    #[serde(default, deserialize_with = "null_default")]
    pub shortcode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub url: String,
    #[serde(default, deserialize_with = "null_default")]
    pub static_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    #[serde(default, deserialize_with = "null_default", rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub preview_url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Card {
    #[serde(default, deserialize_with = "null_default")]
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Context {
    pub descendants: Vec<Status>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SearchResults {
    #[serde(default, deserialize_with = "null_default")]
    pub statuses: Vec<Status>,
}

/// Statuses of a list the instance sent, and how many of its entries were
/// dropped: a `null` (Akkoma renders one for a post it cannot load) or an
/// entry of the wrong shape costs that entry, never the whole list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listed {
    pub statuses: Vec<Status>,
    pub dropped: usize,
    /// Why the first dropped entry was, for the log.
    pub first_problem: Option<String>,
}

/// Raw entries of a list, for the entry-by-entry second pass.
#[derive(Deserialize)]
struct RawContext {
    descendants: Vec<Box<serde_json::value::RawValue>>,
}

#[derive(Deserialize)]
struct RawSearch {
    #[serde(default, deserialize_with = "null_default")]
    statuses: Vec<Box<serde_json::value::RawValue>>,
}

impl Listed {
    fn strict(statuses: Vec<Status>) -> Listed {
        Listed {
            statuses,
            ..Listed::default()
        }
    }

    /// Each entry on its own: those that are statuses are kept.
    fn entry_by_entry(raw: Vec<Box<serde_json::value::RawValue>>) -> Listed {
        let mut out = Listed::default();
        for entry in raw {
            match serde_json::from_str::<Status>(entry.get()) {
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

/// Decodes JSON. A body that is valid UTF-8 as a whole (every sane
/// server's) is checked once here and read as text: serde_json then skips
/// checking each string again, a fifth of the decoding time of a long
/// thread. Any other body is read as bytes, exactly as before, so what
/// decodes and what fails does not change.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// A context (`statuses/:id/context`). The whole list is decoded at once;
/// only when that fails is it decoded again entry by entry, so a good
/// thread costs one pass. An answer without a `descendants` list is an
/// error.
pub(crate) fn decode_context(bytes: &[u8]) -> Result<Listed, serde_json::Error> {
    match from_json::<Context>(bytes) {
        Ok(c) => Ok(Listed::strict(c.descendants)),
        Err(_) => from_json::<RawContext>(bytes).map(|r| Listed::entry_by_entry(r.descendants)),
    }
}

/// A page of statuses (an account's timeline).
pub(crate) fn decode_statuses(bytes: &[u8]) -> Result<Listed, serde_json::Error> {
    match from_json::<Vec<Status>>(bytes) {
        Ok(statuses) => Ok(Listed::strict(statuses)),
        Err(_) => from_json::<Vec<Box<serde_json::value::RawValue>>>(bytes).map(Listed::entry_by_entry),
    }
}

/// Search results (`/api/v2/search`, `/api/v1/search`).
pub(crate) fn decode_search(bytes: &[u8]) -> Result<Listed, serde_json::Error> {
    match from_json::<SearchResults>(bytes) {
        Ok(r) => Ok(Listed::strict(r.statuses)),
        Err(_) => from_json::<RawSearch>(bytes).map(|r| Listed::entry_by_entry(r.statuses)),
    }
}

/// An entry of `/api/v1/blocks` and `/api/v1/mutes`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BlockedAccount {
    #[serde(default, deserialize_with = "null_default")]
    pub acct: String,
}
