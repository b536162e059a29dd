//! The listening socket: the one systemd passed (socket activation), or
//! the one `--listen` names.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use listenfd::ListenFd;

use crate::server::Listener;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "no socket to listen on: start me through mastodon-comments.socket (systemd socket activation) or pass --listen /run/mastodon-comments.sock or --listen 127.0.0.1:9000"
    )]
    NoSocket,
    #[error("systemd passed {0} sockets; mastodon-comments.socket must have exactly one ListenStream=")]
    TooMany(usize),
    #[error("both --listen and a socket from systemd were given; drop --listen from the unit")]
    Both,
    #[error("the socket passed by systemd is not a stream socket (unix or TCP): {0}")]
    WrongKind(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("{0} is in use by a running server; stop it or choose another path")]
    InUse(String),
}

/// Takes the inherited socket, or binds `listen`. Must run inside the
/// tokio runtime.
pub(crate) fn acquire(listen: Option<&str>) -> Result<Listener, ListenError> {
    let mut fds = ListenFd::from_env();
    match (fds.len(), listen) {
        (0, None) => Err(ListenError::NoSocket),
        (0, Some(addr)) => bind(addr),
        (1, None) => inherited(&mut fds),
        (_, Some(_)) => Err(ListenError::Both),
        (n, None) => Err(ListenError::TooMany(n)),
    }
}

fn inherited(fds: &mut ListenFd) -> Result<Listener, ListenError> {
    if let Ok(Some(l)) = fds.take_unix_listener(0) {
        l.set_nonblocking(true)
            .map_err(|e| ListenError::WrongKind(e.to_string()))?;
        return tokio::net::UnixListener::from_std(l)
            .map(Listener::Unix)
            .map_err(|e| ListenError::WrongKind(e.to_string()));
    }
    match fds.take_tcp_listener(0) {
        Ok(Some(l)) => {
            l.set_nonblocking(true)
                .map_err(|e| ListenError::WrongKind(e.to_string()))?;
            tokio::net::TcpListener::from_std(l)
                .map(Listener::Tcp)
                .map_err(|e| ListenError::WrongKind(e.to_string()))
        }
        Ok(None) => Err(ListenError::WrongKind("fd 3 was already taken".into())),
        Err(e) => Err(ListenError::WrongKind(e.to_string())),
    }
}

/// Whether `--listen` names a TCP address: `ip:port`, `[ipv6]:port` or
/// `name:port` (such as `localhost:9000`); paths hold a `/` or no port.
fn is_tcp(addr: &str) -> bool {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains('/')
                && port.parse::<u16>().is_ok()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// `host:port` is TCP; anything else is a unix socket path, whose stale
/// socket file (no server behind it) is removed first.
pub fn bind(addr: &str) -> Result<Listener, ListenError> {
    if is_tcp(addr) {
        let std = std::net::TcpListener::bind(addr).map_err(|e| ListenError::Bind(addr.into(), e))?;
        std.set_nonblocking(true)
            .map_err(|e| ListenError::Bind(addr.into(), e))?;
        return tokio::net::TcpListener::from_std(std)
            .map(Listener::Tcp)
            .map_err(|e| ListenError::Bind(addr.into(), e));
    }
    let path = Path::new(addr);
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(addr.into()));
        }
        let _ = std::fs::remove_file(path);
    }
    tokio::net::UnixListener::bind(path)
        .map(Listener::Unix)
        .map_err(|e| ListenError::Bind(addr.into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stale_socket_file_is_replaced_a_live_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mc.sock");
        let addr = path.to_string_lossy().into_owned();
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        assert!(path.exists(), "a stale socket file");
        let live = bind(&addr).expect("stale file removed and bound");
        match bind(&addr) {
            Err(ListenError::InUse(p)) => assert_eq!(p, addr),
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(live);
        let tcp = bind("127.0.0.1:0").expect("tcp");
        assert!(matches!(tcp, Listener::Tcp(_)));
        let named = bind("localhost:0").expect("tcp by name");
        assert!(matches!(named, Listener::Tcp(_)));
        assert!(is_tcp("[::1]:8080") && is_tcp("localhost:9000"));
        assert!(!is_tcp("/run/mc.sock") && !is_tcp("mc.sock") && !is_tcp("./a:1") && !is_tcp("a:b"));
        let e = bind("/nonexistent-dir/x.sock").expect_err("no such dir");
        assert!(
            e.to_string().starts_with("cannot listen on /nonexistent-dir/x.sock"),
            "{e}"
        );
    }
}
