//! The daemon over its real transports, in process: FastCGI on a unix
//! socket (keep-alive and multiplexing), HTTP. The built binary under
//! `systemd-socket-activate` is `process.rs`'s.

use std::time::{Duration, Instant};

use mastodon_comments::server::Protocol;
use mastodon_comments::standin::Mode;

use crate::common::*;

#[tokio::test]
async fn fastcgi_keep_alive_and_multiplexing() {
    let (_s, config) = standin("a-simple-thread", true).await;
    let d = daemon(app(config), Protocol::Fastcgi).await;
    let mut conn = Fcgi::connect(&d.socket).await;
    let first = conn.get("/2026/07/01/slow-bread/comments.json").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("cache-control"), Some("max-age=600"));
    assert_eq!(first.json()["stats"]["replies"], 5);
    // Same connection, several requests interleaved.
    let answers = conn
        .send_many(&[
            params("GET", "/2026/07/01/slow-bread/comments.json"),
            params("POST", "/2026/07/01/slow-bread/comments.json"),
            params("GET", "/a%00b/comments.json"),
            params("HEAD", "/2026/07/01/slow-bread/comments.json"),
        ])
        .await;
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [200, 405, 400, 200]
    );
    assert_eq!(answers[0].body, first.body);
    assert_eq!(answers[1].json()["error"], "method not allowed; use GET or HEAD");
    assert!(answers[3].body.is_empty());
    d.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), d.done)
        .await
        .expect("drained")
        .expect("join");
}

