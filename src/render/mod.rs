//! The answer JSON: which replies may be published, how they hang
//! together, and every field made safe (see `sanitize`).
//!
//! The shape and field names are the Go original's, so existing page
//! scripts keep working; everything after them is additive.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, Visibility};
use crate::ids;
use crate::limits;
use crate::mastodon::model::{Account, Attachment, Context, Status};
use crate::media::{self, Images, Kind};
use crate::sanitize;

mod json;

/// The whole answer.
#[derive(Debug, Serialize)]
pub struct Answer<'a> {
    /// `null` when the article has no root (Go contract). Borrowed from the
    /// thread it was made of: rendered and serialized in one go.
    pub comments: Option<Comments<'a>>,
    pub stats: Stats,
    /// Replies not shown (private, blocked, hidden, unapproved): a count only.
    pub withheld: usize,
}

/// The shown replies by id, in id order: the answer's `comments` object,
/// its keys sorted as the Go original's map. Sorted once, as a list.
#[derive(Debug, Default)]
pub struct Comments<'a>(Vec<(&'a str, Comment<'a>)>);

impl<'a> Comments<'a> {
    pub fn get(&self, id: &str) -> Option<&Comment<'a>> {
        let at = self.0.binary_search_by(|(k, _)| (*k).cmp(id)).ok()?;
        Some(&self.0[at].1)
    }

    pub fn remove(&mut self, id: &str) -> Option<Comment<'a>> {
        let at = self.0.binary_search_by(|(k, _)| (*k).cmp(id)).ok()?;
        Some(self.0.remove(at).1)
    }

    /// In id order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &Comment<'a>)> {
        self.0.iter().map(|(k, c)| (*k, c))
    }
}

impl<'a> std::ops::Index<&str> for Comments<'a> {
    type Output = Comment<'a>;
    /// Panics when there is no such comment, as a map's index does.
    fn index(&self, id: &str) -> &Comment<'a> {
        match self.get(id) {
            Some(c) => c,
            None => panic!("no comment {id:?}"),
        }
    }
}

impl Serialize for Comments<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, c)| (k, c)))
    }
}

#[derive(Debug, Serialize)]
pub struct Comment<'a> {
    /// Shared by all of one author's comments (sanitized once).
    pub author: Arc<Author>,
    /// Sanitized HTML.
    pub toot: String,
    /// `created_at`, normalised RFC 3339 in UTC with milliseconds.
    pub date: String,
    /// The status `uri` (Go contract), or `url` when `uri` is not http(s).
    pub url: String,
    pub reply_to: &'a str,
    pub root: &'a str,
    pub edited: Option<String>,
    /// The content warning as HTML (escaped text + emoji); `""` when none.
    pub spoiler_text: String,
    pub sensitive: bool,
    pub media: Vec<Media>,
    pub favs: u64,
    pub reblogs: u64,
    /// The post this reply quotes, when its author allowed the quote and a
    /// logged-out visitor could see it; `null` otherwise (the reply's
    /// content then carries no link to it either).
    pub quote: Option<QuoteLink>,
}

/// A quoted post, linked.
#[derive(Debug, Clone, Serialize)]
pub struct QuoteLink {
    pub url: String,
    /// `user@domain` (escaped).
    pub acct: String,
}

#[derive(Debug, Clone, Serialize)]
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

/// Who may not appear, beyond visibility: the author's own Mastodon blocks
/// and mutes (see `moderation`).
#[derive(Debug, Default, Clone)]
pub struct Moderation {
    /// `user@domain`, lower case.
    pub accounts: HashSet<String>,
    /// Lower-case domains (subdomains included).
    pub domains: HashSet<String>,
}

/// What the config says may be published: the part of [`Config`] that
/// rendering reads, made once per config.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The instance's host, lower case: the domain of local accounts.
    pub instance_host: String,
    pub visibility: Visibility,
    pub approve_only: bool,
    pub hidden_statuses: HashSet<String>,
    pub blocked_accounts: HashSet<String>,
    pub blocked_domains: HashSet<String>,
    /// With `proxy_media`: every image URL points at the blog's origin.
    /// The one place an answer's image URLs are made.
    pub images: Option<Arc<Images>>,
}

impl Policy {
    pub(crate) fn from_config(c: &Config) -> Policy {
        Policy {
            instance_host: c.url.host_str().unwrap_or("").to_ascii_lowercase(),
            visibility: c.visibility,
            approve_only: c.approve_only,
            hidden_statuses: c.hidden_statuses.clone(),
            blocked_accounts: c.blocked_accounts.clone(),
            blocked_domains: c.blocked_domains.clone(),
            images: None,
        }
    }
}

/// Everything that decides what one render publishes.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub policy: &'a Policy,
    /// The author's account id: the config's `userid`, or the token's
    /// account (approve-only shows the author's own replies).
    pub author: Option<&'a str>,
    pub lists: &'a Moderation,
    /// Replies awaiting the author's approval (see `pending`).
    pub pending: &'a HashSet<String>,
}

/// The render ran out of time (the request's deadline passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rendering the thread took longer than the request's deadline")]
pub struct TooLong;

/// The answer for an article without a root: Go's `null` + zero stats.
pub(crate) fn no_root() -> Answer<'static> {
    Answer {
        comments: None,
        stats: Stats::default(),
        withheld: 0,
    }
}

