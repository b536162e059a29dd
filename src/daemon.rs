//! The daemon's life, from the config file to the last state flush: load
//! the config and state, take the socket, start the background tasks
//! (state writer, watchdog, signals, idle exit), serve, drain, flush.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::activity::{self, Activity};
use crate::app::App;
use crate::cli;
use crate::config::{Config, Env};
use crate::state::State;
use crate::{listen, server, signals, systemd};

/// Runs until SIGTERM, SIGINT or idle exit; errors are the operator's to
/// fix before it can start (config, state path, socket).
pub async fn run(cli: cli::Daemon) -> anyhow::Result<ExitCode> {
    let Some(config_path) = cli.config else {
        anyhow::bail!("missing CONFIG: run `mastodon-comments /etc/mastodon-comments/config.json` (see --help)");
    };
    let config = Config::load(&config_path, &Env::from_process())?;
    let state_path = state_path(cli.state)?;
    let listener = listen::acquire(cli.listen.as_deref())?;
    let state = Arc::new(State::load(&state_path, config.max_state_entries, config.miss_retry));
    let app = Arc::new(App::new(config, state.clone())?);
    let shutdown = CancellationToken::new();
    let activity = Arc::new(Activity::default());

    // The writer outlives the drain: requests finishing during shutdown
    // may still record roots, and its last flush must include them.
    let writer_stop = CancellationToken::new();
    let writer = {
        let (state, stop) = (state.clone(), writer_stop.clone());
        tokio::spawn(async move { state.writer(stop).await })
    };
    tokio::spawn(systemd::heartbeat(app.clone(), shutdown.clone()));
    tokio::spawn(signals::serve(app.clone(), config_path.clone(), shutdown.clone()));
    if let Some(idle) = cli.exit_idle_after {
        tokio::spawn(activity::exit_when_idle(activity.clone(), idle, shutdown.clone()));
    }

    let listening = listener.describe();
    tracing::info!(
        "serving {:?} on {listening} for {} ({} entries in {})",
        cli.protocol,
        app.config().url,
        state.len(),
        state_path.display()
    );
    systemd::ready(&format!("serving on {listening}"));
    server::serve(listener, cli.protocol, app, None, activity, shutdown.clone()).await;
    systemd::stopping();
    shutdown.cancel();
    writer_stop.cancel();
    let _ = writer.await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The state file: the second argument, else `state.json` in systemd's
/// first `StateDirectory=`.
fn state_path(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    match std::env::var_os("STATE_DIRECTORY") {
        Some(dirs) => {
            let first = dirs.to_string_lossy().split(':').next().unwrap_or("").to_string();
            Ok(Path::new(&first).join("state.json"))
        }
        None => anyhow::bail!(
            "missing STATE file: pass it as the second argument, or run under systemd with StateDirectory="
        ),
    }
}
