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
}

#[derive(Debug, Clone, Deserialize)]
pub struct FilterResult {
    #[serde(default, deserialize_with = "null_default")]
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Filter {
    #[serde(default, deserialize_with = "null_default")]
    pub filter_action: String,
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
pub struct SearchResults {
    #[serde(default, deserialize_with = "null_default")]
    pub statuses: Vec<Status>,
}

/// An entry of `/api/v1/blocks` and `/api/v1/mutes`.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockedAccount {
    #[serde(default, deserialize_with = "null_default")]
    pub acct: String,
    #[serde(default, deserialize_with = "null_default")]
    pub url: Option<String>,
}
