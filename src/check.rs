//! `mastodon-comments check --config CONFIG`: the whole set-up, checked
//! against the instance the way the service would use it, one line per
//! item, each `ok` or what to fix. The operator runs it after editing the
//! config; it exits 0 only when everything the config asks for works.
//!
//! It reads the config and the token exactly as the daemon does (the file,
//! `token_file`, `$CREDENTIALS_DIRECTORY/token`), and makes each call
//! through the daemon's own client, so every call is bounded by
//! `timeout_seconds` and the token only ever goes to `url`. The token is
//! never printed.
//!
//! Scopes are learned by asking each endpoint that needs one, once, with
//! the token: a 403 is the scope missing. That works the same on Mastodon,
//! glitch-soc, GoToSocial and Akkoma; Doorkeeper's `/oauth/token/info`
//! is Mastodon's only.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, Env};
use crate::deadline::Deadline;
use crate::mastodon::api::ModerationList;
use crate::mastodon::model::{self, Account};
use crate::mastodon::{Mastodon, UpstreamError, decode_list, tls};
use crate::roots;

/// Posts shown as found announcements, at most.
const SHOWN_ANNOUNCEMENTS: usize = 3;

/// How one line of the checklist came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Works.
    Ok,
    /// Something the config asks for does not work: the line says what to do.
    Fail,
    /// Worth knowing, nothing to fix (a feature the instance lacks, nothing
    /// announced yet).
    Note,
}

/// One line: what was checked and how it came out.
#[derive(Debug, Clone)]
pub struct Line {
    pub mark: Mark,
    pub topic: &'static str,
    pub text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.mark {
            Mark::Ok => "ok",
            Mark::Fail => "FAIL",
            Mark::Note => "note",
        };
        write!(f, "{mark:<4}  {}: {}", self.topic, self.text)
    }
}

