//! FastCGI (responder role) over any stream, with `tokio-fastcgi` doing the
//! record framing. nginx's keep-alive connections and multiplexed requests
//! are handled; what the crate leaves open (bytes per request, idle time,
//! requests per connection) is bounded here.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinSet;
use tokio_fastcgi::{RequestResult, Requests};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::app::App;
use crate::limits;
use crate::request::{Request, Response};

/// The params the daemon reads ([`from_params`]). The reader hands the crate
/// only these: it would otherwise allocate, lowercase and hash every one of
/// the twenty or so nginx sends (about a sixth of the daemon's CPU time per
/// request, measured with `benches/load.sh`).
const PARAMS_USED: [&str; 4] = ["REQUEST_METHOD", "REQUEST_URI", "DOCUMENT_URI", "QUERY_STRING"];

/// Buffers larger than this are freed after use, not kept per connection.
const KEEP_BUFFER_BYTES: usize = 8 * 1024;

/// FastCGI record types the reader and the writer look at.
const BEGIN_REQUEST: u8 = 1;
const PARAMS: u8 = 4;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;

/// Guards the crate's record parser: counts bytes read since the last
/// completed request and fails the read past
/// [`limits::MAX_FASTCGI_REQUEST_BYTES`] (the crate buffers params and stdin
/// without a cap), refuses records the crate would panic on (a
/// BEGIN_REQUEST shorter than its fixed 8 bytes), and drops the params the
/// daemon does not use from each PARAMS record ([`PARAMS_USED`]). Every
/// other record passes unchanged.
struct Capped<R> {
    inner: R,
    read: Arc<AtomicUsize>,
    /// The record header being read, and how much of it we have.
    header: [u8; 8],
    have: usize,
    /// Content and padding bytes of the current record to pass on as read.
    pass: usize,
    /// A PARAMS record's content and padding being collected (`want` bytes
    /// in all), to be filtered once complete.
    params: Vec<u8>,
    want: usize,
    /// Bytes for the crate before anything else is read: a header, or a
    /// filtered PARAMS record.
    out: Vec<u8>,
    out_pos: usize,
}

impl<R> Capped<R> {
    fn new(inner: R, read: Arc<AtomicUsize>) -> Self {
        Capped {
            inner,
            read,
            header: [0; 8],
            have: 0,
            pass: 0,
            params: Vec::new(),
            want: 0,
            out: Vec::new(),
            out_pos: 0,
        }
    }

    /// A complete header has been read: decide what follows it.
    fn header_done(&mut self) -> std::io::Result<()> {
        self.have = 0;
        let h = self.header;
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if h[1] == BEGIN_REQUEST && len < 8 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "FastCGI BEGIN_REQUEST record shorter than 8 bytes",
            ));
        }
        // Request id 0 is the management records' (FastCGI 1.0, 3.3):
        // tokio-fastcgi would serve a BEGIN_REQUEST with it as a request.
        if h[1] == BEGIN_REQUEST && h[2] == 0 && h[3] == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "FastCGI BEGIN_REQUEST with the management request id 0",
            ));
        }
        let rest = len + usize::from(h[6]);
        if h[1] == PARAMS && len > 0 {
            self.params.clear();
            self.want = rest;
        } else {
            self.out.clear();
            self.out.extend_from_slice(&h);
            self.out_pos = 0;
            self.pass = rest;
        }
        Ok(())
    }

    /// The collected PARAMS record, with only the params we use (none at
    /// all when it had none of them: an empty PARAMS record would end the
    /// params). Content we cannot parse goes on unchanged, for the crate
    /// to judge.
    fn params_done(&mut self) {
        let h = self.header;
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        self.out.clear();
        self.out_pos = 0;
        self.out.extend_from_slice(&h);
        match keep_used_params(&self.params[..len], &mut self.out) {
            Some(0) => self.out.clear(),
            Some(kept) => {
                let kept = u16::try_from(kept).unwrap_or(u16::MAX);
                self.out[4..6].copy_from_slice(&kept.to_be_bytes());
                self.out[6] = 0;
            }
            None => {
                self.out.truncate(8);
                self.out.extend_from_slice(&self.params);
            }
        }
        self.want = 0;
        self.params.clear();
        // A rare large record does not stay allocated for the connection's life.
        if self.params.capacity() > KEEP_BUFFER_BYTES {
            self.params = Vec::new();
        }
    }
}

