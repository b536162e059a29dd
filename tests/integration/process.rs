//! The built binary as a process: config reload on SIGHUP, bounded memory
//! under a huge upstream body, and a state file that survives `kill -9`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mastodon_comments::standin::Mode;

use crate::common::*;

struct Proc {
    child: Child,
    socket: PathBuf,
}

impl Proc {
    fn start(config: &Path, state: &Path, socket: &Path) -> Proc {
        let _ = std::fs::remove_file(socket);
        let child = Command::new(binary())
            .arg("--listen")
            .arg(socket)
            .arg(config)
            .arg(state)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not start listening");
            std::thread::sleep(Duration::from_millis(10));
        }
        Proc {
            child,
            socket: socket.to_path_buf(),
        }
    }

    fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let cfg = dir.join("config.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"url": "{url}", "userid": "{AUTHOR}", "blog_url": "https://blog.example.org"{extra}}}"#),
    )
    .expect("config");
    cfg
}

#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_invalid() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", false));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), "");
    let p = Proc::start(&cfg, &dir.path().join("state.json"), &dir.path().join("mc.sock"));
    let uri = "/2026/07/01/slow-bread/comments.json";
    assert_eq!(rt.block_on(fcgi_get(&p.socket, uri)).status, 200);
    // Keep a connection open across the reload.
    let mut conn = rt.block_on(Fcgi::connect(&p.socket));
    write_config(dir.path(), &s.url(), r#", "path_pattern": "^/only/this$""#);
    p.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.block_on(fcgi_get(&p.socket, uri)).status != 404 {
        assert!(Instant::now() < deadline, "new config not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rt.block_on(conn.get(uri)).status, 404, "open connections keep working");
    // An invalid config is refused; the running one stays.
    std::fs::write(&cfg, r#"{"url": "not a url"}"#).expect("write");
    p.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rt.block_on(conn.get(uri)).status, 404);
    assert_eq!(rt.block_on(fcgi_get(&p.socket, "/only/this/comments.json")).status, 200);
}

#[test]
fn memory_stays_bounded_when_upstream_sends_300_mib() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", false));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), "");
    let p = Proc::start(&cfg, &dir.path().join("state.json"), &dir.path().join("mc.sock"));
    let idle_kib = p.status_field("VmRSS:");
    s.set_mode(Mode::Huge);
    let started = Instant::now();
    let r = rt.block_on(fcgi_get(&p.socket, "/2026/07/01/slow-bread/comments.json"));
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() < Duration::from_secs(7), "{:?}", started.elapsed());
    let peak_kib = p.status_field("VmHWM:");
    eprintln!("idle RSS {idle_kib} KiB, peak RSS {peak_kib} KiB");
    assert!(peak_kib > 0 && peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn the_state_file_survives_kill_9_while_writing() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", true));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), r#", "token": "t", "searches_per_minute": 60"#);
    let state = dir.path().join("state.json");
    let old: serde_json::Map<String, serde_json::Value> = (0..200)
        .map(|i| (format!("/old/{i}"), serde_json::json!([format!("{}", 1_000_000 + i)])))
        .collect();
    std::fs::write(&state, serde_json::json!({ "roots": old }).to_string()).expect("state");
    let socket = dir.path().join("mc.sock");
    let mut found_written = false;
    for round in 0..12u32 {
        let p = Proc::start(&cfg, &state, &socket);
        if round == 0 {
            assert_eq!(
                rt.block_on(fcgi_get(&socket, "/2026/07/01/slow-bread/comments.json"))
                    .status,
                200
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while !std::fs::read_to_string(&state)
                .unwrap_or_default()
                .contains("116843781319371281")
            {
                assert!(Instant::now() < deadline, "the found root was never written");
                std::thread::sleep(Duration::from_millis(20));
            }
            found_written = true;
        }
        // Misses for new paths: each one is a state write.
        let sock = socket.clone();
        let load = rt.spawn(async move {
            let mut tasks = Vec::new();
            for i in 0..30 {
                let sock = sock.clone();
                tasks.push(tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        fcgi_get_maybe(&sock, &format!("/new/{round}/{i}/comments.json")),
                    )
                    .await;
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        std::thread::sleep(Duration::from_millis(5 + u64::from(round) * 7));
        p.signal("KILL");
        drop(p);
        let _ = rt.block_on(load);
        let text = std::fs::read_to_string(&state).expect("the state file exists");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: torn state file ({e}): {text}"));
        for i in 0..200 {
            assert!(
                v["roots"][format!("/old/{i}")].is_array(),
                "round {round}: /old/{i} lost"
            );
        }
        if found_written {
            assert_eq!(
                v["roots"]["/2026/07/01/slow-bread"][0], "116843781319371281",
                "round {round}"
            );
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(
        leftovers.len() <= 12,
        "at most one temporary file per kill: {leftovers:?}"
    );
}

/// Like `fcgi_get`, for a daemon that may be killed mid-request.
async fn fcgi_get_maybe(socket: &Path, uri: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(socket).await.ok()?;
    s.write_all(&request_bytes(1, &params("GET", uri), false)).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    Some(buf.len() as u16)
}

/// The notify protocol as systemd sees it: READY=1 once listening,
/// STATUS= lines, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
#[test]
fn systemd_notify_ready_status_watchdog_and_stopping() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", false));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), "");
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let socket = dir.path().join("mc.sock");
    let mut child = Command::new(binary())
        .arg("--listen")
        .arg(&socket)
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(seen.contains("READY=1") && seen.matches("WATCHDOG=1").count() >= 3) {
        assert!(Instant::now() < deadline, "got only: {seen}");
        let n = notify.recv(&mut buf).expect("a notify message");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(seen.contains("STATUS="), "{seen}");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let mut stopping = String::new();
    while !stopping.contains("STOPPING=1") {
        let n = notify.recv(&mut buf).expect("STOPPING=1");
        stopping.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let status = child.wait().expect("wait");
    assert!(status.success());
}
