//! A response head: status, the application's headers, and the headers every answer of
//! Blackboard carries (the security policy of its pages: no inline script, no framing, no
//! sniffing, HTTPS only, nothing cached unless the application says otherwise).

use std::fmt::Write;

/// The headers added to every response.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// A response's status and headers; the body goes separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    headers: Vec<(String, String)>,
}

impl Response {
    /// A response with `status` and no headers of its own yet.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
        }
    }

    /// An HTML page.
    pub fn html(status: u16) -> Self {
        Self::new(status).header("content-type", "text/html; charset=utf-8")
    }

    /// A redirect to `location` after a form (303 See Other: the browser follows with GET).
    pub fn see_other(location: &str) -> Self {
        Self::new(303).header("location", location)
    }

    /// Adds a header. Names are case-insensitive; a value holding a line break is dropped
    /// (a header must never end early and start another).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if !value.contains(['\r', '\n', '\0']) && !name.contains(['\r', '\n', ':', ' ', '\0']) {
            self.headers
                .push((name.to_ascii_lowercase(), value.to_owned()));
        }
        self
    }

    /// The value of header `name` (lowercase) set by the application, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The head's bytes: the status line, the application's headers, the security headers,
    /// `Cache-Control: no-store` unless set, the body's framing (`Content-Length`, or chunked
    /// when the length is not known, or nothing: the body ends with the connection, for an
    /// HTTP/1.0 client), and `Connection: close` if `close`.
    pub(crate) fn encode(&self, length: Option<u64>, close: bool) -> Vec<u8> {
        self.encode_framed(length, close, true)
    }

    /// [`encode`](Self::encode), with chunked framing allowed or not (`chunked`).
    pub(crate) fn encode_framed(&self, length: Option<u64>, close: bool, chunked: bool) -> Vec<u8> {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            if n != "content-length" && n != "transfer-encoding" && n != "connection" {
                let _ = write!(head, "{n}: {v}\r\n");
            }
        }
        for (n, v) in SECURITY_HEADERS {
            if self.get(n).is_none() {
                let _ = write!(head, "{n}: {v}\r\n");
            }
        }
        if self.get("cache-control").is_none() {
            head.push_str("cache-control: no-store\r\n");
        }
        match length {
            Some(n) => {
                let _ = write!(head, "content-length: {n}\r\n");
            }
            None if chunked => head.push_str("transfer-encoding: chunked\r\n"),
            None => {}
        }
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_has_the_security_headers_and_its_framing() {
        let head = Response::html(200).encode(Some(12), false);
        let text = String::from_utf8(head).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("content-type: text/html; charset=utf-8\r\n"));
        assert!(text.contains("frame-ancestors 'none'"));
        assert!(text.contains("x-content-type-options: nosniff\r\n"));
        assert!(text.contains("strict-transport-security: "));
        assert!(text.contains("cache-control: no-store\r\n"));
        assert!(text.contains("content-length: 12\r\n"));
        assert!(!text.contains("connection: close"));
        assert!(text.ends_with("\r\n\r\n"));
        let chunked = String::from_utf8(Response::new(200).encode(None, true)).unwrap();
        assert!(chunked.contains("transfer-encoding: chunked\r\n"));
        assert!(chunked.contains("connection: close\r\n"));
    }

    #[test]
    fn a_value_with_a_line_break_never_reaches_the_head() {
        let r = Response::new(200)
            .header("content-disposition", "attachment\r\nset-cookie: x=1")
            .header("x-ok", "fine");
        let text = String::from_utf8(r.encode(Some(0), false)).unwrap();
        assert!(!text.contains("set-cookie"));
        assert!(text.contains("x-ok: fine\r\n"));
    }
}
