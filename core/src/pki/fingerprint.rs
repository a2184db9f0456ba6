//! SHA-256 certificate fingerprints, written as `openssl x509 -fingerprint -sha256` writes them
//! (`AB:CD:...`, 32 colon-separated upper-case hex bytes), and read back from that, from the
//! whole line OpenSSL prints (`sha256 Fingerprint=AB:CD:...`), or from 64 plain hex digits.

use std::fmt;
use std::str::FromStr;

/// The SHA-256 digest of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate (DER).
    pub fn of(der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// Whether `der` is the certificate with this fingerprint.
    pub fn matches(&self, der: &[u8]) -> bool {
        Self::of(der) == *self
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Fingerprint {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Fingerprint {
    /// `AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Text that is not a SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 fingerprint: {0}")]
pub struct InvalidFingerprint(&'static str);

impl FromStr for Fingerprint {
    type Err = InvalidFingerprint;

    /// Reads `AB:CD:...` (either case), 64 hex digits, or OpenSSL's whole line
    /// (`sha256 Fingerprint=AB:CD:...`, `SHA256 Fingerprint=...` from older versions); also
    /// `SHA256:` before the digits. White space around it is ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let digits = match text.split_once('=') {
            Some((label, rest)) => {
                let label = label.trim().to_ascii_lowercase();
                if label != "sha256 fingerprint" {
                    return Err(InvalidFingerprint(
                        "that is not OpenSSL's SHA-256 line; give the output of `openssl x509 \
                         -fingerprint -sha256` or of `cuhk fingerprint`",
                    ));
                }
                rest.trim()
            }
            None => match text.get(..7) {
                Some(p) if p.eq_ignore_ascii_case("sha256:") => text[7..].trim(),
                _ => text,
            },
        };
        let hex: String = if digits.contains(':') {
            let pairs: Vec<&str> = digits.split(':').collect();
            if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
                return Err(InvalidFingerprint(
                    "expected 32 two-digit hex bytes separated by ':' (a SHA-1 or MD5 \
                     fingerprint is shorter)",
                ));
            }
            pairs.concat()
        } else {
            digits.to_owned()
        };
        if hex.len() != 64 {
            return Err(InvalidFingerprint(
                "expected 64 hex digits, or 32 hex bytes separated by ':'",
            ));
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or(InvalidFingerprint(
                "only the hex digits 0-9 and A-F are allowed",
            ))?;
            *b = u8::from_str_radix(pair, 16)
                .map_err(|_| InvalidFingerprint("only the hex digits 0-9 and A-F are allowed"))?;
        }
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Fingerprint {
        Fingerprint::from(core::array::from_fn(|i| (i as u8).wrapping_mul(37)))
    }

    #[test]
    fn prints_as_openssl_does_and_reads_back() {
        let f = sample();
        let text = f.to_string();
        assert_eq!(text.len(), 32 * 3 - 1);
        assert!(text.starts_with("00:25:4A:6F:"), "{text}");
        assert_eq!(text.parse::<Fingerprint>(), Ok(f));
    }

    #[test]
    fn reads_openssls_line_plain_hex_and_either_case() {
        let f = sample();
        let colons = f.to_string();
        let plain = colons.replace(':', "");
        for text in [
            format!("sha256 Fingerprint={colons}"),
            format!("SHA256 Fingerprint={colons}\n"),
            format!("  {}  ", colons.to_lowercase()),
            plain.clone(),
            plain.to_lowercase(),
            format!("SHA256:{plain}"),
            format!("sha256:{colons}"),
        ] {
            assert_eq!(text.parse::<Fingerprint>(), Ok(f), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_sha256_fingerprint() {
        let colons = sample().to_string();
        let sha1 = colons[..20 * 3 - 1].to_owned();
        for bad in [
            String::new(),
            sha1.clone(),
            format!("sha1 Fingerprint={sha1}"),
            format!("md5 Fingerprint={colons}"),
            colons.replace("4A", "4G"),
            colons.replacen(':', "", 1),
            format!("{colons}:00"),
            colons.replace(':', "-"),
            "é".repeat(32),
            format!("{}é", &colons.replace(':', "")[..62]),
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_of_a_certificate_is_its_sha256() {
        let der = b"not really a certificate, but bytes all the same";
        let f = Fingerprint::of(der);
        assert!(f.matches(der));
        assert!(!f.matches(b"other bytes"));
        assert_eq!(f.as_bytes(), &crate::submit::sha256(der));
    }
}
