//! The accept loop: a bound listener in, connections out to the protocol,
//! a cap on connections, and a two-phase bounded shutdown (stop accepting,
//! then drain in-flight requests for at most [`limits::DRAIN_TIMEOUT`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::activity::Activity;
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
    pub(crate) fn describe(&self) -> String {
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