/// Appends the name-value pairs of `content` whose name is one of
/// [`PARAMS_USED`] to `out`, as they were; the number of bytes appended,
/// or `None` (and `out` as it was) if `content` is not a sequence of
/// whole pairs.
fn keep_used_params(content: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    fn length(bytes: &[u8], at: &mut usize) -> Option<usize> {
        let first = *bytes.get(*at)?;
        if first & 0x80 == 0 {
            *at += 1;
            return Some(usize::from(first));
        }
        let b = bytes.get(*at..*at + 4)?;
        *at += 4;
        usize::try_from(u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]])).ok()
    }
    let before = out.len();
    let mut at = 0;
    while at < content.len() {
        let start = at;
        let parsed = length(content, &mut at).and_then(|n| Some((n, length(content, &mut at)?)));
        let Some((name_len, value_len)) = parsed else {
            out.truncate(before);
            return None;
        };
        let end = at.checked_add(name_len).and_then(|e| e.checked_add(value_len));
        let Some(end) = end.filter(|&e| e <= content.len()) else {
            out.truncate(before);
            return None;
        };
        let name = &content[at..at + name_len];
        // Most names are not ours by their length alone.
        let ours =
            matches!(name_len, 11 | 12 | 14) && PARAMS_USED.iter().any(|u| u.as_bytes().eq_ignore_ascii_case(name));
        if ours {
            out.extend_from_slice(&content[start..end]);
        }
        at = end;
    }
    Some(out.len() - before)
}

/// Reads into `dst`, counting against the cap. `Ok(0)` is the end of the
/// stream.
fn read_counted<R: AsyncRead + Unpin>(
    inner: &mut R,
    read: &AtomicUsize,
    cx: &mut Context<'_>,
    dst: &mut [u8],
) -> Poll<std::io::Result<usize>> {
    let mut dst = ReadBuf::new(dst);
    ready!(Pin::new(inner).poll_read(cx, &mut dst))?;
    let n = dst.filled().len();
    if read.fetch_add(n, Ordering::Relaxed) + n > limits::MAX_FASTCGI_REQUEST_BYTES {
        return Poll::Ready(Err(std::io::Error::other("FastCGI request too large")));
    }
    Poll::Ready(Ok(n))
}

impl<R: AsyncRead + Unpin> AsyncRead for Capped<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                    if this.out.capacity() > KEEP_BUFFER_BYTES {
                        this.out = Vec::new();
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if this.pass > 0 {
                let limit = this.pass.min(buf.remaining());
                let n = ready!(read_counted(
                    &mut this.inner,
                    &this.read,
                    cx,
                    buf.initialize_unfilled_to(limit)
                ))?;
                buf.advance(n);
                this.pass -= n;
                return Poll::Ready(Ok(()));
            }
            if this.want > 0 {
                let have = this.params.len();
                this.params.resize(this.want, 0);
                let r = read_counted(&mut this.inner, &this.read, cx, &mut this.params[have..]);
                let n = match &r {
                    Poll::Ready(Ok(n)) => *n,
                    _ => 0,
                };
                this.params.truncate(have + n);
                match r {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    // The stream ends inside the record: so does the crate's read.
                    Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                    Poll::Ready(Ok(_)) => {}
                }
                if this.params.len() == this.want {
                    this.params_done();
                }
                continue;
            }
            let n = ready!(read_counted(
                &mut this.inner,
                &this.read,
                cx,
                &mut this.header[this.have..]
            ))?;
            if n == 0 {
                // The end of the stream (inside a header: the crate's read
                // fails as it would have).
                return Poll::Ready(Ok(()));
            }
            this.have += n;
            if this.have == 8 {
                this.header_done()?;
            }
        }
    }
}

