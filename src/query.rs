//! The article path a request asks about: the `search` parameter, else the
//! request path minus `comments.json`, cleaned like Go's `filepath.Clean`
//! and refused when it cannot be an article path.

use crate::limits::{MAX_QUERY_BYTES, MAX_URI_BYTES};

/// Why a query is not a plausible article path (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the article path must start with \"/\"")]
    NotAbsolute,
    #[error("the article path is longer than {MAX_QUERY_BYTES} bytes")]
    TooLong,
    #[error("the article path contains a control character")]
    Control,
    #[error("the article path is not valid UTF-8 once percent-decoded")]
    NotUtf8,
    #[error("the article path has \"..\" leading above \"/\"")]
    Escapes,
    #[error("the request URI is malformed")]
    Malformed,
}

/// Finds the article path of a request from its `REQUEST_URI` (path and
/// query) and `QUERY_STRING`, the way the Go original did, then validates
/// and cleans it.
pub fn from_request(request_uri: &str, query_string: &str) -> Result<String, QueryError> {
    if request_uri.len() > MAX_URI_BYTES || query_string.len() > MAX_URI_BYTES {
        return Err(QueryError::TooLong);
    }
    if let Some(search) = search_param(query_string)? {
        return article(&search);
    }
    let path = request_uri.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path.as_bytes(), false)?;
    let trimmed = decoded.strip_suffix("comments.json").unwrap_or(&decoded);
    article(trimmed)
}

/// Validates and cleans, and drops a final `index.html`: `/post/index.html`
/// is the same article as `/post/`.
fn article(path: &str) -> Result<String, QueryError> {
    let clean = clean_article_path(path)?;
    Ok(match clean.strip_suffix("/index.html") {
        Some("") => "/".to_string(),
        Some(p) => p.to_string(),
        None => clean,
    })
}

/// The last `search=` value of a query string, form-decoded.
fn search_param(query_string: &str) -> Result<Option<String>, QueryError> {
    let mut found = None;
    for pair in query_string.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k.as_bytes(), true)? == "search" {
            found = Some(percent_decode(v.as_bytes(), true)?);
        }
    }
    Ok(found)
}

/// Percent-decodes (and `+` → space in form mode); refuses malformed escapes
/// and bytes that do not form UTF-8.
fn percent_decode(input: &[u8], form: bool) -> Result<String, QueryError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hex = input.get(i + 1..i + 3).ok_or(QueryError::Malformed)?;
                let s = std::str::from_utf8(hex).map_err(|_| QueryError::Malformed)?;
                let b = u8::from_str_radix(s, 16).map_err(|_| QueryError::Malformed)?;
                out.push(b);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8)
}

/// An article named the way an operator names one (a `roots` key of the
/// config, the `lookup` command): a full http(s) URL stands for its path;
/// either is normalised exactly like a request path, so it matches one.
pub(crate) fn from_url_or_path(article: &str) -> Result<String, QueryError> {
    match url::Url::parse(article.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => from_url(&u),
        _ => from_request(article, ""),
    }
}

/// The article path of an http(s) URL on the blog (a link in an
/// announcement, an operator's URL), normalised like a request path.
pub(crate) fn from_url(url: &url::Url) -> Result<String, QueryError> {
    from_request(url.path(), "")
}

/// Validates a decoded article path and cleans it: rooted, bounded, no
/// control characters, no `..` above the root; `//a/./b/../c/` → `/a/c`.
pub fn clean_article_path(path: &str) -> Result<String, QueryError> {
    if !path.starts_with('/') {
        return Err(QueryError::NotAbsolute);
    }
    if path.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong);
    }
    if path.chars().any(char::is_control) {
        return Err(QueryError::Control);
    }
    let mut depth: usize = 0;
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1).ok_or(QueryError::Escapes)?,
            _ => depth += 1,
        }
    }
    Ok(clean(path))
}