/// The checklist.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    /// Everything needed works.
    pub fn passed(&self) -> bool {
        !self.lines.iter().any(|l| l.mark == Mark::Fail)
    }

    /// The line about `topic`, if any.
    pub fn line(&self, topic: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.topic == topic)
    }

    fn add(&mut self, mark: Mark, topic: &'static str, text: impl Into<String>) {
        self.lines.push(Line {
            mark,
            topic,
            text: text.into(),
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        let verdict = if self.passed() {
            "everything needed works"
        } else {
            "fix the lines marked FAIL, then run this again"
        };
        writeln!(f, "{verdict}")
    }
}

/// The command: prints the checklist, exits 0 when everything needed works.
pub async fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let report = check(config_path, &Env::from_process()).await;
    crate::cli::write_stdout(&report.to_string())?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the token turned out to be.
enum TokenState {
    None,
    Refused,
    /// Accepted; its account when it may read it (`read:accounts`).
    Accepted(Option<Account<'static>>),
}

/// Checks the set-up of `config_path`, reading what the daemon would read
/// from `env`.
pub async fn check(config_path: &Path, env: &Env) -> Report {
    let mut r = Report::default();
    let config = match Config::load(config_path, env) {
        Ok(c) => c,
        Err(e) => {
            r.add(Mark::Fail, "config", e.0);
            return r;
        }
    };
    r.add(
        Mark::Ok,
        "config",
        format!(
            "{} is valid: instance {}, {}",
            config_path.display(),
            origin(&config),
            if config.token.is_some() {
                "with a token"
            } else {
                "without a token"
            }
        ),
    );
    match tls::check_roots(&config.url) {
        Ok(0) => r.add(Mark::Ok, "HTTPS", "not used (a plain-http loopback instance)"),
        Ok(n) => r.add(
            Mark::Ok,
            "HTTPS",
            format!("{n} CA certificates to check the instance with"),
        ),
        Err(e) => {
            r.add(Mark::Fail, "HTTPS", e.to_string());
            return r;
        }
    }
    let m = match Mastodon::new(&config) {
        Ok(m) => m,
        Err(e) => {
            r.add(Mark::Fail, "HTTPS", e.to_string());
            return r;
        }
    };
    let deadline = || Deadline::after(config.timeout);

    if !instance(&mut r, &config, &m, deadline).await {
        return r;
    }
    let token = token(&mut r, &m, deadline).await;
    let userid = userid(&mut r, &config, &token);
    let Some(userid) = userid else {
        return r;
    };
    token_required(&mut r, &m, &userid, &token, deadline).await;
    let mut missing = Vec::new();
    let newest = timeline(&mut r, &config, &m, &userid, &mut missing, deadline).await;
    search(&mut r, &config, &m, &token, newest, &mut missing, deadline).await;
    scopes(&mut r, &config, &m, &token, missing, deadline).await;
    r
}

fn origin(config: &Config) -> String {
    config.url.as_str().trim_end_matches('/').to_string()
}

/// `/api/v1/instance` and nodeinfo: reachable, and which server software.
async fn instance(r: &mut Report, config: &Config, m: &Mastodon, deadline: impl Fn() -> Deadline) -> bool {
    let info = match m.instance(deadline()).await {
        Ok(v) => v,
        Err(e) => {
            r.add(
                Mark::Fail,
                "instance",
                format!(
                    "{} does not answer /api/v1/instance: {e}; check \"url\" (the instance's address) and this \
                     machine's network and DNS",
                    origin(config)
                ),
            );
            return false;
        }
    };
    let nodeinfo = m.nodeinfo(deadline()).await.ok().flatten();
    let api_version = info["version"].as_str().unwrap_or("").trim();
    let software = software(nodeinfo.as_ref(), api_version);
    r.add(Mark::Ok, "instance", format!("{} answers: {software}", origin(config)));
    true
}

/// The server software, from nodeinfo's name and version when the server
/// has nodeinfo, else from the API's version string.
pub(crate) fn software(nodeinfo: Option<&serde_json::Value>, api_version: &str) -> String {
    let name = nodeinfo
        .and_then(|n| n["software"]["name"].as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let version = nodeinfo
        .and_then(|n| n["software"]["version"].as_str())
        .unwrap_or(api_version);
    let version = clip(version, 80);
    let api = clip(api_version, 80);
    let glitch = version.contains("glitch") || api.contains("glitch");
    let known = match name.as_str() {
        "mastodon" if glitch => "glitch-soc (Mastodon)",
        "mastodon" => "Mastodon",
        "gotosocial" => "GoToSocial",
        "akkoma" => "Akkoma",
        "pleroma" => "Pleroma",
        "" if api.contains("Akkoma") => "Akkoma",
        "" if api.contains("Pleroma") => "Pleroma",
        "" if glitch => "glitch-soc (Mastodon)",
        "" => "a Mastodon-compatible server",
        _ => "",
    };
    let label = if known.is_empty() {
        format!("{} (not tested with mastodon-comments)", clip(&name, 40))
    } else {
        known.to_string()
    };
    let source = if nodeinfo.is_some() {
        "from nodeinfo"
    } else {
        "from /api/v1/instance; no nodeinfo"
    };
    format!("{label} {version} ({source}; API version {api})")
}

/// At most `max` characters of what a server sent, without control
/// characters: it goes to a terminal.
fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Whether the instance accepts the token, and whose it is.
async fn token(r: &mut Report, m: &Mastodon, deadline: impl Fn() -> Deadline) -> TokenState {
    if !m.has_token() {
        r.add(
            Mark::Note,
            "token",
            "none: public data only (a thread's first 60 replies, no search, no blocks and mutes of yours); \
             see \"Configuration and token\" in the README",
        );
        return TokenState::None;
    }
    match m.verify_credentials(deadline()).await {
        Ok(a) => {
            r.add(
                Mark::Ok,
                "token",
                format!("accepted: the account @{} (id {})", clip(&a.acct, 200), clip(&a.id, 40)),
            );
            TokenState::Accepted(Some(a))
        }
        Err(UpstreamError::Refused(403)) => {
            r.add(
                Mark::Ok,
                "token",
                "accepted, without read:accounts (so its account is not shown; \"userid\" must be set)",
            );
            TokenState::Accepted(None)
        }
        Err(UpstreamError::Refused(_)) => {
            r.add(
                Mark::Fail,
                "token",
                "refused by the instance (HTTP 401: revoked, expired or mistyped): create a new one under \
                 Preferences → Development with the scopes read:statuses read:search read:blocks read:mutes, and \
                 store it where the config takes it from (token, token_file or the systemd credential)",
            );
            TokenState::Refused
        }
        Err(e) => {
            r.add(Mark::Fail, "token", format!("cannot be checked: {e}"));
            TokenState::Refused
        }
    }
}

/// Whether `userid` is the token's account; the id to use.
fn userid(r: &mut Report, config: &Config, token: &TokenState) -> Option<String> {
    let account = match token {
        TokenState::Accepted(Some(a)) => Some(a),
        _ => None,
    };
    match (&config.userid, account) {
        (Some(u), Some(a)) if a.id == *u => {
            r.add(Mark::Ok, "userid", format!("{u} is the token's account"));
        }
        (Some(u), Some(a)) => {
            r.add(
                Mark::Fail,
                "userid",
                format!(
                    "{u} is not the token's account @{} (id {}): set \"userid\": \"{}\" (or use the token of \
                     account {u})",
                    clip(&a.acct, 200),
                    clip(&a.id, 40),
                    clip(&a.id, 40)
                ),
            );
        }
        (Some(u), None) => {
            r.add(
                Mark::Ok,
                "userid",
                format!("{u} (not compared with the token's account)"),
            );
        }
        (None, Some(a)) => {
            r.add(
                Mark::Ok,
                "userid",
                format!(
                    "not set: the daemon uses the token's account {} (setting \"userid\": \"{}\" saves a call)",
                    clip(&a.id, 40),
                    clip(&a.id, 40)
                ),
            );
            return Some(a.id.to_string());
        }
        (None, None) if !config.roots.is_empty() => {
            r.add(
                Mark::Note,
                "userid",
                format!(
                    "not set, and no token account to use: only the {} in \"roots\" have comments; set \
                     \"userid\" to your account's id to find the others (the \"id\" of \
                     {}/api/v1/accounts/lookup?acct=YOURNAME)",
                    match config.roots.len() {
                        1 => "1 article".to_string(),
                        n => format!("{n} articles"),
                    },
                    origin(config)
                ),
            );
            return None;
        }
        (None, None) => {
            r.add(
                Mark::Fail,
                "userid",
                format!(
                    "not set, and no token account to use: set \"userid\" to your account's id (the \"id\" of \
                     {}/api/v1/accounts/lookup?acct=YOURNAME)",
                    origin(config)
                ),
            );
            return None;
        }
    }
    config.userid.clone()
}

/// Whether the server reads anything to callers without a token.
async fn token_required(
    r: &mut Report,
    m: &Mastodon,
    userid: &str,
    token: &TokenState,
    deadline: impl Fn() -> Deadline,
) {
    match m.anonymous_probe(userid, deadline()).await {
        Ok(()) => r.add(
            Mark::Ok,
            "token required",
            "no: public posts are readable without a token",
        ),
        Err(UpstreamError::TokenRequired) => match token {
            TokenState::Accepted(_) => r.add(
                Mark::Ok,
                "token required",
                "yes (this server reads nothing to callers without a token, as GoToSocial does); the token is used",
            ),
            _ => r.add(
                Mark::Fail,
                "token required",
                "yes: this server reads nothing without a token (as GoToSocial does): add the author's access \
                 token (see \"Configuration and token\" in the README)",
            ),
        },
        Err(UpstreamError::NotFound) => {} // the timeline says so
        Err(e) => r.add(Mark::Note, "token required", format!("cannot tell: {e}")),
    }
}

/// An announcement found: its article path and status id.
type Announcement = (String, String);

/// Reads the author's timeline as the daemon's scan does (`scan_pages`
/// pages, at least one) and shows the newest posts that announce an
/// article; returns those.
async fn timeline(
    r: &mut Report,
    config: &Config,
    m: &Mastodon,
    userid: &str,
    missing: &mut Vec<(&'static str, &'static str)>,
    deadline: impl Fn() -> Deadline,
) -> Vec<Announcement> {
    let (read, found) = match announcing_posts(config, m, userid, missing, &deadline).await {
        Ok(posts) => posts,
        Err(fix) => {
            r.add(
                Mark::Fail,
                "timeline",
                format!("cannot read the posts of {userid}: {fix}"),
            );
            return Vec::new();
        }
    };
    let links_to = config
        .blog_url
        .as_ref()
        .map_or("your blog (any host: \"blog_url\" is not set)".to_string(), |b| {
            b.as_str().trim_end_matches('/').to_string()
        });
    if found.is_empty() {
        r.add(
            Mark::Note,
            "timeline",
            format!(
                "posts read: {read}; none of them announces an article (a public or unlisted post of yours, not a \
                 reply or boost, linking to {links_to}): announce one, or check \"blog_url\""
            ),
        );
        return Vec::new();
    }
    let shown: Vec<String> = found
        .iter()
        .take(SHOWN_ANNOUNCEMENTS)
        .map(|(s, paths)| {
            format!(
                "{} ({}, status {})",
                clip(&paths.join(" "), 300),
                clip(s.created_at.get(..10).unwrap_or(&s.created_at), 10),
                s.id
            )
        })
        .collect();
    r.add(
        Mark::Ok,
        "timeline",
        format!(
            "posts read: {read}; announcing an article on {links_to}: {}; the newest: {}",
            found.len(),
            shown.join("; ")
        ),
    );
    found
        .into_iter()
        .take(SHOWN_ANNOUNCEMENTS)
        .filter_map(|(s, paths)| Some((paths.into_iter().next()?, s.id.to_string())))
        .collect()
}

/// How many of the author's posts were read, and those that announce an
/// article with their article paths, newest first; or what to fix.
async fn announcing_posts(
    config: &Config,
    m: &Mastodon,
    userid: &str,
    missing: &mut Vec<(&'static str, &'static str)>,
    deadline: &impl Fn() -> Deadline,
) -> Result<(usize, Vec<(model::Status<'static>, Vec<String>)>), String> {
    let (mut read, mut found) = (0usize, Vec::new());
    let mut max_id: Option<String> = None;
    for _ in 0..config.scan_pages.max(1) {
        let page = m
            .account_statuses(userid, max_id.as_deref(), deadline())
            .await
            .map_err(|e| match e {
                UpstreamError::Refused(403) => {
                    missing.push(("read:statuses", "/api/v1/accounts/:id/statuses"));
                    "the token lacks read:statuses (see scopes)".to_string()
                }
                UpstreamError::NotFound => format!("no account {userid} on this instance: check \"userid\""),
                UpstreamError::TokenRequired => "this server requires a token (see above)".to_string(),
                e => e.to_string(),
            })?;
        let listed = decode_list(page.value, deadline(), "the author's timeline", model::decode_statuses)
            .await
            .map_err(|e| e.to_string())?;
        if listed.statuses.is_empty() {
            break;
        }
        read += listed.statuses.len();
        for s in listed.statuses {
            let paths = roots::announced(&s, config, Some(userid));
            if !paths.is_empty() {
                found.push((s, paths));
            }
        }
        match page.next_max_id {
            Some(next) => max_id = Some(next),
            None => break,
        }
    }
    Ok((read, found))
}

/// Whether full-text search finds one of the newest announcements, searched
/// for as the daemon would (one search each, until one is found).
async fn search(
    r: &mut Report,
    config: &Config,
    m: &Mastodon,
    token: &TokenState,
    newest: Vec<Announcement>,
    missing: &mut Vec<(&'static str, &'static str)>,
    deadline: impl Fn() -> Deadline,
) {
    if !matches!(token, TokenState::Accepted(_)) {
        r.add(Mark::Note, "search", "not used without an accepted token");
        return;
    }
    if config.searches_per_minute == 0 {
        r.add(Mark::Note, "search", "off (\"searches_per_minute\": 0)");
        return;
    }
    if newest.is_empty() {
        r.add(Mark::Note, "search", "cannot tell: no announcing post to look for");
        return;
    }
    let mut asked = Vec::new();
    for (path, id) in &newest {
        let q = roots::search_query(config, path);
        let found = match m.search_statuses(&q, deadline()).await {
            Ok(page) => decode_list(page.value, deadline(), "search results", model::decode_search).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(l) if l.statuses.iter().any(|s| s.id == *id) => {
                r.add(
                    Mark::Ok,
                    "search",
                    format!("full-text search finds the announcement of {path}"),
                );
                return;
            }
            Ok(_) => asked.push(q),
            Err(UpstreamError::Refused(403)) => {
                missing.push(("read:search", "/api/v2/search"));
                return;
            }
            Err(e) => {
                r.add(Mark::Note, "search", format!("cannot tell: {e}"));
                return;
            }
        }
    }
    r.add(
        Mark::Note,
        "search",
        format!(
            "searching for {} finds no announcement: this instance has no full-text search of posts (Mastodon \
             without Elasticsearch, for one); announcements are found by the timeline scan alone (the newest \
             \"scan_pages\" × 40 posts), or put older ones into \"roots\"",
            asked.join(", ")
        ),
    );
}

/// The scopes the config needs: read:statuses and read:search were asked
/// above; the author's lists, and on a server that has them (GoToSocial)
/// the replies awaiting the author's approval, are asked here.
async fn scopes(
    r: &mut Report,
    config: &Config,
    m: &Mastodon,
    token: &TokenState,
    mut missing: Vec<(&'static str, &'static str)>,
    deadline: impl Fn() -> Deadline,
) {
    if !matches!(token, TokenState::Accepted(_)) {
        return;
    }
    let mut asked = vec!["read:statuses"];
    if config.searches_per_minute > 0 {
        asked.push("read:search");
    }
    if config.use_mastodon_blocks {
        for (list, scope, path) in [
            (ModerationList::Blocks, "read:blocks", "/api/v1/blocks"),
            (ModerationList::DomainBlocks, "read:blocks", "/api/v1/domain_blocks"),
            (ModerationList::Mutes, "read:mutes", "/api/v1/mutes"),
        ] {
            if !asked.contains(&scope) {
                asked.push(scope);
            }
            match m.list_probe(list, deadline()).await {
                Ok(()) => {}
                Err(UpstreamError::Refused(403)) => missing.push((scope, path)),
                Err(e) => r.add(Mark::Fail, "scopes", format!("cannot read {path}: {e}")),
            }
        }
    }
    // Asked with every thread fetch by the daemon; 404 is a server without
    // approvals (Mastodon and the rest): nothing to ask for.
    let approvals = match m.pending_probe(deadline()).await {
        Ok(()) => {
            asked.push("read:notifications");
            true
        }
        Err(UpstreamError::NotFound) => false,
        Err(UpstreamError::Refused(403)) => {
            missing.push(("read:notifications", "/api/v1/interaction_requests"));
            true
        }
        Err(e) => {
            r.add(
                Mark::Fail,
                "scopes",
                format!("cannot read /api/v1/interaction_requests: {e}"),
            );
            true
        }
    };
    if missing.is_empty() {
        r.add(
            Mark::Ok,
            "scopes",
            format!("{}: each answered with the token", asked.join(" ")),
        );
        return;
    }
    missing.dedup_by_key(|(scope, _)| *scope);
    let what: Vec<String> = missing
        .iter()
        .map(|(scope, path)| format!("{scope} ({path} answered 403)"))
        .collect();
    let mut fix = "create a token with the scopes read:statuses read:search read:blocks read:mutes".to_string();
    if approvals {
        fix.push_str(" read:notifications");
    }
    if missing.iter().any(|(s, _)| *s == "read:notifications") {
        fix.push_str(
            " (without read:notifications the replies awaiting your approval cannot be told apart from the others, \
             so the service publishes no comments at all: every article is answered 503)",
        );
    }
    if missing.iter().any(|(s, _)| *s == "read:search") {
        fix.push_str(", or set \"searches_per_minute\": 0");
    }
    if missing.iter().any(|(s, _)| matches!(*s, "read:blocks" | "read:mutes")) {
        fix.push_str(", or set \"use_mastodon_blocks\": false to do without your blocks and mutes");
    }
    r.add(
        Mark::Fail,
        "scopes",
        format!("the token lacks {}: {fix}", what.join(", ")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn software_is_told_apart() {
        let ni = |name: &str, v: &str| json!({"software": {"name": name, "version": v}});
        assert!(software(Some(&ni("mastodon", "4.5.0")), "4.5.0").starts_with("Mastodon 4.5.0 (from nodeinfo"));
        assert!(software(Some(&ni("mastodon", "4.4.0+glitch")), "4.4.0+glitch").starts_with("glitch-soc"));
        assert!(software(Some(&ni("gotosocial", "0.17.3")), "0.17.3 git-1").starts_with("GoToSocial 0.17.3"));
        assert!(software(Some(&ni("akkoma", "3.13.2")), "2.7.2 (compatible; Akkoma 3.13.2)").starts_with("Akkoma"));
        assert!(software(Some(&ni("pleroma", "2.6.0")), "2.7.2 (compatible; Pleroma 2.6.0)").starts_with("Pleroma"));
        assert!(software(None, "2.7.2 (compatible; Akkoma 3.13.2)").starts_with("Akkoma"));
        assert!(software(None, "4.3.0").starts_with("a Mastodon-compatible server 4.3.0"));
        let odd = software(Some(&ni("misskey\u{1b}[31m", "2024")), "");
        assert!(odd.contains("not tested") && !odd.contains('\u{1b}'), "{odd}");
    }
}
