//! The built binary as a process, the one place it is tested in this suite:
//! socket activation under the real `systemd-socket-activate`, the command
//! line (config errors, `lookup`), the notify protocol, config reload on
//! SIGHUP, bounded memory under a huge upstream body and while proxying
//! large images, and a state file that survives `kill -9`.

use std::io::Read;
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

// ---------------------------------------------------------------------
// Socket activation and the command line.

/// Runs the built binary as systemd would: `systemd-socket-activate`
/// passes the listening socket as fd 3.
#[test]
fn socket_activation_with_the_real_binary() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _config) = rt.block_on(standin("a-simple-thread", true));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    let state = dir.path().join("state.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"url": "{}", "userid": "{AUTHOR}", "blog_url": "https://blog.example.org"}}"#,
            s.url()
        ),
    )
    .expect("config");
    let sock = dir.path().join("mc.sock");
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&sock)
        .arg(binary())
        .arg(&cfg)
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate (Debian package systemd)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = rt.block_on(fcgi_get(&sock, "/2026/07/01/slow-bread/comments.json"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["stats"]["replies"], 5);
    // Under systemd the daemon would be stopped with SIGTERM: it flushes the state.
    let pid = child.id() as i32;
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit on SIGTERM; stderr:\n{stderr}"
    );
    let saved = std::fs::read_to_string(&state).unwrap_or_default();
    assert!(saved.contains("116843781319371281"), "state flushed: {saved}\n{stderr}");
    assert!(!stderr.contains("192.0.2.1"), "reader addresses are never logged");
}

#[test]
fn refuses_to_start_without_exactly_one_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, r#"{"url": "https://mastodon.example"}"#).expect("config");
    let out = Command::new(binary())
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .env_remove("LISTEN_FDS")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no socket to listen on") && err.contains("--listen"),
        "{err}"
    );

    // systemd-socket-activate starts the program on the first connection.
    let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&a)
        .arg("-l")
        .arg(&b)
        .arg(binary())
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _conn = std::os::unix::net::UnixStream::connect(&a).expect("connect");
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("passed 2 sockets"), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, r#"{"url": "mastodon.social"}"#).expect("config");
    let out = Command::new(binary())
        .arg(&cfg)
        .arg("--listen")
        .arg(dir.path().join("s"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#""url" must be an absolute https URL, got "mastodon.social""#),
        "{err}"
    );
}

#[test]
fn lookup_prints_the_answer_once() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _config) = rt.block_on(standin("a-simple-thread", true));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"url": "{}", "userid": "{AUTHOR}", "token": "t"}}"#, s.url()),
    )
    .expect("config");
    let out = std::thread::scope(|_| {
        Command::new(binary())
            .args(["lookup", "--config"])
            .arg(&cfg)
            .arg("https://blog.example.org/2026/07/01/slow-bread/")
            .output()
            .expect("run")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(v["stats"]["replies"], 5);
    assert!(stderr.contains("root post 116843781319371281"), "{stderr}");
    assert!(!stderr.contains("Bearer") && !stdout.contains("\"t\""));
    s.set_mode(Mode::Ok);
}

/// A server that reads nothing to anonymous callers (GoToSocial): `lookup`
/// says a token is required and exits non-zero.
#[test]
fn lookup_says_when_the_server_requires_a_token() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _config) = rt.block_on(standin("a-simple-thread", false));
    s.set_require_token(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, format!(r#"{{"url": "{}", "userid": "{AUTHOR}"}}"#, s.url())).expect("config");
    let out = Command::new(binary())
        .args(["lookup", "--config"])
        .arg(&cfg)
        .arg("https://blog.example.org/2026/07/01/slow-bread/")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("this server requires the author's access token"),
        "{stderr}"
    );
}

/// `SSL_CERT_FILE` (an empty file) and `SSL_CERT_DIR` (an empty folder):
/// where `rustls-native-certs` looks instead of the system's store, so the
/// process sees a system without CA certificates.
fn without_ca_certificates(cmd: &mut Command, dir: &Path) {
    let (file, empty) = (dir.join("no-certs.pem"), dir.join("no-certs"));
    std::fs::write(&file, "").expect("empty CA file");
    std::fs::create_dir_all(&empty).expect("empty CA folder");
    cmd.env("SSL_CERT_FILE", file).env("SSL_CERT_DIR", empty);
}