/// Builds the answer for a root and its context. Linear in the number of
/// replies whatever the thread's shape; with `until`, it gives up once
/// that moment has passed.
pub fn render<'a>(
    root: &'a Status,
    context: &'a Context,
    rules: Rules<'_>,
    until: Option<std::time::Instant>,
) -> Result<Answer<'a>, TooLong> {
    render_until(root, context, rules, || {
        until.is_some_and(|u| std::time::Instant::now() >= u)
    })
}

/// [`render`], asking `past_deadline` every [`limits::RENDER_CHECK_EVERY`]
/// comments (the first one included), and giving up when it says so.
fn render_until<'a>(
    root: &'a Status,
    context: &'a Context,
    rules: Rules<'_>,
    mut past_deadline: impl FnMut() -> bool,
) -> Result<Answer<'a>, TooLong> {
    // The root's id goes into every comment; one that is not an id means
    // the server is not answering about the post we asked for.
    if !ids::valid(&root.id) {
        return Ok(no_root());
    }
    let thread = Thread::new(&root.id, &context.descendants);
    let shown: Vec<bool> = thread.nodes.iter().map(|s| publishable(s, rules)).collect();
    let parents = thread.visible_parents(&shown);

    // Made in id order (the ids are unique, see `Thread::new`), so the
    // answer's keys need no sorting afterwards.
    let mut order: Vec<usize> = (0..thread.nodes.len()).filter(|&i| shown[i]).collect();
    order.sort_unstable_by(|&a, &b| thread.nodes[a].id.as_str().cmp(thread.nodes[b].id.as_str()));
    let mut comments = Vec::with_capacity(order.len());
    let mut authors = AuthorCache::default();
    for (done, &i) in order.iter().enumerate() {
        let s = thread.nodes[i];
        if done % limits::RENDER_CHECK_EVERY == 0 && past_deadline() {
            return Err(TooLong);
        }
        let reply_to = parents[i].map_or(root.id.as_str(), |p| thread.nodes[p].id.as_str());
        let author = authors.get(&s.account, rules.policy.images.as_deref());
        comments.push((s.id.as_str(), comment(s, author, reply_to, &root.id, rules)));
    }
    let published = comments.len();
    let withheld = context.descendants.len() - published;
    Ok(Answer {
        stats: Stats {
            reblogs: root.reblogs_count,
            favs: root.favourites_count,
            replies: published,
            url: sanitize::url(root.url.as_deref().unwrap_or(&root.uri)),
            root: root.id.to_string(),
        },
        comments: Some(Comments(comments)),
        withheld,
    })
}

/// Whether a reply may be published on the blog.
fn publishable(s: &Status, rules: Rules<'_>) -> bool {
    let policy = rules.policy;
    let visible = match policy.visibility {
        Visibility::PublicUnlisted => matches!(s.visibility.as_str(), "public" | "unlisted"),
        Visibility::Public => s.visibility == "public",
    };
    if !visible || s.account.limited {
        return false;
    }
    // Not for logged-out visitors on the server itself: local-only posts
    // (GoToSocial, glitch-soc, Hometown), replies awaiting the author's
    // approval (GoToSocial: its list, and its note as a second line).
    if s.local_only == Some(true) || rules.pending.contains(s.id.as_str()) || pending_note(&s.content) {
        return false;
    }
    if thread_filters(s).any(|f| f.filter_action == "hide") {
        return false;
    }
    if policy.hidden_statuses.contains(s.id.as_str())
        || policy.hidden_statuses.contains(s.uri.as_str())
        || s.url
            .as_ref()
            .is_some_and(|u| policy.hidden_statuses.contains(u.as_str()))
    {
        return false;
    }
    let (acct, domain) = full_acct(&s.account, &policy.instance_host);
    let domain_blocked = |domains: &HashSet<String>| {
        domains
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
    };
    if policy.blocked_accounts.contains(&acct)
        || rules.lists.accounts.contains(&acct)
        || domain_blocked(&policy.blocked_domains)
        || domain_blocked(&rules.lists.domains)
    {
        return false;
    }
    let by_author = rules.author.is_some_and(|u| s.account.id == u);
    if policy.approve_only && !by_author && s.favourited != Some(true) {
        return false;
    }
    true
}

/// `user@domain` in lower case; local accounts get the instance's domain.
pub(crate) fn full_acct(a: &Account, instance_host: &str) -> (String, String) {
    let acct = ids::full_acct(&a.acct, instance_host).unwrap_or_default();
    let domain = acct.split_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    (acct, domain)
}

/// A thread's replies, one per id (the last one sent wins), and who
/// answers whom.
struct Thread<'a> {
    nodes: Vec<&'a Status<'a>>,
    /// The index of each node's parent; `None` when it answers the root,
    /// or a status that is not in the thread (deleted, never sent).
    parent: Vec<Option<usize>>,
}

