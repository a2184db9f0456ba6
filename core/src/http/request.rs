//! A request head as the server reads it: the request line and headers parsed by httparse
//! within a size limit, the body's length, and whether the connection stays open after the
//! answer. Anything the server does not take (a chunked or otherwise encoded request body, two
//! different lengths, an unknown HTTP version) is refused here with the status to answer.

/// Most header lines a request may carry.
pub const MAX_HEADERS: usize = 64;

/// One parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The path, without the query, as sent (still percent-encoded).
    pub path: String,
    /// The query after `?`, if any, as sent.
    pub query: Option<String>,
    /// The header lines, names in lowercase, values as sent (trimmed).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body's length in bytes (0 if none).
    pub content_length: u64,
    /// Whether the client may send another request on this connection after the answer.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before it sends the body.
    pub expects_continue: bool,
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0 (which takes no chunked answer).
    pub version: u8,
}

impl Request {
    /// The value of header `name` (lowercase), if present once or more (the first), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Why a head was refused: the status to answer, and a reason for the log and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    /// 400, 411, 431, 501 or 505.
    pub status: u16,
    /// What was wrong, in words.
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> HeadError {
    HeadError {
        status,
        reason: reason.into(),
    }
}

/// Parses a request head at the start of `buf`. `Ok(None)`: incomplete (read more, unless
/// `buf` already holds `limit` bytes: then the head is too large, 431). `Ok(Some((request,
/// n)))`: the head took the first `n` bytes.
pub fn parse_head(buf: &[u8], limit: usize) -> Result<Option<(Request, usize)>, HeadError> {
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    let skip = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[skip..];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(rest) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limit {
                return Err(refuse(
                    431,
                    format!("the request head is over {} KiB", limit / 1024),
                ));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse(
                431,
                format!("the request has over {MAX_HEADERS} header lines"),
            ))
        }
        Err(e) => return Err(refuse(400, format!("malformed request: {e}"))),
    };
    if skip + head_len > limit {
        return Err(refuse(
            431,
            format!("the request head is over {} KiB", limit / 1024),
        ));
    }
    let version = req.version.unwrap_or(1);
    let method = req.method.unwrap_or("").to_owned();
    let target = req.path.unwrap_or("");
    if !target.starts_with('/') {
        return Err(refuse(400, "the request target must be a path"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), trim(h.value).to_vec()))
        .collect();
    let mut content_length: Option<u64> = None;
    let mut keep_alive = version == 1;
    let mut expects_continue = false;
    for (name, value) in &headers {
        match name.as_str() {
            "content-length" => {
                let n = std::str::from_utf8(value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| refuse(400, "Content-Length is not a number"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(refuse(400, "two different Content-Length headers"));
                }
                content_length = Some(n);
            }
            "transfer-encoding" => {
                return Err(refuse(
                    411,
                    "a request body must be sent with a Content-Length, not a transfer coding",
                ))
            }
            "connection" => {
                for token in value.split(|b| *b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                        keep_alive = true;
                    }
                }
            }
            "expect" => {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    expects_continue = true;
                } else {
                    return Err(refuse(417, "only Expect: 100-continue is understood"));
                }
            }
            _ => {}
        }
    }
    Ok(Some((
        Request {
            method,
            path,
            query,
            headers,
            content_length: content_length.unwrap_or(0),
            keep_alive,
            expects_continue,
            version,
        },
        skip + head_len,
    )))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<(Request, usize)>, HeadError> {
        parse_head(s.as_bytes(), 16 * 1024)
    }

    #[test]
    fn a_browser_request_parses() {
        let head = "GET /course/CSCI3180?x=1 HTTP/1.1\r\nHost: bb\r\nUser-Agent: Chromium\r\n\r\n";
        let (r, n) = parse(head).unwrap().unwrap();
        assert_eq!(n, head.len());
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/course/CSCI3180");
        assert_eq!(r.query.as_deref(), Some("x=1"));
        assert_eq!(r.header("user-agent"), Some("Chromium"));
        assert!(r.keep_alive);
        assert_eq!(r.content_length, 0);
    }

    #[test]
    fn every_prefix_is_incomplete_not_an_error() {
        let head = "POST /upload HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
        for i in 0..head.len() {
            assert_eq!(parse(&head[..i]), Ok(None), "prefix {i}");
        }
        let (r, _) = parse(head).unwrap().unwrap();
        assert_eq!(r.content_length, 5);
    }

    #[test]
    fn what_is_not_taken_is_refused_with_its_status() {
        let status = |s: &str| parse(s).unwrap_err().status;
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"),
            400
        );
        assert_eq!(status("GET http://x/ HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nExpect: magic\r\n\r\n"), 417);
        assert_eq!(status("\x00GET / HTTP/1.1\r\n\r\n"), 400);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
    }

    #[test]
    fn a_head_over_the_limit_is_431_complete_or_not() {
        let long = format!("GET / HTTP/1.1\r\nCookie: {}\r\n", "a".repeat(100));
        assert_eq!(parse_head(long.as_bytes(), 64).unwrap_err().status, 431);
        let done = format!("{long}\r\n");
        assert_eq!(parse_head(done.as_bytes(), 64).unwrap_err().status, 431);
    }

    #[test]
    fn http_1_0_closes_unless_asked_and_connection_close_is_honoured() {
        let (r, _) = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
        let (r, _) = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(r.keep_alive);
        let (r, _) = parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!r.keep_alive);
    }
}