#[tokio::test]
async fn oversized_fastcgi_requests_are_refused() {
    let (_s, config) = standin("a-simple-thread", true).await;
    let d = daemon(app(config), Protocol::Fastcgi).await;
    let mut p = params("GET", "/2026/07/01/slow-bread/comments.json");
    p.push(("HTTP_X_JUNK".into(), vec![b'x'; 200 * 1024]));
    let mut stream = tokio::net::UnixStream::connect(&d.socket).await.expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.write_all(&request_bytes(1, &p, true)).await;
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "the connection is closed, not left hanging");
    assert!(buf.is_empty(), "no answer to a 200 KiB request");
    // The daemon still serves others.
    assert_eq!(
        fcgi_get(&d.socket, "/2026/07/01/slow-bread/comments.json").await.status,
        200
    );
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let (s, config) = standin("a-simple-thread", true).await;
    s.set_delay(Duration::from_millis(500));
    let d = daemon(app(config), Protocol::Fastcgi).await;
    let socket = d.socket.clone();
    let pending = tokio::spawn(async move { fcgi_get(&socket, "/2026/07/01/slow-bread/comments.json").await });
    // In flight once the instance has been asked (a fixed sleep raced the
    // connect on a loaded machine).
    let asked = async {
        while s.calls("context") == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .expect("request in flight");
    d.shutdown.cancel();
    let r = pending.await.expect("join");
    assert_eq!(r.status, 200);
    tokio::time::timeout(Duration::from_secs(5), d.done)
        .await
        .expect("drained")
        .expect("join");
    assert!(
        tokio::net::UnixStream::connect(&d.socket).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn plain_http_protocol() {
    let (_s, config) = standin("a-simple-thread", true).await;
    let d = daemon(app(config), Protocol::Http).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(&d.socket).await.expect("connect");
    stream
        .write_all(b"GET /2026/07/01/slow-bread/comments.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("cache-control: max-age=600"), "{text}");
}

/// Found by fuzzing: tokio-fastcgi 1.3 panics on a BEGIN_REQUEST record
/// without content. The connection ends; the daemon goes on serving.
#[tokio::test]
async fn a_malformed_record_ends_only_its_connection() {
    let (_s, config) = standin("a-simple-thread", true).await;
    let app = app(config);
    let (mut client, server) = tokio::io::duplex(4096);
    let serve = tokio::spawn(mastodon_comments::fastcgi::serve_connection(
        server,
        app.clone(),
        std::sync::Arc::default(),
        tokio_util::sync::CancellationToken::new(),
    ));
    use tokio::io::AsyncWriteExt;
    client
        .write_all(b"\x01\x01\x00\x01\x00\x00\x00\x00")
        .await
        .expect("write");
    let done = tokio::time::timeout(Duration::from_secs(5), serve)
        .await
        .expect("connection closed");
    assert!(done.is_ok(), "serve_connection returned instead of panicking");
    let d = daemon(app, Protocol::Fastcgi).await;
    assert_eq!(
        fcgi_get(&d.socket, "/2026/07/01/slow-bread/comments.json").await.status,
        200
    );
}

/// Request id 0 belongs to management records: a BEGIN_REQUEST with it is
/// never served; the connection ends and the daemon goes on serving.
#[tokio::test]
async fn a_begin_request_with_id_zero_is_not_served() {
    let (s, config) = standin("a-simple-thread", false).await;
    let d = daemon(app(config), Protocol::Fastcgi).await;
    let mut c = Fcgi::connect(&d.socket).await;
    c.write(&request_bytes(
        0,
        &params("GET", "/2026/07/01/slow-bread/comments.json"),
        true,
    ))
    .await;
    let mut rest = Vec::new();
    // Closed (or reset): either way, without an answer.
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
        .await
        .expect("the connection is closed");
    assert!(rest.is_empty(), "no answer to request id 0: {rest:?}");
    assert_eq!(s.total_calls(), 0, "nothing was asked upstream");
    assert_eq!(
        fcgi_get(&d.socket, "/2026/07/01/slow-bread/comments.json").await.status,
        200
    );
}

/// Large answers multiplexed on one connection: the crate's shared writer
/// must never be used by two answers at once.
#[tokio::test]
async fn multiplexed_large_answers_all_arrive() {
    let (_s, config) = standin("e-long-thread", true).await;
    let d = daemon(app(config), Protocol::Fastcgi).await;
    let uri = comments_uri("e-long-thread");
    let mut conn = Fcgi::connect(&d.socket).await;
    let one = conn.get(&uri).await;
    assert_eq!(one.status, 200);
    assert!(one.body.len() > 100_000, "a large answer: {} bytes", one.body.len());
    let reqs: Vec<_> = (0..8).map(|_| params("GET", &uri)).collect();
    let answers = tokio::time::timeout(Duration::from_secs(20), conn.send_many(&reqs))
        .await
        .expect("all answers within the bound");
    for a in answers {
        assert_eq!(a.status, 200);
        assert_eq!(a.body, one.body);
    }
}

/// The foundation's list of cases, each over a real FastCGI connection to
/// the daemon on a unix socket (the in-process tests of the same cases
/// call `App::handle`): found root, no root, explicit root, v1 fallback,
/// and the upstream answering 404, 429, 500, hanging and oversized.
#[tokio::test]
async fn the_contract_cases_over_fastcgi() {
    type Setup = fn(&mastodon_comments::standin::StandIn, &mut mastodon_comments::Config);
    let none: Setup = |_, _| {};
    let explicit: Setup = |_, c| {
        c.roots.insert("/my/article".into(), id("116843781319371281"));
    };
    let old_server: Setup = |s, c| {
        c.scan_pages = 0;
        s.set_old_server(true);
    };
    /// Name, set-up, stand-in mode, URI, status, number of comments.
    type Case = (&'static str, Setup, Option<Mode>, &'static str, u16, Option<usize>);
    let cases: [Case; 9] = [
        (
            "found",
            none,
            None,
            "/2026/07/01/slow-bread/comments.json",
            200,
            Some(5),
        ),
        (
            "no root",
            none,
            None,
            "/2026/07/09/unannounced/comments.json",
            200,
            None,
        ),
        (
            "explicit root",
            explicit,
            None,
            "/my/article/comments.json",
            200,
            Some(5),
        ),
        (
            "v1 fallback",
            old_server,
            None,
            "/2026/07/01/slow-bread/comments.json",
            200,
            Some(5),
        ),
        (
            "root gone (404)",
            explicit,
            Some(Mode::NotFound),
            "/my/article/comments.json",
            200,
            None,
        ),
        (
            "429",
            explicit,
            Some(Mode::RateLimit),
            "/my/article/comments.json",
            503,
            None,
        ),
        (
            "500",
            explicit,
            Some(Mode::Error),
            "/my/article/comments.json",
            503,
            None,
        ),
        (
            "hanging",
            explicit,
            Some(Mode::Hang),
            "/my/article/comments.json",
            503,
            None,
        ),
        (
            "oversized",
            explicit,
            Some(Mode::Huge),
            "/my/article/comments.json",
            503,
            None,
        ),
    ];
    for (name, setup, mode, uri, status, comments) in cases {
        let (s, mut config) = standin("a-simple-thread", true).await;
        config.timeout = Duration::from_millis(1500);
        setup(&s, &mut config);
        if let Some(m) = mode {
            s.set_mode(m);
        }
        let d = daemon(app(config), Protocol::Fastcgi).await;
        let mut conn = Fcgi::connect(&d.socket).await;
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), conn.get(uri))
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer within 5 s"));
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{name}: took {:?}",
            started.elapsed()
        );
        assert_eq!(r.status, status, "{name}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        let v = r.json();
        match (status, comments) {
            (200, Some(n)) => {
                assert_eq!(v["comments"].as_object().map(|c| c.len()), Some(n), "{name}");
                assert_eq!(r.header("cache-control"), Some("max-age=600"), "{name}");
            }
            (200, None) => {
                assert!(v["comments"].is_null(), "{name}: {v}");
                assert_eq!(r.header("cache-control"), Some("max-age=60"), "{name}");
            }
            _ => {
                assert!(v["error"].is_string(), "{name}: {v}");
                assert_eq!(r.header("cache-control"), Some("no-store"), "{name}");
                assert!(
                    r.header("retry-after").is_some_and(|ra| ra.parse::<u64>().is_ok()),
                    "{name}"
                );
            }
        }
        d.shutdown.cancel();
    }
}

/// The instance's requests carry the project's User-Agent, and a redirect
/// from the instance is not followed (the token is only ever sent to the
/// configured instance).
#[tokio::test]
async fn user_agent_and_no_redirects() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A fake instance that records the request and redirects elsewhere.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other_addr = other.local_addr().expect("addr");
    let addr = listener.local_addr().expect("addr");
    let seen = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0; 4096];
        let n = s.read(&mut buf).await.expect("read");
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{other_addr}/api/v1/statuses/1\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = s.write_all(redirect.as_bytes()).await;
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let followed = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(3), other.accept())
            .await
            .is_ok()
    });
    let mut config = mastodon_comments::Config::for_instance(url::Url::parse(&format!("http://{addr}")).expect("url"));
    config.token = Some(mastodon_comments::config::Token::new("secret-token"));
    config.roots.insert("/a".into(), id("1"));
    config.timeout = Duration::from_secs(2);
    let r = get(&app(config), "/a/comments.json").await;
    assert_eq!(r.status, 503, "a redirect is an upstream error");
    let request = seen.await.expect("join");
    let ua = request
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("user-agent:"))
        .unwrap_or("");
    assert_eq!(ua, concat!("user-agent: mastodon-comments/", env!("CARGO_PKG_VERSION")));
    assert!(!followed.await.expect("join"), "the redirect target was contacted");
}