impl<'a> Thread<'a> {
    fn new(root_id: &str, descendants: &'a [Status]) -> Thread<'a> {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(descendants.len());
        let mut nodes: Vec<&Status> = Vec::with_capacity(descendants.len());
        for s in descendants {
            // A reply that claims the root's own id is not a reply.
            // Ids become JSON keys and HTML attributes: anything else is dropped.
            if !ids::valid(&s.id) || s.id == root_id {
                continue;
            }
            match index.get(s.id.as_str()) {
                Some(&i) => nodes[i] = s,
                None => {
                    index.insert(&s.id, nodes.len());
                    nodes.push(s);
                }
            }
        }
        let parent = nodes
            .iter()
            .map(|s| match s.in_reply_to_id.as_deref() {
                Some(p) if p != root_id => index.get(p).copied(),
                _ => None,
            })
            .collect();
        Thread { nodes, parent }
    }

    /// Each node's nearest shown ancestor (`None`: the root), worked out
    /// once per node with an explicit stack, so any depth and any shape
    /// cost the same. A reply under a hidden or deleted one is kept and
    /// the hidden one is never revealed; a chain that loops (a hostile
    /// server's `in_reply_to_id`s) hangs off the root, with everything
    /// under it, so the answer is always a tree.
    fn visible_parents(&self, shown: &[bool]) -> Vec<Option<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            /// Nearest shown ancestor, and whether the chain above loops.
            Done(Option<usize>, bool),
        }
        let n = self.nodes.len();
        let mut mark = vec![Mark::New; n];
        let mut path = Vec::new();
        for start in 0..n {
            // Walk up until the root, a node already worked out, or a node
            // already on this walk (a loop).
            let mut at = Some(start);
            let mut above = (None, false);
            while let Some(i) = at {
                match mark[i] {
                    Mark::Done(nearest, loops) => {
                        above = (if shown[i] { Some(i) } else { nearest }, loops);
                        break;
                    }
                    Mark::OnPath => {
                        above = (None, true);
                        break;
                    }
                    Mark::New => {
                        mark[i] = Mark::OnPath;
                        path.push(i);
                        at = self.parent[i];
                    }
                }
            }
            // Down again: each node's answer is its parent's.
            while let Some(i) = path.pop() {
                mark[i] = Mark::Done(above.0, above.1);
                above = (if shown[i] { Some(i) } else { above.0 }, above.1);
            }
        }
        mark.into_iter()
            .map(|m| match m {
                Mark::Done(nearest, false) => nearest,
                _ => None,
            })
            .collect()
    }
}

/// Each author's fields, sanitized once per render: long threads are a
/// few people answering each other. Found by `acct` (short, so cheap to
/// hash), then taken only when every field is the same, so two accounts
/// that claim one `acct` each still show their own.
#[derive(Default)]
struct AuthorCache<'a> {
    seen: HashMap<&'a str, (AuthorKey<'a>, Arc<Author>)>,
}

/// Every field an [`Author`] is made from (but emoji, see below).
#[derive(PartialEq, Eq)]
struct AuthorKey<'a> {
    display_name: &'a str,
    username: &'a str,
    avatar_static: &'a str,
    avatar: &'a str,
    url: Option<&'a str>,
    acct: &'a str,
    bot: bool,
}

impl<'a> AuthorCache<'a> {
    fn get(&mut self, a: &'a Account, images: Option<&Images>) -> Arc<Author> {
        // Custom emoji in a name make it depend on the account's emoji
        // list: such names are rendered each time.
        if !a.emojis.is_empty() {
            return Arc::new(author(a, images));
        }
        let key = AuthorKey {
            display_name: &a.display_name,
            username: &a.username,
            avatar_static: &a.avatar_static,
            avatar: &a.avatar,
            url: a.url.as_deref(),
            acct: &a.acct,
            bot: a.bot,
        };
        match self.seen.get(a.acct.as_str()) {
            Some((seen, made)) if *seen == key => made.clone(),
            _ => {
                let made = Arc::new(author(a, images));
                self.seen.insert(&a.acct, (key, made.clone()));
                made
            }
        }
    }
}

fn author(a: &Account, images: Option<&Images>) -> Author {
    let display_name = if a.display_name.trim().is_empty() {
        sanitize::escape(&a.username)
    } else {
        sanitize::text(&a.display_name, &media::links::emojis(images, &a.emojis))
    };
    let avatar = match sanitize::url(&a.avatar_static) {
        u if u.is_empty() => sanitize::url(&a.avatar),
        u => u,
    };
    let avatar = media::links::image(images, avatar, Kind::Icon);
    Author {
        display_name,
        avatar,
        url: sanitize::url(a.url.as_deref().unwrap_or("")),
        acct: sanitize::escape(&a.acct),
        bot: a.bot,
    }
}

fn comment<'a>(s: &Status, author: Arc<Author>, reply_to: &'a str, root_id: &'a str, rules: Rules<'_>) -> Comment<'a> {
    let url = match sanitize::url(&s.uri) {
        u if u.is_empty() => sanitize::url(s.url.as_deref().unwrap_or("")),
        u => u,
    };
    // The author's own filters for threads: `warn` puts the reply behind a
    // warning that names the filter, `blur` (or any other) hides its media.
    let mut warnings = Vec::new();
    let mut blur = false;
    for f in thread_filters(s) {
        match f.filter_action.as_str() {
            "blur" => blur = true,
            _ => warnings.push(format!("Filtered ({})", f.title)),
        }
    }
    let images = rules.policy.images.as_deref();
    let emojis = media::links::emojis(images, &s.emojis);
    let mut spoiler_text = sanitize::text(&s.spoiler_text, &emojis);
    if !warnings.is_empty() {
        let named = sanitize::escape(&warnings.join(", "));
        spoiler_text = if spoiler_text.is_empty() {
            named
        } else {
            format!("{named} · {spoiler_text}")
        };
    }
    let quote = s.quote.as_ref().and_then(|q| quote_link(q, rules));
    let mut toot = sanitize::content(&s.content, &emojis);
    if s.quote.is_some() && quote.is_none() {
        toot = without_quote_fallback(&toot);
    }
    Comment {
        author,
        toot,
        date: normalise_date(&s.created_at).unwrap_or_default(),
        url,
        reply_to,
        root: root_id,
        edited: s.edited_at.as_deref().and_then(normalise_date),
        spoiler_text,
        sensitive: s.sensitive || (blur && !s.media_attachments.is_empty()),
        media: s.media_attachments.iter().map(|m| attachment(m, images)).collect(),
        favs: s.favourites_count,
        reblogs: s.reblogs_count,
        quote,
    }
}

