//! Arbitrary bytes as a FastCGI client's side of a connection →
//! `fastcgi::serve_connection` with a real `App` whose instance is a
//! closed loopback port. The connection must end within a few seconds of
//! the client closing its side (never hang), and what the daemon writes
//! must be well-formed FastCGI records whose STDOUT is a CGI response with
//! a JSON (or empty) body.
//!
//! The seeds (`fuzz/seed.sh`) are whole conversations as nginx has them,
//! so mutations start deep in the request handling.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mastodon_comments::activity::Activity;
use mastodon_comments::fastcgi::{self, wire};
use mastodon_comments::state::State;
use mastodon_comments::{App, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

/// One app for all runs, like the daemon's; port 9 on loopback is closed,
/// so every upstream call fails at once.
static APP: LazyLock<Arc<App>> = LazyLock::new(|| {
    let mut config = Config::for_instance(url::Url::parse("http://127.0.0.1:9").expect("url"));
    config.timeout = Duration::from_millis(200);
    config.userid = Some("109308551561216011".into());
    let state = Arc::new(State::in_memory(config.max_state_entries, config.miss_retry));
    Arc::new(App::new(config, state).expect("app"))
});

/// The whole exchange, client close included, must end within this.
const BOUND: Duration = Duration::from_secs(5);

fn check_records(out: &[u8]) {
    let mut stdout: HashMap<u16, Vec<u8>> = HashMap::new();
    let mut rest = out;
    while !rest.is_empty() {
        let Some((record, next)) = wire::split_record(rest) else {
            panic!("truncated record: {rest:?}");
        };
        let (header, content) = (record.header, record.content);
        assert_eq!(header.version(), wire::VERSION, "FastCGI version");
        match header.kind() {
            wire::STDOUT => stdout.entry(header.id()).or_default().extend_from_slice(content),
            // The response is complete.
            wire::END_REQUEST => {
                if let Some(resp) = stdout.remove(&header.id()).filter(|r| !r.is_empty()) {
                    check_response(&resp);
                }
            }
            wire::STDERR | wire::GET_VALUES_RESULT | wire::UNKNOWN_TYPE => {}
            other => panic!("record type {other} written to the client"),
        }
        rest = next;
    }
}

fn check_response(resp: &[u8]) {
    assert!(resp.starts_with(b"Status: "), "no Status line: {resp:?}");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let body = &resp[split + 4..];
    if !body.is_empty() {
        let v: serde_json::Value = serde_json::from_slice(body).expect("body is not JSON");
        if v.get("error").is_none() {
            fuzz_checks::check_answer(body);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let app = APP.clone();
    let input = data.to_vec();
    let out = RUNTIME.block_on(async move {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let shutdown = CancellationToken::new();
        let conn = tokio::spawn(fastcgi::serve_connection(
            server,
            app,
            Arc::new(Activity::default()),
            shutdown.clone(),
        ));
        let (mut rd, mut wr) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
            wr
        });
        let mut out = Vec::new();
        let read = tokio::time::timeout(BOUND, rd.read_to_end(&mut out)).await;
        assert!(
            read.is_ok(),
            "the connection did not end within {BOUND:?} of the client closing it"
        );
        tokio::time::timeout(Duration::from_secs(1), conn)
            .await
            .expect("serve_connection still running after the stream closed")
            .expect("serve_connection panicked");
        drop(writer.await);
        out
    });
    check_records(&out);
});
