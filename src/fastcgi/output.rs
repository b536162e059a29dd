//! Output batching: tokio-fastcgi writes each record header and body
//! apart and flushes after each closing record; this turns a request's
//! records into one write to nginx.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

use super::wire::{Framing, STDERR, STDOUT};

/// The connection's write half, batched: the crate writes every record
/// header and body separately and flushes after each closing record (six
/// writes for a one-record answer); this keeps a request's STDOUT and
/// STDERR records and sends them together with the END_REQUEST record
/// that follows them — one write per answer. Any record other than STDOUT
/// and STDERR is sent as soon as it is complete, so nothing the peer waits
/// for stays behind; a flush in the middle of a request's output waits for
/// its END_REQUEST. Large bodies go through unbuffered. One answer is
/// written at a time (`writing` in [`serve_connection`](super::serve_connection)), so records of two
/// answers never mix here.
pub(crate) struct Batched<W> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    sent: usize,
    /// Record framing over the bytes accepted so far.
    framing: Framing,
}

/// Bytes kept back at most; a larger write goes through after them.
const BATCH_BYTES: usize = 16 * 1024;

impl<W> Batched<W> {
    pub(crate) fn new(inner: W) -> Self {
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
        advance(&mut framing, bytes, true)
    }

    /// Follows the record framing over bytes accepted.
    fn accepted(&mut self, bytes: &[u8]) {
        advance(&mut self.framing, bytes, false);
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

/// Follows `framing` over `bytes`; with `stop`, only up to the end of the
/// first record other than STDOUT or STDERR, and returns where that is.
fn advance(framing: &mut Framing, bytes: &[u8], stop: bool) -> Option<usize> {
    let mut at = 0;
    while at < bytes.len() {
        let n = framing.until_next().min(bytes.len() - at);
        framing.step(&bytes[at..at + n]);
        at += n;
        let urgent = framing.header().is_some_and(|h| !matches!(h.kind(), STDOUT | STDERR));
        if stop && urgent && framing.record_done() {
            return Some(at);
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

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
