//! mastodon-comments: shows the Mastodon replies to a blog post as that
//! post's comments. nginx passes `…/comments.json` requests over FastCGI;
//! the daemon finds the post that announced the article, fetches its
//! replies under strict time and size limits, and answers comment JSON
//! that is safe to put into a page.
//!
//! Map of the crate:
//!
//! | module | holds |
//! |---|---|
//! | [`cli`] | the command line and its help |
//! | [`daemon`] | the daemon's life: start, background tasks, drain, last flush |
//! | [`signals`] | SIGTERM/SIGINT stop, SIGHUP reload |
//! | [`lookup`] | the `lookup` command |
//! | [`check`] | the `check` command: the set-up checked against the instance |
//! | [`config`] | the config file: schema, defaults, validation, token |
//! | [`limits`] | every timeout, byte cap and count bound |
//! | [`listen`] | the inherited (socket-activated) or `--listen` socket |
//! | [`server`] | accept loop, connection cap, bounded drain |
//! | [`activity`] | connections and requests in flight, idle exit |
//! | [`fastcgi`], [`http`] | the transports, converting to [`Request`]; [`fastcgi::wire`], the FastCGI record format |
//! | [`request`] | [`Request`] and [`Response`], where transports and service meet |
//! | [`app`] | `App::handle(Request) -> Response`: the service |
//! | [`query`] | article path from `?search=` or the URI, cleaned, validated |
//! | [`ctx`] | what the service works with: config, client, state, author |
//! | [`roots`] | finding the announcing post; exact link match |
//! | [`coalesce`] | one upstream call for all concurrent askers |
//! | [`cache`] | the last good answer per root |
//! | [`state`] | the state file: bounded, expiring misses, atomic writes |
//! | [`mastodon`] | the instance's API: bounded client, the calls, model |
//! | [`ids`] | status ids (`StatusId`) and account names: checked and compared one way |
//! | [`deadline`] | the one deadline of a request |
//! | [`cpu`] | decoding and rendering off the event loop, bounded |
//! | [`moderation`] | the author's blocks and mutes, kept fresh in the background |
//! | [`pending`] | replies awaiting the author's approval (GoToSocial) |
//! | [`render`] | the answer JSON; visibility and moderation filter |
//! | [`sanitize`] | HTML allow-list, emoji, URL checks |
//! | [`media`] | the image proxy (`proxy_media`): tokens, the answer's image URLs, serving |
//! | [`error`] | error → status, body, headers |
//! | [`systemd`] | READY / STATUS / STOPPING / watchdog |
//! | [`standin`], [`demo`] | a stand-in Mastodon and the demo mode |

pub mod activity;
pub mod app;
pub mod cache;
pub mod check;
pub mod cli;
pub mod coalesce;
pub mod config;
pub mod cpu;
pub mod ctx;
pub mod daemon;
pub mod deadline;
pub mod demo;
pub mod error;
pub mod fastcgi;
pub mod http;
pub mod ids;
pub mod limits;
pub mod listen;
pub mod lookup;
pub mod mastodon;
pub mod media;
pub mod moderation;
pub mod pending;
pub mod query;
pub mod render;
pub mod request;
pub mod roots;
pub mod sanitize;
pub mod server;
pub mod signals;
pub mod standin;
pub mod state;
pub mod systemd;

pub use app::App;
pub use config::Config;
pub use request::{Request, Response};
