//! Every call the daemon makes to the instance, in one place: the endpoint
//! paths (shared with the stand-in's router, so the two cannot drift
//! apart), the query each is asked with, and whether it carries the token.
//! Nothing else in the daemon names an API path.
//!
//! Only ids go into a path: status ids are [`StatusId`]s, checked where
//! they entered the daemon; an account id or a page cursor that is not an
//! id ([`ids::valid`]) is answered as 404 without a call, and the
//! stand-in's router knows no path with one.

use serde::de::DeserializeOwned;

use super::model::Account;
use super::{Auth, Mastodon, Page, UpstreamError};
use crate::deadline::Deadline;
use crate::ids::{self, StatusId};

/// An endpoint of the Mastodon client API the daemon uses, with its path
/// parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint<'a> {
    /// `/api/v1/statuses/:id`: the thread's root.
    Status(&'a str),
    /// `/api/v1/statuses/:id/context`: its replies.
    Context(&'a str),
    /// `/api/v1/accounts/:id/statuses`: the author's timeline.
    AccountStatuses(&'a str),
    /// `/api/v1/accounts/verify_credentials`: the token's account.
    VerifyCredentials,
    /// `/api/v2/search`.
    SearchV2,
    /// `/api/v1/search`, Mastodon before 3.0.
    SearchV1,
    /// `/api/v1/blocks`, `/api/v1/mutes`, `/api/v1/domain_blocks`.
    Moderation(ModerationList),
    /// `/api/v1/interaction_requests` (GoToSocial): replies awaiting the
    /// author's approval.
    InteractionRequests,
    /// `/api/v1/instance`: the server's name and version (`check`).
    Instance,
    /// `/.well-known/nodeinfo`: where the server's nodeinfo documents are
    /// (`check`).
    NodeinfoIndex,
    /// `/nodeinfo/:version` (`2.0`, `2.1`; Akkoma and Pleroma add `.json`):
    /// the server software's name and version (`check`).
    Nodeinfo(&'a str),
}

/// The author's lists that hide replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModerationList {
    Blocks,
    Mutes,
    DomainBlocks,
}

impl ModerationList {
    fn segment(self) -> &'static str {
        match self {
            ModerationList::Blocks => "blocks",
            ModerationList::Mutes => "mutes",
            ModerationList::DomainBlocks => "domain_blocks",
        }
    }
}

impl<'a> Endpoint<'a> {
    /// The URL path.
    pub fn path(&self) -> String {
        match self {
            Endpoint::Status(id) => format!("/api/v1/statuses/{id}"),
            Endpoint::Context(id) => format!("/api/v1/statuses/{id}/context"),
            Endpoint::AccountStatuses(id) => format!("/api/v1/accounts/{id}/statuses"),
            Endpoint::VerifyCredentials => "/api/v1/accounts/verify_credentials".into(),
            Endpoint::SearchV2 => "/api/v2/search".into(),
            Endpoint::SearchV1 => "/api/v1/search".into(),
            Endpoint::Moderation(list) => format!("/api/v1/{}", list.segment()),
            Endpoint::InteractionRequests => "/api/v1/interaction_requests".into(),
            Endpoint::Instance => "/api/v1/instance".into(),
            Endpoint::NodeinfoIndex => "/.well-known/nodeinfo".into(),
            Endpoint::Nodeinfo(version) => format!("/nodeinfo/{version}"),
        }
    }

    /// The endpoint a path names, for the stand-in's router; `None` for
    /// any path the daemon never asks.
    pub fn parse(path: &'a str) -> Option<Endpoint<'a>> {
        match path.trim_matches('/').split('/').collect::<Vec<_>>().as_slice() {
            [".well-known", "nodeinfo"] => return Some(Endpoint::NodeinfoIndex),
            ["nodeinfo", version] if nodeinfo_version(version) => return Some(Endpoint::Nodeinfo(version)),
            _ => {}
        }
        let mut segs = path.trim_matches('/').split('/');
        let (Some("api"), Some(version)) = (segs.next(), segs.next()) else {
            return None;
        };
        let rest: Vec<&'a str> = segs.collect();
        Some(match (version, rest.as_slice()) {
            ("v1", ["accounts", "verify_credentials"]) => Endpoint::VerifyCredentials,
            ("v1", ["statuses", id]) if ids::valid(id) => Endpoint::Status(id),
            ("v1", ["statuses", id, "context"]) if ids::valid(id) => Endpoint::Context(id),
            ("v1", ["accounts", id, "statuses"]) if ids::valid(id) => Endpoint::AccountStatuses(id),
            ("v2", ["search"]) => Endpoint::SearchV2,
            ("v1", ["search"]) => Endpoint::SearchV1,
            ("v1", ["blocks"]) => Endpoint::Moderation(ModerationList::Blocks),
            ("v1", ["mutes"]) => Endpoint::Moderation(ModerationList::Mutes),
            ("v1", ["domain_blocks"]) => Endpoint::Moderation(ModerationList::DomainBlocks),
            ("v1", ["interaction_requests"]) => Endpoint::InteractionRequests,
            ("v1", ["instance"]) => Endpoint::Instance,
            _ => return None,
        })
    }

    /// A short name, for the stand-in's call counts and the tests.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::Status(_) => "status",
            Endpoint::Context(_) => "context",
            Endpoint::AccountStatuses(_) => "account_statuses",
            Endpoint::VerifyCredentials => "verify_credentials",
            Endpoint::SearchV2 => "search_v2",
            Endpoint::SearchV1 => "search_v1",
            Endpoint::Moderation(list) => list.segment(),
            Endpoint::InteractionRequests => "interaction_requests",
            Endpoint::Instance => "instance",
            Endpoint::NodeinfoIndex => "nodeinfo_index",
            Endpoint::Nodeinfo(_) => "nodeinfo",
        }
    }
}

