//! The image proxy (`proxy_media`): the answer names every image on the
//! blog's origin, and the daemon serves those paths only for URLs it
//! named itself, only from hosts that are not the daemon's own network,
//! and only inert images.

use serde_json::Value;

use crate::common::*;

/// Every image an answer makes a browser load, by where it is: avatars,
/// media previews, and the `<img src>` of the HTML fields.
pub fn image_urls(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, c) in v["comments"].as_object().into_iter().flatten() {
        out.push((
            format!("{id} avatar"),
            c["author"]["avatar"].as_str().unwrap_or("").to_string(),
        ));
        for m in c["media"].as_array().into_iter().flatten() {
            out.push((
                format!("{id} preview"),
                m["preview_url"].as_str().unwrap_or("").to_string(),
            ));
        }
        for field in ["toot", "spoiler_text"] {
            html_images(&format!("{id} {field}"), c[field].as_str().unwrap_or(""), &mut out);
        }
        html_images(
            &format!("{id} name"),
            c["author"]["display_name"].as_str().unwrap_or(""),
            &mut out,
        );
    }
    out
}

fn html_images(what: &str, html: &str, out: &mut Vec<(String, String)>) {
    for (tag, attrs) in start_tags(html) {
        for (name, value) in attrs {
            if name == "src" || tag == "img" && name == "srcset" {
                out.push((format!("{what} <{tag} {name}>"), value));
            }
        }
    }
}

const BLOG_MEDIA: &str = "https://blog.example.org/comments-media/";

#[tokio::test]
async fn with_proxy_media_every_image_is_on_the_blogs_origin() {
    let (_s, mut config) = standin("b-emoji-cw-media", true).await;
    let off = body_json(&get(&app(config.clone()), &comments_uri("b-emoji-cw-media")).await);
    config.proxy_media = true;
    let on = body_json(&get(&app(config), &comments_uri("b-emoji-cw-media")).await);

    let (before, after) = (image_urls(&off), image_urls(&on));
    assert_eq!(before.len(), after.len(), "the same images, in the same places");
    let emoji = after.iter().filter(|(w, _)| w.contains("<img src>")).count();
    assert!(
        emoji >= 4,
        "the scenario's emoji in names, content and warnings: {after:?}"
    );
    assert!(after.iter().any(|(w, _)| w.ends_with("preview")));
    for ((what, direct), (_, proxied)) in before.iter().zip(&after) {
        assert!(
            direct.starts_with("https://files.mastodon.example/"),
            "{what}: {direct}"
        );
        assert!(proxied.starts_with(BLOG_MEDIA), "{what}: {proxied}");
    }
    // Nothing else moved: the answers differ in image URLs only.
    let rest = |v: &Value| {
        let mut s = Vec::new();
        strings(v, &mut s);
        s.retain(|x| !x.contains("files.mastodon.example") && !x.contains(BLOG_MEDIA) && !x.contains("<img"));
        s
    };
    assert_eq!(rest(&off), rest(&on));
    // The media a reader opens by clicking stay direct.
    let media_urls = |v: &Value| {
        v["comments"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, c)| c["media"].as_array().cloned().unwrap_or_default())
            .map(|m| m["url"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(media_urls(&off), media_urls(&on));
}

// ---------------------------------------------------------------------
// Serving: the daemon over FastCGI, real image hosts on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mastodon_comments::App;
use mastodon_comments::config::Config;
use mastodon_comments::media::{Images, Key, Kind};
use mastodon_comments::server::Protocol;
use mastodon_comments::state::State;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";

/// A real HTTP server on a loopback address serving test images by path,
/// counting connections and requests.
pub struct ImageHost {
    pub addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ImageHost {
    /// `redirect_to`: where `/redirect.png` points.
    pub async fn start(ip: &str, redirect_to: Option<String>) -> ImageHost {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepts = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (accepts.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let (r, redirect_to) = (r.clone(), redirect_to.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    r.lock().expect("lock").push(path.clone());
                    let _ = answer(&mut conn, &path, redirect_to.as_deref()).await;
                });
            }
        });
        ImageHost {
            addr,
            accepts,
            requests,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }
}

async fn answer(conn: &mut tokio::net::TcpStream, path: &str, redirect_to: Option<&str>) -> std::io::Result<()> {
    let reply = |status: &str, ctype: &str, body: &[u8], length: bool| {
        let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nConnection: close\r\n").into_bytes();
        if length {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    };
    let big = |n: usize| [PNG, &vec![0u8; n]].concat();
    let bytes = match path {
        "/ok.png" => reply("200 OK", "image/png", PNG, true),
        "/ok.jpg" => reply("200 OK", "text/html", JPEG, true),
        "/svg.png" => reply(
            "200 OK",
            "image/png",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            true,
        ),
        "/html.png" => reply("200 OK", "image/png", b"<!DOCTYPE html><script>alert(1)</script>", true),
        // No Content-Length: the cap is enforced while reading.
        "/3mib.png" => reply("200 OK", "image/png", &big(3 << 20), false),
        "/9mib.png" => reply("200 OK", "image/png", &big(9 << 20), true),
        "/gone.png" => reply("404 Not Found", "text/html", b"<h1>upstream 404 page</h1>", true),
        "/error.png" => reply("500 Oops", "image/png", b"<h1>upstream error page</h1>", true),
        "/redirect.png" => {
            let to = redirect_to.unwrap_or("http://127.0.0.2/");
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .into_bytes()
        }
        // Just under a preview's cap, and far over it (streamed).
        "/8mib.png" => reply("200 OK", "image/png", &big((8 << 20) - 1024), false),
        "/100mib.png" => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
                .await?;
            conn.write_all(PNG).await?;
            let zeros = vec![0u8; 64 * 1024];
            for _ in 0..1600 {
                conn.write_all(&zeros).await?;
            }
            return conn.shutdown().await;
        }
        "/slow.png" => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
                .await?;
            conn.write_all(PNG).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            return Ok(());
        }
        _ => reply("404 Not Found", "text/plain", b"no", true),
    };
    conn.write_all(&bytes).await?;
    conn.shutdown().await
}

