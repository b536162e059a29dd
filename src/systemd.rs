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
pub fn ready(status: &str) {
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

pub fn reloading() {
    notify(&[NotifyState::Reloading]);
}

/// Pings the watchdog at half of `WatchdogSec=` while the runtime still
/// runs tasks (a stuck event loop stops the pings and systemd restarts
/// us), and refreshes the `STATUS=` line.
pub async fn heartbeat(app: Arc<App>, shutdown: CancellationToken) {
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog
        .map(|d| d / 2)
        .unwrap_or(Duration::from_secs(10))
        .min(Duration::from_secs(10));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        // A task spawned now must get to run promptly.
        let alive = tokio::time::timeout(Duration::from_secs(1), tokio::spawn(async {}))
            .await
            .is_ok();
        if watchdog.is_some() && alive {
            notify(&[NotifyState::Watchdog]);
        }
        status(&app.status_line());
    }
}
