//! The `mastodon-comments` command: parses the CLI, sets up logging and
//! the runtime, and hands over to the library (the daemon, `lookup`,
//! `check`, the demo, the stand-in).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use mastodon_comments::cli::{self, Cli};
use mastodon_comments::standin::StandIn;
use mastodon_comments::{check, daemon, demo, lookup};

fn main() -> ExitCode {
    let cli = match cli::from_env() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("mastodon-comments: {e}; see --help");
            return ExitCode::from(2);
        }
    };
    init_tracing(matches!(cli, Cli::Lookup { .. } | Cli::Check { .. }));
    let result = match cli {
        Cli::Print(text) => cli::write_stdout(&text).map(|()| ExitCode::SUCCESS),
        Cli::Lookup { config, state, path } => {
            runtime().and_then(|rt| rt.block_on(lookup::run(&config, state.as_deref(), &path)))
        }
        Cli::Check { config } => runtime().and_then(|rt| rt.block_on(check::run(&config))),
        Cli::Demo { listen, fixtures } => runtime()
            .and_then(|rt| rt.block_on(demo::run(&listen, fixtures.as_deref())))
            .map(|()| ExitCode::SUCCESS),
        Cli::StandIn {
            fixtures,
            listen,
            delay_ms,
            pictures,
            origin,
        } => runtime()
            .and_then(|rt| {
                let delay = Duration::from_millis(delay_ms);
                rt.block_on(StandIn::run(&fixtures, &listen, delay, pictures, origin.as_deref()))
            })
            .map(|()| ExitCode::SUCCESS),
        Cli::Daemon(d) => runtime().and_then(|rt| rt.block_on(daemon::run(d))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mastodon-comments: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr (journald); no colours, no timestamps under journald.
fn init_tracing(quiet: bool) {
    // RUST_LOG is a level (error, warn, info, debug, trace); a full filter
    // engine would cost more memory than the rest of the daemon.
    let default = if quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<tracing::Level>().ok())
        .unwrap_or(default);
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let _ = if journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// One thread: the work per request is small, and a single event loop
/// keeps memory low and makes a stuck loop visible to the watchdog.
/// Large threads are decoded and rendered on the blocking pool (`cpu`).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .context("cannot start the async runtime")
}