/// Go's `path/filepath.Clean` on Unix, to the letter: the Go original's
/// state file keys were made with it.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of Go's own `filepath.Clean` tests (Unix).
    #[test]
    fn clean_matches_go_filepath_clean() {
        let cases = [
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("", "."),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/", "a/b/c"),
            ("./", "."),
            ("../", ".."),
            ("../../", "../.."),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("//abc//", "/abc"),
            ("abc//", "abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
            ("//a/./b/../c/", "/a/c"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn article_paths_from_requests() {
        let cases = [
            ("/2018/12/01/post/comments.json", "", "/2018/12/01/post"),
            ("/2018/12/01/post/comments.json?x=1", "x=1", "/2018/12/01/post"),
            ("/comments.json", "", "/"),
            ("/a//b/./c/../comments.json", "", "/a/b"),
            ("/caf%C3%A9/comments.json", "", "/café"),
            ("/x/comments.json", "search=/2018/12/01/post/", "/2018/12/01/post"),
            ("/x/comments.json", "search=%2Fa%2Fb+c%2F", "/a/b c"),
            ("/x/comments.json", "a=1&search=/p&b=2", "/p"),
            ("/x/notcomments.json", "", "/x/not"),
        ];
        for (uri, qs, want) in cases {
            assert_eq!(from_request(uri, qs).as_deref(), Ok(want), "{uri} {qs}");
        }
    }

    #[test]
    fn implausible_paths_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_QUERY_BYTES));
        let cases: [(&str, &str, QueryError); 9] = [
            ("/x/comments.json", "search=2018/12/01", QueryError::NotAbsolute),
            (
                "/x/comments.json",
                "search=https://blog.example/x",
                QueryError::NotAbsolute,
            ),
            (&long, "", QueryError::TooLong),
            ("/a%00b/comments.json", "", QueryError::Control),
            ("/a%0Ab/comments.json", "", QueryError::Control),
            ("/a%FFb/comments.json", "", QueryError::NotUtf8),
            ("/a%2/comments.json", "", QueryError::Malformed),
            ("/../etc/comments.json", "", QueryError::Escapes),
            ("/x/comments.json", "search=/a/../../b", QueryError::Escapes),
        ];
        for (uri, qs, want) in cases {
            assert_eq!(from_request(uri, qs), Err(want), "{uri} {qs}");
        }
        // ".." that stays below the root is fine and cleaned away.
        assert_eq!(from_request("/a/../b/comments.json", "").as_deref(), Ok("/b"));
    }

    /// The request URI and the query string are each capped at
    /// `MAX_URI_BYTES` before anything is decoded: exactly the cap is read,
    /// one byte more is refused, whichever of the two is long.
    #[test]
    fn request_uri_and_query_string_are_capped_before_decoding() {
        let head = "/p/comments.json?x=";
        let uri_at_cap = format!("{head}{}", "a".repeat(MAX_URI_BYTES - head.len()));
        assert_eq!(uri_at_cap.len(), MAX_URI_BYTES);
        assert_eq!(from_request(&uri_at_cap, "").as_deref(), Ok("/p"));
        assert_eq!(from_request(&format!("{uri_at_cap}a"), ""), Err(QueryError::TooLong));

        let qs_at_cap = format!("x={}", "a".repeat(MAX_URI_BYTES - 2));
        assert_eq!(from_request("/p/comments.json", &qs_at_cap).as_deref(), Ok("/p"));
        assert_eq!(
            from_request("/p/comments.json", &format!("{qs_at_cap}a")),
            Err(QueryError::TooLong),
            "a long query string alone is refused"
        );
    }

    /// An article path of exactly `MAX_QUERY_BYTES` is read; one byte
    /// more is refused.
    #[test]
    fn an_article_path_of_exactly_the_cap_is_read() {
        let at_cap = format!("/{}", "a".repeat(MAX_QUERY_BYTES - 1));
        assert_eq!(clean_article_path(&at_cap), Ok(at_cap.clone()));
        assert_eq!(clean_article_path(&format!("{at_cap}a")), Err(QueryError::TooLong));
    }

    /// `+` means a space in a query string (form encoding) only; in the
    /// request path it is a plus sign, as in the article's own URL.
    #[test]
    fn plus_is_a_space_in_search_only() {
        assert_eq!(from_request("/a+b/comments.json", "").as_deref(), Ok("/a+b"));
        assert_eq!(from_request("/x/comments.json", "search=/a+b").as_deref(), Ok("/a b"));
        assert_eq!(from_request("/x/comments.json", "search=/a%2Bb").as_deref(), Ok("/a+b"));
    }
}
