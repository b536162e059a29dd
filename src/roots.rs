//! Finding the post that announced an article ("the root").
//!
//! In order: the config's `roots` map; the state file; the author's own
//! timeline (one scan indexes every article link it sees, so one scan
//! serves all articles); full-text search (v2, v1 on old servers). A status
//! announces an article when it is the author's own public post (not a
//! reply, not a boost) and one of its links points at exactly that
//! article: `/post` never matches `/post-part-2`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use tokio::time::Instant;
use url::Url;

use crate::coalesce::Coalescer;
use crate::config::Config;
use crate::ctx::Ctx;
use crate::deadline::Deadline;
use crate::ids::StatusId;
use crate::limits;
use crate::mastodon::model::{self, Status};
use crate::mastodon::{UpstreamError, decode_list};
use crate::query;
use crate::state::Known;

thread_local! {
    static HREFS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// An html5 parse that only collects `href`s (same parser as the
/// sanitizer, so links are read the way a browser reads them).
static LINK_READER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    b.add_tags(["a"])
        .add_tag_attributes("a", ["href"])
        .url_relative(ammonia::UrlRelative::PassThrough)
        .attribute_filter(|_, attr, value| {
            if attr == "href" {
                HREFS.with(|h| h.borrow_mut().push(value.to_string()));
            }
            None
        });
    b
});

/// The `href`s of a status's HTML content.
pub fn links(content: &str) -> Vec<String> {
    HREFS.with(|h| h.borrow_mut().clear());
    let _ = LINK_READER.clean(content);
    HREFS.with(|h| std::mem::take(&mut *h.borrow_mut()))
}

