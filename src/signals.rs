//! What the daemon does on a signal: SIGTERM and SIGINT stop it after the
//! requests in flight; SIGHUP reloads the config and keeps the old one
//! when the new one is invalid, telling systemd either way.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Config, Env};
use crate::systemd;

/// The daemon's signals, until SIGTERM or SIGINT cancels `shutdown`.
pub async fn serve(app: Arc<App>, config_path: PathBuf, shutdown: CancellationToken) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&app, &config_path),
        }
    }
    tracing::info!("stopping: finishing requests in flight");
    systemd::stopping();
    shutdown.cancel();
}

fn reload(app: &App, config_path: &std::path::Path) {
    systemd::reloading();
    let reloaded = match Config::load(config_path, &Env::from_process()) {
        Ok(c) => app.reload(c).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match reloaded {
        Ok(()) => tracing::info!("config reloaded from {}", config_path.display()),
        Err(e) => tracing::error!("config not reloaded, keeping the old one: {e}"),
    }
    systemd::ready(&app.status_line());
}

/// Cancels `token` on SIGTERM or SIGINT (the demo and the stand-in, which
/// have nothing to reload).
pub(crate) async fn stop_on_signal(token: CancellationToken) {
    if let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    token.cancel();
}
