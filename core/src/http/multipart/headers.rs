//! The header side of `multipart/form-data`: the boundary from the request's Content-Type, and
//! a part's header block (Content-Disposition with its `name`, `filename` and RFC 5987
//! `filename*` parameters, and Content-Type).
//!
//! Quoted strings take backslash escapes (RFC 9110 quoted-pair) of the two characters that
//! need one, `\"` and `\\`; a backslash before anything else is kept as it is. Browsers do not
//! escape backslashes (they percent-encode `"`, CR and LF instead, per the HTML standard), so a
//! file named `a\b.pdf` arrives as `filename="a\b.pdf"` and must keep its backslash.

use super::MultipartError;

/// The longest boundary RFC 2046 allows.
pub const MAX_BOUNDARY: usize = 70;

/// The boundary of a `multipart/form-data` body, from its Content-Type header value, such as
/// `multipart/form-data; boundary=----WebKitFormBoundaryePkpFF7tjBAqx29L`. The parameter name
/// is case-insensitive and the value may be quoted; it must be 1 to 70 characters of those RFC
/// 2046 allows in a boundary.
pub fn boundary(content_type: &str) -> Result<Vec<u8>, MultipartError> {
    let bytes = content_type.as_bytes();
    let end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    let media_type = content_type[..end].trim_matches([' ', '\t']);
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotFormData);
    }
    let params = parameters(&bytes[end..]).map_err(MultipartError::BadContentType)?;
    let value = params
        .into_iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value)
        .ok_or(MultipartError::NoBoundary)?;
    if value.is_empty() || value.len() > MAX_BOUNDARY {
        return Err(MultipartError::BoundaryLength { len: value.len() });
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b);
    if !value.iter().all(|&b| allowed(b)) || value.last() == Some(&b' ') {
        return Err(MultipartError::BoundaryChar);
    }
    Ok(value)
}

/// What a part's headers say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartHeaders {
    pub(super) name: String,
    pub(super) file_name: Option<String>,
    pub(super) content_type: Option<String>,
}

/// Parses one part's header block: the lines between the delimiter line and the blank line,
/// without the final CRLF CRLF.
pub(super) fn parse_part_headers(block: &[u8]) -> Result<PartHeaders, MultipartError> {
    let mut disposition: Option<&[u8]> = None;
    let mut content_type: Option<&[u8]> = None;
    for line in split_crlf(block) {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(bad("a folded header line"));
        }
        if line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(bad("a bare CR, LF or NUL in a header line"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| bad("a header line without a colon"))?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(bad("a header name with characters not allowed in one"));
        }
        let slot = if name.eq_ignore_ascii_case(b"content-disposition") {
            &mut disposition
        } else if name.eq_ignore_ascii_case(b"content-type") {
            &mut content_type
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return Err(bad("a repeated Content-Disposition or Content-Type header"));
        }
    }
    let disposition = disposition.ok_or(MultipartError::NoDisposition)?;
    let (name, file_name) = parse_disposition(disposition)?;
    let content_type = content_type
        .map(|v| String::from_utf8(v.to_vec()).map_err(|_| MultipartError::NotUtf8))
        .transpose()?;
    Ok(PartHeaders {
        name,
        file_name,
        content_type,
    })
}

/// `form-data; name="x"; filename="y"; filename*=UTF-8''z` into the name and the file name
/// (`filename*` preferred over `filename`).
fn parse_disposition(value: &[u8]) -> Result<(String, Option<String>), MultipartError> {
    let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    if !trim(&value[..end]).eq_ignore_ascii_case(b"form-data") {
        return Err(MultipartError::NotFormDataPart);
    }
    let params = parameters(&value[end..]).map_err(bad)?;
    let mut name = None;
    let mut file_name = None;
    let mut file_name_ext = None;
    for (key, value) in params {
        let slot = match key.as_str() {
            "name" => &mut name,
            "filename" => &mut file_name,
            "filename*" => &mut file_name_ext,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(bad("a repeated parameter in Content-Disposition"));
        }
    }
    let name = name.ok_or(MultipartError::NoName)?;
    let name = String::from_utf8(name).map_err(|_| MultipartError::NotUtf8)?;
    let file_name = match file_name_ext {
        Some(ext) => Some(decode_ext_value(&ext)?),
        None => file_name
            .map(|f| String::from_utf8(f).map_err(|_| MultipartError::NotUtf8))
            .transpose()?,
    };
    Ok((name, file_name))
}

/// An RFC 5987 ext-value, `charset'language'percent-encoded`, in UTF-8 only.
fn decode_ext_value(ext: &[u8]) -> Result<String, MultipartError> {
    let mut fields = ext.splitn(3, |&b| b == b'\'');
    let (Some(charset), Some(_language), Some(encoded)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(bad("a filename* that is not charset'language'value"));
    };
    if !charset.eq_ignore_ascii_case(b"utf-8") {
        return Err(bad("a filename* in a character set other than UTF-8"));
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode(encoded).collect();
    String::from_utf8(decoded).map_err(|_| MultipartError::NotUtf8)
}

/// The `; key=value` list after a media type or disposition type, with lowercased keys and
/// unquoted values. A trailing `;` is tolerated.
fn parameters(mut rest: &[u8]) -> Result<Vec<(String, Vec<u8>)>, &'static str> {
    let mut out = Vec::new();
    loop {
        rest = trim_start(rest);
        let Some((&first, tail)) = rest.split_first() else {
            return Ok(out);
        };
        if first != b';' {
            return Err("parameters not separated by ';'");
        }
        rest = trim_start(tail);
        if rest.is_empty() {
            return Ok(out);
        }
        let key_len = rest.iter().take_while(|&&b| is_token(b)).count();
        if key_len == 0 {
            return Err("a parameter without a name");
        }
        let key = String::from_utf8_lossy(&rest[..key_len]).to_ascii_lowercase();
        rest = trim_start(&rest[key_len..]);
        rest = match rest.split_first() {
            Some((b'=', tail)) => trim_start(tail),
            _ => return Err("a parameter without '='"),
        };
        let value;
        (value, rest) = if rest.first() == Some(&b'"') {
            quoted(&rest[1..])?
        } else {
            let len = rest
                .iter()
                .take_while(|&&b| is_token(b) || b >= 0x80)
                .count();
            if len == 0 {
                return Err("a parameter without a value");
            }
            (rest[..len].to_vec(), &rest[len..])
        };
        out.push((key, value));
    }
}

/// The rest of a quoted string after its opening quote: its unescaped value and what follows
/// the closing quote.
fn quoted(s: &[u8]) -> Result<(Vec<u8>, &[u8]), &'static str> {
    let mut value = Vec::new();
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => return Ok((value, &s[i + 1..])),
            b'\\' if matches!(s.get(i + 1), Some(b'"' | b'\\')) => {
                value.push(s[i + 1]);
                i += 2;
            }
            _ => {
                value.push(b);
                i += 1;
            }
        }
    }
    Err("a quoted string without its closing quote")
}

fn bad(what: &'static str) -> MultipartError {
    MultipartError::BadHeaders(what)
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn trim(s: &[u8]) -> &[u8] {
    let s = trim_start(s);
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[..s.len() - n]
}

/// The lines of a header block, split at CRLF.
fn split_crlf(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = (!block.is_empty()).then_some(block);
    std::iter::from_fn(move || {
        let s = rest?;
        match memchr::memmem::find(s, b"\r\n") {
            Some(i) => {
                rest = Some(&s[i + 2..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}
