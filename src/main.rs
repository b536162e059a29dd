//! The `mastodon-comments` command: parses the CLI, sets up logging, loads
//! the config, takes the socket and runs the service. Everything else is in
//! the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use mastodon_comments::cli::{self, Cli};
use mastodon_comments::config::{Config, Env};
use mastodon_comments::server::{self, Activity, Protocol};
use mastodon_comments::standin::{Scenario, StandIn};
use mastodon_comments::state::State;
use mastodon_comments::{App, Request, demo, listen, systemd};

fn main() -> ExitCode {
    let cli = match cli::from_env() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("mastodon-comments: {e}; see --help");
            return ExitCode::from(2);
        }
    };
    init_tracing(matches!(cli, Cli::Lookup { .. }));
    let result = match cli {
        Cli::Print(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cli::Lookup { config, state, path } => {
            runtime().and_then(|rt| rt.block_on(lookup(&config, state.as_deref(), &path)))
        }
        Cli::Demo { listen, fixtures } => runtime().and_then(|rt| rt.block_on(run_demo(&listen, fixtures.as_deref()))),
        Cli::StandIn {
            fixtures,
            listen,
            delay_ms,
        } => runtime().and_then(|rt| rt.block_on(run_standin(&fixtures, &listen, delay_ms))),
        Cli::Daemon(d) => daemon(d),
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
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .context("cannot start the async runtime")
}

fn daemon(cli: cli::Daemon) -> anyhow::Result<ExitCode> {
    let Some(config_path) = cli.config else {
        anyhow::bail!("missing CONFIG: run `mastodon-comments /etc/mastodon-comments/config.json` (see --help)");
    };
    let config = Config::load(&config_path, &Env::from_process())?;
    let state_path = match cli.state {
        Some(p) => p,
        None => match std::env::var_os("STATE_DIRECTORY") {
            Some(dirs) => {
                let first = dirs.to_string_lossy().split(':').next().unwrap_or("").to_string();
                Path::new(&first).join("state.json")
            }
            None => anyhow::bail!(
                "missing STATE file: pass it as the second argument, or run under systemd with StateDirectory="
            ),
        },
    };
    let rt = runtime()?;
    rt.block_on(async move {
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
        tokio::spawn(signals(app.clone(), config_path.clone(), shutdown.clone()));
        if let Some(idle) = cli.exit_idle_after {
            tokio::spawn(idle_exit(activity.clone(), idle, shutdown.clone()));
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
    })
}

/// SIGTERM/SIGINT stop; SIGHUP reloads the config (an invalid new config
/// is logged and the old one kept).
async fn signals(app: Arc<App>, config_path: PathBuf, shutdown: CancellationToken) {
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
            _ = hup.recv() => {
                systemd::reloading();
                match Config::load(&config_path, &Env::from_process()) {
                    Ok(c) => match app.reload(c) {
                        Ok(()) => tracing::info!("config reloaded from {}", config_path.display()),
                        Err(e) => tracing::error!("config not reloaded, keeping the old one: {e}"),
                    },
                    Err(e) => tracing::error!("config not reloaded, keeping the old one: {e}"),
                }
                systemd::ready(&app.status_line());
            }
        }
    }
    tracing::info!("stopping: finishing requests in flight");
    systemd::stopping();
    shutdown.cancel();
}

async fn idle_exit(activity: Arc<Activity>, idle: Duration, shutdown: CancellationToken) {
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

async fn lookup(config_path: &Path, state_path: Option<&Path>, path: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path, &Env::from_process())?;
    let state = Arc::new(match state_path {
        Some(p) => State::load(p, config.max_state_entries, config.miss_retry),
        None => State::in_memory(config.max_state_entries, config.miss_retry),
    });
    let app = App::new(config, state.clone())?;
    let article = match url::Url::parse(path) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.path().to_string(),
        _ => path.to_string(),
    };
    let encoded: String = url::form_urlencoded::byte_serialize(article.as_bytes()).collect();
    let resp = app
        .handle(&Request::get(&format!("/comments.json?search={encoded}")))
        .await;
    state.flush().await.context("cannot write the state file")?;
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null);
    println!("{}", serde_json::to_string_pretty(&body)?);
    let root = body["stats"]["root"].as_str().unwrap_or("");
    eprintln!(
        "status {}; {}; {}",
        resp.status,
        if root.is_empty() {
            "no root post found".to_string()
        } else {
            format!("root post {root}")
        },
        app.status_line()
    );
    Ok(if resp.status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_demo(listen: &str, fixtures: Option<&Path>) -> anyhow::Result<ExitCode> {
    let scenario = match fixtures {
        Some(dir) => Scenario::from_dir(dir)?,
        None => demo::sample_scenario(),
    };
    let demo = demo::start(scenario).await?;
    let listener = listen::bind(listen)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let addr = listener.describe();
    println!("demo: open http://{addr}/");
    println!("demo: or try: curl http://{addr}{}comments.json", demo.article);
    server::serve(
        listener,
        Protocol::Http,
        demo.app,
        Some(demo.extra),
        Arc::default(),
        shutdown,
    )
    .await;
    Ok(ExitCode::SUCCESS)
}

async fn run_standin(fixtures: &Path, listen: &str, delay_ms: u64) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::from_dir(fixtures)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let standin = StandIn::start(scenario, listener)?;
    standin.set_delay(Duration::from_millis(delay_ms));
    println!("stand-in: listening on {}", standin.url());
    let stop = CancellationToken::new();
    stop_on_signal(stop.clone()).await;
    Ok(ExitCode::SUCCESS)
}

async fn stop_on_signal(token: CancellationToken) {
    if let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    token.cancel();
}
