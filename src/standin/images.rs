//! The stand-in's own pictures: the avatars, custom emoji and media
//! previews of a scenario, served at the stand-in's origin so that a demo
//! page shows no broken images. The fixtures name hosts that do not exist
//! (`files.mastodon.example`); [`Images::localize`] points each of those
//! URLs at a picture drawn for it ([`super::png`]).
//!
//! A plain static route, kept apart from the API routes: `GET` or `HEAD`
//! `/system/<kind>/<n>.png` answers one of the pictures made for the
//! scenario as `image/png`, readable by any origin (CORS `*`, as Mastodon's
//! file hosts answer); any other path under `/system/` is 404, other
//! methods 405. It is a normal image endpoint, as a media proxy would fetch
//! one from an instance's file host.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::png::{self, Kind};
use super::{Body, Scenario, full};

/// Where the pictures are, like Mastodon's own file paths.
pub const PREFIX: &str = "/system/";

/// Pictures made for one scenario at most: a thread with more accounts
/// keeps its other URLs as they are.
pub const MAX_PICTURES: usize = 200;

/// The pictures a stand-in serves: path → PNG.
#[derive(Debug, Default)]
pub struct Images {
    files: HashMap<String, Bytes>,
}

impl Images {
    /// The scenario with every avatar, custom emoji and media preview URL
    /// (and a picture's original) pointed at `origin` (`http://host:port`),
    /// and the pictures drawn for them. The same URL gets the same picture
    /// wherever it appears; numbering follows the files' names, so the
    /// pictures are the same on every run.
    pub fn localize(scenario: &Scenario, origin: &str) -> (Scenario, Images) {
        let mut names: Vec<&String> = scenario.files.keys().collect();
        names.sort();
        let mut pictures = Pictures {
            origin,
            by_url: HashMap::new(),
            counts: HashMap::new(),
            images: Images::default(),
        };
        let mut files = scenario.files.clone();
        for name in names {
            let Ok(mut json) = serde_json::from_str::<Value>(&scenario.files[name]) else {
                continue;
            };
            if pictures.walk(&mut json) {
                files.insert(name.clone(), json.to_string().into());
            }
        }
        (Scenario { files }, pictures.images)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The answer for `path` when it is under [`PREFIX`]; `None` for
    /// every other path (the API's).
    pub fn answer(&self, method: &hyper::Method, path: &str) -> Option<hyper::Response<Body>> {
        if !path.starts_with(PREFIX) {
            return None;
        }
        let Some(png) = self.files.get(path) else {
            return Some(full(404, "text/plain; charset=utf-8", "no such picture\n"));
        };
        if method != hyper::Method::GET && method != hyper::Method::HEAD {
            let mut r = full(405, "text/plain; charset=utf-8", "GET or HEAD only\n");
            r.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("GET, HEAD"),
            );
            return Some(r);
        }
        let mut r = full(200, "image/png", png.clone());
        let h = r.headers_mut();
        h.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("public, max-age=3600"),
        );
        h.insert(
            hyper::header::X_CONTENT_TYPE_OPTIONS,
            hyper::header::HeaderValue::from_static("nosniff"),
        );
        // As Mastodon's file hosts answer: any page may read the pixels.
        h.insert(
            hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            hyper::header::HeaderValue::from_static("*"),
        );
        Some(r)
    }
}

/// The pictures made so far while walking a scenario.
struct Pictures<'a> {
    origin: &'a str,
    /// Upstream URL → the local URL that replaces it.
    by_url: HashMap<String, String>,
    counts: HashMap<&'static str, u32>,
    images: Images,
}