/// A nodeinfo document's name: `2.0`, `2.1`, `2.0.json`, nothing that
/// could leave its folder.
fn nodeinfo_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 16
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && !v.contains("..")
}

/// The nodeinfo schemas `check` reads, newest first.
const NODEINFO_SCHEMAS: [&str; 2] = [
    "http://nodeinfo.diaspora.software/ns/schema/2.1",
    "http://nodeinfo.diaspora.software/ns/schema/2.0",
];

/// Page size of the author's lists and interaction requests (the most
/// Mastodon and GoToSocial serve).
const LIST_PAGE: &str = "80";

/// The interaction requests that are replies: what the daemon reads of
/// the list, and what `check` asks for.
const INTERACTION_REQUEST_KINDS: [(&str, &str); 3] =
    [("replies", "true"), ("favourites", "false"), ("reblogs", "false")];
impl Mastodon {
    /// The root status, undecoded: it is decoded with its context in one
    /// job (see `app`).
    pub async fn status(&self, status_id: &StatusId, deadline: Deadline) -> Result<Page<Vec<u8>>, UpstreamError> {
        let path = Endpoint::Status(status_id.as_str()).path();
        self.get_bytes(&path, &[], Auth::Token, deadline).await
    }

    /// The replies to a status, undecoded, as the token's account may see
    /// them (or anonymously without a token).
    pub async fn context(&self, status_id: &StatusId, deadline: Deadline) -> Result<Page<Vec<u8>>, UpstreamError> {
        let path = Endpoint::Context(status_id.as_str()).path();
        self.get_bytes(&path, &[], Auth::Token, deadline).await
    }

    /// One page of the author's own posts, newest first, without replies
    /// and boosts (they never announce an article), older than `max_id`.
    pub async fn account_statuses(
        &self,
        account_id: &str,
        max_id: Option<&str>,
        deadline: Deadline,
    ) -> Result<Page<Vec<u8>>, UpstreamError> {
        checked(account_id)?;
        if let Some(m) = max_id {
            checked(m)?;
        }
        let mut q = vec![
            ("exclude_replies", "true"),
            ("exclude_reblogs", "true"),
            ("limit", "40"),
        ];
        if let Some(m) = max_id {
            q.push(("max_id", m));
        }
        let path = Endpoint::AccountStatuses(account_id).path();
        self.get_bytes(&path, &q, Auth::Token, deadline).await
    }

