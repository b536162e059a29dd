//! Serving one image path: verify the token, check where it points,
//! fetch it under the kind's byte cap and the request's deadline, sniff
//! it, answer it with headers that keep it inert and cached. Nothing that
//! does not verify reaches the network; no upstream answer but an allowed
//! image ever reaches the reader.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use url::Url;

use super::address::{self, PublicResolver};
use super::sniff::{self, SNIFF_BYTES};
use super::token::{Key, Kind};
use crate::deadline::Deadline;
use crate::limits;
use crate::request::Response;

/// Why an image is not served: the status and, for the log, the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 404: the token does not verify, or the image is gone upstream.
    NotFound(&'static str),
    /// 502: the URL, its address or its answer is not allowed.
    Refused(String),
    /// 503: no fetch slot or the deadline passed.
    Unavailable(&'static str),
}

impl Failure {
    fn status(&self) -> u16 {
        match self {
            Failure::NotFound(_) => 404,
            Failure::Refused(_) => 502,
            Failure::Unavailable(_) => 503,
        }
    }
}

/// Where a URL may be fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The configured instance's own origin: trusted as `url` is.
    Instance,
    /// Any other host: https, public addresses only.
    Public,
}

/// Whether the daemon may fetch `url` at all, before any connection: the
/// instance's origin, or https to a host that is a name (checked when
/// resolved) or a public address.
pub fn route(url: &Url, instance: &Url) -> Result<Route, Failure> {
    if url.origin() == instance.origin() {
        return Ok(Route::Instance);
    }
    if url.scheme() != "https" {
        return Err(Failure::Refused(format!("{} is not https", url.scheme())));
    }
    let ip = match url.host() {
        Some(url::Host::Domain(_)) => return Ok(Route::Public),
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        None => return Err(Failure::Refused("no host".into())),
    };
    if address::is_public(ip) {
        Ok(Route::Public)
    } else {
        Err(Failure::Refused(format!("{ip} is not a public address")))
    }
}

/// The image fetches: two clients (the instance's, and one that connects
/// to public addresses only) and the bound on fetches at once.
pub struct Proxy {
    instance: OnceLock<Result<reqwest::Client, String>>,
    public: OnceLock<Result<reqwest::Client, String>>,
    permits: Semaphore,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            instance: OnceLock::new(),
            public: OnceLock::new(),
            permits: Semaphore::new(limits::MAX_MEDIA_FETCHES),
        }
    }
}

/// A client that sends nothing of the daemon's: no token, no cookies, no
/// referer, a plain User-Agent; redirects are not followed.
fn client(public_only: bool) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("mastodon-comments/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(limits::CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .no_proxy()
        .retry(reqwest::retry::never())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1);
    if public_only {
        b = b.dns_resolver(PublicResolver);
    }
    b.build().map_err(|e| format!("cannot set up HTTPS: {e}"))
}

impl Proxy {
    fn client(&self, route: Route) -> Result<&reqwest::Client, Failure> {
        let cell = match route {
            Route::Instance => &self.instance,
            Route::Public => &self.public,
        };
        cell.get_or_init(|| client(route == Route::Public))
            .as_ref()
            .map_err(|e| Failure::Refused(e.clone()))
    }

    /// The answer for the token of one image path.
    pub async fn serve(&self, key: &Key, token: &str, instance: &Url, deadline: Deadline) -> (Response, String) {
        match self.fetch(key, token, instance, deadline).await {
            Ok((content_type, body)) => (image(content_type, body), "ok".into()),
            Err(f) => {
                let status = f.status();
                let reason = match f {
                    Failure::NotFound(r) | Failure::Unavailable(r) => r.to_string(),
                    Failure::Refused(r) => r,
                };
                (failed(status), reason)
            }
        }
    }

    async fn fetch(
        &self,
        key: &Key,
        token: &str,
        instance: &Url,
        deadline: Deadline,
    ) -> Result<(&'static str, Bytes), Failure> {
        let (kind, url) = key.verify(token).ok_or(Failure::NotFound("no such image"))?;
        let url = Url::parse(&url).map_err(|_| Failure::Refused("not a URL".into()))?;
        let route = route(&url, instance)?;
        let client = self.client(route)?;
        let _permit = deadline
            .bound(self.permits.acquire())
            .await
            .map_err(|_| Failure::Unavailable("every image fetch slot busy until the deadline"))?
            .map_err(|_| Failure::Unavailable("shutting down"))?;
        // A slot freed as the deadline passed: no connection for nothing.
        if deadline.expired() {
            return Err(Failure::Unavailable("every image fetch slot busy until the deadline"));
        }
        deadline
            .bound(get(client, url, kind))
            .await
            .map_err(|_| Failure::Unavailable("the image did not arrive within the deadline"))?
    }
}

