//! The image URLs an answer names when `proxy_media` is on: each image's
//! own URL, already sanitized, becomes a path under the blog's origin
//! carrying a token for it (see [`super::token`]).

use std::borrow::Cow;

use url::Url;

use super::token::{Key, Kind};
use crate::limits;
use crate::mastodon::model::Emoji;
use crate::sanitize;

/// Makes the answer's image URLs, for one config and key.
#[derive(Debug, Clone)]
pub struct Images {
    key: Key,
    /// `https://blog.example.org/comments-media/`: the blog's origin and
    /// the configured prefix.
    base: String,
}

impl Images {
    pub fn new(key: Key, blog_url: &Url, prefix: &str) -> Images {
        let origin = blog_url.origin().ascii_serialization();
        Images {
            key,
            base: format!("{origin}{prefix}"),
        }
    }

    /// The key the tokens are made with, to verify them.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The path prefix of every image URL, e.g. `/comments-media/`.
    pub fn prefix(&self) -> &str {
        let after_origin = self.base.find("//").map_or(0, |i| i + 2);
        self.base[after_origin..]
            .find('/')
            .map_or("/", |i| &self.base[after_origin + i..])
    }

    /// The proxied URL of a sanitized image URL; `""` for `""`, and for a
    /// URL whose proxied form would be longer than any URL the answer
    /// holds (the image is then not shown rather than loaded directly).
    pub fn url(&self, sanitized: &str, kind: Kind) -> String {
        if sanitized.is_empty() {
            return String::new();
        }
        let out = format!("{}{}", self.base, self.key.token(kind, sanitized));
        if out.len() > limits::MAX_URL_BYTES {
            return String::new();
        }
        out
    }

    /// The declared custom emoji with proxied URLs; the image each would
    /// have shown (the static one when safe, else the animated one).
    pub fn emojis<'a>(&self, emojis: &'a [Emoji<'a>]) -> Cow<'a, [Emoji<'a>]> {
        if emojis.is_empty() {
            return Cow::Borrowed(emojis);
        }
        Cow::Owned(
            emojis
                .iter()
                .map(|e| {
                    let direct = match sanitize::url(&e.static_url) {
                        s if s.is_empty() => sanitize::url(&e.url),
                        s => s,
                    };
                    let proxied = self.url(&direct, Kind::Icon);
                    Emoji {
                        shortcode: e.shortcode.clone(),
                        url: proxied.clone().into(),
                        static_url: proxied.into(),
                    }
                })
                .collect(),
        )
    }
}

/// The emoji as declared, or proxied.
pub fn emojis<'a>(images: Option<&Images>, emojis: &'a [Emoji<'a>]) -> Cow<'a, [Emoji<'a>]> {
    match images {
        Some(i) => i.emojis(emojis),
        None => Cow::Borrowed(emojis),
    }
}

/// An image URL (already sanitized) as the answer names it.
pub fn image(images: Option<&Images>, sanitized: String, kind: Kind) -> String {
    match images {
        Some(i) => i.url(&sanitized, kind),
        None => sanitized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_point_at_the_blogs_origin_and_name_their_url() {
        let key = Key::ephemeral().expect("key");
        let blog = Url::parse("https://blog.example.org:8443/some/where/").expect("url");
        let images = Images::new(key.clone(), &blog, "/comments-media/");
        let u = images.url("https://files.example/a.png", Kind::Icon);
        let token = u
            .strip_prefix("https://blog.example.org:8443/comments-media/")
            .expect("on the blog's origin");
        assert_eq!(
            key.verify(token),
            Some((Kind::Icon, "https://files.example/a.png".into()))
        );
        assert_eq!(sanitize::url(&u), u, "a URL the answer may hold as it is");
        assert_eq!(images.url("", Kind::Icon), "");
        assert_eq!(images.prefix(), "/comments-media/");
        let long = format!("https://files.example/{}", "a".repeat(limits::MAX_URL_BYTES - 30));
        assert_eq!(images.url(&long, Kind::Preview), "", "too long once proxied: not shown");
    }

    #[test]
    fn emoji_keep_their_shortcode_and_show_the_image_they_would_have() {
        let key = Key::ephemeral().expect("key");
        let images = Images::new(key.clone(), &Url::parse("https://b.example").expect("url"), "/m/");
        let e = |code: &'static str, url: &'static str, static_url: &'static str| Emoji {
            shortcode: code.into(),
            url: url.into(),
            static_url: static_url.into(),
        };
        let list = [
            e("a", "https://f.example/a.gif", "https://f.example/a.png"),
            e("b", "https://f.example/b.gif", "javascript:x"),
            e("c", "javascript:y", ""),
        ];
        let out = images.emojis(&list);
        let named = |i: usize| {
            let t = out[i].static_url.strip_prefix("https://b.example/m/").expect("proxied");
            key.verify(t).map(|(_, u)| u)
        };
        assert_eq!(named(0).as_deref(), Some("https://f.example/a.png"));
        assert_eq!(named(1).as_deref(), Some("https://f.example/b.gif"));
        assert_eq!(out[2].static_url, "", "an unsafe emoji stays unshown");
        assert_eq!(out[1].shortcode, "b");
    }
}
