//! `mastodon-comments check` in process, against the stand-in in its
//! normal, token-refused, search-less, scope-less and wrong-userid modes,
//! and as GoToSocial (no anonymous API, replies awaiting approval behind
//! read:notifications): the lines it prints, whether it passes, and that
//! the token never appears in what it prints.

use std::path::{Path, PathBuf};

use mastodon_comments::check::{self, Mark, Report};
use mastodon_comments::config::Env;
use mastodon_comments::standin::{Exchange, StandIn};

use crate::common::*;

/// A token no output may contain.
pub const TOKEN: &str = "chk-SECRET-token-4242";

/// Writes a config for `s` (`userid`, the blog, `extra` keys) into `dir`.
fn config(dir: &Path, s: &StandIn, userid: Option<&str>, extra: &str) -> PathBuf {
    let userid = userid.map_or(String::new(), |u| format!(r#", "userid": "{u}""#));
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"url": "{}", "blog_url": "https://blog.example.org", "timeout_seconds": 2{userid}{extra}}}"#,
            s.url()
        ),
    )
    .expect("config");
    path
}

/// Runs the check with the token as a systemd credential (as the service
/// reads it), or without one.
async fn run(s: &StandIn, userid: Option<&str>, token: bool, extra: &str) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), s, userid, extra);
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).expect("credentials dir");
    if token {
        std::fs::write(creds.join("token"), TOKEN).expect("token");
    }
    let env = Env {
        credentials_directory: Some(creds),
    };
    let report = check::check(&cfg, &env).await;
    let text = report.to_string();
    assert!(!text.contains(TOKEN), "the token was printed:\n{text}");
    report
}

fn line(r: &Report, topic: &str) -> (Mark, String) {
    let l = r.line(topic).unwrap_or_else(|| panic!("no {topic} line in:\n{r}"));
    (l.mark, l.text.clone())
}

fn assert_line(r: &Report, topic: &str, mark: Mark, contains: &[&str]) {
    let (m, text) = line(r, topic);
    assert_eq!(m, mark, "{topic}: {text}\n{r}");
    for c in contains {
        assert!(text.contains(c), "{topic}: no {c:?} in {text:?}");
    }
}

#[tokio::test]
async fn a_working_set_up_passes_every_line() {
    let (s, _) = standin("a-simple-thread", true).await;
    let r = run(&s, Some(AUTHOR), true, "").await;
    assert!(r.passed(), "{r}");
    assert_line(&r, "config", Mark::Ok, &["is valid", "with a token"]);
    assert_line(&r, "HTTPS", Mark::Ok, &["not used"]);
    assert_line(&r, "instance", Mark::Ok, &["Mastodon 4.5.0", "from nodeinfo"]);
    assert_line(&r, "token", Mark::Ok, &["accepted", "@nadia", AUTHOR]);
    assert_line(&r, "userid", Mark::Ok, &["is the token's account"]);
    assert_line(&r, "token required", Mark::Ok, &["no"]);
    assert_line(
        &r,
        "timeline",
        Mark::Ok,
        &["/2026/07/01/slow-bread (2026-07-01, status 116843781319371281)"],
    );
    assert_line(
        &r,
        "search",
        Mark::Ok,
        &["finds the announcement of /2026/07/01/slow-bread"],
    );
    assert_line(
        &r,
        "scopes",
        Mark::Ok,
        &["read:statuses read:search read:blocks read:mutes"],
    );
    assert!(r.lines.iter().all(|l| l.mark == Mark::Ok), "{r}");
    assert!(s.authorized_calls() > 0);
    // Without userid, the token's account is the author, as in the daemon.
    let r = run(&s, None, true, "").await;
    assert!(r.passed(), "{r}");
    assert_line(&r, "userid", Mark::Ok, &["not set", AUTHOR]);
    assert_line(&r, "timeline", Mark::Ok, &["116843781319371281"]);
}