/// One GET, read while it streams: refused as soon as it is not an allowed
/// image or grows past the kind's cap, so memory stays within the cap.
async fn get(client: &reqwest::Client, url: Url, kind: Kind) -> Result<(&'static str, Bytes), Failure> {
    let host = url.host_str().unwrap_or("").to_string();
    let mut resp = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "image/avif,image/webp,image/png,image/jpeg,image/gif",
        )
        .send()
        .await
        .map_err(|e| Failure::Refused(format!("{host}: {}", crate::mastodon::error_chain(&e))))?;
    match resp.status().as_u16() {
        200 => {}
        404 | 410 => return Err(Failure::NotFound("the image is gone upstream")),
        s => return Err(Failure::Refused(format!("{host} answered {s}"))),
    }
    let cap = kind.max_bytes();
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Failure::Refused(format!("{host}: larger than {cap} bytes")));
    }
    let mut body = Vec::with_capacity(resp.content_length().map_or(64 * 1024, |n| n as usize).min(cap));
    let mut sniffed = None;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Failure::Refused(format!("{host}: {}", crate::mastodon::error_chain(&e))))?
    {
        let needed = body.len() + chunk.len();
        if needed > cap {
            return Err(Failure::Refused(format!("{host}: larger than {cap} bytes")));
        }
        // Grown by doubling, but never past the cap: an image at the cap
        // holds the cap, not twice it.
        if needed > body.capacity() {
            body.reserve_exact(needed.max(body.len() * 2).min(cap) - body.len());
        }
        body.extend_from_slice(&chunk);
        if sniffed.is_none() && body.len() >= SNIFF_BYTES {
            sniffed = Some(sniff::image_type(&body).ok_or_else(|| not_an_image(&host))?);
        }
    }
    let content_type = match sniffed {
        Some(t) => t,
        None => sniff::image_type(&body).ok_or_else(|| not_an_image(&host))?,
    };
    Ok((content_type, Bytes::from(body)))
}

fn not_an_image(host: &str) -> Failure {
    Failure::Refused(format!("{host}: not a PNG, JPEG, GIF, WebP or AVIF image"))
}

/// The headers every answer of the proxy carries: what it is (never
/// guessed by the browser) and that it may do nothing.
fn inert(status: u16, content_type: &str, cache_control: String, body: Bytes) -> Response {
    Response {
        status,
        headers: vec![
            ("Content-Type", content_type.into()),
            ("Cache-Control", cache_control),
            ("X-Content-Type-Options", "nosniff".into()),
            ("Content-Security-Policy", "default-src 'none'; sandbox".into()),
        ],
        body,
    }
}

fn image(content_type: &'static str, body: Bytes) -> Response {
    inert(
        200,
        content_type,
        format!("public, max-age={}, immutable", limits::MEDIA_MAX_AGE.as_secs()),
        body,
    )
}

/// A failure: short, plain, cached briefly; never the upstream's page.
pub fn failed(status: u16) -> Response {
    inert(
        status,
        "text/plain; charset=utf-8",
        format!("max-age={}", limits::MEDIA_FAILURE_MAX_AGE.as_secs()),
        Bytes::from_static(b"image not available\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_instance_may_be_plain_http_and_other_hosts_must_be_public() {
        let instance = Url::parse("http://127.0.0.1:3000").expect("url");
        let route_of = |u: &str| route(&Url::parse(u).expect("url"), &instance);
        assert_eq!(route_of("http://127.0.0.1:3000/system/a.png"), Ok(Route::Instance));
        assert_eq!(route_of("https://files.example/a.png"), Ok(Route::Public));
        assert_eq!(route_of("https://93.184.215.14/a.png"), Ok(Route::Public));
        for refused in [
            "http://files.example/a.png",
            "http://127.0.0.1:3001/a.png",
            "https://127.0.0.1:3000/a.png",
            "https://127.0.0.2/a.png",
            "https://10.0.0.1/a.png",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/a.png",
            "https://[fd00:ec2::254]/a.png",
            "https://[::ffff:127.0.0.1]/a.png",
            "https://100.64.0.1/a.png",
        ] {
            assert!(matches!(route_of(refused), Err(Failure::Refused(_))), "{refused}");
        }
    }
}
