//! The input guard between the connection and tokio-fastcgi's record
//! reader: it caps the bytes of a request, refuses the records the crate
//! mishandles, and hands the crate only the params the daemon reads. Every
//! other record passes unchanged.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

use super::cgi::PARAMS_USED;
use super::wire::{self, BEGIN_REQUEST, Framing, HEADER_LEN, Header, PARAMS};
use crate::limits;

/// Buffers larger than this are freed after use, not kept per connection.
const KEEP_BUFFER_BYTES: usize = 8 * 1024;

/// Counts the bytes read since the last completed request and fails the
/// read past [`limits::MAX_FASTCGI_REQUEST_BYTES`] (tokio-fastcgi 1.3
/// buffers params and stdin without a cap); refuses the BEGIN_REQUEST
/// records named in [`InputGuard::header_done`]; drops the params the
/// daemon does not use from each PARAMS record ([`PARAMS_USED`]): the
/// crate would allocate, lowercase and hash every one of the twenty or so
/// nginx sends (about a sixth of the daemon's CPU time per request,
/// measured with `benches/load.sh`).
pub(crate) struct InputGuard<R> {
    inner: R,
    /// Bytes read since the last completed request; the connection loop
    /// sets it back to 0.
    read: Arc<AtomicUsize>,
    framing: Framing,
    /// The current record is a PARAMS record with content: its content
    /// and padding are collected in `params`, and filtered once complete.
    collecting: bool,
    params: Vec<u8>,
    /// Bytes for the crate before anything else is read: a header, or a
    /// filtered PARAMS record.
    out: Vec<u8>,
    out_pos: usize,
}

impl<R> InputGuard<R> {
    pub(crate) fn new(inner: R, read: Arc<AtomicUsize>) -> Self {
        InputGuard {
            inner,
            read,
            framing: Framing::default(),
            collecting: false,
            params: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
        }
    }

    /// A complete header has been read: refuse its record, collect it, or
    /// pass it on.
    fn header_done(&mut self, h: Header) -> std::io::Result<()> {
        let refuse = |why| Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
        // Works around tokio-fastcgi 1.3 panicking (`Request::new` unwraps the role) on a BEGIN_REQUEST under 2 bytes.
        if h.kind() == BEGIN_REQUEST && h.content_len() < 8 {
            return refuse("FastCGI BEGIN_REQUEST record shorter than 8 bytes");
        }
        // Works around tokio-fastcgi 1.3 serving a BEGIN_REQUEST with the management id 0 (FastCGI 1.0, 3.3).
        if h.kind() == BEGIN_REQUEST && h.id() == 0 {
            return refuse("FastCGI BEGIN_REQUEST with the management request id 0");
        }
        if h.kind() == PARAMS && h.content_len() > 0 {
            self.collecting = true;
            self.params.clear();
        } else {
            self.out.clear();
            self.out.extend_from_slice(&h.0);
            self.out_pos = 0;
        }
        Ok(())
    }

    /// The collected PARAMS record, with only the params we use (none at
    /// all when it had none of them: an empty PARAMS record would end the
    /// params). Content that is not a sequence of whole pairs ends the
    /// connection.
    fn params_done(&mut self, h: Header) -> std::io::Result<()> {
        self.collecting = false;
        self.out.clear();
        self.out_pos = 0;
        self.out.extend_from_slice(&h.0);
        match keep_used_params(&self.params[..h.content_len()], &mut self.out) {
            Some(0) => self.out.clear(),
            Some(kept) => {
                let kept = u16::try_from(kept).unwrap_or(u16::MAX);
                self.out[..HEADER_LEN].copy_from_slice(&h.with_lengths(kept, 0).0);
            }
            // Works around tokio-fastcgi 1.3 allocating a pair's declared lengths (up to 2 GiB each) before reading them.
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "FastCGI PARAMS record that is not a sequence of whole name-value pairs",
                ));
            }
        }
        self.params.clear();
        // A rare large record does not stay allocated for the connection's life.
        if self.params.capacity() > KEEP_BUFFER_BYTES {
            self.params = Vec::new();
        }
        Ok(())
    }
}