/// On a system without CA certificates, a daemon for an https instance
/// stops before it says READY=1, saying what to install (every request
/// would fail otherwise).
#[test]
fn an_https_instance_without_ca_certificates_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), "https://mastodon.example", "");
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_nonblocking(true).expect("nonblocking");
    let mut cmd = Command::new(binary());
    cmd.arg("--listen")
        .arg(dir.path().join("mc.sock"))
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    without_ca_certificates(&mut cmd, dir.path());
    let mut child = cmd.spawn().expect("start");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started without CA certificates");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("no CA certificates were found on this system")
            && err.contains("https://mastodon.example")
            && err.contains("apt install ca-certificates"),
        "{err}"
    );
    let mut buf = [0u8; 4096];
    let mut seen = String::new();
    while let Ok(n) = notify.recv(&mut buf) {
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(!seen.contains("READY=1"), "said ready: {seen}");
    // The same system with its CA certificates: the daemon starts.
    let mut with_roots = Command::new(binary());
    with_roots
        .arg("--listen")
        .arg(dir.path().join("mc.sock"))
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let p = Proc {
        child: with_roots.spawn().expect("start"),
        socket: dir.path().join("mc.sock"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&p.socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not start with the system's CA certificates"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A plain-http (loopback) instance needs no CA certificates: the daemon
/// starts and answers without any, and refuses a reload that switches to
/// an https instance it could not check, keeping the running config.
#[test]
fn a_plain_http_instance_needs_no_ca_certificates() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", false));
    let dir = tempfile::tempdir().expect("tempdir");
    // Every request asks the stand-in (no answer served from memory).
    let cfg = write_config(dir.path(), &s.url(), r#", "cache_fresh_seconds": 0"#);
    let socket = dir.path().join("mc.sock");
    let log = dir.path().join("daemon.log");
    let mut cmd = Command::new(binary());
    cmd.arg("--listen")
        .arg(&socket)
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    without_ca_certificates(&mut cmd, dir.path());
    let p = Proc {
        child: cmd.spawn().expect("start"),
        socket: socket.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start listening");
        std::thread::sleep(Duration::from_millis(10));
    }
    let uri = "/2026/07/01/slow-bread/comments.json";
    let r = rt.block_on(fcgi_get(&socket, uri));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["stats"]["replies"], 5);
    write_config(dir.path(), "https://mastodon.example", "");
    p.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("config not reloaded, keeping the old one: no CA certificates were found") {
            break;
        }
        assert!(Instant::now() < deadline, "no refused reload in the log: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let calls = s.total_calls();
    let again = rt.block_on(fcgi_get(&socket, uri));
    assert_eq!(again.status, 200, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(again.json()["stats"]["replies"], 5);
    assert!(
        s.total_calls() > calls,
        "asked the stand-in again, not the refused https instance"
    );
}

/// `check` as the operator runs it: the token from
/// `$CREDENTIALS_DIRECTORY` (as under systemd), one line per item on
/// stdout, exit 0 when everything needed works, 1 when not (the token
/// refused; an https instance without CA certificates), 2 for a usage
/// error. The token is never printed.
#[test]
fn check_prints_the_checklist_and_exits_by_it() {
    let token = crate::check::TOKEN;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", true));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), "");
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).expect("credentials");
    std::fs::write(creds.join("token"), token).expect("token");
    let check = |cfg: &Path, ca: bool| {
        let mut cmd = Command::new(binary());
        cmd.args(["check", "--config"])
            .arg(cfg)
            .env("CREDENTIALS_DIRECTORY", &creds);
        if !ca {
            without_ca_certificates(&mut cmd, dir.path());
        }
        let out = cmd.output().expect("run check");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stdout.contains(token) && !stderr.contains(token),
            "token printed:\n{stdout}\n{stderr}"
        );
        (out.status.code(), stdout, stderr)
    };
    let (code, out, err) = check(&cfg, true);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for want in [
        "ok    config: ",
        "ok    instance: ",
        "ok    token: accepted: the account @nadia (id 109308551561216011)",
        "ok    userid: 109308551561216011 is the token's account",
        "ok    timeline: ",
        "ok    scopes: read:statuses read:search read:blocks read:mutes",
        "everything needed works",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    s.set_refuse_token(true);
    let (code, out, _) = check(&cfg, true);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL  token: refused by the instance"), "{out}");
    assert!(out.contains("fix the lines marked FAIL"), "{out}");
    s.set_refuse_token(false);
    // The same condition the daemon refuses to start on.
    let https = write_config(dir.path(), "https://mastodon.example", "");
    let (code, out, _) = check(&https, false);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL  HTTPS: no CA certificates were found") && out.contains("apt install ca-certificates"),
        "{out}"
    );
    let out = Command::new(binary()).arg("check").output().expect("run check");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check needs --config"));
}

/// `lookup` and `check` piped into a reader that stops early (`| head`,
/// quitting `less`): the output ends quietly with the command's own exit
/// status, not a panic about a broken pipe.
#[test]
fn lookup_and_check_into_a_closed_pipe_end_quietly() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", false));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), "");
    for args in [
        vec!["lookup", "--config", "CFG", "/2026/07/01/slow-bread/"],
        vec!["check", "--config", "CFG"],
    ] {
        let command = || {
            let mut cmd = Command::new(binary());
            for a in &args {
                if *a == "CFG" {
                    cmd.arg(&cfg);
                } else {
                    cmd.arg(a);
                }
            }
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd
        };
        // Read to the end: the exit status the command gives.
        let whole = command().output().expect("run");
        assert!(!whole.stdout.is_empty(), "{args:?} printed nothing");
        let mut child = command().spawn().expect("spawn");
        // The reader is gone before the command has asked the instance
        // anything, so its first write meets a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(out.status.code(), whole.status.code(), "{args:?}: {stderr}");
    }
}

// ---------------------------------------------------------------------
// Signals, memory, the state file, the notify protocol.

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
fn memory_stays_bounded_while_proxying_large_images() {
    use crate::media::{ImageHost, path_for};
    use mastodon_comments::media::Kind;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let host = rt.block_on(ImageHost::start("127.0.0.1", None));
    let dir = tempfile::tempdir().expect("tempdir");
    // A deadline long enough for 4 x 8 MiB on a loaded machine: this test
    // is about memory; the deadline has tests of its own (media.rs).
    let cfg = write_config(
        dir.path(),
        &host.url(""),
        r#", "proxy_media": true, "timeout_seconds": 30"#,
    );
    let p = Proc::start(&cfg, &dir.path().join("state.json"), &dir.path().join("mc.sock"));
    // The daemon makes its key at start, after it listens; the test makes
    // paths with it once it is there (never a key of its own, which the
    // daemon's would replace).
    let key = dir.path().join("media.key");
    let made_by = Instant::now() + Duration::from_secs(10);
    while !key.exists() {
        assert!(Instant::now() < made_by, "the daemon made no media key");
        std::thread::sleep(Duration::from_millis(10));
    }
    let idle_kib = p.status_field("VmRSS:");
    let get_all = |path: &str, want: u16| {
        let path = path_for(dir.path(), &host.url(path), Kind::Preview);
        let answers = rt.block_on(futures_util::future::join_all(
            (0..4).map(|_| fcgi_get(&p.socket, &path)),
        ));
        for r in answers {
            assert_eq!(r.status, want, "{path}");
        }
    };
    // Four at once (the bound) of 100 MiB each, cut at the 8 MiB cap; then
    // four images just under it, served.
    get_all("/100mib.png", 502);
    get_all("/8mib.png", 200);
    let peak_kib = p.status_field("VmHWM:");
    eprintln!("idle RSS {idle_kib} KiB, peak RSS {peak_kib} KiB proxying 4 x 100 MiB refused and 4 x 8 MiB served");
    assert!(peak_kib > 0 && peak_kib < 112 * 1024, "peak RSS {peak_kib} KiB");
}

/// The a-simple-thread scenario plus, for each round, an article
/// `/kill/<round>` announced by a post of its own (status `KILL_BASE + round`)
/// that only full-text search finds: with `scan_pages: 0` a request for
/// that article is the daemon's only way to learn its root, and storing a
/// root found by search is a state write (config `roots` are not).
const KILL_BASE: u64 = 116_900_000_000_000_000;

fn kill_scenario(dir: &Path, rounds: u32) -> mastodon_comments::standin::Scenario {
    let src = fixtures().join("a-simple-thread");
    for sub in mastodon_comments::standin::SCENARIO_DIRS {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        for e in std::fs::read_dir(src.join(sub)).expect("fixture dir").flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), dir.join(sub).join(e.file_name())).expect("copy");
            }
        }
    }
    let root: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(src.join("statuses/116843781319371281.json")).expect("root status"),
    )
    .expect("json");
    for round in 0..rounds {
        let id = (KILL_BASE + u64::from(round)).to_string();
        let mut s = root.clone();
        s["id"] = id.clone().into();
        s["uri"] = format!("https://mastodon.example/users/nadia/statuses/{id}").into();
        s["url"] = format!("https://mastodon.example/@nadia/{id}").into();
        s["content"] =
            format!(r#"<p>Round {round}: <a href="https://blog.example.org/kill/{round}/">the article</a></p>"#).into();
        s["card"] = serde_json::Value::Null;
        s["replies_count"] = 0.into();
        std::fs::write(dir.join(format!("statuses/{id}.json")), s.to_string()).expect("status");
        std::fs::write(
            dir.join(format!(
                "search/https%3A%2F%2Fblog.example.org%2Fkill%2F{round}%2F.json"
            )),
            serde_json::json!({"accounts": [], "statuses": [s], "hashtags": []}).to_string(),
        )
        .expect("search");
    }
    mastodon_comments::standin::Scenario::from_dir(dir).expect("scenario")
}

