//! The answer JSON: which replies may be published, how they hang
//! together, and every field made safe (see `sanitize`).
//!
//! The shape and field names are the Go original's, so existing page
//! scripts keep working; everything after them is additive.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::config::{Config, Visibility};
use crate::mastodon::model::{Account, Attachment, Context, Status};
use crate::sanitize;

/// The whole answer.
#[derive(Debug, Serialize)]
pub struct Answer {
    /// `null` when the article has no root (Go contract).
    pub comments: Option<BTreeMap<String, Comment>>,
    pub stats: Stats,
    /// Replies not shown (private, blocked, hidden, unapproved): a count only.
    pub withheld: usize,
}

#[derive(Debug, Serialize)]
pub struct Comment {
    pub author: Author,
    /// Sanitized HTML.
    pub toot: String,
    /// `created_at`, normalised RFC 3339 in UTC with milliseconds.
    pub date: String,
    /// The status `uri` (Go contract), or `url` when `uri` is not http(s).
    pub url: String,
    pub reply_to: String,
    pub root: String,
    pub edited: Option<String>,
    /// The content warning as HTML (escaped text + emoji); `""` when none.
    pub spoiler_text: String,
    pub sensitive: bool,
    pub media: Vec<Media>,
    pub favs: u64,
    pub reblogs: u64,
}

#[derive(Debug, Serialize)]
pub struct Author {
    /// Escaped text + emoji images; the username when the name is blank.
    pub display_name: String,
    pub avatar: String,
    pub url: String,
    pub acct: String,
    pub bot: bool,
}

#[derive(Debug, Serialize)]
pub struct Media {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: String,
    pub preview_url: String,
    /// Alt text, escaped.
    pub description: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub reblogs: u64,
    pub favs: u64,
    pub replies: usize,
    pub url: String,
    pub root: String,
}

/// Who may not appear, beyond visibility: the config's lists and the
/// author's own Mastodon blocks and mutes.
#[derive(Debug, Default, Clone)]
pub struct Moderation {
    /// `user@domain`, lower case.
    pub accounts: HashSet<String>,
    /// Lower-case domains (subdomains included).
    pub domains: HashSet<String>,
}

/// The answer for an article without a root: Go's `null` + zero stats.
pub fn no_root() -> Answer {
    Answer {
        comments: None,
        stats: Stats::default(),
        withheld: 0,
    }
}

/// Mastodon ids are digits; other servers use alphanumerics, `-` and `_`.
/// Anything else is dropped: ids become JSON keys and HTML attributes.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Builds the answer for a root and its context.
pub fn render(root: &Status, context: &Context, config: &Config, extra: &Moderation) -> Answer {
    // The root's id goes into every comment; one that is not an id means
    // the server is not answering about the post we asked for.
    if !valid_id(&root.id) {
        return no_root();
    }
    let instance_host = config.url.host_str().unwrap_or("").to_ascii_lowercase();
    let by_id: HashMap<&str, &Status> = context
        .descendants
        .iter()
        .filter(|s| valid_id(&s.id))
        .map(|s| (s.id.as_str(), s))
        .collect();
    let shown: HashSet<&str> = by_id
        .values()
        .filter(|s| publishable(s, config, extra, &instance_host))
        .map(|s| s.id.as_str())
        .collect();

    let mut comments = BTreeMap::new();
    for id in &shown {
        let Some(status) = by_id.get(id) else { continue };
        let reply_to = visible_parent(status, &root.id, &by_id, &shown);
        comments.insert((*id).to_string(), comment(status, reply_to, &root.id));
    }
    let withheld = context.descendants.len() - comments.len();
    Answer {
        stats: Stats {
            reblogs: root.reblogs_count,
            favs: root.favourites_count,
            replies: comments.len(),
            url: sanitize::url(root.url.as_deref().unwrap_or(&root.uri)),
            root: root.id.clone(),
        },
        comments: Some(comments),
        withheld,
    }
}

/// Whether a reply may be published on the blog.
fn publishable(s: &Status, config: &Config, extra: &Moderation, instance_host: &str) -> bool {
    let visible = match config.visibility {
        Visibility::PublicUnlisted => matches!(s.visibility.as_str(), "public" | "unlisted"),
        Visibility::Public => s.visibility == "public",
    };
    if !visible || s.account.limited {
        return false;
    }
    if s.filtered
        .iter()
        .any(|f| f.filter.as_ref().is_some_and(|f| f.filter_action == "hide"))
    {
        return false;
    }
    if config.hidden_statuses.contains(&s.id)
        || config.hidden_statuses.contains(&s.uri)
        || s.url.as_ref().is_some_and(|u| config.hidden_statuses.contains(u))
    {
        return false;
    }
    let (acct, domain) = full_acct(&s.account, instance_host);
    let domain_blocked = |domains: &HashSet<String>| {
        domains
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
    };
    if config.blocked_accounts.contains(&acct)
        || extra.accounts.contains(&acct)
        || domain_blocked(&config.blocked_domains)
        || domain_blocked(&extra.domains)
    {
        return false;
    }
    let by_author = config.userid.as_deref().is_some_and(|u| u == s.account.id);
    if config.approve_only && !by_author && s.favourited != Some(true) {
        return false;
    }
    true
}

/// `user@domain` in lower case; local accounts get the instance's domain.
pub fn full_acct(a: &Account, instance_host: &str) -> (String, String) {
    let acct = a.acct.to_lowercase();
    match acct.split_once('@') {
        Some((_, domain)) => (acct.clone(), domain.to_string()),
        None => (format!("{acct}@{instance_host}"), instance_host.to_string()),
    }
}