    /// Full-text search for statuses, undecoded; `/api/v1/search` only
    /// where v2 is 404 (Mastodon before 3.0).
    pub(crate) async fn search_statuses(&self, q: &str, deadline: Deadline) -> Result<Page<Vec<u8>>, UpstreamError> {
        let query = [("q", q), ("type", "statuses"), ("limit", "40")];
        match self
            .get_bytes(&Endpoint::SearchV2.path(), &query, Auth::Token, deadline)
            .await
        {
            Err(UpstreamError::NotFound) => {
                self.get_bytes(&Endpoint::SearchV1.path(), &[("q", q)], Auth::Token, deadline)
                    .await
            }
            other => other,
        }
    }

    /// The token's own account (the author, when the config names none).
    pub async fn verify_credentials(&self, deadline: Deadline) -> Result<Account<'static>, UpstreamError> {
        let path = Endpoint::VerifyCredentials.path();
        Ok(self
            .get::<Account<'static>>(&path, &[], Auth::Required, deadline)
            .await?
            .value)
    }

    /// One page of one of the author's lists, older than `max_id`.
    pub(crate) async fn author_list<T: DeserializeOwned + Send + 'static>(
        &self,
        list: ModerationList,
        max_id: Option<&str>,
        deadline: Deadline,
    ) -> Result<Page<Vec<T>>, UpstreamError> {
        let mut q = vec![("limit", LIST_PAGE)];
        if let Some(id) = max_id {
            q.push(("max_id", id));
        }
        let path = Endpoint::Moderation(list).path();
        self.get(&path, &q, Auth::Required, deadline).await
    }

    /// One page of the replies awaiting the author's approval (GoToSocial),
    /// older than `max_id`.
    pub(crate) async fn pending_replies<T: DeserializeOwned + Send + 'static>(
        &self,
        max_id: Option<&str>,
        deadline: Deadline,
    ) -> Result<Page<Vec<T>>, UpstreamError> {
        let mut q = INTERACTION_REQUEST_KINDS.to_vec();
        q.push(("limit", LIST_PAGE));
        if let Some(id) = max_id {
            q.push(("max_id", id));
        }
        let path = Endpoint::InteractionRequests.path();
        self.get(&path, &q, Auth::Required, deadline).await
    }
}

/// Calls only `check` makes: what the server is, and what the token may
/// read. Each is one bounded call, like the daemon's.
impl Mastodon {
    /// `/api/v1/instance`, as JSON (its shape differs between servers).
    pub(crate) async fn instance(&self, deadline: Deadline) -> Result<serde_json::Value, UpstreamError> {
        let path = Endpoint::Instance.path();
        Ok(self.get(&path, &[], Auth::Token, deadline).await?.value)
    }