const BLOG: &str = "https://blog.example.org";
const TIMEOUT: Duration = Duration::from_secs(2);

/// The daemon in process over FastCGI, with `proxy_media` on and its state
/// (and so its key) in `dir`; the instance is `instance`.
fn proxying_app(dir: &std::path::Path, instance: &str) -> Arc<App> {
    let mut c = Config::for_instance(url::Url::parse(instance).expect("url"));
    c.blog_url = url::Url::parse(BLOG).ok();
    c.proxy_media = true;
    c.timeout = TIMEOUT;
    let state = Arc::new(State::load(&dir.join("state.json"), c.max_state_entries, c.miss_retry));
    Arc::new(App::new(c, state).expect("app"))
}

/// The path the answer would name for `url`, made with the daemon's key.
pub fn path_for(dir: &std::path::Path, url: &str, kind: Kind) -> String {
    let key = Key::load_or_create(&dir.join("media.key")).expect("the daemon's key");
    let images = Images::new(key, &url::Url::parse(BLOG).expect("url"), "/comments-media/");
    let u = images.url(url, kind);
    u.strip_prefix(BLOG).expect("on the blog").to_string()
}

fn assert_inert(r: &FcgiResponse, what: &str) {
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; sandbox"),
        "{what}"
    );
}

fn assert_failed(r: &FcgiResponse, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("max-age=60"), "{what}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"), "{what}");
    assert_eq!(r.body, b"image not available\n", "{what}: never the upstream's page");
    assert_inert(r, what);
}

