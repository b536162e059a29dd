//! Talking to systemd: READY, STATUS, STOPPING and the watchdog. Every call
//! is a no-op without `NOTIFY_SOCKET` (outside systemd, in tests).

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::app::App;

fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// After the last step that can fail: socket taken, state loaded.
pub(crate) fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

pub fn stopping() {
    notify(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing requests, writing the state"),
    ]);
}

pub(crate) fn reloading() {
    notify(&[NotifyState::Reloading]);
}

/// Pings the watchdog at half of `WatchdogSec=` and refreshes the
/// `STATUS=` line every [`STATUS_EVERY`]. It runs on the daemon's one
/// event loop, so a stuck loop (a blocking call, a busy task) stops the
/// pings and systemd restarts the service.
pub(crate) async fn heartbeat(app: Arc<App>, shutdown: CancellationToken) {
    let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
    beat(
        watchdog,
        || notify(&[NotifyState::Watchdog]),
        || status(&app.status_line()),
        shutdown,
    )
    .await
}

/// How often `STATUS=` is refreshed.
pub const STATUS_EVERY: Duration = Duration::from_secs(10);

/// The heartbeat's loop, apart from what it sends (tests count pings).
pub(crate) async fn beat(
    ping_every: Option<Duration>,
    ping: impl Fn(),
    refresh: impl Fn(),
    shutdown: CancellationToken,
) {
    use tokio::time::MissedTickBehavior;
    // Without a watchdog the ping timer never fires.
    let mut pings = tokio::time::interval(ping_every.unwrap_or(Duration::from_secs(86400)));
    let mut statuses = tokio::time::interval(STATUS_EVERY);
    // After a stall, one late tick rather than a burst of catch-up pings.
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    statuses.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = pings.tick() => if ping_every.is_some() { ping() },
            _ = statuses.tick() => refresh(),
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The pings come from the event loop itself: while a task blocks the
    /// loop, none is sent, so systemd's watchdog sees the stall.
    #[tokio::test(flavor = "current_thread")]
    async fn a_stuck_event_loop_sends_no_pings() {
        let pings: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
        let stop = CancellationToken::new();
        let p = pings.clone();
        let beat = tokio::spawn(beat(
            Some(Duration::from_millis(50)),
            move || p.lock().expect("lock").push(std::time::Instant::now()),
            || {},
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = pings.lock().expect("lock").len();
        assert!(before >= 2, "pings while the loop runs: {before}");
        // A task that blocks the (only) thread for 600 ms.
        let stalled_from = std::time::Instant::now();
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(600)) })
            .await
            .expect("join");
        let stalled_to = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        beat.await.expect("join");
        let all = pings.lock().expect("lock").clone();
        let during = all
            .iter()
            .filter(|t| **t > stalled_from + Duration::from_millis(10) && **t < stalled_to)
            .count();
        assert_eq!(during, 0, "no ping while the loop was stuck");
        assert!(all.len() > before, "pings resume after the stall");
    }
}
