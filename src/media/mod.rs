//! The image proxy: with `proxy_media`, every image of the answer points at
//! the blog's own origin, and the daemon fetches it from its server for
//! the reader, so the reader's browser talks to no one but the blog.

pub mod links;
pub mod token;

pub use links::Images;
pub use token::{Key, Kind};
