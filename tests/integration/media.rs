//! The image proxy (`proxy_media`): the answer names every image on the
//! blog's origin, and the daemon serves those paths only for URLs it
//! named itself, only from hosts that are not the daemon's own network,
//! and only inert images.

use serde_json::Value;

use crate::common::*;

/// Every image an answer makes a browser load, by where it is: avatars,
/// media previews, and the `<img src>` of the HTML fields.
pub fn image_urls(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, c) in v["comments"].as_object().into_iter().flatten() {
        out.push((
            format!("{id} avatar"),
            c["author"]["avatar"].as_str().unwrap_or("").to_string(),
        ));
        for m in c["media"].as_array().into_iter().flatten() {
            out.push((
                format!("{id} preview"),
                m["preview_url"].as_str().unwrap_or("").to_string(),
            ));
        }
        for field in ["toot", "spoiler_text"] {
            html_images(&format!("{id} {field}"), c[field].as_str().unwrap_or(""), &mut out);
        }
        html_images(
            &format!("{id} name"),
            c["author"]["display_name"].as_str().unwrap_or(""),
            &mut out,
        );
    }
    out
}

fn html_images(what: &str, html: &str, out: &mut Vec<(String, String)>) {
    for (tag, attrs) in start_tags(html) {
        for (name, value) in attrs {
            if name == "src" || tag == "img" && name == "srcset" {
                out.push((format!("{what} <{tag} {name}>"), value));
            }
        }
    }
}

const BLOG_MEDIA: &str = "https://blog.example.org/comments-media/";

#[tokio::test]
async fn with_proxy_media_every_image_is_on_the_blogs_origin() {
    let (_s, mut config) = standin("b-emoji-cw-media", true).await;
    let off = body_json(&get(&app(config.clone()), &comments_uri("b-emoji-cw-media")).await);
    config.proxy_media = true;
    let on = body_json(&get(&app(config), &comments_uri("b-emoji-cw-media")).await);

    let (before, after) = (image_urls(&off), image_urls(&on));
    assert_eq!(before.len(), after.len(), "the same images, in the same places");
    let emoji = after.iter().filter(|(w, _)| w.contains("<img src>")).count();
    assert!(
        emoji >= 4,
        "the scenario's emoji in names, content and warnings: {after:?}"
    );
    assert!(after.iter().any(|(w, _)| w.ends_with("preview")));
    for ((what, direct), (_, proxied)) in before.iter().zip(&after) {
        assert!(
            direct.starts_with("https://files.mastodon.example/"),
            "{what}: {direct}"
        );
        assert!(proxied.starts_with(BLOG_MEDIA), "{what}: {proxied}");
    }
    // Nothing else moved: the answers differ in image URLs only.
    let rest = |v: &Value| {
        let mut s = Vec::new();
        strings(v, &mut s);
        s.retain(|x| !x.contains("files.mastodon.example") && !x.contains(BLOG_MEDIA) && !x.contains("<img"));
        s
    };
    assert_eq!(rest(&off), rest(&on));
    // The media a reader opens by clicking stay direct.
    let media_urls = |v: &Value| {
        v["comments"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, c)| c["media"].as_array().cloned().unwrap_or_default())
            .map(|m| m["url"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(media_urls(&off), media_urls(&on));
}