/// The article path a link points at, normalised like request paths
/// (percent-decoding, `index.html`, trailing slash, `.`/`..`), if it is on
/// the blog (`blog_url`'s host and port; any host when unset).
pub(crate) fn article_path(link: &str, blog: Option<&Url>) -> Option<String> {
    let u = Url::parse(link.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    if let Some(blog) = blog {
        let same_host = u.host_str()?.eq_ignore_ascii_case(blog.host_str()?);
        let same_port = u.port() == blog.port() || blog.port().is_none() && u.port().is_none();
        if !same_host || !same_port {
            return None;
        }
    }
    query::from_url(&u).ok()
}

/// Whether a status may be a root at all.
pub(crate) fn is_candidate(s: &Status, userid: Option<&str>) -> bool {
    s.reblog.is_none()
        && s.in_reply_to_id.is_none()
        && crate::ids::valid(&s.id)
        && matches!(s.visibility.as_str(), "public" | "unlisted")
        && userid.is_none_or(|u| s.account.id == u)
}

/// The article paths a status announces (empty for non-candidates).
pub fn announced(s: &Status, config: &Config, userid: Option<&str>) -> Vec<String> {
    if !is_candidate(s, userid) {
        return Vec::new();
    }
    let mut paths: Vec<String> = links(&s.content)
        .iter()
        .map(String::as_str)
        .chain(s.card.as_ref().map(|c| c.url.as_str()))
        .filter_map(|l| article_path(l, config.blog_url.as_ref()))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// Root discovery shared by all requests: coalesced and rate-limited, so
/// scanners probing random URLs cost (almost) nothing upstream. It is the
/// only writer of announcing posts in the state.
#[derive(Default)]
pub(crate) struct Discovery {
    scans: Coalescer<(), Result<(), UpstreamError>>,
    searches: Coalescer<String, Result<Vec<StatusId>, UpstreamError>>,
    /// When the next timeline scan may start.
    next_scan: Arc<Mutex<Option<Instant>>>,
    recent_searches: Mutex<VecDeque<Instant>>,
}

impl Discovery {
    /// The root id of an article, or `None` when it has none (yet). A miss
    /// is remembered only when every step that should have run did run and
    /// answered: a failed, timed-out or rate-limited step proves nothing.
    pub async fn find(&self, ctx: &Ctx, path: &str, deadline: Deadline) -> Result<Option<StatusId>, UpstreamError> {
        if let Some(id) = ctx.config.roots.get(path) {
            return Ok(Some(id.clone()));
        }
        match ctx.state.lookup(path) {
            Known::Roots(ids) => return Ok(ids.first().cloned()),
            Known::RecentMiss => return Ok(None),
            Known::Unknown => {}
        }
        let mut complete = ctx.resolve_author(deadline).await;
        let mut failure = None;
        let mut looked = false;
        if ctx.userid().is_some() && ctx.config.scan_pages > 0 {
            // Join a scan under way; start one only when due.
            if self.scans.contains(&()) || self.scan_due() {
                looked = true;
                if let Err(e) = self.scan(ctx).await {
                    failure = Some(e);
                    complete = false;
                }
                if let Known::Roots(ids) = ctx.state.lookup(path) {
                    return Ok(ids.first().cloned());
                }
            } else {
                complete = false;
            }
        }
        if ctx.mastodon.has_token() && ctx.config.searches_per_minute > 0 {
            if self.searches.contains(&path.to_string()) || self.search_allowed(ctx.config.searches_per_minute) {
                looked = true;
                match self.search(ctx, path).await {
                    Ok(ids) if !ids.is_empty() => {
                        ctx.state.add_roots(path, &ids);
                        if let Known::Roots(ids) = ctx.state.lookup(path) {
                            return Ok(ids.first().cloned());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failure = failure.or(Some(e));
                        complete = false;
                    }
                }
            } else {
                complete = false;
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if looked && complete {
            ctx.state.add_miss(path);
        }
        Ok(None)
    }

    /// One timeline scan for every request asking meanwhile, with a
    /// deadline of its own (it outlives the request that started it); a
    /// failed scan may run again after [`limits::SCAN_RETRY`].
    async fn scan(&self, ctx: &Ctx) -> Result<(), UpstreamError> {
        let c = ctx.clone();
        let next_scan = self.next_scan.clone();
        let shared = Deadline::after(ctx.config.timeout);
        let job = move || async move {
            let r = shared.bound(scan_timeline(&c, shared)).await;
            let r = r.unwrap_or(Err(UpstreamError::Timeout));
            if r.is_err()
                && let Ok(mut next) = next_scan.lock()
            {
                *next = Some(Instant::now() + limits::SCAN_RETRY);
            }
            r
        };
        self.scans.run((), job, Err(UpstreamError::Bug)).await
    }

    /// One search per article for every request asking meanwhile, with a
    /// deadline of its own.
    async fn search(&self, ctx: &Ctx, path: &str) -> Result<Vec<StatusId>, UpstreamError> {
        let (c, p) = (ctx.clone(), path.to_string());
        let shared = Deadline::after(ctx.config.timeout);
        let job = move || async move {
            shared
                .bound(search(&c, &p, shared))
                .await
                .unwrap_or(Err(UpstreamError::Timeout))
        };
        self.searches.run(path.to_string(), job, Err(UpstreamError::Bug)).await
    }

    /// The instance says an announcing post is gone (404): forget it, so
    /// the article is looked up again.
    pub(crate) fn forget(&self, ctx: &Ctx, path: &str, root: &StatusId) {
        ctx.state.remove_root(path, root);
    }

    /// At most one timeline scan per [`limits::SCAN_INTERVAL`] (sooner
    /// after a failed one).
    fn scan_due(&self) -> bool {
        let Ok(mut next) = self.next_scan.lock() else {
            return false;
        };
        let now = Instant::now();
        if next.is_some_and(|t| now < t) {
            return false;
        }
        *next = Some(now + limits::SCAN_INTERVAL);
        true
    }

    /// At most `per_minute` searches in any minute.
    fn search_allowed(&self, per_minute: u32) -> bool {
        let Ok(mut recent) = self.recent_searches.lock() else {
            return false;
        };
        let now = Instant::now();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= std::time::Duration::from_secs(60))
        {
            recent.pop_front();
        }
        if recent.len() >= per_minute as usize {
            return false;
        }
        recent.push_back(now);
        true
    }
}

/// Reads the author's timeline newest first until a post indexed before
/// (or `scan_pages` pages), indexing every article link into the state.
pub(crate) async fn scan_timeline(ctx: &Ctx, deadline: Deadline) -> Result<(), UpstreamError> {
    let Some(userid) = ctx.userid() else {
        return Ok(());
    };
    let watermark = ctx.state.scanned_up_to();
    let mut max_id: Option<String> = None;
    let mut newest: Option<StatusId> = None;
    for _ in 0..ctx.config.scan_pages {
        let page = ctx
            .mastodon
            .account_statuses(userid, max_id.as_deref(), deadline)
            .await?;
        let listed = decode_list(page.value, deadline, "the author's timeline", model::decode_statuses).await?;
        if listed.statuses.is_empty() && listed.dropped == 0 {
            break;
        }
        let mut reached_old = false;
        for s in &listed.statuses {
            let Some(id) = StatusId::parse(&s.id) else {
                continue;
            };
            if newest.as_ref().is_none_or(|n| id > *n) {
                newest = Some(id.clone());
            }
            if watermark.as_ref().is_some_and(|w| id <= *w) {
                reached_old = true;
                continue;
            }
            for article in announced(s, &ctx.config, Some(userid)) {
                ctx.state.add_roots(&article, std::slice::from_ref(&id));
            }
        }
        match page.next_max_id {
            Some(next) if !reached_old => max_id = Some(next),
            _ => break,
        }
    }
    if let Some(n) = newest {
        ctx.state.set_scanned_up_to(&n);
    }
    Ok(())
}

/// Full-text search for the article (needs a token; finds statuses only on
/// instances with Elasticsearch).
pub async fn search(ctx: &Ctx, path: &str, deadline: Deadline) -> Result<Vec<StatusId>, UpstreamError> {
    let q = search_query(&ctx.config, path);
    let found = match ctx.mastodon.search_statuses(&q, deadline).await {
        // A token without read:search, or one the instance refuses: search
        // is unavailable, which is not an outage; the scan and the map remain.
        Err(e @ (UpstreamError::Refused(_) | UpstreamError::TokenRequired)) => {
            tracing::warn!("search unavailable: {e}");
            return Ok(Vec::new());
        }
        other => other?,
    };
    let found = decode_list(found.value, deadline, "search results", model::decode_search).await?;
    let mut ids: Vec<StatusId> = found
        .statuses
        .iter()
        .filter(|s| announced(s, &ctx.config, ctx.userid()).iter().any(|a| a == path))
        .filter_map(|s| StatusId::parse(&s.id))
        .collect();
    ids.sort();
    Ok(ids)
}

/// What is searched for to find an article's announcement: its full URL
/// when the blog's address is known (what the post links), else its path.
pub(crate) fn search_query(config: &Config, path: &str) -> String {
    match &config.blog_url {
        Some(blog) if path != "/" => format!("{}{}/", blog.as_str().trim_end_matches('/'), path),
        Some(blog) => blog.to_string(),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_read_like_a_browser() {
        let l = links(
            r#"<p>New post: <a href="https://blog.example.org/2026/07/01/slow-bread/" rel="nofollow"><span class="invisible">https://</span>blog</a> and <a href='https://x.example/&amp;a'>x</a></p>"#,
        );
        assert_eq!(
            l,
            vec![
                "https://blog.example.org/2026/07/01/slow-bread/",
                "https://x.example/&a"
            ]
        );
    }

    #[test]
    fn article_paths_compare_exactly() {
        let blog = Url::parse("https://blog.example.org").ok();
        let b = blog.as_ref();
        let cases = [
            ("https://blog.example.org/2018/12/01/post/", Some("/2018/12/01/post")),
            ("https://BLOG.example.org/2018/12/01/post", Some("/2018/12/01/post")),
            (
                "http://blog.example.org/2018/12/01/post/index.html",
                Some("/2018/12/01/post"),
            ),
            (
                "https://blog.example.org/2018/12/01/p%6Fst/?utm=1#c",
                Some("/2018/12/01/post"),
            ),
            (
                "https://blog.example.org/2018/12/01/post-part-2/",
                Some("/2018/12/01/post-part-2"),
            ),
            ("https://blog.example.org:8443/2018/12/01/post/", None),
            ("https://other.example/2018/12/01/post/", None),
            ("javascript:alert(1)", None),
            ("/2018/12/01/post/", None),
        ];
        for (link, want) in cases {
            assert_eq!(article_path(link, b).as_deref(), want, "{link}");
        }
        assert_eq!(article_path("https://any.example/a/", None).as_deref(), Some("/a"));
    }
}
