//! The integration test binary: the service in process against a stand-in
//! Mastodon serving the fixtures, over real sockets where the transport is
//! under test, and the built binary where the binary itself is.

mod check;
mod common;
mod content;
mod demo;
mod errors;
mod guarantees;
mod media;
mod process;
mod properties;
mod servers;
mod service;
mod transport;
