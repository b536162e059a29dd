//! What can go wrong answering a request, and the one `match` from error
//! to status, JSON body and headers.

use bytes::Bytes;

use crate::mastodon::UpstreamError;
use crate::query::QueryError;
use crate::request::Response;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the query is not a plausible article path.
    #[error("bad query: {0}")]
    BadQuery(QueryError),
    /// 404: outside the configured `path_pattern`.
    #[error("not an article path")]
    NotArticle,
    /// 405: only GET and HEAD.
    #[error("method not allowed; use GET or HEAD")]
    Method,
    /// 503: the instance is unreachable, slow, rate-limiting or odd.
    #[error("the Mastodon instance is unavailable: {0}")]
    Upstream(UpstreamError),
    /// 500: a bug of ours.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<UpstreamError> for Error {
    /// Upstream trouble is a 503, except a bug of ours met on the way.
    fn from(e: UpstreamError) -> Error {
        match e {
            UpstreamError::Bug => Error::Internal(e.to_string()),
            e => Error::Upstream(e),
        }
    }
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::BadQuery(_) => 400,
            Error::NotArticle => 404,
            Error::Method => 405,
            Error::Upstream(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// The error answer: `{"error": "…"}`, never cached.
    pub fn response(&self) -> Response {
        let message = match self {
            // Say what was wrong upstream in the log, not to every reader.
            Error::Upstream(_) => "comments are temporarily unavailable".to_string(),
            Error::Internal(_) => "internal error".to_string(),
            e => e.to_string(),
        };
        let body = serde_json::json!({ "error": message }).to_string();
        let mut headers = vec![
            ("Content-Type", "application/json".to_string()),
            ("Cache-Control", "no-store".to_string()),
        ];
        match self {
            Error::Method => headers.push(("Allow", "GET, HEAD".into())),
            Error::Upstream(e) => headers.push(("Retry-After", e.retry_after().as_secs().to_string())),
            _ => {}
        }
        match self {
            Error::Upstream(e) => tracing::warn!("upstream: {e}"),
            Error::Internal(e) => tracing::error!("{e}"),
            _ => {}
        }
        Response {
            status: self.status(),
            headers,
            body: Bytes::from(body),
        }
    }
}
