//! Whether the client can check the instance's certificate. An `https`
//! instance is verified against the system's CA certificates (what
//! `rustls-platform-verifier` loads on Linux, through
//! `rustls-native-certs`): without any, every call would fail, so the
//! daemon refuses to start instead of reporting itself ready. A plain-`http`
//! loopback instance needs none, and its client is built without them.

use url::Url;

/// The instance is `https` and the system has no CA certificate to check
/// it with.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no CA certificates were found on this system (looked in {looked_in}), so the certificate of {url} cannot \
     be checked: install them (Debian, Ubuntu: apt install ca-certificates){hint}"
)]
pub struct NoCaRoots {
    url: String,
    /// Where they were looked for, and what went wrong reading them.
    looked_in: String,
    /// What else to do when SSL_CERT_FILE/SSL_CERT_DIR chose the place.
    hint: String,
}

/// How many usable CA certificates the system has for `url`'s client
/// (`Ok(0)` for a plain-`http` instance, which needs none). The
/// certificates are parsed and dropped: the client loads its own copy on
/// its first call.
pub fn check_roots(url: &Url) -> Result<usize, NoCaRoots> {
    if needs_no_roots(url) {
        return Ok(0);
    }
    let loaded = rustls_native_certs::load_native_certs();
    let mut store = rustls::RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(loaded.certs);
    if added > 0 {
        return Ok(added);
    }
    let env: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .filter_map(|k| std::env::var_os(k).map(|v| format!("{k}={}", v.to_string_lossy())))
        .collect();
    let (mut looked_in, hint) = if env.is_empty() {
        ("/etc/ssl/certs and the other usual places".to_string(), String::new())
    } else {
        (
            env.join(", "),
            ", or point SSL_CERT_FILE or SSL_CERT_DIR at them (or unset them)".to_string(),
        )
    };
    if let Some(e) = loaded.errors.first() {
        looked_in = format!("{looked_in}: {e}");
    }
    Err(NoCaRoots {
        url: url.as_str().trim_end_matches('/').to_string(),
        looked_in,
        hint,
    })
}

/// True when the client must be built without the system's roots: a
/// plain-`http` instance is never asked over TLS (redirects are not
/// followed), and a system without CA certificates must not stop it.
pub(super) fn needs_no_roots(url: &Url) -> bool {
    url.scheme() == "http"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_needs_no_roots() {
        let url = Url::parse("http://127.0.0.1:8080").expect("url");
        assert!(needs_no_roots(&url));
        assert_eq!(check_roots(&url).ok(), Some(0));
        assert!(!needs_no_roots(&Url::parse("https://m.example").expect("url")));
    }
}
