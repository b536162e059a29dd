//! What an image is, by its first bytes, whatever its server says: only
//! raster formats a browser shows without running anything (no SVG, which
//! can carry script; no HTML; nothing unknown).

/// Bytes needed to tell every allowed type apart.
pub const SNIFF_BYTES: usize = 16;

/// The `Content-Type` of an allowed image, from its first bytes.
pub fn image_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" && matches!(&head[8..12], b"avif" | b"avis") {
        Some("image/avif")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_image_types_and_nothing_else() {
        let cases: [(&[u8], Option<&str>); 14] = [
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"\xff\xd8\xff\xe0\0\x10JFIF\0", Some("image/jpeg")),
            (b"GIF89a\x01\0\x01\0", Some("image/gif")),
            (b"GIF87a\x01\0\x01\0", Some("image/gif")),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"\0\0\0\x1cftypavif\0\0\0\0", Some("image/avif")),
            (b"\0\0\0\x1cftypavis\0\0\0\0", Some("image/avif")),
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\">", None),
            (b"<?xml version=\"1.0\"?><svg>", None),
            (b"<!DOCTYPE html><html>", None),
            (b"\0\0\0\x1cftypisom\0\0\0\0", None),
            (b"RIFF\x24\0\0\0WAVEfmt ", None),
            (b"\x89PN", None),
            (b"", None),
        ];
        for (head, want) in cases {
            assert_eq!(image_type(head), want, "{:?}", String::from_utf8_lossy(head));
        }
    }
}