#[test]
fn the_state_file_survives_kill_9_while_writing() {
    const ROUNDS: u32 = 20;
    const OLD: usize = 2000;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fixture_dir = tempfile::tempdir().expect("tempdir");
    let scenario = kill_scenario(fixture_dir.path(), ROUNDS);
    let s = rt
        .block_on(mastodon_comments::standin::StandIn::start_local(scenario))
        .expect("stand-in");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &s.url(),
        r#", "token": "t", "searches_per_minute": 60, "scan_pages": 0"#,
    );
    let state = dir.path().join("state.json");
    let old: serde_json::Map<String, serde_json::Value> = (0..OLD)
        .map(|i| (format!("/old/{i}"), serde_json::json!([format!("{}", 1_000_000 + i)])))
        .collect();
    std::fs::write(&state, serde_json::json!({ "roots": old }).to_string()).expect("state");
    let read_roots = || -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(&state).ok()?;
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .map(|v| v["roots"].clone())
    };
    let misses_of = |round: u32| -> usize {
        std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                let prefix = format!("/new/{round}/");
                v["misses"]
                    .as_object()
                    .map(|m| m.keys().filter(|k| k.starts_with(&prefix)).count())
            })
            .unwrap_or(0)
    };
    let socket = dir.path().join("mc.sock");
    // Article path → root id, for every root the daemon had written (seen
    // in the file) before the kill of its round.
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    let mut killed = Vec::new();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let p = Proc::start(&cfg, &state, &socket);
        killed.push(p.child.id());
        let mut found = vec![(format!("/kill/{round}"), (KILL_BASE + u64::from(round)).to_string())];
        if round == 0 {
            found.push(("/2026/07/01/slow-bread".into(), "116843781319371281".into()));
        }
        for (path, id) in &found {
            let r = rt.block_on(fcgi_get(&socket, &format!("{path}/comments.json")));
            assert_eq!(r.status, 200, "round {round}: {path}");
            assert_eq!(r.json()["stats"]["root"], id.as_str(), "round {round}: {path}");
            // Written once the file on disk has it (the writer's rename).
            let deadline = Instant::now() + Duration::from_secs(5);
            while read_roots().is_none_or(|roots| roots[path.as_str()][0] != id.as_str()) {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: the found root of {path} was never written"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            acknowledged.push((path.clone(), id.clone()));
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
        // Kill while the writes go on: once the file holds a round-dependent
        // number (0..28) of this round's 30 misses, so some rounds stop the
        // daemon before its first write of them and most in the middle.
        let before_kill = (round as usize * 3) % 29;
        let deadline = Instant::now() + Duration::from_secs(2);
        while misses_of(round) < before_kill && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(u64::from(round % 5) * 700));
        p.signal("KILL");
        drop(p);
        let _ = rt.block_on(load);
        let text = std::fs::read_to_string(&state).expect("the state file exists");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: torn state file ({e}): {text}"));
        for i in 0..OLD {
            assert_eq!(
                v["roots"][format!("/old/{i}")][0],
                format!("{}", 1_000_000 + i).as_str(),
                "round {round}: /old/{i} lost"
            );
        }
        for (path, id) in &acknowledged {
            assert_eq!(
                v["roots"][path.as_str()][0],
                id.as_str(),
                "round {round}: the root of {path}, written before the kill, is missing"
            );
        }
    }
    assert_eq!(acknowledged.len(), ROUNDS as usize + 1);
    // What a kill can leave behind: the temporary file of the write it
    // interrupted, `.state.json.tmp-<pid>-<n>`, at most one per killed
    // process (one writer, one write at a time), removed by the next start. No file was ever found
    // unusable at start (it would have been moved to state.json.corrupt-*).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut per_pid = std::collections::BTreeMap::new();
    for n in names.iter().filter(|n| n.contains(".tmp-")) {
        let pid = n
            .strip_prefix(".state.json.tmp-")
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, seq)| seq.parse::<u64>().is_ok())
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("unexpected temporary file {n} ({names:?})"));
        assert!(killed.contains(&pid), "{n} is not from a killed daemon ({killed:?})");
        *per_pid.entry(pid).or_insert(0) += 1;
    }
    eprintln!(
        "{ROUNDS} rounds in {:?}; {} roots written and kept; {} kills left a temporary file",
        started.elapsed(),
        acknowledged.len(),
        per_pid.len()
    );
    assert!(
        per_pid.values().all(|&n| n == 1),
        "more than one temporary file left by one process: {per_pid:?}"
    );
    // Each start removes what earlier kills left: only the last killed
    // daemon's interrupted write can remain.
    let last = killed.last().copied();
    assert!(
        per_pid.keys().all(|pid| Some(*pid) == last),
        "temporary files of earlier runs were not cleaned up at start: {per_pid:?} (last killed {last:?})"
    );
    assert!(
        !names.iter().any(|n| n.contains(".corrupt-")),
        "a state file was found unusable at start: {names:?}"
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
/// The STATUS= text counts requests, cache hits, stale answers, upstream
/// calls and errors, and names the last upstream error after a failure.
#[test]
fn systemd_notify_ready_status_watchdog_and_stopping() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _c) = rt.block_on(standin("a-simple-thread", true));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &s.url(), r#", "token": "t""#);
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let socket = dir.path().join("mc.sock");
    let child = Command::new(binary())
        .arg("--listen")
        .arg(&socket)
        .arg(&cfg)
        .arg(dir.path().join("state.json"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    // Killed on drop if an assertion fails.
    let mut p = Proc {
        child,
        socket: socket.clone(),
    };
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
    // The STATUS= line is refreshed every systemd::STATUS_EVERY (10 s).
    let mut wait_status = |want: &str| {
        let deadline = Instant::now() + mastodon_comments::systemd::STATUS_EVERY + Duration::from_secs(5);
        let mut last = String::new();
        while Instant::now() < deadline {
            let Ok(n) = notify.recv(&mut buf) else { break };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some(status) = msg.lines().find_map(|l| l.strip_prefix("STATUS=")) {
                if status == want {
                    return;
                }
                last = status.to_string();
            }
        }
        panic!("no STATUS={want}; the last one was STATUS={last}");
    };
    // A fetched answer, then the same from the daemon's cache.
    let article = "/2026/07/01/slow-bread/comments.json";
    assert_eq!(
        rt.block_on(fcgi_get(&socket, article)).json()["comments"]
            .as_object()
            .map(|c| c.len()),
        Some(5)
    );
    assert_eq!(rt.block_on(fcgi_get(&socket, article)).status, 200);
    let calls = s.total_calls();
    assert!(calls >= 2, "{calls} upstream calls");
    // Mastodon failing (500 for every call) for an article never seen: 503.
    s.set_mode(Mode::Error);
    let r = rt.block_on(fcgi_get(&socket, "/2026/07/03/never-seen/comments.json"));
    s.set_mode(Mode::Ok);
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    let all = s.total_calls();
    let failed = all - calls;
    assert!(failed >= 1, "no upstream call while Mastodon failed");
    wait_status(&format!(
        "3 requests, 1 cache hits, 0 stale, {all} upstream calls, {failed} upstream errors, \
         last upstream error: the instance answered HTTP 500"
    ));
    let _ = Command::new("kill").arg("-TERM").arg(p.child.id().to_string()).status();
    let mut stopping = String::new();
    while !stopping.contains("STOPPING=1") {
        let n = notify.recv(&mut buf).expect("STOPPING=1");
        stopping.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let status = p.child.wait().expect("wait");
    assert!(status.success());
}
