//! CGI, the language of FastCGI's content: the params nginx sends become a
//! [`Request`], and a [`Response`] becomes `Status:`, headers and body.

use crate::request::{Request, Response};

/// The params the daemon reads ([`from_params`]); the input guard hands
/// tokio-fastcgi only these.
pub(crate) const PARAMS_USED: [&str; 4] = ["REQUEST_METHOD", "REQUEST_URI", "DOCUMENT_URI", "QUERY_STRING"];

/// Our request from a request's params, in one pass over the (few) params
/// the guard left instead of a lookup, and a lowercased copy of the name,
/// per param.
pub(crate) fn request_of<W: tokio::io::AsyncWrite + Unpin>(request: &tokio_fastcgi::Request<W>) -> Request {
    let mut used = [None; PARAMS_USED.len()];
    for (name, value) in request.str_params_iter().into_iter().flatten() {
        if let Some(i) = PARAMS_USED.iter().position(|u| u.eq_ignore_ascii_case(name)) {
            used[i] = value;
        }
    }
    from_params(|name| PARAMS_USED.iter().position(|u| *u == name).and_then(|i| used[i]))
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

/// The CGI response without the body: `Status:` line, headers, blank
/// line. The body goes in a STDOUT record of its own, straight from the
/// cached bytes.
pub(crate) fn head(resp: &Response) -> Vec<u8> {
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

fn reason(status: u16) -> &'static str {
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
}