/// Appends the name-value pairs of `content` whose name is one of
/// [`PARAMS_USED`] to `out`, as they were; the number of bytes appended,
/// or `None` (and `out` as it was) if `content` is not a sequence of
/// whole pairs.
fn keep_used_params(content: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let before = out.len();
    for pair in wire::pairs(content) {
        let Ok(pair) = pair else {
            out.truncate(before);
            return None;
        };
        // Most names are not ours by their length alone.
        let ours = matches!(pair.name.len(), 11 | 12 | 14)
            && PARAMS_USED.iter().any(|u| u.as_bytes().eq_ignore_ascii_case(pair.name));
        if ours {
            out.extend_from_slice(pair.encoded);
        }
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

impl<R: AsyncRead + Unpin> InputGuard<R> {
    /// Reads (part of) a header, and acts on it once whole. `Ok(0)` is
    /// the end of the stream.
    fn poll_header(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut header = [0; HEADER_LEN];
        let dst = &mut header[..self.framing.until_next()];
        let n = ready!(read_counted(&mut self.inner, &self.read, cx, dst))?;
        if let Some(h) = self.framing.step(&header[..n]) {
            self.header_done(h)?;
        }
        Poll::Ready(Ok(n))
    }

    /// Collects (part of) a PARAMS record's content and padding, and
    /// filters the record once whole. `Ok(0)` is the end of the stream.
    fn poll_params(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let have = self.params.len();
        self.params.resize(have + self.framing.until_next(), 0);
        let read = read_counted(&mut self.inner, &self.read, cx, &mut self.params[have..]);
        let n = match &read {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        self.params.truncate(have + n);
        ready!(read)?;
        self.framing.step(&self.params[have..]);
        if self.framing.record_done()
            && let Some(h) = self.framing.header()
        {
            self.params_done(h)?;
        }
        Poll::Ready(Ok(n))
    }

    /// Reads the current record's content and padding straight into `buf`.
    fn poll_pass(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let dst = buf.initialize_unfilled_to(self.framing.until_next().min(buf.remaining()));
        let n = ready!(read_counted(&mut self.inner, &self.read, cx, dst))?;
        buf.advance(n);
        self.framing.step(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }

    /// Hands on what is waiting in `out`; whether there was anything.
    fn give(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        if self.out_pos == self.out.len() {
            return false;
        }
        let n = buf.remaining().min(self.out.len() - self.out_pos);
        buf.put_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > KEEP_BUFFER_BYTES {
                self.out = Vec::new();
            }
        }
        true
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for InputGuard<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.give(buf) {
                return Poll::Ready(Ok(()));
            }
            if this.framing.in_body() && !this.collecting {
                return this.poll_pass(cx, buf);
            }
            let read = if this.framing.in_body() {
                ready!(this.poll_params(cx))?
            } else {
                ready!(this.poll_header(cx))?
            };
            if read == 0 {
                // The end of the stream (inside a record: the crate's read
                // fails as it would have).
                return Poll::Ready(Ok(()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pair(name: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        wire::put_pair(&mut out, name.as_bytes(), value);
        out
    }

    fn record(kind: u8, id: u16, content: &[u8], pad: u8) -> Vec<u8> {
        let mut out = Vec::new();
        wire::put_record(&mut out, kind, id, content, pad);
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

    #[tokio::test]
    async fn the_reader_filters_params_records_and_passes_the_rest() {
        let params = [pair("HTTP_HOST", b"example.org"), pair("REQUEST_METHOD", b"GET")].concat();
        let begin = record(BEGIN_REQUEST, 1, &[0, 1, 1, 0, 0, 0, 0, 0], 0);
        let stdin = record(wire::STDIN, 1, b"", 0);
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
            let mut reader = InputGuard::new(server, Arc::default());
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
        let mut reader = InputGuard::new(&b"\x01\x01\x00\x01\x00\x00\x00\x00"[..], Arc::default());
        assert!(reader.read_to_end(&mut Vec::new()).await.is_err());
        let management = record(BEGIN_REQUEST, 0, &[0, 1, 1, 0, 0, 0, 0, 0], 0);
        let mut reader = InputGuard::new(&management[..], Arc::default());
        assert!(reader.read_to_end(&mut Vec::new()).await.is_err(), "request id 0");
        let big = vec![0u8; limits::MAX_FASTCGI_REQUEST_BYTES + 1];
        let mut reader = InputGuard::new(&big[..], Arc::default());
        assert!(reader.read_to_end(&mut Vec::new()).await.is_err());
    }

    /// A PARAMS record whose pairs declare more bytes than it holds (here
    /// 2 GiB each) ends the connection before the crate allocates them.
    #[tokio::test]
    async fn the_reader_refuses_params_that_are_not_whole_pairs() {
        let begin = record(BEGIN_REQUEST, 1, &[0, 1, 1, 0, 0, 0, 0, 0], 0);
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'x'];
        for content in [&huge[..], &pair("REQUEST_METHOD", b"GET")[..5]] {
            let input = [begin.clone(), record(PARAMS, 1, content, 0)].concat();
            let mut reader = InputGuard::new(&input[..], Arc::default());
            let mut got = Vec::new();
            let err = reader.read_to_end(&mut got).await.expect_err("refused");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
            assert!(
                !got.windows(huge.len()).any(|w| w == huge),
                "nothing of it reached the crate"
            );
        }
    }
}