#[tokio::test]
async fn an_image_is_sniffed_and_served_inert_and_long_cached() {
    let host = ImageHost::start("127.0.0.1", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let r = fcgi_get(&d.socket, &path_for(dir.path(), &host.url("/ok.png"), Kind::Icon)).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, PNG);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=604800, immutable"));
    assert_inert(&r, "png");
    // The type is the bytes', not the label's.
    let r = fcgi_get(&d.socket, &path_for(dir.path(), &host.url("/ok.jpg"), Kind::Preview)).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(host.requests(), 2);

    // Another start with the same state directory: the same key, so the
    // paths nginx and browsers hold keep working.
    let again = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let r = fcgi_get(&again.socket, &path_for(dir.path(), &host.url("/ok.png"), Kind::Icon)).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_token_fetches_its_own_url_only_and_a_forged_one_nothing() {
    let host = ImageHost::start("127.0.0.1", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let good = path_for(dir.path(), &host.url("/ok.png"), Kind::Icon);
    let other = path_for(dir.path(), &host.url("/svg.png"), Kind::Icon);
    let (good_head, _) = good.rsplit_once('.').expect("token");
    let (_, other_url) = other.rsplit_once('.').expect("token");
    let foreign = {
        let key = Key::ephemeral().expect("key");
        format!("/comments-media/{}", key.token(Kind::Icon, &host.url("/ok.png")))
    };
    let mut flipped = good.clone().into_bytes();
    let at = "/comments-media/i.".len() + 3;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let forged = [
        format!("{good_head}.{other_url}"),
        good.replacen("/comments-media/i.", "/comments-media/p.", 1),
        String::from_utf8(flipped).expect("ascii"),
        foreign,
        format!("{good}x"),
        good_head.to_string(),
        "/comments-media/".to_string(),
        "/comments-media/i.AAAA.aHR0cDovLzEyNy4wLjAuMTo4MC9vay5wbmc".to_string(),
        format!("/comments-media/{}", "A".repeat(3000)),
    ];
    for path in &forged {
        let r = fcgi_get(&d.socket, path).await;
        assert_failed(&r, 404, path);
    }
    assert_eq!(host.requests(), 0, "nothing that does not verify reaches the network");
    assert_eq!(host.accepts.load(Ordering::SeqCst), 0);

    // With proxy_media off the prefix is no image path at all.
    let mut c = Config::for_instance(url::Url::parse(&host.url("")).expect("url"));
    c.blog_url = url::Url::parse(BLOG).ok();
    let off = daemon(app(c), Protocol::Fastcgi).await;
    let r = fcgi_get(&off.socket, &good).await;
    assert_ne!(r.header("content-type"), Some("image/png"));
    assert!(!r.header("content-type").unwrap_or("").starts_with("image/"));
    assert!(host.requests() <= 1, "at most the comments look-up it became");
    assert!(!host.requests.lock().expect("lock").iter().any(|p| p == "/ok.png"));
}

#[tokio::test]
async fn only_inert_images_under_the_kinds_cap_are_served() {
    let host = ImageHost::start("127.0.0.1", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let get = |path: &str, kind| {
        let (socket, p) = (d.socket.clone(), path_for(dir.path(), &host.url(path), kind));
        async move { fcgi_get(&socket, &p).await }
    };
    for refused in ["/svg.png", "/html.png", "/error.png", "/redirect.png"] {
        assert_failed(&get(refused, Kind::Preview).await, 502, refused);
    }
    assert_failed(&get("/gone.png", Kind::Icon).await, 404, "gone");
    // 3 MiB: over an avatar's cap (2 MiB), within a preview's (8 MiB);
    // 9 MiB: over both.
    assert_failed(&get("/3mib.png", Kind::Icon).await, 502, "3 MiB avatar");
    let r = get("/3mib.png", Kind::Preview).await;
    assert_eq!((r.status, r.body.len()), (200, PNG.len() + (3 << 20)));
    assert_failed(&get("/9mib.png", Kind::Preview).await, 502, "9 MiB preview");
}

#[tokio::test]
async fn a_slow_image_is_cut_at_the_deadline() {
    let host = ImageHost::start("127.0.0.1", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let started = std::time::Instant::now();
    let r = fcgi_get(&d.socket, &path_for(dir.path(), &host.url("/slow.png"), Kind::Icon)).await;
    assert_failed(&r, 503, "slow");
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_secs(1),
        "answered within the daemon's deadline: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn other_hosts_on_this_machine_or_its_network_are_never_connected_to() {
    // A second host on another loopback address, and the instance
    // redirecting to it.
    let inner = ImageHost::start("127.0.0.2", None).await;
    let host = ImageHost::start("127.0.0.1", Some(inner.url("/ok.png"))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let p1 = host.addr.port();
    let p2 = inner.addr.port();
    let targets = [
        format!("https://127.0.0.2:{p2}/ok.png"),
        format!("http://127.0.0.2:{p2}/ok.png"),
        // A name, resolved by the system: loopback, so refused.
        format!("https://localhost:{p1}/ok.png"),
        format!("https://[::1]:{p1}/ok.png"),
        format!("https://[::ffff:127.0.0.2]:{p2}/ok.png"),
        "https://10.0.0.1/a.png".to_string(),
        "https://192.168.1.1/a.png".to_string(),
        "https://100.64.0.1/a.png".to_string(),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        "https://[fd00:ec2::254]/latest/meta-data/".to_string(),
        // Plain http to any host but the instance.
        "http://files.example/a.png".to_string(),
    ];
    for t in &targets {
        let r = fcgi_get(&d.socket, &path_for(dir.path(), t, Kind::Icon)).await;
        assert_failed(&r, 502, t);
    }
    let r = fcgi_get(&d.socket, &path_for(dir.path(), &host.url("/redirect.png"), Kind::Icon)).await;
    assert_failed(&r, 502, "redirect to 127.0.0.2");
    assert_eq!(inner.accepts.load(Ordering::SeqCst), 0, "127.0.0.2 never connected to");
    assert_eq!(
        *host.requests.lock().expect("lock"),
        vec!["/redirect.png".to_string()],
        "only the instance's own URL fetched"
    );
    assert_eq!(host.accepts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_reload_turns_the_proxy_on_and_off_with_one_key() {
    let (_s, config) = standin("b-emoji-cw-media", true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Arc::new(State::load(
        &dir.path().join("state.json"),
        100,
        Duration::from_secs(60),
    ));
    let app = Arc::new(App::new(config.clone(), state).expect("app"));
    let uri = comments_uri("b-emoji-cw-media");
    let avatars = |v: &Value| -> Vec<String> { image_urls(v).into_iter().map(|(_, u)| u).collect() };
    let off = avatars(&body_json(&get(&app, &uri).await));
    assert!(!dir.path().join("media.key").exists(), "no key while the proxy is off");

    let mut on = config.clone();
    on.proxy_media = true;
    app.reload(on.clone()).expect("reload");
    let proxied = avatars(&body_json(&get(&app, &uri).await));
    assert!(proxied.iter().all(|u| u.starts_with(BLOG_MEDIA)), "{proxied:?}");
    assert!(dir.path().join("media.key").exists(), "made when first turned on");
    app.reload(on).expect("reload");
    assert_eq!(
        avatars(&body_json(&get(&app, &uri).await)),
        proxied,
        "the same key across reloads"
    );

    app.reload(config).expect("reload");
    assert_eq!(avatars(&body_json(&get(&app, &uri).await)), off);
}

#[tokio::test]
async fn a_corrupt_key_file_stops_the_start_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("media.key"), b"not a key").expect("write");
    let mut c = Config::for_instance(url::Url::parse("http://127.0.0.1:9").expect("url"));
    c.blog_url = url::Url::parse(BLOG).ok();
    c.proxy_media = true;
    let state = Arc::new(State::load(
        &dir.path().join("state.json"),
        100,
        Duration::from_secs(60),
    ));
    let e = App::new(c, state).err().expect("refused").to_string();
    assert!(e.contains("media.key") && e.contains("remove the file"), "{e}");
}

#[tokio::test]
async fn image_fetches_at_once_are_bounded() {
    let host = ImageHost::start("127.0.0.1", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Fastcgi).await;
    let path = path_for(dir.path(), &host.url("/slow.png"), Kind::Icon);
    let get = || {
        let (socket, path) = (d.socket.clone(), path.clone());
        tokio::spawn(async move { fcgi_get(&socket, &path).await })
    };
    // Four slow images hold every slot until their deadline (2 s)...
    let mut running: Vec<_> = (0..4).map(|_| get()).collect();
    for _ in 0..100 {
        if host.accepts.load(Ordering::SeqCst) == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(host.accepts.load(Ordering::SeqCst), 4, "the first four connect");
    // ...so two more wait for a slot: no connection while the four run.
    running.extend((0..2).map(|_| get()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        host.accepts.load(Ordering::SeqCst),
        4,
        "at most 4 image fetches at once"
    );
    for r in running {
        assert_failed(&r.await.expect("task"), 503, "slow or waiting");
    }
}

#[tokio::test]
async fn an_image_is_served_over_plain_http_too() {
    let host = ImageHost::start("127.0.0.1", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(proxying_app(dir.path(), &host.url("")), Protocol::Http).await;
    let path = path_for(dir.path(), &host.url("/ok.png"), Kind::Icon);
    let mut conn = tokio::net::UnixStream::connect(&d.socket).await.expect("connect");
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: blog.example.org\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.expect("read");
    let head =
        String::from_utf8_lossy(&raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head")]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: image/png") && head.contains("x-content-type-options: nosniff"),
        "{head}"
    );
    assert!(raw.ends_with(PNG));
}
