//! HTTP/1.1 for browsers, sans-IO: Blackboard's web pages on its own port, chosen by ALPN
//! (`http/1.1`) at the ClientHello beside `handin-submit/1` and `handin-staff/1`.
//!
//! - [`request`]: a request head, parsed by httparse within a size limit;
//! - [`response`]: a response head, with the security headers every answer carries;
//! - [`multipart`]: a streaming `multipart/form-data` parser (an upload form's parts);
//! - [`server`]: the connection ([`HttpServer`]): requests one at a time, bodies streamed in
//!   and out, keep-alive.

pub mod multipart;
pub mod request;
pub mod response;
pub mod server;

pub use request::{HeadError, Request};
pub use response::Response;
pub use server::{HttpLimits, HttpServer, HttpServerEvent, HttpServerProtocol};

/// Escapes text for HTML (element content and quoted attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