/// The author's filters that matched and apply to a thread: Mastodon sends
/// every match whatever the filter's context.
fn thread_filters<'s>(s: &'s Status<'_>) -> impl Iterator<Item = &'s crate::mastodon::model::Filter<'s>> {
    s.filtered
        .iter()
        .filter_map(|f| f.filter.as_ref())
        .filter(|f| f.context.iter().any(|c| c == "thread"))
}

/// GoToSocial's note in a reply awaiting the author's approval (shown to
/// the author only): the class of its system message, inside a tag.
fn pending_note(content: &str) -> bool {
    // Asked of every reply: the searcher is built once.
    static CLASS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("gts-pending-reply"));
    CLASS.find_iter(content.as_bytes()).any(|at| {
        let before = &content[..at];
        before.rfind('<') > before.rfind('>')
    })
}

/// The link to a quoted post, when the quote may be shown: accepted by the
/// quoted author, and the quoted post one a logged-out visitor could see
/// that nothing of the author's moderation hides.
fn quote_link(q: &crate::mastodon::model::Quote, rules: Rules<'_>) -> Option<QuoteLink> {
    if q.state != "accepted" {
        return None;
    }
    let quoted = q.quoted_status.as_ref()?;
    let account = quoted.account.as_ref()?;
    let visible = match rules.policy.visibility {
        Visibility::PublicUnlisted => matches!(quoted.visibility.as_str(), "public" | "unlisted"),
        Visibility::Public => quoted.visibility == "public",
    };
    let (acct, domain) = full_acct(account, &rules.policy.instance_host);
    let blocked = |domains: &HashSet<String>| {
        domains
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
    };
    let hidden = rules.policy.hidden_statuses.contains(quoted.id.as_str())
        || rules.policy.hidden_statuses.contains(quoted.uri.as_str())
        || quoted
            .url
            .as_ref()
            .is_some_and(|u| rules.policy.hidden_statuses.contains(u.as_str()));
    if !visible
        || quoted.local_only == Some(true)
        || account.limited
        || hidden
        || rules.policy.blocked_accounts.contains(&acct)
        || rules.lists.accounts.contains(&acct)
        || blocked(&rules.policy.blocked_domains)
        || blocked(&rules.lists.domains)
    {
        return None;
    }
    let url = match sanitize::url(quoted.url.as_deref().unwrap_or("")) {
        u if u.is_empty() => sanitize::url(&quoted.uri),
        u => u,
    };
    (!url.is_empty()).then(|| QuoteLink {
        url,
        acct: sanitize::escape(&acct),
    })
}

