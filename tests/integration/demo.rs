//! The demo's pictures: the built-in sample thread's avatars (and any
//! custom emoji and media) are served by its stand-in, so the demo page
//! loads every image it shows, and the demo command names them on its own
//! address, through the image proxy; a fixture folder keeps its URLs.

use std::collections::HashSet;
use std::time::Duration;

use mastodon_comments::demo;
use mastodon_comments::standin::StandIn;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// Every picture URL an answer makes a page load: avatars, media
/// previews, and the custom emoji images in names, warnings and content.
fn picture_urls(answer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in answer["comments"].as_object().into_iter().flat_map(|c| c.values()) {
        out.push(c["author"]["avatar"].as_str().unwrap_or("").to_string());
        for m in c["media"].as_array().into_iter().flatten() {
            out.push(m["preview_url"].as_str().unwrap_or("").to_string());
        }
        for html in [&c["author"]["display_name"], &c["spoiler_text"], &c["toot"]] {
            for (tag, attrs) in start_tags(html.as_str().unwrap_or("")) {
                if tag == "img" {
                    out.extend(attrs.into_iter().filter(|(n, _)| n == "src").map(|(_, v)| v));
                }
            }
        }
    }
    out
}

/// A plain HTTP/1.1 GET (or another method) of `url` on loopback: status,
/// lower-cased headers, body. Bounded by 5 s.
async fn fetch(method: &str, url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let u = url::Url::parse(url).expect("url");
    let addr = format!("{}:{}", u.host_str().expect("host"), u.port().expect("port"));
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        let req = format!(
            "{method} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            u.path()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {url}: no answer within 5 s"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Fetches each URL and checks it is a PNG the stand-in serves itself.
async fn assert_all_served(standin: &StandIn, urls: &[String]) {
    assert_all_served_at(&standin.url(), urls).await;
}

/// [`assert_all_served`] for the stand-in at `origin`.
async fn assert_all_served_at(origin: &str, urls: &[String]) {
    let origin = format!("{origin}/system/");
    for u in urls {
        assert!(u.starts_with(&origin), "{u} is not a picture on the stand-in {origin}");
        let (status, headers, body) = fetch("GET", u).await;
        assert_eq!(status, 200, "{u}");
        assert_eq!(header(&headers, "content-type"), Some("image/png"), "{u}");
        assert_eq!(
            header(&headers, "content-length"),
            Some(body.len().to_string().as_str()),
            "{u}"
        );
        assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"), "{u}: not a PNG");
    }
}

#[tokio::test]
async fn the_sample_demo_shows_only_pictures_its_stand_in_serves_one_avatar_per_account() {
    let d = demo::start_sample().await.expect("demo");
    settle(&d.app).await;
    let answer = body_json(&get(&d.app, &format!("{}comments.json", d.article)).await);
    let comments = answer["comments"].as_object().expect("comments");
    assert_eq!(comments.len(), 5);
    let urls = picture_urls(&answer);
    assert_eq!(urls.len(), 5, "one avatar a comment: {urls:?}");
    assert_all_served(&d.standin, &urls).await;
    let accounts: HashSet<&str> = comments.values().filter_map(|c| c["author"]["acct"].as_str()).collect();
    let avatars: HashSet<&String> = urls.iter().collect();
    assert_eq!(
        avatars.len(),
        accounts.len(),
        "distinct avatars for {accounts:?}: {avatars:?}"
    );
    // The pictures differ too, not only their addresses.
    let mut bodies = HashSet::new();
    for u in &avatars {
        bodies.insert(fetch("GET", u).await.2);
    }
    assert_eq!(bodies.len(), accounts.len());
    // Pictures are counted apart from the API calls the daemon made.
    assert_eq!(d.standin.picture_requests(), 10);
    assert!(d.standin.total_calls() > 0);
}

#[tokio::test]
async fn emoji_and_media_previews_of_a_thread_are_served_too() {
    let scenario = scenario("b-emoji-cw-media");
    let author = scenario.expect()["author_account_id"]
        .as_str()
        .expect("author")
        .to_string();
    let s = StandIn::start_local_with_images(scenario).await.expect("stand-in");
    let mut config = mastodon_comments::config::Config::for_instance(url::Url::parse(&s.url()).expect("url"));
    config.userid = Some(author);
    config.blog_url = url::Url::parse("https://blog.example.org").ok();
    let app = app(config);
    settle(&app).await;
    let answer = body_json(&get(&app, &comments_uri("b-emoji-cw-media")).await);
    let urls = picture_urls(&answer);
    let kind = |k: &str| urls.iter().filter(|u| u.contains(&format!("/system/{k}/"))).count();
    assert!(
        kind("emoji") >= 3,
        "custom emoji in names, warnings and content: {urls:?}"
    );
    assert!(kind("media") >= 2, "media previews: {urls:?}");
    assert!(kind("avatars") >= 3, "avatars: {urls:?}");
    assert_all_served(&s, &urls).await;
    // An image's link goes to its picture too.
    for c in answer["comments"].as_object().expect("comments").values() {
        for m in c["media"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["type"] == "image")
        {
            assert_eq!(m["url"], m["preview_url"]);
        }
    }
}

#[tokio::test]
async fn the_stand_in_serves_only_its_pictures_and_only_to_get_and_head() {
    let d = demo::start_sample().await.expect("demo");
    let origin = d.standin.url();
    let (status, headers, body) = fetch("HEAD", &format!("{origin}/system/avatars/1.png")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/png"));
    assert!(body.is_empty());
    for path in [
        "/system/avatars/99.png",
        "/system/avatars/1.jpg",
        "/system/",
        "/system/emoji/1.png",
    ] {
        assert_eq!(fetch("GET", &format!("{origin}{path}")).await.0, 404, "{path}");
    }
    assert_eq!(fetch("POST", &format!("{origin}/system/avatars/1.png")).await.0, 405);
    // Without pictures (every test's stand-in) the route answers 404 too.
    let (plain, _) = standin("a-simple-thread", false).await;
    assert_eq!(
        fetch("GET", &format!("{}/system/avatars/1.png", plain.url())).await.0,
        404
    );
    assert_eq!(plain.total_calls(), 0, "a picture path is no API call");
}

#[tokio::test]
async fn a_fixture_folder_keeps_its_picture_urls_in_the_demo() {
    let d = demo::start(scenario("a-simple-thread")).await.expect("demo");
    settle(&d.app).await;
    let answer = body_json(&get(&d.app, &format!("{}comments.json", d.article)).await);
    let expected = expect("a-simple-thread");
    for (id, c) in expected["comments"].as_object().expect("comments") {
        assert_eq!(
            answer["comments"][id]["author"]["avatar"], c["author"]["avatar"],
            "{id}"
        );
    }
    assert!(
        picture_urls(&answer)
            .iter()
            .all(|u| u.starts_with("https://files.mastodon.example/"))
    );
}

#[tokio::test]
async fn the_sample_demo_at_its_own_address_names_every_picture_there_through_the_image_proxy() {
    let origin = url::Url::parse("http://127.0.0.1:8080").expect("origin").origin();
    let d = demo::start_sample_proxied(&origin).await.expect("demo");
    settle(&d.app).await;
    // The sample's blog is the demo's own address: the thread is found there.
    assert_eq!(d.app.config().blog_url.as_ref().map(|u| u.origin()), Some(origin));
    let answer = body_json(&get(&d.app, &format!("{}comments.json", d.article)).await);
    assert_eq!(answer["comments"].as_object().expect("comments").len(), 5);
    let urls = picture_urls(&answer);
    assert_eq!(urls.len(), 5, "one avatar a comment: {urls:?}");
    let before = d.standin.picture_requests();
    let mut bodies = HashSet::new();
    for u in &urls {
        let path = u
            .strip_prefix("http://127.0.0.1:8080")
            .unwrap_or_else(|| panic!("{u} is not on the demo's own origin"));
        assert!(path.starts_with("/comments-media/"), "{u}");
        let resp = get(&d.app, path).await;
        assert_eq!(resp.status, 200, "{u}");
        let h = |name: &str| {
            resp.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("Content-Type"), Some("image/png"), "{u}");
        assert_eq!(h("X-Content-Type-Options"), Some("nosniff"), "{u}");
        assert_eq!(h("Content-Security-Policy"), Some("default-src 'none'; sandbox"), "{u}");
        assert!(resp.body.starts_with(b"\x89PNG\r\n\x1a\n"), "{u}: not a PNG");
        bodies.insert(resp.body.clone());
    }
    // Fetched from the stand-in by the daemon, one picture per account.
    assert_eq!(d.standin.picture_requests() - before, 5);
    let accounts: HashSet<&str> = answer["comments"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values())
        .filter_map(|c| c["author"]["acct"].as_str())
        .collect();
    assert_eq!(bodies.len(), accounts.len(), "distinct pictures for {accounts:?}");
}

/// `stand-in --pictures` (the load script's image figures): the binary's
/// stand-in names the scenario's avatars on its own origin and serves
/// them; with `--origin` (a TLS front before it, `load.sh --tls`) it names
/// them on that origin's, and serves them at the same paths; without the
/// flag they stay as the fixtures have them.
#[tokio::test]
async fn the_stand_in_command_serves_the_pictures_with_pictures_only() {
    let front = "https://127.0.0.1:8443";
    for (pictures, origin) in [(true, None), (false, None), (true, Some(format!("{front}/a/path")))] {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.args(["stand-in", "--listen", "127.0.0.1:0", "--fixtures"])
            .arg(fixtures().join("a-simple-thread"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if pictures {
            cmd.arg("--pictures");
        }
        if let Some(o) = &origin {
            cmd.args(["--origin", o]);
        }
        let mut child = cmd.spawn().expect("spawn the stand-in");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("the stand-in prints its address within 10 s")
            .expect("read")
            .expect("a line");
        let own = line
            .strip_prefix("stand-in: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        let (status, _, body) = fetch("GET", &format!("{own}/api/v1/statuses/116843781319371281")).await;
        assert_eq!(status, 200);
        let root: Value = serde_json::from_slice(&body).expect("JSON");
        let avatar = root["account"]["avatar"].as_str().expect("avatar").to_string();
        if let Some(path) = avatar.strip_prefix(front) {
            assert!(origin.is_some(), "{avatar}");
            let (status, _, _) = fetch("GET", &format!("{own}{path}")).await;
            assert_eq!(status, 200, "{path} on the stand-in itself");
        } else if pictures {
            assert!(origin.is_none(), "{avatar} is not on {front}");
            assert_all_served_at(&own, &[avatar]).await;
        } else {
            assert!(avatar.starts_with("https://files.mastodon.example/"), "{avatar}");
        }
        let _ = child.kill().await;
    }
}