    /// The server's nodeinfo 2.x document (software name and version),
    /// found through `/.well-known/nodeinfo`; `Ok(None)` when the server
    /// has none, or lists one that is not on the instance itself (nothing
    /// is asked of another host).
    pub(crate) async fn nodeinfo(&self, deadline: Deadline) -> Result<Option<serde_json::Value>, UpstreamError> {
        let index: serde_json::Value = match self
            .get(&Endpoint::NodeinfoIndex.path(), &[], Auth::Anonymous, deadline)
            .await
        {
            Ok(page) => page.value,
            Err(UpstreamError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let links = index["links"].as_array().map(Vec::as_slice).unwrap_or_default();
        let href = NODEINFO_SCHEMAS.iter().find_map(|schema| {
            links
                .iter()
                .find(|l| l["rel"].as_str() == Some(schema))
                .and_then(|l| l["href"].as_str())
        });
        let Some(url) = href.and_then(|h| url::Url::parse(h).ok()) else {
            return Ok(None);
        };
        if url.origin() != self.base.origin() {
            return Ok(None);
        }
        let Some(endpoint @ Endpoint::Nodeinfo(_)) = Endpoint::parse(url.path()) else {
            return Ok(None);
        };
        let doc = self.get(&endpoint.path(), &[], Auth::Anonymous, deadline).await?;
        Ok(Some(doc.value))
    }

    /// The newest of the author's posts, asked without the token: 401 is
    /// a server that reads nothing to anonymous callers.
    pub(crate) async fn anonymous_probe(&self, account_id: &str, deadline: Deadline) -> Result<(), UpstreamError> {
        checked(account_id)?;
        let path = Endpoint::AccountStatuses(account_id).path();
        self.get_bytes(&path, &[("limit", "1")], Auth::Anonymous, deadline)
            .await
            .map(|_| ())
    }

    /// One entry of the replies awaiting the author's approval, with the
    /// token, as the daemon asks: 403 is the token without
    /// `read:notifications` (GoToSocial), 404 a server without the list.
    pub(crate) async fn pending_probe(&self, deadline: Deadline) -> Result<(), UpstreamError> {
        let mut q = INTERACTION_REQUEST_KINDS.to_vec();
        q.push(("limit", "1"));
        let path = Endpoint::InteractionRequests.path();
        self.get_bytes(&path, &q, Auth::Required, deadline).await.map(|_| ())
    }

    /// One entry of one of the author's lists, with the token: 403 is the
    /// token without that list's scope.
    pub(crate) async fn list_probe(&self, list: ModerationList, deadline: Deadline) -> Result<(), UpstreamError> {
        let path = Endpoint::Moderation(list).path();
        self.get_bytes(&path, &[("limit", "1")], Auth::Required, deadline)
            .await
            .map(|_| ())
    }
}

/// An id that is not one never reaches a path: the instance would not
/// know it either.
fn checked(s: &str) -> Result<(), UpstreamError> {
    if ids::valid(s) {
        Ok(())
    } else {
        Err(UpstreamError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_parses_back_from_its_path() {
        let all = [
            Endpoint::Status("116843781319371281"),
            Endpoint::Context("01F8MH75CBF9JFX4ZAD54N0W0R"),
            Endpoint::AccountStatuses("AEaHkBvDr3M2kqjHvE"),
            Endpoint::VerifyCredentials,
            Endpoint::SearchV2,
            Endpoint::SearchV1,
            Endpoint::Moderation(ModerationList::Blocks),
            Endpoint::Moderation(ModerationList::Mutes),
            Endpoint::Moderation(ModerationList::DomainBlocks),
            Endpoint::InteractionRequests,
            Endpoint::Instance,
            Endpoint::NodeinfoIndex,
            Endpoint::Nodeinfo("2.0"),
        ];
        let mut names = std::collections::HashSet::new();
        for e in all {
            let path = e.path();
            assert_eq!(Endpoint::parse(&path), Some(e), "{path}");
            assert!(names.insert(e.name()), "one name per endpoint: {}", e.name());
        }
        assert_eq!(
            Endpoint::parse("/nodeinfo/2.1.json"),
            Some(Endpoint::Nodeinfo("2.1.json")),
            "Akkoma's name"
        );
        for other in [
            "/",
            "/api",
            "/api/v1/statuses",
            "/api/v3/search",
            "/api/v1/statuses/1/favourited_by",
            "/api/v1/statuses/1.2",
            "/api/v1/statuses/a%20b/context",
            "/api/v1/accounts/..%2Foauth/statuses",
            "/nodeinfo/../api/v1/instance",
            "/nodeinfo/x",
            "/nodeinfo/2.0/more",
            "/.well-known/host-meta",
        ] {
            assert_eq!(Endpoint::parse(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn an_id_that_is_not_one_makes_no_call() {
        let config = crate::config::Config::for_instance(url::Url::parse("http://127.0.0.1:9").expect("url"));
        let m = Mastodon::new(&config).expect("client");
        let deadline = Deadline::after(std::time::Duration::from_secs(1));
        for bad in ["", "1/../../oauth", "1?x=y", "a b"] {
            assert!(StatusId::parse(bad).is_none(), "{bad}");
            assert!(matches!(
                m.account_statuses(bad, None, deadline).await,
                Err(UpstreamError::NotFound)
            ));
            assert!(matches!(
                m.account_statuses("1", Some(bad), deadline).await,
                Err(UpstreamError::NotFound)
            ));
        }
        assert_eq!(m.counters.calls.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
