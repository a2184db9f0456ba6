//! HTTP/1.1 for browsers

pub mod multipart;
