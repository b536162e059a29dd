//! The key and the tokens that make the daemon's image paths unforgeable:
//! a path names an image URL and an HMAC-SHA256 of it under a key only the
//! daemon knows, so the daemon fetches only URLs it put into an answer
//! itself. The key lives in the state directory, so paths nginx and
//! browsers still hold keep working after a restart.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::limits;

/// Bytes of the key file: a key as long as the hash's output.
pub const KEY_BYTES: usize = 32;

/// What an image is for, which decides how large it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An avatar or a custom emoji.
    Icon,
    /// A media attachment's preview.
    Preview,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Icon => 'i',
            Kind::Preview => 'p',
        }
    }

    fn from_letter(c: &str) -> Option<Kind> {
        match c {
            "i" => Some(Kind::Icon),
            "p" => Some(Kind::Preview),
            _ => None,
        }
    }

    /// The largest body fetched for this kind.
    pub fn max_bytes(self) -> usize {
        match self {
            Kind::Icon => limits::MAX_ICON_BYTES,
            Kind::Preview => limits::MAX_PREVIEW_BYTES,
        }
    }
}

/// The key file cannot be used; the daemon does not start (or reload).
#[derive(Debug, thiserror::Error)]
#[error("media key {}: {what}; {fix}", path.display())]
pub struct KeyError {
    path: PathBuf,
    what: String,
    fix: &'static str,
}

/// The HMAC key of the image paths.
#[derive(Clone)]
pub struct Key(hmac::Key);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

/// Binds a MAC to this use and to the image's kind.
const CONTEXT: &[u8] = b"mastodon-comments media v1\0";

impl Key {
    /// A fresh key that lives as long as the process (no state directory:
    /// tests, `lookup`).
    pub fn ephemeral() -> Result<Key, ring::error::Unspecified> {
        let mut bytes = [0u8; KEY_BYTES];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Key::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Key {
        Key(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// Reads the key file, creating it (mode 0600, atomically: no other
    /// start ever sees half a key) when there is none.
    pub fn load_or_create(path: &Path) -> Result<Key, KeyError> {
        let fail = |what: String, fix: &'static str| KeyError {
            path: path.to_path_buf(),
            what,
            fix,
        };
        match read_key(path) {
            Ok(Some(key)) => return Ok(key),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; KEY_BYTES];
        SystemRandom::new().fill(&mut bytes).map_err(|_| {
            fail(
                "the system's random source failed".into(),
                "check that the kernel's getrandom works",
            )
        })?;
        create_exclusive(path, &bytes).map_err(|e| {
            fail(
                format!("cannot create it: {e}"),
                "make the state directory writable for the daemon (systemd's StateDirectory= does)",
            )
        })?;
        // What is on disk is the key from now on.
        match read_key(path)? {
            Some(key) => Ok(key),
            None => Err(fail(
                "vanished right after it was created".into(),
                "start the daemon again",
            )),
        }
    }

    fn mac(&self, kind: Kind, url: &str) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(CONTEXT);
        ctx.update(&[kind.letter() as u8]);
        ctx.update(url.as_bytes());
        ctx.sign()
    }

    /// The path segment naming `url`: `<kind>.<MAC>.<URL>`, both base64url.
    pub fn token(&self, kind: Kind, url: &str) -> String {
        format!(
            "{}.{}.{}",
            kind.letter(),
            B64.encode(self.mac(kind, url).as_ref()),
            B64.encode(url.as_bytes())
        )
    }

    /// The kind and URL a token names, when this key made it; anything
    /// else (forged, altered, cut, too long) is `None`. The MAC is checked
    /// in constant time before the URL is looked at.
    pub fn verify(&self, token: &str) -> Option<(Kind, String)> {
        if token.len() > limits::MAX_MEDIA_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (kind, mac, url) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let kind = Kind::from_letter(kind)?;
        let mac = B64.decode(mac).ok()?;
        let url = String::from_utf8(B64.decode(url).ok()?).ok()?;
        let mut msg = Vec::with_capacity(CONTEXT.len() + 1 + url.len());
        msg.extend_from_slice(CONTEXT);
        msg.push(kind.letter() as u8);
        msg.extend_from_slice(url.as_bytes());
        hmac::verify(&self.0, &msg, &mac).ok()?;
        Some((kind, url))
    }
}

/// The key in the file; `None` when there is no file yet. A file that is
/// there but unreadable or not a key is an error: replacing it would
/// silently break every image path nginx still holds.
fn read_key(path: &Path) -> Result<Option<Key>, KeyError> {
    let fail = |what: String| KeyError {
        path: path.to_path_buf(),
        what,
        fix: "remove the file to make a new key (images cached by nginx and browsers are then fetched again)",
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot read it: {e}"))),
    };
    let mut bytes = Vec::with_capacity(KEY_BYTES + 1);
    Read::by_ref(&mut file)
        .take(KEY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    let key: [u8; KEY_BYTES] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| fail(format!("not a key: {} bytes, not {KEY_BYTES}", bytes.len())))?;
    Ok(Some(Key::from_bytes(&key)))
}

/// Writes a temporary file (0600), fsyncs it and renames it to `path`:
/// the key appears whole or not at all. A rename, not a link, because the
/// AppArmor profile grants the state directory `rw` (what the state file's
/// own atomic writes use), and only one daemon runs per state directory.
fn create_exclusive(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_token_names_its_url_and_kind_and_nothing_else() {
        let key = Key::ephemeral().expect("key");
        let url = "https://files.example/a/b.png?x=1";
        let t = key.token(Kind::Icon, url);
        assert_eq!(key.verify(&t), Some((Kind::Icon, url.to_string())));
        assert!(
            t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{t}"
        );
        // Another kind, another URL, another key, any byte changed: nothing.
        let (_, rest) = t.split_at(1);
        assert_eq!(key.verify(&format!("p{rest}")), None);
        let other = key.token(Kind::Icon, "https://files.example/a/c.png");
        let (mac, _) = other.rsplit_once('.').expect("three parts");
        let (_, url_part) = t.rsplit_once('.').expect("three parts");
        let swapped = format!("{mac}.{}", url_part);
        assert_eq!(
            key.verify(&swapped),
            None,
            "a MAC of one URL does not vouch for another"
        );
        assert_eq!(Key::ephemeral().expect("key").verify(&t), None);
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            if let Ok(s) = String::from_utf8(b) {
                assert_ne!(
                    key.verify(&s),
                    Some((Kind::Icon, url.to_string())),
                    "byte {i} altered: {s}"
                );
            }
        }
        for junk in ["", "i", "i..", "i.x.y", &format!("{t}.x"), &"A".repeat(10_000)] {
            assert_eq!(key.verify(junk), None, "{junk:.40}");
        }
    }

    #[test]
    fn the_key_file_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("media.key");
        let first = Key::load_or_create(&path).expect("created");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).expect("read").len(), KEY_BYTES);
        let t = first.token(Kind::Preview, "https://m.example/p.jpg");
        let again = Key::load_or_create(&path).expect("read back");
        assert!(again.verify(&t).is_some(), "a restart keeps the key");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("media.key");
        std::fs::write(&path, b"short").expect("write");
        let e = Key::load_or_create(&path).expect_err("corrupt").to_string();
        assert!(e.contains("not a key") && e.contains("remove the file"), "{e}");
        assert_eq!(std::fs::read(&path).expect("kept"), b"short", "never replaced");
        let e = Key::load_or_create(&dir.path().join("no/such/dir/media.key"))
            .expect_err("no directory")
            .to_string();
        assert!(e.contains("cannot create it") && e.contains("StateDirectory"), "{e}");
    }
}