impl Pictures<'_> {
    /// Rewrites the picture URLs in `v` and below; whether any changed.
    fn walk(&mut self, v: &mut Value) -> bool {
        match v {
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| self.walk(item) | changed),
            Value::Object(obj) => {
                let mut changed = false;
                // An account: its avatar (the still one and the animated one).
                if obj.contains_key("acct") {
                    changed |= self.replace(obj, Kind::Avatar, &["avatar_static", "avatar"]);
                }
                // A custom emoji, of a status or an account's name.
                if obj.contains_key("shortcode") {
                    changed |= self.replace(obj, Kind::Emoji, &["static_url", "url"]);
                }
                // A media attachment: its preview, and a picture's original.
                if obj.contains_key("preview_url") && obj.get("type").is_some_and(Value::is_string) {
                    let keys: &[&str] = if obj["type"] == "image" {
                        &["preview_url", "url"]
                    } else {
                        &["preview_url"]
                    };
                    changed |= self.replace(obj, Kind::Media, keys);
                }
                obj.values_mut()
                    .fold(changed, |changed, child| self.walk(child) | changed)
            }
            _ => false,
        }
    }

    /// Points the URLs of `obj` under `keys` (one picture: the first URL
    /// found names it) at their local picture.
    fn replace(&mut self, obj: &mut Map<String, Value>, kind: Kind, keys: &[&str]) -> bool {
        let upstream = |obj: &Map<String, Value>, key: &str| {
            obj.get(key)
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .map(str::to_string)
        };
        let Some(first) = keys.iter().find_map(|k| upstream(obj, k)) else {
            return false;
        };
        let Some(local) = self.local(kind, &first) else {
            return false;
        };
        let mut changed = false;
        for key in keys {
            if let Some(u) = upstream(obj, key) {
                self.by_url.entry(u).or_insert_with(|| local.clone());
                obj.insert(key.to_string(), Value::String(local.clone()));
                changed = true;
            }
        }
        changed
    }

    /// The local URL for `upstream`, drawing its picture the first time;
    /// `None` once [`MAX_PICTURES`] are made.
    fn local(&mut self, kind: Kind, upstream: &str) -> Option<String> {
        if let Some(local) = self.by_url.get(upstream) {
            return Some(local.clone());
        }
        if self.images.files.len() >= MAX_PICTURES {
            return None;
        }
        let dir = match kind {
            Kind::Avatar => "avatars",
            Kind::Emoji => "emoji",
            Kind::Media => "media",
        };
        let n = self.counts.entry(dir).or_default();
        *n += 1;
        let path = format!("{PREFIX}{dir}/{n}.png");
        self.images.files.insert(path.clone(), Bytes::from(png::draw(kind, *n)));
        let local = format!("{}{path}", self.origin);
        self.by_url.insert(upstream.to_string(), local.clone());
        Some(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://127.0.0.1:4000";

    fn scenario(files: &[(&str, Value)]) -> Scenario {
        Scenario {
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string().into()))
                .collect(),
        }
    }

    fn account(name: &str) -> Value {
        serde_json::json!({
            "id": "1", "acct": name,
            "avatar": format!("https://files.example/{name}.gif"),
            "avatar_static": format!("https://files.example/{name}.png"),
            "header": "https://files.example/header.png",
            "emojis": [{"shortcode": "blob", "url": "https://files.example/blob.gif", "static_url": "https://files.example/blob.png"}],
        })
    }

    fn rewritten(s: &Scenario, name: &str) -> Value {
        serde_json::from_str(s.file(name).expect("file")).expect("json")
    }

    #[test]
    fn avatars_emoji_and_previews_point_at_the_origin_and_the_rest_stays() {
        let status = serde_json::json!({
            "id": "10",
            "account": account("alice"),
            "content": "<p>:blob: hello</p>",
            "emojis": [{"shortcode": "blob", "url": "https://files.example/blob.gif", "static_url": "https://files.example/blob.png"}],
            "media_attachments": [
                {"type": "image", "url": "https://files.example/o.jpg", "preview_url": "https://files.example/s.jpg", "remote_url": "https://far.example/o.jpg"},
                {"type": "video", "url": "https://files.example/v.mp4", "preview_url": "https://files.example/v.jpg"},
            ],
            "card": {"url": "https://blog.example.org/", "image": "https://files.example/card.jpg"},
            "url": "https://mastodon.example/@alice/10",
        });
        let (s, images) = Images::localize(&scenario(&[("statuses/10.json", status)]), ORIGIN);
        let st = rewritten(&s, "statuses/10.json");
        let avatar = format!("{ORIGIN}/system/avatars/1.png");
        assert_eq!(st["account"]["avatar_static"], avatar.as_str());
        assert_eq!(st["account"]["avatar"], avatar.as_str());
        let emoji = format!("{ORIGIN}/system/emoji/1.png");
        assert_eq!(st["emojis"][0]["static_url"], emoji.as_str());
        assert_eq!(st["emojis"][0]["url"], emoji.as_str());
        assert_eq!(
            st["account"]["emojis"][0]["static_url"],
            emoji.as_str(),
            "the same emoji, the same picture"
        );
        let media = &st["media_attachments"];
        assert_eq!(media[0]["preview_url"], format!("{ORIGIN}/system/media/1.png").as_str());
        assert_eq!(media[0]["url"], media[0]["preview_url"]);
        assert_eq!(media[1]["preview_url"], format!("{ORIGIN}/system/media/2.png").as_str());
        // What is no picture of the answer is left alone.
        assert_eq!(media[1]["url"], "https://files.example/v.mp4");
        assert_eq!(media[0]["remote_url"], "https://far.example/o.jpg");
        assert_eq!(st["account"]["header"], "https://files.example/header.png");
        assert_eq!(st["card"]["image"], "https://files.example/card.jpg");
        assert_eq!(st["url"], "https://mastodon.example/@alice/10");
        assert_eq!(st["content"], "<p>:blob: hello</p>");
        let mut paths: Vec<&String> = images.files.keys().collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/system/avatars/1.png",
                "/system/emoji/1.png",
                "/system/media/1.png",
                "/system/media/2.png"
            ]
        );
    }

    #[test]
    fn each_account_gets_its_own_avatar_the_same_on_every_run() {
        let files = [
            ("accounts/1.json", account("alice")),
            ("accounts/2.json", account("bram")),
            (
                "statuses/3.json",
                serde_json::json!({"id": "3", "account": account("alice")}),
            ),
        ];
        let (a, images) = Images::localize(&scenario(&files), ORIGIN);
        let (b, again) = Images::localize(&scenario(&files), ORIGIN);
        for name in ["accounts/1.json", "accounts/2.json", "statuses/3.json"] {
            assert_eq!(rewritten(&a, name), rewritten(&b, name));
        }
        assert_eq!(images.files, again.files);
        let alice = &rewritten(&a, "accounts/1.json")["avatar_static"];
        assert_eq!(alice, &rewritten(&a, "statuses/3.json")["account"]["avatar_static"]);
        assert_ne!(alice, &rewritten(&a, "accounts/2.json")["avatar_static"]);
        assert_ne!(
            images.files["/system/avatars/1.png"],
            images.files["/system/avatars/2.png"]
        );
    }

    #[test]
    fn files_without_pictures_and_other_text_are_kept_byte_for_byte() {
        let mut s = scenario(&[(
            "expect.json",
            serde_json::json!({"article": {"url": "https://blog.example.org/"}}),
        )]);
        s.files.insert("http/odd.json".into(), "{ not json".into());
        let (out, images) = Images::localize(&s, ORIGIN);
        assert_eq!(out.file("expect.json"), s.file("expect.json"));
        assert_eq!(out.file("http/odd.json"), Some("{ not json"));
        assert!(images.is_empty());
    }

    #[test]
    fn pictures_are_bounded() {
        let accounts: Vec<Value> = (0..MAX_PICTURES + 5).map(|i| account(&format!("a{i}"))).collect();
        let (s, images) = Images::localize(&scenario(&[("context/1.json", Value::from(accounts))]), ORIGIN);
        assert_eq!(images.len(), MAX_PICTURES);
        let all = rewritten(&s, "context/1.json");
        let last = &all[MAX_PICTURES + 4];
        assert_eq!(
            last["avatar_static"],
            format!("https://files.example/a{}.png", MAX_PICTURES + 4).as_str()
        );
    }

    #[test]
    fn only_the_known_pictures_are_served() {
        let (_, images) = Images::localize(&scenario(&[("accounts/1.json", account("alice"))]), ORIGIN);
        let get = hyper::Method::GET;
        let ok = images.answer(&get, "/system/avatars/1.png").expect("a picture path");
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()[hyper::header::CONTENT_TYPE], "image/png");
        assert_eq!(ok.headers()[hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        for missing in [
            "/system/avatars/2.png",
            "/system/",
            "/system/../api/v1/statuses/1",
            "/system/avatars/1.png/",
        ] {
            assert_eq!(
                images.answer(&get, missing).map(|r| r.status()),
                Some(hyper::StatusCode::NOT_FOUND),
                "{missing}"
            );
        }
        let post = images
            .answer(&hyper::Method::POST, "/system/avatars/1.png")
            .expect("a picture path");
        assert_eq!(post.status(), 405);
        assert!(
            images.answer(&get, "/api/v1/statuses/1").is_none(),
            "API paths are not pictures"
        );
        assert!(images.answer(&get, "/systemd").is_none());
    }
}
