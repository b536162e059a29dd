//! Plain HTTP/1.1 (`--protocol http`, the demo): the same service behind a
//! reverse proxy or for a quick look with curl.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::app::App;
use crate::limits;
use crate::request::{Request, Response};

/// Extra routes served before the service (the demo's page and assets).
pub(crate) type Extra = Arc<dyn Fn(&Request) -> Option<Response> + Send + Sync>;

/// Serves one HTTP connection; on shutdown the current request finishes.
pub async fn serve_connection<S>(
    stream: S,
    app: Arc<App>,
    extra: Option<Extra>,
    activity: Arc<Activity>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (app, extra, activity) = (app.clone(), extra.clone(), activity.clone());
        async move {
            let _busy = activity.begin();
            let uri = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let ours = Request {
                method: req.method().as_str().to_string(),
                query: req.uri().query().unwrap_or("").to_string(),
                uri,
            };
            let resp = match extra.as_ref().and_then(|f| f(&ours)) {
                Some(r) => r,
                None => app.handle(&ours).await,
            };
            Ok::<_, Infallible>(to_hyper(resp))
        }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits::IDLE_CONNECTION)
        .max_buf_size(limits::MAX_FASTCGI_REQUEST_BYTES.max(8192))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r { tracing::debug!("HTTP connection closed: {e}") },
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits::DRAIN_TIMEOUT, conn).await;
        }
    }
}

fn to_hyper(resp: Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(resp.body)).unwrap_or_else(|_| {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"{\"error\":\"internal error\"}")));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
