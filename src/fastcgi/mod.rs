//! FastCGI (responder role) over any stream, with tokio-fastcgi as the
//! protocol engine. This module owns the connection loop: nginx's
//! keep-alive connections and multiplexed requests, each answered by the
//! [`App`], with what the crate leaves open bounded here (idle time,
//! requests per connection) and in the input guard (bytes per request).
//!
//! | module | holds |
//! |---|---|
//! | [`wire`] | the record format, encoded and parsed; the tests and fuzz targets use it too |
//! | `guard` | the input guard: request size cap, records the crate mishandles, the params filter |
//! | `output` | a request's records in one write |
//! | `cgi` | params → [`Request`](crate::Request), [`Response`](crate::Response) → CGI |

mod cgi;
mod guard;
mod output;
pub mod wire;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use futures_util::{FutureExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, WriteHalf};
use tokio::task::JoinSet;
use tokio_fastcgi::{RequestResult, Requests};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::app::App;
use crate::limits;

pub use cgi::from_params;
use guard::InputGuard;
use output::Batched;

/// What reading the next request gives: the crate's answer, or its panic.
type Incoming<W> = std::thread::Result<Result<Option<tokio_fastcgi::Request<W>>, tokio_fastcgi::Error>>;

/// Serves one FastCGI connection until the peer closes it, it idles, or
/// shutdown is requested (in-flight requests are finished first).
pub async fn serve_connection<S>(stream: S, app: Arc<App>, activity: Arc<Activity>, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut incoming, read) = requests(stream);
    let mut tasks = JoinSet::new();
    // Works around tokio-fastcgi 1.3 panicking (`try_lock().expect`) when two requests of one connection write at once.
    let writing = Arc::new(tokio::sync::Mutex::new(()));
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
                start(
                    &mut tasks,
                    answer(request, app.clone(), activity.clone(), writing.clone()),
                )
                .await;
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

/// The connection's requests as tokio-fastcgi reads them through the input
/// guard, and the guard's count of bytes read since the last request.
fn requests<S>(
    stream: S,
) -> (
    impl Stream<Item = Incoming<Batched<WriteHalf<S>>>> + Unpin,
    Arc<AtomicUsize>,
)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    // The crate reads each record header and body separately: buffering
    // turns a dozen read calls per request into one or two.
    let r = tokio::io::BufReader::with_capacity(16 * 1024, r);
    let read = Arc::new(AtomicUsize::new(0));
    let requests = Requests::new(
        InputGuard::new(r, read.clone()),
        Batched::new(w),
        u8::try_from(limits::MAX_CONNECTIONS).unwrap_or(u8::MAX),
        u8::try_from(limits::MAX_REQUESTS_PER_CONNECTION).unwrap_or(u8::MAX),
    );
    // The read of the next request lives in the stream across loop turns:
    // dropping it when an answer finishes would lose a record read halfway.
    // Works around tokio-fastcgi 1.3 panicking on malformed records: the panic ends this connection only.
    let incoming = Box::pin(futures_util::stream::unfold(requests, |mut requests| async move {
        let next = std::panic::AssertUnwindSafe(requests.next()).catch_unwind().await;
        Some((next, requests))
    }));
    (incoming, read)
}

/// Starts answering. Most answers (the daemon's cache) are ready at once:
/// those are written without a task of their own; the others go on in
/// one, concurrently. A panic ends only that request, as in its own task.
async fn start(
    tasks: &mut JoinSet<Result<(), Box<dyn Any + Send>>>,
    answer: impl Future<Output = ()> + Send + 'static,
) {
    let mut answering = Box::pin(std::panic::AssertUnwindSafe(answer).catch_unwind());
    if std::future::poll_fn(|cx| Poll::Ready(answering.as_mut().poll(cx)))
        .await
        .is_pending()
    {
        tasks.spawn(answering);
    }
}

/// Answers one request. Answers are computed concurrently and written one
/// at a time, in turns of `writing`.
async fn answer<W: AsyncWrite + Unpin + Send>(
    request: tokio_fastcgi::Request<W>,
    app: Arc<App>,
    activity: Arc<Activity>,
    writing: Arc<tokio::sync::Mutex<()>>,
) {
    let _busy = activity.begin();
    let answer = app.handle(&cgi::request_of(&request)).await;
    let head = cgi::head(&answer);
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
