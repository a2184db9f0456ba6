//! What keeps another web site from acting with a student's certificate. A browser presents
//! the certificate on every request to Blackboard's origin, including one another site's page
//! makes it send; so every request that changes something (a POST) must come from
//! Blackboard's own pages:
//!
//! - its `Origin` must be Blackboard's own (`https://` and the `Host` the browser addressed),
//!   and `Sec-Fetch-Site`, when the browser sends it, `same-origin`;
//! - its form must carry a token that only Blackboard's pages hold: an HMAC, under a key made
//!   when the server starts, of the person and the time the page was made, valid for
//!   [`TOKEN_LIFETIME`].
//!
//! Either check alone stops the usual forgeries; both are required.

use aws_lc_rs::hmac;
use handin_core::http::Request;
use handin_core::pki::PersonId;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a page's form token is accepted.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The key form tokens are made with.
pub struct FormKey(hmac::Key);

/// The length of a shared form key's file.
const KEY_LEN: usize = 32;

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey")
    }
}

impl FormKey {
    /// A new random key.
    pub fn generate() -> Result<Self, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map(Self)
            .map_err(|_| "no randomness for the form key".to_owned())
    }

    /// The key kept in the file `path` (32 bytes), made first if there is none (mode 0600,
    /// written whole before it appears, so that nodes starting at once all read the same key).
    /// Nodes that share the file take each other's forms.
    pub fn shared(path: &std::path::Path) -> Result<Self, String> {
        let bytes = crate::secret_file::shared_secret(path, "form key", || {
            let mut secret = vec![0u8; KEY_LEN];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| "no randomness for the form key")?;
            Ok(secret)
        })?;
        if bytes.len() != KEY_LEN {
            return Err(format!(
                "{} holds {} bytes, not a {KEY_LEN}-byte form key: remove it and restart every node",
                path.display(),
                bytes.len()
            ));
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    fn mac(&self, person: &PersonId, issued: u64) -> String {
        let msg = format!("handin form\0{person}\0{issued}");
        data_encoding::HEXLOWER.encode(hmac::sign(&self.0, msg.as_bytes()).as_ref())
    }

    /// The token for a page made for `person` at `now`.
    pub fn token(&self, person: &PersonId, now: SystemTime) -> String {
        let issued = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("{issued}.{}", self.mac(person, issued))
    }

    /// Whether `token` was made by this key for `person`, and is still valid at `now`.
    pub fn check(&self, token: &str, person: &PersonId, now: SystemTime) -> bool {
        let Some((issued, mac)) = token.split_once('.') else {
            return false;
        };
        let Ok(issued) = issued.parse::<u64>() else {
            return false;
        };
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if issued > now + 60 || now - issued.min(now) > TOKEN_LIFETIME.as_secs() {
            return false;
        }
        let Ok(mac) = data_encoding::HEXLOWER.decode(mac.as_bytes()) else {
            return false;
        };
        let msg = format!("handin form\0{person}\0{issued}");
        hmac::verify(&self.0, msg.as_bytes(), &mac).is_ok()
    }
}

/// Whether a state-changing request comes from Blackboard's own pages by its headers: `Err`
/// says why not.
pub(crate) fn same_origin(request: &Request) -> Result<(), &'static str> {
    if let Some(site) = request.header("sec-fetch-site") {
        if site != "same-origin" {
            return Err("the form was sent from another site");
        }
    }
    let host = request.header("host").ok_or("the request names no Host")?;
    let origin = request
        .header("origin")
        .ok_or("the request has no Origin: send the form from Blackboard's page")?;
    if origin != format!("https://{host}") {
        return Err("the form was sent from another site");
    }
    Ok(())
}

/// The fields of a form body (`application/x-www-form-urlencoded`).
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The fields of a multipart form held whole in memory (a small one: a grade sheet), each
/// with its bytes.
pub(crate) fn multipart_fields(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<(String, Vec<u8>)>, String> {
    use handin_core::http::multipart::{boundary, MultipartLimits, MultipartParser, PartEvent};
    let mut parser = MultipartParser::new(
        boundary(content_type).map_err(|e| e.to_string())?,
        MultipartLimits::default(),
    );
    parser.feed(body).map_err(|e| e.to_string())?;
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    while let Some(ev) = parser.next().map_err(|e| e.to_string())? {
        match ev {
            PartEvent::PartStart { name, .. } => fields.push((name, Vec::new())),
            PartEvent::Data(b) => {
                if let Some((_, v)) = fields.last_mut() {
                    v.extend_from_slice(&b);
                }
            }
            PartEvent::PartEnd | PartEvent::End => {}
        }
    }
    parser.finish().map_err(|e| e.to_string())?;
    Ok(fields)
}

/// The value of form field `name`, if given.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use handin_core::http::request::parse_head;

    fn person() -> PersonId {
        PersonId::parse("1155000001").unwrap()
    }

    #[test]
    fn a_token_is_the_persons_and_expires() {
        let key = FormKey::generate().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let t = key.token(&person(), now);
        assert!(key.check(&t, &person(), now));
        assert!(key.check(&t, &person(), now + Duration::from_secs(3600)));
        assert!(!key.check(&t, &person(), now + TOKEN_LIFETIME + Duration::from_secs(1)));
        assert!(!key.check(&t, &PersonId::parse("1155000002").unwrap(), now));
        assert!(!key.check(&t.replace('.', "x"), &person(), now));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web-form.key");
        let (a, b) = (
            FormKey::shared(&file).unwrap(),
            FormKey::shared(&file).unwrap(),
        );
        assert!(
            b.check(&a.token(&person(), now), &person(), now),
            "nodes share the key"
        );
        assert_eq!(std::fs::read(&file).unwrap().len(), KEY_LEN);
        std::fs::write(&file, b"short").unwrap();
        assert!(FormKey::shared(&file)
            .unwrap_err()
            .contains("not a 32-byte form key"));
        let other = FormKey::generate().unwrap();
        assert!(!other.check(&t, &person(), now), "another server's key");
        let (issued, mac) = t.split_once('.').unwrap();
        let later: u64 = issued.parse::<u64>().unwrap() + 100;
        assert!(!key.check(
            &format!("{later}.{mac}"),
            &person(),
            now + Duration::from_secs(200)
        ));
    }

    fn head(lines: &str) -> Request {
        let text = format!("POST /x HTTP/1.1\r\n{lines}\r\n");
        parse_head(text.as_bytes(), 4096).unwrap().unwrap().0
    }

    #[test]
    fn only_blackboards_own_pages_may_post() {
        assert!(same_origin(&head("Host: bb:3141\r\nOrigin: https://bb:3141\r\n")).is_ok());
        assert!(same_origin(&head(
            "Host: bb:3141\r\nOrigin: https://bb:3141\r\nSec-Fetch-Site: same-origin\r\n"
        ))
        .is_ok());
        assert!(same_origin(&head("Host: bb:3141\r\nOrigin: https://evil.example\r\n")).is_err());
        assert!(same_origin(&head("Host: bb:3141\r\nOrigin: http://bb:3141\r\n")).is_err());
        assert!(same_origin(&head("Host: bb:3141\r\n")).is_err());
        assert!(same_origin(&head(
            "Host: bb:3141\r\nOrigin: https://bb:3141\r\nSec-Fetch-Site: cross-site\r\n"
        ))
        .is_err());
    }
}