/// The connection's write half, batched: the crate writes every record
/// header and body separately and flushes after each closing record (six
/// writes for a one-record answer); this keeps a request's STDOUT and
/// STDERR records and sends them together with the END_REQUEST record
/// that follows them — one write per answer. Any record other than STDOUT
/// and STDERR is sent as soon as it is complete, so nothing the peer waits
/// for stays behind; a flush in the middle of a request's output waits for
/// its END_REQUEST. Large bodies go through unbuffered. One answer is
/// written at a time (`writing` in [`serve_connection`]), so records of two
/// answers never mix here.
struct Batched<W> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    sent: usize,
    /// Record framing over the bytes accepted so far.
    framing: Framing,
}

/// Where a stream of records is: the header being read, and the content
/// and padding bytes of its record still to come.
#[derive(Clone, Copy, Default)]
struct Framing {
    header: [u8; 8],
    have: usize,
    skip: usize,
}

impl Framing {
    /// Follows the framing over `bytes`; with `stop`, only up to the end of
    /// the first record other than STDOUT or STDERR, and returns where
    /// that is.
    fn advance(&mut self, bytes: &[u8], stop: bool) -> Option<usize> {
        let mut at = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() - at);
                self.skip -= n;
                at += n;
                if self.skip == 0 && stop && !matches!(self.header[1], STDOUT | STDERR) {
                    return Some(at);
                }
            }
            if at == bytes.len() {
                return None;
            }
            let n = (8 - self.have).min(bytes.len() - at);
            self.header[self.have..self.have + n].copy_from_slice(&bytes[at..at + n]);
            self.have += n;
            at += n;
            if self.have == 8 {
                self.have = 0;
                self.skip =
                    usize::from(u16::from_be_bytes([self.header[4], self.header[5]])) + usize::from(self.header[6]);
                if self.skip == 0 && stop && !matches!(self.header[1], STDOUT | STDERR) {
                    return Some(at);
                }
            }
        }
    }
}

/// Bytes kept back at most; a larger write goes through after them.
const BATCH_BYTES: usize = 16 * 1024;

impl<W> Batched<W> {
    fn new(inner: W) -> Self {
        Batched {
            inner,
            buf: Vec::new(),
            sent: 0,
            framing: Framing::default(),
        }
    }

    /// Where in `bytes` (if at all) a record other than STDOUT or STDERR
    /// ends, when `bytes` follow what was accepted so far.
    fn urgent_end(&self, bytes: &[u8]) -> Option<usize> {
        let mut framing = self.framing;
        framing.advance(bytes, true)
    }

    /// Follows the record framing over bytes accepted.
    fn accepted(&mut self, bytes: &[u8]) {
        self.framing.advance(bytes, false);
    }

    fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    fn wrote(&mut self, n: usize) {
        self.sent += n;
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
    }
}