/// A request whose records arrive in two parts while another request's
/// answer finishes in between is still read whole (the read of the next
/// request is never dropped halfway).
#[tokio::test]
async fn a_request_split_across_an_answer_is_read_whole() {
    let (s, config) = standin("a-simple-thread", true).await;
    s.set_delay(Duration::from_millis(150));
    let app = app(config);
    let second = request_bytes(2, &params("GET", "/2026/07/09/other/comments.json"), true);
    // Inside the BEGIN record's header and body, a PARAMS header, a
    // PARAMS body, and the empty STDIN.
    for split in [3, 12, 20, 40, second.len() / 2, second.len() - 4] {
        let d = daemon(app.clone(), Protocol::Fastcgi).await;
        let mut conn = Fcgi::connect(&d.socket).await;
        let first = request_bytes(
            1,
            &params("GET", &format!("/2026/07/0{}/x/comments.json", split % 9)),
            true,
        );
        let (head, tail) = second.split_at(split);
        conn.write(&first).await;
        conn.write(head).await;
        // The first answer (upstream calls of 150 ms) completes meanwhile.
        tokio::time::sleep(Duration::from_millis(600)).await;
        conn.write(tail).await;
        let answers = tokio::time::timeout(Duration::from_secs(5), conn.answers(2))
            .await
            .unwrap_or_else(|_| panic!("split at {split}: not both answered"));
        assert_eq!(answers[0].status, 200, "split at {split}");
        assert_eq!(
            answers[1].status,
            200,
            "split at {split}: {}",
            String::from_utf8_lossy(&answers[1].body)
        );
        assert!(answers[1].json()["comments"].is_null());
        d.shutdown.cancel();
    }
}
