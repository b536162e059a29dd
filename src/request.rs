//! A request and a response as the service sees them, whatever carries
//! them (FastCGI, plain HTTP, the `lookup` command): the transports and
//! the service meet here, and neither imports the other.

use bytes::Bytes;

/// A request as the service sees it, whatever the transport.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path and query, raw (percent-encoded), like FastCGI's `REQUEST_URI`.
    pub uri: String,
    /// The query string, raw, like FastCGI's `QUERY_STRING`.
    pub query: String,
}

impl Request {
    pub fn get(uri: &str) -> Request {
        let query = uri.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
        Request {
            method: "GET".into(),
            uri: uri.into(),
            query,
        }
    }
}

/// A response as the service makes it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(status: u16, cache_control: String, body: Bytes) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type", "application/json".into()),
                ("Cache-Control", cache_control),
            ],
            body,
        }
    }
}