impl<W: AsyncWrite + Unpin> Batched<W> {
    /// Writes out everything kept back.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.pending() > 0 {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.wrote(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Batched<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let Some(end) = this.urgent_end(data) else {
            if this.pending() + data.len() > BATCH_BYTES {
                ready!(this.poll_drain(cx))?;
            }
            if data.len() > BATCH_BYTES {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
                this.accepted(&data[..n]);
                return Poll::Ready(Ok(n));
            }
            this.buf.extend_from_slice(data);
            this.accepted(data);
            return Poll::Ready(Ok(data.len()));
        };
        // The bytes kept back and `data` up to the end of that record go
        // out now; none of `data` counts as written before it is.
        let urgent = &data[..end];
        loop {
            let pending = this.pending();
            let n = if pending == 0 {
                ready!(Pin::new(&mut this.inner).poll_write(cx, urgent))?
            } else {
                let slices = [IoSlice::new(&this.buf[this.sent..]), IoSlice::new(urgent)];
                ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, &slices))?
            };
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            let from_data = n.saturating_sub(pending);
            this.wrote(n - from_data);
            if from_data > 0 {
                this.accepted(&urgent[..from_data]);
                return Poll::Ready(Ok(from_data));
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Kept-back bytes are a request's STDOUT/STDERR: they go with its
        // END_REQUEST record.
        if self.pending() > 0 {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves one FastCGI connection until the peer closes it, it idles, or
/// shutdown is requested (in-flight requests are finished first).
pub async fn serve_connection<S>(stream: S, app: Arc<App>, activity: Arc<Activity>, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let w = Batched::new(w);
    // The crate reads each record header and body separately: buffering
    // turns a dozen read calls per request into one or two.
    let r = tokio::io::BufReader::with_capacity(16 * 1024, r);
    let read = Arc::new(AtomicUsize::new(0));
    let reader = Capped::new(r, read.clone());
    let requests = Requests::new(
        reader,
        w,
        u8::try_from(limits::MAX_CONNECTIONS).unwrap_or(u8::MAX),
        u8::try_from(limits::MAX_REQUESTS_PER_CONNECTION).unwrap_or(u8::MAX),
    );
    let mut tasks = JoinSet::new();
    let writing = Arc::new(tokio::sync::Mutex::new(()));
    // The read of the next request lives in the stream across loop turns:
    // dropping it when an answer finishes would lose a record read halfway.
    // tokio-fastcgi 1.3 panics on some malformed records (a BEGIN_REQUEST
    // without content): that ends the connection, not the daemon's work.
    let mut incoming = Box::pin(futures_util::stream::unfold(requests, |mut requests| async move {
        let next = std::panic::AssertUnwindSafe(requests.next()).catch_unwind().await;
        Some((next, requests))
    }));
    loop {
        while tasks.try_join_next().is_some() {}
        if tasks.len() >= limits::MAX_REQUESTS_PER_CONNECTION {
            tasks.join_next().await;
            continue;
        }
        let next_request = async { incoming.next().await.unwrap_or(Ok(Ok(None))) };
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
                // Most answers (the daemon's cache) are ready at once:
                // those are written without a task of their own; the
                // others go on in one, concurrently. A panic ends only
                // that request, as in its own task.
                let mut answering = Box::pin(
                    std::panic::AssertUnwindSafe(answer(request, app.clone(), activity.clone(), writing.clone()))
                        .catch_unwind(),
                );
                if std::future::poll_fn(|cx| Poll::Ready(answering.as_mut().poll(cx)))
                    .await
                    .is_pending()
                {
                    tasks.spawn(answering);
                }
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

/// Answers one request. Answers are computed concurrently and written one
/// at a time: the crate's writer is shared by the connection's requests
/// and panics when two of them write at once.
async fn answer<W: AsyncWrite + Unpin + Send>(
    request: tokio_fastcgi::Request<W>,
    app: Arc<App>,
    activity: Arc<Activity>,
    writing: Arc<tokio::sync::Mutex<()>>,
) {
    let _busy = activity.begin();
    // One pass over the (few) params instead of a lookup, and a lowercased
    // copy of the name, per param.
    let mut used = [None; PARAMS_USED.len()];
    for (name, value) in request.str_params_iter().into_iter().flatten() {
        if let Some(i) = PARAMS_USED.iter().position(|u| u.eq_ignore_ascii_case(name)) {
            used[i] = value;
        }
    }
    let req = from_params(|name| PARAMS_USED.iter().position(|u| *u == name).and_then(|i| used[i]));
    let answer = app.handle(&req).await;
    let head = head(&answer);
    let _turn = writing.lock().await;
    let result = request
        .process(|request| async move {
            // Two STDOUT records, the body's straight from the cached bytes
            // (an empty one would end STDOUT).
            let mut out = request.get_stdout();
            if out.write(&head).await.is_err() || (!answer.body.is_empty() && out.write(&answer.body).await.is_err()) {
                return RequestResult::Complete(1);
            }
            RequestResult::Complete(0)
        })
        .await;
    if let Err(e) = result {
        tracing::debug!("FastCGI connection error while answering: {e}");
    }
}

/// Our request from FastCGI params (looked up by name; a param that is
/// not UTF-8 is `None`). Only [`PARAMS_USED`] reach the crate: a param
/// read here must be listed there too.
pub fn from_params<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Request {
    let query = param("QUERY_STRING");
    Request {
        method: param("REQUEST_METHOD").unwrap_or("").to_string(),
        uri: request_uri(param("REQUEST_URI"), param("DOCUMENT_URI"), query),
        query: query.unwrap_or("").to_string(),
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
    let mut out = head(resp);
    out.extend_from_slice(&resp.body);
    out
}

/// The CGI response without the body: `Status:` line, headers, blank line.
fn head(resp: &Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"Status: ");
    out.extend_from_slice(resp.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in &resp.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pair(name: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in [name.len(), value.len()] {
            if n < 128 {
                out.push(n as u8);
            } else {
                out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
            }
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value);
        out
    }

    fn record(kind: u8, id: u16, content: &[u8], pad: u8) -> Vec<u8> {
        let len = u16::try_from(content.len()).expect("short record");
        let mut out = vec![1, kind];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[pad, 0]);
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0, usize::from(pad)));
        out
    }

    #[test]
    fn only_the_params_used_are_kept() {
        let long = vec![b'x'; 300];
        let content = [
            pair("SCRIPT_NAME", b"/a"),
            pair("REQUEST_METHOD", b"GET"),
            pair("HTTP_X_LONG", &long),
            pair("request_uri", b"/a/comments.json"),
            pair("QUERY_STRING", b""),
        ]
        .concat();
        let mut out = vec![9];
        let kept = keep_used_params(&content, &mut out);
        let want = [
            pair("REQUEST_METHOD", b"GET"),
            pair("request_uri", b"/a/comments.json"),
            pair("QUERY_STRING", b""),
        ]
        .concat();
        assert_eq!(kept, Some(want.len()));
        assert_eq!(out[1..], want[..]);
        // Not whole pairs: left alone.
        let mut out = vec![9];
        assert_eq!(keep_used_params(&content[..content.len() - 1], &mut out), None);
        assert_eq!(keep_used_params(&[0x80, 0, 0], &mut out), None);
        assert_eq!(out, [9]);
    }

    #[test]
    fn from_params_reads_only_the_params_the_reader_keeps() {
        let asked = std::cell::RefCell::new(Vec::new());
        from_params(|name| {
            asked.borrow_mut().push(name.to_string());
            None
        });
        for name in asked.into_inner() {
            assert!(PARAMS_USED.contains(&name.as_str()), "{name} is dropped by the reader");
        }
    }

    #[tokio::test]
    async fn the_reader_filters_params_records_and_passes_the_rest() {
        let params = [pair("HTTP_HOST", b"example.org"), pair("REQUEST_METHOD", b"GET")].concat();
        let begin = record(BEGIN_REQUEST, 1, &[0, 1, 1, 0, 0, 0, 0, 0], 0);
        let stdin = record(5, 1, b"", 0);
        let input = [
            begin.clone(),
            record(PARAMS, 1, &params, 3),
            record(PARAMS, 1, &pair("SERVER_NAME", b"x"), 1),
            record(PARAMS, 1, b"", 0),
            stdin.clone(),
        ]
        .concat();
        let want = [
            begin,
            record(PARAMS, 1, &pair("REQUEST_METHOD", b"GET"), 0),
            record(PARAMS, 1, b"", 0),
            stdin,
        ]
        .concat();
        // Whole, and one byte per read.
        for chunk in [input.len(), 1] {
            let (mut client, server) = tokio::io::duplex(chunk);
            let mut reader = Capped::new(server, Arc::default());
            let feed = input.clone();
            let writer = tokio::spawn(async move {
                for c in feed.chunks(chunk) {
                    client.write_all(c).await.expect("write");
                }
            });
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await.expect("read");
            writer.await.expect("join");
            assert_eq!(got, want, "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn the_reader_refuses_short_begin_requests_and_oversized_requests() {
        let mut reader = Capped::new(&b"\x01\x01\x00\x01\x00\x00\x00\x00"[..], Arc::default());
        assert!(reader.read_to_end(&mut Vec::new()).await.is_err());
        let management = record(BEGIN_REQUEST, 0, &[0, 1, 1, 0, 0, 0, 0, 0], 0);
        let mut reader = Capped::new(&management[..], Arc::default());
        assert!(reader.read_to_end(&mut Vec::new()).await.is_err(), "request id 0");
        let big = vec![0u8; limits::MAX_FASTCGI_REQUEST_BYTES + 1];
        let mut reader = Capped::new(&big[..], Arc::default());
        assert!(reader.read_to_end(&mut Vec::new()).await.is_err());
    }

    /// Counts the writes that reach it (vectored, like a socket).
    #[derive(Default)]
    struct Counting {
        bytes: Vec<u8>,
        writes: usize,
    }

    impl AsyncWrite for Counting {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
            self.writes += 1;
            self.bytes.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            self.writes += 1;
            let before = self.bytes.len();
            for d in data {
                self.bytes.extend_from_slice(d);
            }
            Poll::Ready(Ok(self.bytes.len() - before))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn one_write_per_answer_and_sys_records_at_once() {
        let mut w = Batched::new(Counting::default());
        // As the crate writes an answer: each header and body apart,
        // flushes after the closing records.
        let body = vec![b'{'; 3000];
        let parts: [&[u8]; 9] = [
            &[1, STDOUT, 0, 1, 0x0b, 0xb8, 0, 0],
            &body,
            &[1, STDOUT, 0, 1, 0, 0, 0, 0],
            b"",
            &[1, STDERR, 0, 1, 0, 0, 0, 0],
            b"",
            &[1, 3, 0, 1, 0, 8, 0, 0],
            &[0; 8],
            b"",
        ];
        for p in parts {
            if p.is_empty() {
                w.flush().await.expect("flush");
            } else {
                w.write_all(p).await.expect("write");
            }
        }
        assert_eq!(w.inner.writes, 1);
        assert_eq!(w.inner.bytes, parts.concat());
        // A GET_VALUES_RESULT (no END_REQUEST follows it) goes at once.
        w.write_all(&[1, 10, 0, 0, 0, 0, 0, 0]).await.expect("write");
        assert_eq!(w.inner.writes, 2);
        // A large body goes through rather than being copied.
        let big = vec![b'x'; BATCH_BYTES + 1];
        w.write_all(&[1, STDOUT, 0, 1, 0x40, 0x01, 0, 0]).await.expect("write");
        w.write_all(&big).await.expect("write");
        assert_eq!(w.inner.writes, 4);
        assert!(w.buf.is_empty());
        // Byte by byte: out when the END_REQUEST record is complete.
        let answer = [
            &[1, STDOUT, 0, 2, 0, 1, 7, 0][..],
            b"x",
            &[0; 7],
            &[1, 3, 0, 2, 0, 8, 0, 0],
            &[0; 8],
        ]
        .concat();
        for (i, b) in answer.iter().enumerate() {
            w.write_all(std::slice::from_ref(b)).await.expect("write");
            assert_eq!(w.inner.writes, if i + 1 < answer.len() { 4 } else { 5 }, "byte {i}");
        }
        assert!(w.inner.bytes.ends_with(&answer));
    }

    /// Takes at most 5 bytes a write, and every other write is not ready.
    #[derive(Default)]
    struct Slow {
        bytes: Vec<u8>,
        calls: usize,
    }

    impl AsyncWrite for Slow {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = data.len().min(5);
            self.bytes.extend_from_slice(&data[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_slow_peer_gets_every_byte_in_order() {
        let mut w = Batched::new(Slow::default());
        let mut all = Vec::new();
        for id in 1..=3u8 {
            let body = vec![id; 40];
            let parts: [&[u8]; 5] = [
                &[1, STDOUT, 0, id, 0, 40, 0, 0],
                &body,
                &[1, STDOUT, 0, id, 0, 0, 0, 0],
                &[1, 3, 0, id, 0, 8, 0, 0],
                &[0; 8],
            ];
            for p in parts {
                w.write_all(p).await.expect("write");
                all.extend_from_slice(p);
            }
            assert_eq!(w.inner.bytes, all, "answer {id} complete");
        }
    }
}