/// Sanitized content without Mastodon's quote fallback (`<p
/// class=quote-inline>RE: <a …>…</a></p>`), for a quote that may not be
/// linked. Sanitized HTML never nests a paragraph, so the fallback ends at
/// the next `</p>`.
fn without_quote_fallback(toot: &str) -> String {
    const OPEN: &str = "<p class=quote-inline>";
    let mut out = String::with_capacity(toot.len());
    let mut rest = toot;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        rest = match rest[at..].find("</p>") {
            Some(end) => &rest[at + end + "</p>".len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}
/// An attachment: its preview is an image the page shows (proxied with
/// the rest); its `url` is what a reader opens by clicking, so it stays
/// the media's own.
fn attachment(m: &Attachment, images: Option<&Images>) -> Media {
    let kind = match m.kind.as_str() {
        "image" => "image",
        "video" => "video",
        "gifv" => "gifv",
        "audio" => "audio",
        _ => "unknown",
    };
    let url = sanitize::url(m.url.as_deref().unwrap_or(""));
    let mut preview_url = sanitize::url(m.preview_url.as_deref().unwrap_or(""));
    // Page scripts show an image without a preview by its `url`: proxied,
    // that image is the preview, so the reader's browser never loads it
    // from its server.
    if images.is_some() && preview_url.is_empty() && kind == "image" {
        preview_url.clone_from(&url);
    }
    Media {
        kind,
        url,
        preview_url: media::links::image(images, preview_url, Kind::Preview),
        description: sanitize::escape(m.description.as_deref().unwrap_or("")),
    }
}

/// Upstream JSON (`statuses/ID` and its `context`) to the answer's JSON:
/// the whole pipeline of a cache fill, for fuzzing and benchmarks.
pub fn from_upstream_json(status: &[u8], context: &[u8], config: &Config) -> Result<Vec<u8>, serde_json::Error> {
    from_upstream_json_with_images(status, context, config, None)
}

/// [`from_upstream_json`] with the answer's images proxied as `images` says.
pub fn from_upstream_json_with_images(
    status: &[u8],
    context: &[u8],
    config: &Config,
    images: Option<Images>,
) -> Result<Vec<u8>, serde_json::Error> {
    let status: Status = crate::mastodon::model::from_json(status)?;
    let listed = crate::mastodon::model::decode_context(context)?;
    let context = Context {
        descendants: listed.statuses,
    };
    let mut policy = Policy::from_config(config);
    policy.images = images.map(Arc::new);
    let rules = Rules {
        policy: &policy,
        author: config.userid.as_deref(),
        lists: &Moderation::default(),
        pending: &HashSet::new(),
    };
    match render(&status, &context, rules, None) {
        Ok(mut answer) => {
            answer.withheld += listed.dropped;
            Ok(answer.to_json())
        }
        Err(TooLong) => Ok(Vec::new()),
    }
}

/// Strict RFC 3339 in, `YYYY-MM-DDTHH:MM:SS.mmmZ` out; anything else is
/// not a date (and never reaches the page raw).
pub(crate) fn normalise_date(s: &str) -> Option<String> {
    let s = s.trim();
    let t = humantime::parse_rfc3339(s).ok()?;
    // Mastodon already writes the normal form. A date the parser took
    // that is 24 bytes long can only be `YYYY-MM-DDTHH:MM:SS.mmmZ` (the
    // parser wants the `T`, and `Z` or `+00:00` at the end): without a leap
    // second, which the parser turns into :59, it is its own normal form.
    if s.len() == 24 && &s.as_bytes()[17..19] != b"60" {
        return Some(s.to_string());
    }
    Some(humantime::format_rfc3339_millis(t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mastodon::model::Emoji;
    use serde::Deserialize;

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
        // Already normal: the same; a leap second as the parser reads it.
        assert_eq!(
            normalise_date(" 2026-07-01T08:41:05.123Z\n").as_deref(),
            Some("2026-07-01T08:41:05.123Z")
        );
        assert_eq!(
            normalise_date("2026-06-30T23:59:60.500Z").as_deref(),
            Some("2026-06-30T23:59:59.500Z")
        );
        for not_normal in [
            "2026-07-01t08:41:05.123z",
            "2026-07-01T08:41:05.1234Z",
            "2026-07-01T10:41:05.123+02:00",
        ] {
            assert_eq!(
                normalise_date(not_normal).as_deref(),
                humantime::parse_rfc3339(not_normal)
                    .ok()
                    .map(|t| humantime::format_rfc3339_millis(t).to_string())
                    .as_deref(),
                "{not_normal}"
            );
        }
    }

    fn status(id: &str, parent: Option<&str>) -> Status<'static> {
        Status::deserialize(serde_json::json!({
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
        let a = render(&root, &context, rules(&Policy::from_config(&config)), None).expect("rendered");
        let c = a.comments.expect("comments");
        let parent = |id: &str| c[id].reply_to;
        for looped in ["2", "3", "4", "5"] {
            assert_eq!(parent(looped), "1", "{looped}");
        }
        assert_eq!(parent("7"), "6");
        assert_eq!(parent("8"), "1", "deleted parent");
        assert_eq!(parent("9"), "8");
    }

    fn rules(policy: &Policy) -> Rules<'_> {
        static NONE: std::sync::LazyLock<Moderation> = std::sync::LazyLock::new(Moderation::default);
        static NO_PENDING: std::sync::LazyLock<HashSet<String>> = std::sync::LazyLock::new(HashSet::new);
        Rules {
            policy,
            author: None,
            lists: &NONE,
            pending: &NO_PENDING,
        }
    }

    fn private(id: &str, parent: Option<&str>) -> Status<'static> {
        let mut s = status(id, parent);
        s.visibility = "private".into();
        s
    }

    #[test]
    fn a_reply_under_hidden_ones_hangs_off_the_nearest_shown_ancestor() {
        let root = status("1", None);
        let context = Context {
            descendants: vec![
                status("2", Some("1")),
                private("3", Some("2")),
                private("4", Some("3")),
                status("5", Some("4")),
                status("6", Some("5")),
                private("7", Some("1")),
                status("8", Some("7")),
                // Claims to be the root: dropped, and its replies hang off
                // the root.
                status("1", Some("2")),
            ],
        };
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let a = render(&root, &context, rules(&Policy::from_config(&config)), None).expect("rendered");
        let c = a.comments.expect("comments");
        let parent = |id: &str| c[id].reply_to;
        assert_eq!(parent("2"), "1");
        assert_eq!(parent("5"), "2", "skips the two private ones");
        assert_eq!(parent("6"), "5");
        assert_eq!(parent("8"), "1");
        for hidden in ["3", "4", "7"] {
            assert!(c.get(hidden).is_none(), "{hidden}");
        }
        assert_eq!(c.iter().count(), 4);
        assert_eq!(a.withheld, 4);
    }

    /// A chain of `n` replies, each answering the one before.
    fn chain(n: usize) -> Context<'static> {
        let descendants = (2..n + 2)
            .map(|i| status(&i.to_string(), Some(&(i - 1).to_string())))
            .collect();
        Context { descendants }
    }

    #[test]
    fn a_long_chain_keeps_its_shape() {
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let (root, thread) = (status("1", None), chain(30_000));
        let a = render(&root, &thread, rules(&policy), None).expect("rendered");
        let c = a.comments.expect("comments");
        assert_eq!(c.iter().count(), 30_000);
        assert_eq!(c["2"].reply_to, "1");
        assert_eq!(c["30001"].reply_to, "30000");
    }

    #[test]
    fn a_render_stops_at_its_deadline() {
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let past = std::time::Instant::now();
        assert_eq!(
            render(&status("1", None), &chain(1_000), rules(&policy), Some(past)).err(),
            Some(TooLong)
        );
        let later = std::time::Instant::now() + std::time::Duration::from_secs(60);
        assert!(render(&status("1", None), &chain(1_000), rules(&policy), Some(later)).is_ok());
        // Asked every 64 comments, from the first: 16 times for 1,000, and
        // a deadline that passes on the fifth question stops it there.
        let (root, thread) = (status("1", None), chain(1_000));
        let mut asked = 0;
        let answer = render_until(&root, &thread, rules(&policy), || {
            asked += 1;
            false
        });
        assert!(answer.is_ok());
        assert_eq!(asked, 1_000usize.div_ceil(limits::RENDER_CHECK_EVERY));
        let mut asked = 0;
        let answer = render_until(&root, &thread, rules(&policy), || {
            asked += 1;
            asked == 5
        });
        assert_eq!((answer.err(), asked), (Some(TooLong), 5));
    }

    #[test]
    fn a_status_is_hidden_by_its_id_its_uri_or_its_url_alone() {
        let mut a = status("2", Some("1"));
        a.uri = "https://far.example/users/x/statuses/9".into();
        a.url = Some("https://far.example/@x/9".into());
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        for hide in [
            "2",
            "https://far.example/users/x/statuses/9",
            "https://far.example/@x/9",
        ] {
            let mut policy = Policy::from_config(&config);
            policy.hidden_statuses.insert(hide.into());
            assert!(!publishable(&a, rules(&policy)), "hidden by {hide}");
        }
        assert!(publishable(&a, rules(&Policy::from_config(&config))));
    }

    /// A render past its deadline gives up at its first check: a thread of
    /// one reply is checked at once, and replies withheld before the
    /// check's place do not push it back a whole round.
    #[test]
    fn a_passed_deadline_is_seen_at_the_first_check() {
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let past = Some(std::time::Instant::now());
        let one = Context {
            descendants: vec![status("2", Some("1"))],
        };
        assert_eq!(
            render(&status("1", None), &one, rules(&policy), past).err(),
            Some(TooLong)
        );
        let mut descendants: Vec<Status> = (0..limits::RENDER_CHECK_EVERY)
            .map(|i| private(&(i + 2).to_string(), Some("1")))
            .collect();
        descendants.push(status("1000", Some("1")));
        descendants.push(status("1001", Some("1")));
        let after_withheld = Context { descendants };
        assert_eq!(
            render(&status("1", None), &after_withheld, rules(&policy), past).err(),
            Some(TooLong)
        );
    }

    /// A media type is one of the four the page knows, or `unknown`:
    /// never what the server wrote.
    #[test]
    fn media_types_are_the_known_four_or_unknown() {
        for (kind, want) in [
            ("image", "image"),
            ("video", "video"),
            ("gifv", "gifv"),
            ("audio", "audio"),
            ("unknown", "unknown"),
            ("Image", "unknown"),
            ("<b>", "unknown"),
            ("", "unknown"),
        ] {
            let a = Attachment::deserialize(serde_json::json!({ "type": kind })).expect("attachment");
            assert_eq!(attachment(&a, None).kind, want, "{kind:?}");
        }
    }

    /// With the proxy on, an image without a preview is shown by its
    /// proxied `url` (page scripts fall back to `url`); other kinds keep
    /// an empty preview, and every `url` stays the media's own.
    #[test]
    fn a_proxied_image_without_a_preview_is_its_own_preview() {
        let key = crate::media::Key::ephemeral().expect("key");
        let blog = url::Url::parse("https://blog.example").expect("url");
        let images = Images::new(key.clone(), &blog, "/m/");
        let a = |kind: &str| -> Attachment<'static> {
            Attachment::deserialize(serde_json::json!({ "type": kind, "url": "https://far.example/i.png" }))
                .expect("attachment")
        };
        let m = attachment(&a("image"), Some(&images));
        assert_eq!(m.url, "https://far.example/i.png");
        let token = m.preview_url.strip_prefix("https://blog.example/m/").expect("proxied");
        assert_eq!(
            key.verify(token),
            Some((Kind::Preview, "https://far.example/i.png".into()))
        );
        assert_eq!(attachment(&a("video"), Some(&images)).preview_url, "");
        assert_eq!(attachment(&a("image"), None).preview_url, "", "off: as the Go original");
    }

    /// The custom emoji in a display name are its own account's: two
    /// accounts alike in every other field each show their own image (the
    /// per-render author cache must not hand one the other's).
    #[test]
    fn each_display_name_shows_its_own_accounts_emoji() {
        let emoji = |host: &str| Emoji {
            shortcode: "blob".into(),
            url: format!("https://{host}/blob.png").into(),
            static_url: format!("https://{host}/blob.png").into(),
        };
        let mut a = status("2", Some("1"));
        a.account.display_name = "Sam :blob:".into();
        a.account.emojis = vec![emoji("a.example")];
        let mut b = status("3", Some("1"));
        b.account = a.account.clone();
        b.account.emojis = vec![emoji("b.example")];
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let context = Context {
            descendants: vec![a, b],
        };
        let root = status("1", None);
        let answer = render(&root, &context, rules(&policy), None).expect("rendered");
        let c = answer.comments.expect("comments");
        assert!(
            c["2"].author.display_name.contains("src=https://a.example/blob.png"),
            "{}",
            c["2"].author.display_name
        );
        assert!(
            c["3"].author.display_name.contains("src=https://b.example/blob.png"),
            "{}",
            c["3"].author.display_name
        );
    }

    /// Authors are sanitized once per render, but never mixed up: two
    /// accounts that claim the same `acct` (a hostile server's) each show
    /// their own name, avatar and link, in any order.
    #[test]
    fn accounts_sharing_an_acct_each_show_their_own_fields() {
        let one = |id: &str, name: &str, avatar: &str| {
            let mut s = status(id, Some("1"));
            s.account.acct = "same@far.example".into();
            s.account.display_name = name.to_string().into();
            s.account.avatar = avatar.to_string().into();
            s
        };
        let context = Context {
            descendants: vec![
                one("2", "First", "https://far.example/1.png"),
                one("3", "First", "https://far.example/1.png"),
                one("4", "Second", "https://far.example/2.png"),
                one("5", "First", "https://far.example/1.png"),
                one("6", "First", "https://far.example/3.png"),
            ],
        };
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let root = status("1", None);
        let answer = render(&root, &context, rules(&policy), None).expect("rendered");
        let c = answer.comments.expect("comments");
        let shown = |id: &str| (c[id].author.display_name.as_str(), c[id].author.avatar.as_str());
        assert_eq!(shown("2"), ("First", "https://far.example/1.png"));
        assert_eq!(shown("3"), ("First", "https://far.example/1.png"));
        assert_eq!(shown("4"), ("Second", "https://far.example/2.png"));
        assert_eq!(shown("5"), ("First", "https://far.example/1.png"));
        assert_eq!(shown("6"), ("First", "https://far.example/3.png"));
        assert!(
            Arc::ptr_eq(&c["2"].author, &c["3"].author),
            "the same author is made once"
        );
    }

    /// A field with a fallback takes it when, and only when, its first
    /// choice is not a safe URL: the avatar when `avatar_static` is not,
    /// the status `url` when its `uri` is not http(s) (the Go contract).
    #[test]
    fn unsafe_first_choices_fall_back_to_the_second() {
        let mut a = status("2", Some("1"));
        a.uri = "tag:far.example,2026:objectId=9".into();
        a.url = Some("https://far.example/@x/9".into());
        a.account.avatar_static = "javascript:alert(1)".into();
        a.account.avatar = "https://far.example/a.png".into();
        let mut b = status("3", Some("1"));
        b.uri = "https://far.example/users/y/statuses/3".into();
        b.url = Some("https://far.example/@y/3".into());
        b.account.avatar_static = "https://far.example/s.png".into();
        b.account.avatar = "https://far.example/a.gif".into();
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let context = Context {
            descendants: vec![a, b],
        };
        let root = status("1", None);
        let answer = render(&root, &context, rules(&policy), None).expect("rendered");
        let c = answer.comments.expect("comments");
        assert_eq!(c["2"].url, "https://far.example/@x/9");
        assert_eq!(c["2"].author.avatar, "https://far.example/a.png");
        assert_eq!(c["3"].url, "https://far.example/users/y/statuses/3");
        assert_eq!(c["3"].author.avatar, "https://far.example/s.png");
    }

    /// A reply quoting post 5 of q@a.far.example, with Mastodon's fallback
    /// paragraph before its own text.
    fn quoting(quoted: serde_json::Value) -> Status<'static> {
        Status::deserialize(serde_json::json!({
            "id": "2", "in_reply_to_id": "1", "visibility": "public", "account": {},
            "content": "<p class=\"quote-inline\">RE: <a href=\"https://far.example/@q/5\">https://far.example/@q/5</a></p><p>mine</p>",
            "quote": { "state": "accepted", "quoted_status": quoted },
        }))
        .expect("status")
    }

    fn quoted() -> serde_json::Value {
        serde_json::json!({
            "id": "5",
            "uri": "https://far.example/users/q/statuses/5",
            "url": "https://far.example/@q/5",
            "visibility": "public",
            "account": { "id": "9", "username": "q", "acct": "q@a.far.example" },
        })
    }

    /// The reply's `quote` and `toot` under a policy and moderation lists.
    fn quote_answer(s: Status, policy: &Policy, lists: &Moderation) -> (Option<QuoteLink>, String) {
        let pending = HashSet::new();
        let rules = Rules {
            policy,
            author: None,
            lists,
            pending: &pending,
        };
        let (root, context) = (status("1", None), Context { descendants: vec![s] });
        let answer = render(&root, &context, rules, None).expect("rendered");
        let mut c = answer.comments.expect("comments");
        let c = c.remove("2").expect("the reply is shown");
        (c.quote, c.toot)
    }

    /// A quoted post is linked only when a logged-out visitor could see it
    /// and nothing of the author's moderation hides it: each condition
    /// alone withholds the link (and the fallback paragraph that links it,
    /// the reply's own text kept).
    #[test]
    fn a_quote_is_linked_only_when_nothing_withholds_it() {
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let base = Policy::from_config(&config);
        let none = Moderation::default();
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<HashSet<String>>();
        let linked = |quoted: serde_json::Value, policy: &Policy, lists: &Moderation| {
            quote_answer(quoting(quoted), policy, lists).0.is_some()
        };

        // Linked: to its url, with the quoted author; unrelated entries in
        // every list change nothing.
        let mut unrelated = base.clone();
        unrelated.blocked_domains = set(&["other.example", "ar.example"]);
        unrelated.blocked_accounts = set(&["q@other.example"]);
        unrelated.hidden_statuses = set(&["6"]);
        let unrelated_lists = Moderation {
            accounts: set(&["q@other.example"]),
            domains: set(&["other.example"]),
        };
        let (quote, toot) = quote_answer(quoting(quoted()), &unrelated, &unrelated_lists);
        let quote = quote.expect("linked");
        assert_eq!(quote.url, "https://far.example/@q/5");
        assert_eq!(quote.acct, "q@a.far.example");
        assert!(toot.contains("RE: "), "{toot}");

        // Not linked: the fallback goes, the reply's own text stays.
        let mut private = quoted();
        private["visibility"] = "private".into();
        let (quote, toot) = quote_answer(quoting(private), &base, &none);
        assert!(quote.is_none());
        assert_eq!(toot, "<p>mine</p>");

        // Visibility, as the policy says.
        let mut public_only = base.clone();
        public_only.visibility = Visibility::Public;
        let mut unlisted = quoted();
        unlisted["visibility"] = "unlisted".into();
        assert!(linked(unlisted.clone(), &base, &none));
        assert!(!linked(unlisted, &public_only, &none));
        assert!(linked(quoted(), &public_only, &none));

        // Local-only, a limited account.
        let mut local = quoted();
        local["local_only"] = true.into();
        assert!(!linked(local, &base, &none));
        let mut limited = quoted();
        limited["account"]["limited"] = true.into();
        assert!(!linked(limited, &base, &none));

        // Hidden by the config, by id, uri or url alone.
        for hide in [
            "5",
            "https://far.example/users/q/statuses/5",
            "https://far.example/@q/5",
        ] {
            let mut p = base.clone();
            p.hidden_statuses = set(&[hide]);
            assert!(!linked(quoted(), &p, &none), "hidden by {hide}");
        }

        // Blocked accounts and domains, in the config or the author's own
        // lists, a domain with its subdomains.
        let mut p = base.clone();
        p.blocked_accounts = set(&["q@a.far.example"]);
        assert!(!linked(quoted(), &p, &none), "blocked account");
        for domain in ["a.far.example", "far.example"] {
            let mut p = base.clone();
            p.blocked_domains = set(&[domain]);
            assert!(!linked(quoted(), &p, &none), "blocked domain {domain}");
            let lists = Moderation {
                accounts: HashSet::new(),
                domains: set(&[domain]),
            };
            assert!(!linked(quoted(), &base, &lists), "muted domain {domain}");
        }
        let lists = Moderation {
            accounts: set(&["q@a.far.example"]),
            domains: HashSet::new(),
        };
        assert!(!linked(quoted(), &base, &lists), "muted account");
    }

    /// A quoted post's link is its `url` when that is a safe URL, else its
    /// `uri`.
    #[test]
    fn a_quote_links_its_uri_when_its_url_is_unsafe() {
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        let mut q = quoted();
        q["url"] = "javascript:alert(1)".into();
        let (quote, _) = quote_answer(quoting(q), &policy, &Moderation::default());
        assert_eq!(quote.expect("linked").url, "https://far.example/users/q/statuses/5");
    }

    /// GoToSocial's pending-reply note is recognised by its class inside a
    /// tag only: the words in a reply's text do not withhold it.
    #[test]
    fn the_pending_note_is_a_class_not_words_in_text() {
        assert!(pending_note(r#"<p class="gts-pending-reply">awaiting approval</p>"#));
        assert!(!pending_note("gts-pending-reply is the class GoToSocial uses"));
        assert!(!pending_note("<p>gts-pending-reply</p>"));
    }

    /// A filter's `blur` marks a reply sensitive only when it has media
    /// to hide; media alone do not make a reply sensitive.
    #[test]
    fn blur_makes_a_reply_with_media_sensitive() {
        let reply = |media: bool, blur: bool| -> Status<'static> {
            Status::deserialize(serde_json::json!({
                "id": "2", "in_reply_to_id": "1", "visibility": "public", "account": {},
                "media_attachments": if media {
                    serde_json::json!([{ "type": "image", "url": "https://far.example/i.png" }])
                } else {
                    serde_json::json!([])
                },
                "filtered": if blur {
                    serde_json::json!([{ "filter": { "title": "x", "context": ["thread"], "filter_action": "blur" } }])
                } else {
                    serde_json::json!([])
                },
            }))
            .expect("status")
        };
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let policy = Policy::from_config(&config);
        for (media, blur, sensitive) in [
            (false, false, false),
            (true, false, false),
            (false, true, false),
            (true, true, true),
        ] {
            let (root, context) = (
                status("1", None),
                Context {
                    descendants: vec![reply(media, blur)],
                },
            );
            let answer = render(&root, &context, rules(&policy), None).expect("rendered");
            let c = answer.comments.expect("comments");
            assert_eq!(c["2"].sensitive, sensitive, "media {media}, blur {blur}");
        }
    }

    /// An entry of the context that is not a status costs that entry only,
    /// and is counted with the withheld replies.
    #[test]
    fn entries_that_are_not_statuses_are_counted_as_withheld() {
        let config = Config::for_instance(url::Url::parse("https://m.example").expect("url"));
        let root = serde_json::json!({ "id": "1", "visibility": "public", "account": {} });
        let context = serde_json::json!({ "ancestors": [], "descendants": [
            { "id": "2", "in_reply_to_id": "1", "visibility": "public", "account": {} },
            { "id": ["not", "an", "id"] },
            "not a status",
        ] });
        let out = from_upstream_json(
            &serde_json::to_vec(&root).expect("json"),
            &serde_json::to_vec(&context).expect("json"),
            &config,
        )
        .expect("answer");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["stats"]["replies"], 1, "{v}");
        assert_eq!(v["withheld"], 2, "{v}");
    }
}