#[tokio::test]
async fn a_refused_token_fails() {
    let (s, _) = standin("a-simple-thread", true).await;
    s.set_refuse_token(true);
    let r = run(&s, Some(AUTHOR), true, "").await;
    assert!(!r.passed(), "{r}");
    assert_line(&r, "token", Mark::Fail, &["refused", "401", "create a new one"]);
    // Public data still reads without it, as in the daemon.
    assert_line(&r, "timeline", Mark::Ok, &["116843781319371281"]);
}

#[tokio::test]
async fn an_instance_without_full_text_search_is_a_note() {
    let (s, _) = standin("a-simple-thread", true).await;
    s.set_full_text_search(false);
    let r = run(&s, Some(AUTHOR), true, "").await;
    assert!(r.passed(), "search is not needed: {r}");
    assert_line(
        &r,
        "search",
        Mark::Note,
        &["no full-text search", "https://blog.example.org/2026/07/01/slow-bread/"],
    );
    // Turned off in the config, it is not asked.
    let calls = s.calls("search_v2");
    let r = run(&s, Some(AUTHOR), true, r#", "searches_per_minute": 0"#).await;
    assert_line(&r, "search", Mark::Note, &["off"]);
    assert_eq!(s.calls("search_v2"), calls);
}

fn outside_scopes() -> Exchange {
    Exchange {
        authorized_only: true,
        status: 403,
        headers: Vec::new(),
        body: r#"{"error":"This action is outside the authorized scopes"}"#.into(),
    }
}

#[tokio::test]
async fn missing_scopes_are_named() {
    let (s, _) = standin("a-simple-thread", true).await;
    s.set_exchange("mutes", Some(outside_scopes()));
    s.set_exchange("search_v2", Some(outside_scopes()));
    let r = run(&s, Some(AUTHOR), true, "").await;
    assert!(!r.passed(), "{r}");
    assert_line(
        &r,
        "scopes",
        Mark::Fail,
        &[
            "read:search (/api/v2/search answered 403)",
            "read:mutes (/api/v1/mutes answered 403)",
            "use_mastodon_blocks",
        ],
    );
    let (_, text) = line(&r, "scopes");
    assert!(!text.contains("read:blocks ("), "{text}");
    // Without the author's lists, the mutes scope is not needed.
    s.set_exchange("search_v2", None);
    let r = run(&s, Some(AUTHOR), true, r#", "use_mastodon_blocks": false"#).await;
    assert!(r.passed(), "{r}");
    assert_line(&r, "scopes", Mark::Ok, &["read:statuses read:search:"]);
}

#[tokio::test]
async fn a_userid_that_is_not_the_tokens_account_says_which_is() {
    let (s, _) = standin("a-simple-thread", true).await;
    let r = run(&s, Some("109369412812800007"), true, "").await;
    assert!(!r.passed(), "{r}");
    assert_line(
        &r,
        "userid",
        Mark::Fail,
        &[
            "109369412812800007 is not the token's account @nadia",
            &format!(r#"set "userid": "{AUTHOR}""#),
        ],
    );
    // Neither userid nor token: nothing finds announcements.
    let r = run(&s, None, false, "").await;
    assert!(!r.passed(), "{r}");
    assert_line(&r, "token", Mark::Note, &["none"]);
    assert_line(&r, "userid", Mark::Fail, &["not set", "/api/v1/accounts/lookup?acct="]);
    // With explicit roots, those articles still work: nothing to fix.
    let r = run(
        &s,
        None,
        false,
        r#", "roots": {"/2026/07/01/slow-bread/": "116843781319371281"}"#,
    )
    .await;
    assert!(r.passed(), "{r}");
    assert_line(&r, "userid", Mark::Note, &["only the 1 article in \"roots\""]);
}

#[tokio::test]
async fn a_server_that_requires_a_token() {
    let (s, _) = standin("h-gotosocial", true).await;
    let author = "01JKR2NSNRP7HW5V0TG2MCSPYD";
    let r = run(&s, Some(author), false, "").await;
    assert!(!r.passed(), "{r}");
    assert_line(&r, "instance", Mark::Ok, &["GoToSocial 0.17.3"]);
    assert_line(
        &r,
        "token required",
        Mark::Fail,
        &["yes", "add the author's access token"],
    );
    let r = run(&s, Some(author), true, "").await;
    assert!(r.passed(), "{r}");
    assert_line(&r, "token", Mark::Ok, &["@wren"]);
    assert_line(&r, "token required", Mark::Ok, &["yes", "the token is used"]);
    assert_line(&r, "timeline", Mark::Ok, &["/2026/08/01/slow-gardening"]);
    assert_line(
        &r,
        "scopes",
        Mark::Ok,
        &["read:mutes read:notifications: each answered"],
    );
}

/// GoToSocial's replies awaiting the author's approval are read with
/// read:notifications: a token without it fails, saying what to add and
/// what happens meanwhile. On Mastodon (no such list) it is not asked for.
#[tokio::test]
async fn gotosocial_needs_read_notifications() {
    let (s, _) = standin("h-gotosocial", true).await;
    let author = "01JKR2NSNRP7HW5V0TG2MCSPYD";
    s.set_refused_scopes(&["read:notifications"]);
    let r = run(&s, Some(author), true, "").await;
    assert!(!r.passed(), "{r}");
    assert_line(
        &r,
        "scopes",
        Mark::Fail,
        &[
            "the token lacks read:notifications (/api/v1/interaction_requests answered 403)",
            "create a token with the scopes read:statuses read:search read:blocks read:mutes read:notifications",
            "replies awaiting your approval cannot be told apart",
            "publishes no comments at all",
        ],
    );
    assert!(s.calls("interaction_requests") >= 1);

    let (s, _) = standin("a-simple-thread", true).await;
    s.set_refused_scopes(&["read:notifications"]);
    let r = run(&s, Some(AUTHOR), true, "").await;
    assert!(r.passed(), "{r}");
    let (_, text) = line(&r, "scopes");
    assert!(!text.contains("read:notifications"), "{text}");
}

#[tokio::test]
async fn an_invalid_config_is_the_only_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"url": "http://mastodon.social", "token": "{TOKEN}"}}"#),
    )
    .expect("config");
    let r = check::check(&cfg, &Env::default()).await;
    assert!(!r.passed());
    assert_eq!(r.lines.len(), 1, "{r}");
    assert_line(&r, "config", Mark::Fail, &["plain http only for loopback"]);
    assert!(r.to_string().starts_with("FAIL  config: /"), "the topic once:\n{r}");
    assert!(!r.to_string().contains(TOKEN));
}

