//! The stand-in's pictures, drawn and encoded as PNG without an image
//! crate: a few flat shapes in a palette of at most eight colours, stored
//! uncompressed (a 96 px avatar is about 9 KiB), so any browser decodes
//! them and each is the same for the same number on every run.

/// Which picture to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 96 × 96: a head and shoulders on a coloured square.
    Avatar,
    /// 64 × 64: a round smiling face on a transparent ground.
    Emoji,
    /// 400 × 225: a landscape with hills and a sun.
    Media,
}

impl Kind {
    pub fn size(self) -> (u32, u32) {
        match self {
            Kind::Avatar => (96, 96),
            Kind::Emoji => (64, 64),
            Kind::Media => (400, 225),
        }
    }
}

/// Picture number `n` of `kind`, as a PNG file. Successive numbers turn
/// the hue by the golden angle, so the first few avatars of a thread
/// all look different.
pub fn draw(kind: Kind, n: u32) -> Vec<u8> {
    let hue = (20.0 + f64::from(n) * 137.508) % 360.0;
    let (w, h) = kind.size();
    match kind {
        Kind::Avatar => {
            let palette = [hsl(hue, 0.55, 0.62), hsl(hue, 0.45, 0.88)];
            encode(w, h, &palette, false, |x, y| {
                let head = within_ellipse(x, y, (48.0, 38.0), (18.0, 18.0));
                let shoulders = within_ellipse(x, y, (48.0, 92.0), (32.0, 26.0));
                u8::from(head || shoulders)
            })
        }
        Kind::Emoji => {
            // 0 is transparent.
            let palette = [[0, 0, 0], hsl(hue, 0.8, 0.6), [0x33, 0x33, 0x33]];
            encode(w, h, &palette, true, |x, y| {
                let (fx, fy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                let eye =
                    within_ellipse(x, y, (23.0, 26.0), (4.0, 4.0)) || within_ellipse(x, y, (41.0, 26.0), (4.0, 4.0));
                let smile = fy > 36.0 && ((fx - 32.0).hypot(fy - 31.0) - 15.0).abs() < 2.0;
                if eye || smile {
                    2
                } else {
                    u8::from(within_ellipse(x, y, (32.0, 32.0), (28.0, 28.0)))
                }
            })
        }
        Kind::Media => {
            let palette = [
                hsl(hue, 0.5, 0.78),
                hsl((hue + 40.0) % 360.0, 0.9, 0.7),
                hsl(hue, 0.35, 0.45),
                hsl(hue, 0.3, 0.32),
            ];
            // Two ridges, the nearer one darker.
            let far = [
                (0.0, 150.0),
                (110.0, 80.0),
                (200.0, 140.0),
                (300.0, 95.0),
                (400.0, 160.0),
            ];
            let near = [
                (0.0, 200.0),
                (90.0, 170.0),
                (230.0, 205.0),
                (330.0, 160.0),
                (400.0, 190.0),
            ];
            encode(w, h, &palette, false, |x, y| {
                let (fx, fy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                if fy > ridge(&near, fx) {
                    3
                } else if fy > ridge(&far, fx) {
                    2
                } else {
                    u8::from(within_ellipse(x, y, (310.0, 55.0), (28.0, 28.0)))
                }
            })
        }
    }
}

fn within_ellipse(x: u32, y: u32, (cx, cy): (f64, f64), (rx, ry): (f64, f64)) -> bool {
    let dx = (f64::from(x) + 0.5 - cx) / rx;
    let dy = (f64::from(y) + 0.5 - cy) / ry;
    dx * dx + dy * dy <= 1.0
}

/// The height of a line through `points` (sorted by x) at `x`.
fn ridge(points: &[(f64, f64)], x: f64) -> f64 {
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points.last().map_or(0.0, |p| p.1)
}

/// `hue` in degrees, saturation and lightness in 0..=1, to RGB.
fn hsl(hue: f64, s: f64, l: f64) -> [u8; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let h = hue / 60.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [byte(r), byte(g), byte(b)]
}

/// A palette PNG (8 bits an index) of `w` × `h` whose pixel (x, y) is
/// `palette[index(x, y)]`; with `transparent_first`, index 0 is
/// transparent. The image data is a zlib stream of stored blocks.
pub fn encode(w: u32, h: u32, palette: &[[u8; 3]], transparent_first: bool, index: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let mut raw = Vec::with_capacity((h * (w + 1)) as usize);
    for y in 0..h {
        raw.push(0); // filter: none
        raw.extend((0..w).map(|x| index(x, y)));
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    // Bit depth 8, colour type 3 (palette), deflate, no filter, no interlace.
    ihdr.extend([8, 3, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"PLTE", &palette.concat());
    if transparent_first {
        chunk(&mut png, b"tRNS", &[0]);
    }
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend(kind);
    png.extend(data);
    let crc = crc32(&png[start..]);
    png.extend(crc.to_be_bytes());
}

/// `data` as a zlib stream of uncompressed deflate blocks (RFC 1950, 1951).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 65_535;
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(block);
    }
    out.extend(adler32(data).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_their_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    /// Reads a PNG back the way a decoder does: signature, chunk lengths
    /// and CRCs, the header, the stored blocks and their Adler-32; returns
    /// the width, height, palette length and the unfiltered indices.
    fn read(png: &[u8]) -> (u32, u32, usize, Vec<u8>) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let (mut w, mut h, mut colours, mut idat, mut ended) = (0, 0, 0, Vec::new(), false);
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes")) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().expect("4 bytes"));
            assert_eq!(
                crc,
                crc32(&png[at + 4..at + 8 + len]),
                "CRC of {}",
                String::from_utf8_lossy(kind)
            );
            match kind {
                b"IHDR" => {
                    w = u32::from_be_bytes(data[0..4].try_into().expect("4 bytes"));
                    h = u32::from_be_bytes(data[4..8].try_into().expect("4 bytes"));
                    assert_eq!(&data[8..], &[8, 3, 0, 0, 0]);
                }
                b"PLTE" => colours = data.len() / 3,
                b"tRNS" => assert!(data.len() <= colours),
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => ended = true,
                other => panic!("unexpected chunk {other:?}"),
            }
            at += 12 + len;
        }
        assert!(ended, "no IEND");
        assert_eq!(&idat[..2], &[0x78, 0x01]);
        assert_eq!(
            (u16::from(idat[0]) << 8 | u16::from(idat[1])) % 31,
            0,
            "zlib header check"
        );
        let (mut pos, mut raw) = (2, Vec::new());
        loop {
            let last = idat[pos] & 1 == 1;
            assert_eq!(idat[pos] >> 1, 0, "a stored block");
            let len = u16::from_le_bytes([idat[pos + 1], idat[pos + 2]]);
            let nlen = u16::from_le_bytes([idat[pos + 3], idat[pos + 4]]);
            assert_eq!(len, !nlen);
            raw.extend_from_slice(&idat[pos + 5..pos + 5 + usize::from(len)]);
            pos += 5 + usize::from(len);
            if last {
                break;
            }
        }
        assert_eq!(&idat[pos..], &adler32(&raw).to_be_bytes());
        let mut pixels = Vec::new();
        for row in raw.chunks(w as usize + 1) {
            assert_eq!(row[0], 0, "filter none");
            pixels.extend_from_slice(&row[1..]);
        }
        assert_eq!(pixels.len(), (w * h) as usize);
        (w, h, colours, pixels)
    }

    #[test]
    fn every_kind_is_a_valid_png_of_its_size_using_its_palette() {
        for kind in [Kind::Avatar, Kind::Emoji, Kind::Media] {
            let (w, h, colours, pixels) = read(&draw(kind, 1));
            assert_eq!((w, h), kind.size(), "{kind:?}");
            assert!(
                pixels.iter().all(|&i| usize::from(i) < colours),
                "{kind:?}: index outside the palette"
            );
            // Every colour is used: the shapes are there.
            for i in 0..colours {
                assert!(pixels.contains(&(i as u8)), "{kind:?}: colour {i} unused");
            }
        }
    }

    #[test]
    fn a_media_picture_spans_several_stored_blocks() {
        let png = draw(Kind::Media, 3);
        let (w, h, _, _) = read(&png);
        assert!(((w + 1) * h) as usize > 65_535);
    }

    #[test]
    fn the_same_number_draws_the_same_picture_and_the_next_numbers_differ() {
        assert_eq!(draw(Kind::Avatar, 1), draw(Kind::Avatar, 1));
        let avatars: std::collections::HashSet<Vec<u8>> = (1..=8).map(|n| draw(Kind::Avatar, n)).collect();
        assert_eq!(avatars.len(), 8);
    }

    #[test]
    fn an_empty_image_is_still_a_whole_zlib_stream() {
        let z = zlib_stored(&[]);
        assert_eq!(z, [0x78, 0x01, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 1]);
    }
}
