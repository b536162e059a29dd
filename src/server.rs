//! The accept loop: a bound listener in, connections out to the protocol,
//! a cap on connections, and a two-phase bounded shutdown (stop accepting,
//! then drain in-flight requests for at most [`limits::DRAIN_TIMEOUT`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::http::Extra;
use crate::limits;

/// A listening socket of either family.
#[derive(Debug)]
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// Where it listens, for the log.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| "unix socket".into()),
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp socket".into()),
        }
    }
}

/// What the connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Fastcgi,
    Http,
}

/// Connections open, requests in flight and the time of the last one, for
/// idle exit.
#[derive(Debug)]
pub struct Activity {
    busy: AtomicUsize,
    start: Instant,
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            busy: AtomicUsize::new(0),
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

/// Marks a connection as open until dropped: an open connection may carry
/// a request not yet read, so the daemon is not idle while one is.
pub struct Open(Arc<Activity>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks a request as in flight until dropped.
pub struct Busy<'a>(&'a Activity);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    pub fn begin(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Busy(self)
    }

    pub fn open(self: &Arc<Self>) -> Open {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Open(self.clone())
    }

    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::SeqCst);
    }

    /// How long no connection has been open and nothing in flight.
    pub fn idle_for(&self) -> Duration {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Serves until `shutdown` is cancelled, then drains. `extra` adds routes
/// in HTTP mode (the demo page).
pub async fn serve(
    listener: Listener,
    protocol: Protocol,
    app: Arc<App>,
    extra: Option<Extra>,
    activity: Arc<Activity>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(limits::MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        // Shutdown first: a connection not accepted yet stays in the
        // listening socket's queue, which systemd keeps open for the next
        // start (idle exit), instead of being accepted and dropped.
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            a = accept(&listener) => a,
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (app, extra, activity, shutdown) = (app.clone(), extra.clone(), activity.clone(), shutdown.clone());
        let open = activity.open();
        tracker.spawn(async move {
            let _permit = permit;
            let _open = open;
            match (protocol, stream) {
                (Protocol::Fastcgi, Stream::Unix(s)) => {
                    crate::fastcgi::serve_connection(s, app, activity, shutdown).await
                }
                (Protocol::Fastcgi, Stream::Tcp(s)) => {
                    crate::fastcgi::serve_connection(s, app, activity, shutdown).await
                }
                (Protocol::Http, Stream::Unix(s)) => {
                    crate::http::serve_connection(s, app, extra, activity, shutdown).await
                }
                (Protocol::Http, Stream::Tcp(s)) => {
                    crate::http::serve_connection(s, app, extra, activity, shutdown).await
                }
            }
        });
    }
    tracker.close();
    if tokio::time::timeout(limits::DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} connections still busy after {}s; stopping anyway",
            tracker.len(),
            limits::DRAIN_TIMEOUT.as_secs()
        );
    }
}

enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Stream> {
    match listener {
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Stream::Unix(s)),
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            Stream::Tcp(s)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_open_connection_is_not_idle() {
        let a = Arc::new(Activity::default());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(a.idle_for() >= Duration::from_secs(5));
        let open = a.open();
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(a.idle_for(), Duration::ZERO, "a connection may hold an unread request");
        drop(open);
        tokio::time::advance(Duration::from_secs(2)).await;
        let idle = a.idle_for();
        assert!(
            idle >= Duration::from_secs(2) && idle < Duration::from_secs(3),
            "{idle:?}"
        );
    }
}