/// Nodeinfo is read only from the instance itself; a server without it
/// is still named from its API version.
#[tokio::test]
async fn nodeinfo_on_another_host_is_not_asked() {
    let (s, _) = standin("a-simple-thread", true).await;
    let elsewhere = Exchange {
        authorized_only: false,
        status: 200,
        headers: Vec::new(),
        body: r#"{"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                  "href": "http://127.0.0.2:9/nodeinfo/2.0"}]}"#
            .into(),
    };
    s.set_exchange("nodeinfo_index", Some(elsewhere));
    let r = run(&s, Some(AUTHOR), true, "").await;
    assert!(r.passed(), "{r}");
    assert_line(&r, "instance", Mark::Ok, &["4.5.0", "no nodeinfo"]);
    assert_eq!(s.calls("nodeinfo_index"), 1);
    assert_eq!(s.calls("nodeinfo"), 0);
}

#[tokio::test]
async fn an_unreachable_instance_fails_and_stops() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"url": "http://127.0.0.1:{port}", "userid": "{AUTHOR}", "token": "{TOKEN}", "timeout_seconds": 2}}"#
        ),
    )
    .expect("config");
    let r = check::check(&cfg, &Env::default()).await;
    assert!(!r.passed(), "{r}");
    assert_line(&r, "instance", Mark::Fail, &["does not answer", "check \"url\""]);
    assert!(r.line("token").is_none(), "nothing asked after: {r}");
    assert!(!r.to_string().contains(TOKEN));
}
