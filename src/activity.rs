//! Whether the daemon is busy: connections open, requests in flight and
//! the time of the last one, shared by the transports and read by idle
//! exit (`--exit-idle-after`, for socket activation).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
pub(crate) struct Busy<'a>(&'a Activity);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    pub(crate) fn begin(&self) -> Busy<'_> {
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
    pub(crate) fn idle_for(&self) -> Duration {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Cancels `shutdown` once nothing has been open or in flight for `idle`:
/// socket activation starts the daemon again on the next connection.
pub(crate) async fn exit_when_idle(activity: Arc<Activity>, idle: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250).min(idle));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if activity.idle_for() >= idle {
            tracing::info!(
                "no requests for {}; exiting until the next connection",
                humantime::format_duration(idle)
            );
            shutdown.cancel();
            return;
        }
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
