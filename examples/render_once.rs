//! Renders one of the render benchmark's threads once (`benches/render.rs`,
//! threads made by `benches/render/threads.rs`): for counting the
//! instructions of one render with callgrind, and for comparing the
//! answer's bytes between two versions of the code. Not part of the
//! release binary.
//!
//! ```text
//! cargo build --release --example render_once
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   --toggle-collect='render_once::measured' \
//!   target/release/examples/render_once small-chain
//! ```
//!
//! The thread is the first argument: `small-chain`, `small-bushy`,
//! `small-flat`, `full-chain`, `full-bushy`, `full-flat`, `tiny-chain`
//! (20,000 replies), `long-thread` (the 200-reply fixture) or `one-reply`.
//! With a second argument, the answer's bytes are written to that file.
//! `--files STATUS CONTEXT [ANSWER_FILE]` renders those upstream answers
//! instead (e.g. a fixture's), with the benchmark's config.
//! callgrind's `Collected` line is the render's instruction count: the
//! thread is made before, and the answer checked after, outside
//! `measured`.

#[path = "../benches/render/threads.rs"]
#[allow(dead_code)]
mod threads;

use std::process::ExitCode;

use mastodon_comments::{Config, render};

/// The one call whose instructions are counted.
#[inline(never)]
fn measured(status: &[u8], context: &[u8], config: &Config) -> Result<Vec<u8>, serde_json::Error> {
    render::from_upstream_json(std::hint::black_box(status), std::hint::black_box(context), config)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let read = |p: &str| std::fs::read(p).map_err(|e| eprintln!("render_once: cannot read {p}: {e}"));
    // What to render: (its name, root status, context, replies expected),
    // and where the answer goes.
    let (thread, out) = match args.as_slice() {
        [flag, status, context, out @ ..] if flag == "--files" && out.len() <= 1 => {
            let (Ok(s), Ok(c)) = (read(status), read(context)) else {
                return ExitCode::FAILURE;
            };
            ((context.clone(), s, c, None), out.first())
        }
        [key, out @ ..] if out.len() <= 1 => {
            let (context, replies) = match key.as_str() {
                "long-thread" => (threads::read(&format!("context/{}.json", threads::ROOT)), None),
                "one-reply" => (threads::one_reply(), Some(1)),
                _ => match threads::threads(&[key.as_str()]).pop() {
                    Some(t) => (t.context, Some(t.replies)),
                    None => {
                        eprintln!("render_once: no thread named {key:?}");
                        return ExitCode::from(2);
                    }
                },
            };
            ((key.clone(), threads::root_status(), context, replies), out.first())
        }
        _ => {
            eprintln!("usage: render_once THREAD [ANSWER_FILE] | render_once --files STATUS CONTEXT [ANSWER_FILE]");
            return ExitCode::from(2);
        }
    };
    let (name, status, context, replies) = thread;
    let answer = match measured(&status, &context, &threads::config()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("render_once: {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = serde_json::from_slice::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["stats"]["replies"].as_u64());
    eprintln!(
        "{name}: {} bytes of upstream JSON, {} replies shown, {} bytes of answer",
        context.len(),
        shown.map_or("no".into(), |n| n.to_string()),
        answer.len()
    );
    if replies.is_some_and(|n| shown != Some(n as u64)) {
        eprintln!("render_once: {name}: expected {replies:?} replies shown");
        return ExitCode::FAILURE;
    }
    if let Some(out) = out
        && let Err(e) = std::fs::write(out, &answer)
    {
        eprintln!("render_once: cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
