//! The image proxy: with `proxy_media`, every image of the answer points at
//! the blog's own origin, and the daemon fetches it from its server for
//! the reader, so the reader's browser talks to no one but the blog.
//!
//! | module | holds |
//! |---|---|
//! | [`token`] | the key file; a token names one URL and its kind, unforgeably |
//! | [`links`] | the answer's image URLs, proxied |
//! | [`serve`] | one image path: verify, route, fetch (bounded), sniff, answer |
//! | [`address`] | which addresses may be connected to; the resolver that enforces it |
//! | [`sniff`] | the allowed image types, by their first bytes |

pub mod address;
pub mod links;
pub mod serve;
pub mod sniff;
pub mod token;

pub use links::Images;
pub use serve::Proxy;
pub use token::{Key, Kind};