/// The nearest shown ancestor, or the root: a reply under a hidden or
/// deleted one is kept, and the hidden one is never revealed. A chain that
/// loops (a hostile server's `in_reply_to_id`s) hangs off the root, so the
/// answer is always a tree.
fn visible_parent(s: &Status, root_id: &str, by_id: &HashMap<&str, &Status>, shown: &HashSet<&str>) -> String {
    let mut seen: HashSet<&str> = HashSet::from([s.id.as_str()]);
    let mut nearest: Option<&str> = None;
    let mut parent = s.in_reply_to_id.as_deref();
    while let Some(p) = parent {
        if p == root_id {
            break;
        }
        if !seen.insert(p) {
            return root_id.to_string();
        }
        let Some(st) = by_id.get(p) else { break };
        if nearest.is_none() && shown.contains(p) {
            nearest = Some(p);
        }
        parent = st.in_reply_to_id.as_deref();
    }
    nearest.unwrap_or(root_id).to_string()
}

fn comment(s: &Status, reply_to: String, root_id: &str) -> Comment {
    let a = &s.account;
    let name = if a.display_name.trim().is_empty() {
        sanitize::escape(&a.username)
    } else {
        sanitize::text(&a.display_name, &a.emojis)
    };
    let avatar = match sanitize::url(&a.avatar_static) {
        u if u.is_empty() => sanitize::url(&a.avatar),
        u => u,
    };
    let url = match sanitize::url(&s.uri) {
        u if u.is_empty() => sanitize::url(s.url.as_deref().unwrap_or("")),
        u => u,
    };
    Comment {
        author: Author {
            display_name: name,
            avatar,
            url: sanitize::url(a.url.as_deref().unwrap_or("")),
            acct: sanitize::escape(&a.acct),
            bot: a.bot,
        },
        toot: sanitize::content(&s.content, &s.emojis),
        date: normalise_date(&s.created_at).unwrap_or_default(),
        url,
        reply_to,
        root: root_id.to_string(),
        edited: s.edited_at.as_deref().and_then(normalise_date),
        spoiler_text: sanitize::text(&s.spoiler_text, &s.emojis),
        sensitive: s.sensitive,
        media: s.media_attachments.iter().map(media).collect(),
        favs: s.favourites_count,
        reblogs: s.reblogs_count,
    }
}

fn media(m: &Attachment) -> Media {
    Media {
        kind: match m.kind.as_str() {
            "image" => "image",
            "video" => "video",
            "gifv" => "gifv",
            "audio" => "audio",
            _ => "unknown",
        },
        url: sanitize::url(m.url.as_deref().unwrap_or("")),
        preview_url: sanitize::url(m.preview_url.as_deref().unwrap_or("")),
        description: sanitize::escape(m.description.as_deref().unwrap_or("")),
    }
}

/// Upstream JSON (`statuses/ID` and its `context`) to the answer's JSON:
/// the whole pipeline of a cache fill, for fuzzing and benchmarks.
pub fn from_upstream_json(status: &[u8], context: &[u8], config: &Config) -> Result<Vec<u8>, serde_json::Error> {
    let status: Status = serde_json::from_slice(status)?;
    let context: Context = serde_json::from_slice(context)?;
    serde_json::to_vec(&render(&status, &context, config, &Moderation::default()))
}

/// Strict RFC 3339 in, `YYYY-MM-DDTHH:MM:SS.mmmZ` out; anything else is
/// not a date (and never reaches the page raw).
pub fn normalise_date(s: &str) -> Option<String> {
    let t = humantime::parse_rfc3339(s.trim()).ok()?;
    Some(humantime::format_rfc3339_millis(t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict_and_normalised() {
        assert_eq!(
            normalise_date("2026-07-01T08:41:05.000Z").as_deref(),
            Some("2026-07-01T08:41:05.000Z")
        );
        assert_eq!(
            normalise_date("2026-07-01T08:41:05Z").as_deref(),
            Some("2026-07-01T08:41:05.000Z")
        );
        assert_eq!(normalise_date(r#"2026-07-01T08:41:05.000Z"><script>"#), None);
        assert_eq!(normalise_date(""), None);
    }

    fn status(id: &str, parent: Option<&str>) -> Status {
        serde_json::from_value(serde_json::json!({
            "id": id, "in_reply_to_id": parent, "visibility": "public", "account": {}
        }))
        .expect("status")
    }

    #[test]
    fn reply_chains_always_form_a_tree() {
        let root = status("1", None);
        let context = Context {
            descendants: vec![
                status("2", Some("3")),
                status("3", Some("2")),
                status("4", Some("4")),
                status("5", Some("2")),
                status("6", Some("1")),
                status("7", Some("6")),
                status("8", Some("gone")),
                status("9", Some("8")),
            ],
        };
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let a = render(&root, &context, &config, &Moderation::default());
        let c = a.comments.expect("comments");
        let parent = |id: &str| c[id].reply_to.clone();
        for looped in ["2", "3", "4", "5"] {
            assert_eq!(parent(looped), "1", "{looped}");
        }
        assert_eq!(parent("7"), "6");
        assert_eq!(parent("8"), "1", "deleted parent");
        assert_eq!(parent("9"), "8");
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("116843781319371281"));
        assert!(valid_id("01HZ7Q2K3M4N5P6R7S8T9V0W1X"));
        assert!(!valid_id(r#"1"><img src=x>"#));
        assert!(!valid_id(""));
    }
}
