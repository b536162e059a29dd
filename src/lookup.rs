//! `mastodon-comments lookup CONFIG [STATE] PATH`: one article through the
//! service exactly as a reader's request would go, the answer printed and
//! a one-line verdict on stderr, for operators finding out why comments
//! do not show.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use crate::app::App;
use crate::config::{Config, Env};
use crate::query;
use crate::request::Request;
use crate::state::State;

/// Answers `article` (a URL or a path), writes the state when one is
/// given, and exits 0 only on a 200.
pub async fn run(config_path: &Path, state_path: Option<&Path>, article: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path, &Env::from_process())?;
    let state = Arc::new(match state_path {
        Some(p) => State::load(p, config.max_state_entries, config.miss_retry),
        None => State::in_memory(config.max_state_entries, config.miss_retry),
    });
    let app = App::new(config, state.clone())?;
    // A path that is not one is passed on as given: the service's own 400
    // says what is wrong with it.
    let path = query::from_url_or_path(article).unwrap_or_else(|_| article.to_string());
    let encoded: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    let resp = app
        .handle(&Request::get(&format!("/comments.json?search={encoded}")))
        .await;
    state.flush().await.context("cannot write the state file")?;
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null);
    crate::cli::write_stdout(&(serde_json::to_string_pretty(&body)? + "\n"))?;
    let root = body["stats"]["root"].as_str().unwrap_or("");
    let found = if root.is_empty() {
        "no root post found".to_string()
    } else {
        format!("root post {root}")
    };
    eprintln!("status {}; {found}; {}", resp.status, app.status_line());
    Ok(if resp.status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
