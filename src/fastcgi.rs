//! FastCGI (responder role) over any stream, with `tokio-fastcgi` doing the
//! record framing. nginx's keep-alive connections and multiplexed requests
//! are handled; what the crate leaves open (bytes per request, idle time,
//! requests per connection) is bounded here.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinSet;
use tokio_fastcgi::{RequestResult, Requests};
use tokio_util::sync::CancellationToken;

use crate::app::{App, Request, Response};
use crate::limits;
use crate::server::Activity;

/// Guards the crate's record parser: counts bytes read since the last
/// completed request and fails the read past
/// [`limits::MAX_FASTCGI_REQUEST_BYTES`] (the crate buffers params and stdin
/// without a cap), and refuses records the crate would panic on (a
/// BEGIN_REQUEST shorter than its fixed 8 bytes).
struct Capped<R> {
    inner: R,
    read: Arc<AtomicUsize>,
    /// The record header being read, and how much of it we have.
    header: [u8; 8],
    have: usize,
    /// Content and padding bytes of the current record still to come.
    skip: usize,
}

impl<R> Capped<R> {
    fn new(inner: R, read: Arc<AtomicUsize>) -> Self {
        Capped {
            inner,
            read,
            header: [0; 8],
            have: 0,
            skip: 0,
        }
    }

    /// Follows the record framing over the bytes just read.
    fn inspect(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            self.header[self.have] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if self.have == 8 {
                self.have = 0;
                let len = usize::from(u16::from_be_bytes([self.header[4], self.header[5]]));
                if self.header[1] == 1 && len < 8 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "FastCGI BEGIN_REQUEST record shorter than 8 bytes",
                    ));
                }
                self.skip = len + usize::from(self.header[6]);
            }
        }
        Ok(())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Capped<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if self.read.fetch_add(n, Ordering::Relaxed) + n > limits::MAX_FASTCGI_REQUEST_BYTES {
            return Poll::Ready(Err(std::io::Error::other("FastCGI request too large")));
        }
        if let Err(e) = self.inspect(&buf.filled()[before..]) {
            return Poll::Ready(Err(e));
        }
        r
    }
}

/// Serves one FastCGI connection until the peer closes it, it idles, or
/// shutdown is requested (in-flight requests are finished first).
pub async fn serve_connection<S>(stream: S, app: Arc<App>, activity: Arc<Activity>, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    // The crate reads each record header and body separately: buffering
    // turns a dozen read calls per request into one or two.
    let r = tokio::io::BufReader::with_capacity(16 * 1024, r);
    let read = Arc::new(AtomicUsize::new(0));
    let reader = Capped::new(r, read.clone());
    let mut requests = Requests::new(
        reader,
        w,
        u8::try_from(limits::MAX_CONNECTIONS).unwrap_or(u8::MAX),
        u8::try_from(limits::MAX_REQUESTS_PER_CONNECTION).unwrap_or(u8::MAX),
    );
    let mut tasks = JoinSet::new();
    let writing = Arc::new(tokio::sync::Mutex::new(()));
    loop {
        while tasks.try_join_next().is_some() {}
        if tasks.len() >= limits::MAX_REQUESTS_PER_CONNECTION {
            tasks.join_next().await;
            continue;
        }
        // tokio-fastcgi 1.3 panics on some malformed records (a BEGIN_REQUEST
        // without content): end that connection, not the daemon's work.
        let next_request = std::panic::AssertUnwindSafe(requests.next()).catch_unwind();
        let next = tokio::select! {
            n = tokio::time::timeout(limits::IDLE_CONNECTION, next_request) => match n {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(_)) => {
                    tracing::debug!("malformed FastCGI record; closing the connection");
                    break;
                }
                Err(e) => Err(e),
            },
            // A request finished: look at the shutdown condition again.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            _ = shutdown.cancelled(), if tasks.is_empty() => break,
        };
        match next {
            Ok(Ok(Some(request))) => {
                read.store(0, Ordering::Relaxed);
                let (app, activity, writing) = (app.clone(), activity.clone(), writing.clone());
                tasks.spawn(async move {
                    let _busy = activity.begin();
                    // Answer concurrently, write one answer at a time: the
                    // crate's writer is shared by the connection's requests
                    // and panics when two of them write at once.
                    let req = from_params(|name| request.get_str_param(name));
                    let answer = encode(&app.handle(&req).await);
                    let _turn = writing.lock().await;
                    let result = request
                        .process(|request| async move {
                            let mut out = request.get_stdout();
                            if out.write(&answer).await.is_err() {
                                return RequestResult::Complete(1);
                            }
                            RequestResult::Complete(0)
                        })
                        .await;
                    if let Err(e) = result {
                        tracing::debug!("FastCGI connection error while answering: {e}");
                    }
                });
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                tracing::debug!("FastCGI connection closed: {e}");
                break;
            }
            Err(_) => break,
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Our request from FastCGI params (looked up by name; a param that is
/// not UTF-8 is `None`).
pub fn from_params<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Request {
    Request {
        method: param("REQUEST_METHOD").unwrap_or("").to_string(),
        uri: request_uri(param("REQUEST_URI"), param("DOCUMENT_URI"), param("QUERY_STRING")),
        query: param("QUERY_STRING").unwrap_or("").to_string(),
    }
}

/// `REQUEST_URI` as nginx sends it; servers without it get
/// `DOCUMENT_URI?QUERY_STRING`. A param that is not UTF-8 is absent, and
/// the query check answers 400.
fn request_uri(request_uri: Option<&str>, document_uri: Option<&str>, query: Option<&str>) -> String {
    match (request_uri, document_uri) {
        (Some(u), _) if !u.is_empty() => u.to_string(),
        (_, Some(d)) => match query {
            Some(q) if !q.is_empty() => format!("{d}?{q}"),
            _ => d.to_string(),
        },
        _ => String::new(),
    }
}

/// The CGI response: `Status:` line, headers, blank line, body.
pub fn encode(resp: &Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(resp.body.len() + 160);
    out.extend_from_slice(format!("Status: {} {}\r\n", resp.status, reason(resp.status)).as_bytes());
    for (k, v) in &resp.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&resp.body);
    out
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}
