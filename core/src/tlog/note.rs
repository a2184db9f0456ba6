//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 signatures: the note text,
//! a blank line, then one line per signature, `— <key name> <base64(key ID || signature)>`.
//!
//! Keys are named; a key's 4-byte ID is the first four bytes of
//! `SHA-256(name || 0x0A || 0x01 || public key)`. A verifier key is written
//! `<name>+<hex key ID>+<base64(0x01 || public key)>` (the "vkey" other implementations read).
//!
//! Parsing is strict, for hostile input: a note of at most [`MAX_NOTE_LEN`] bytes and
//! [`MAX_SIGNATURES`] signature lines, valid UTF-8, no control characters but newline. Opening a
//! note follows the specification: signatures by unknown keys are ignored, one by a known key
//! that fails rejects the whole note, and at least one known key must have signed.

use super::hash::decode_base64;
use super::TlogError;
use aws_lc_rs::digest::{self, SHA256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use std::fmt;

/// The largest note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 16 * 1024;
/// The most signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;

/// The signature type byte of Ed25519 in key IDs and verifier keys.
const ED25519_TYPE: u8 = 0x01;
const PUBLIC_KEY_LEN: usize = 32;
const DASH: &str = "\u{2014} ";

/// The key ID of an Ed25519 key: the first 4 bytes (big-endian) of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &[u8]) -> u32 {
    let mut ctx = digest::Context::new(&SHA256);
    ctx.update(name.as_bytes());
    ctx.update(&[b'\n', ED25519_TYPE]);
    ctx.update(public_key);
    let d = ctx.finish();
    let b = d.as_ref();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn check_name(name: &str) -> Result<(), TlogError> {
    if name.is_empty() {
        return Err(TlogError::BadKey("an empty key name".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || *c == '+' || c.is_control())
    {
        return Err(TlogError::BadKey(format!(
            "the key name {name:?} contains {c:?}"
        )));
    }
    Ok(())
}

/// Checks a note text: UTF-8 by type, ends in a newline, no control characters but newline,
/// within the size limit.
fn check_text(text: &str, what: &str) -> Result<(), TlogError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(TlogError::BadNote(format!(
            "{what} of {} bytes, over the limit of {MAX_NOTE_LEN}",
            text.len()
        )));
    }
    if !text.ends_with('\n') {
        return Err(TlogError::BadNote(format!(
            "{what} does not end in a newline"
        )));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        return Err(TlogError::BadNote(format!(
            "{what} contains the control character {c:?}"
        )));
    }
    Ok(())
}

/// A key that signs notes: an Ed25519 key pair and its name.
pub struct NoteSigner {
    name: String,
    id: u32,
    key: Ed25519KeyPair,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.id)
    }
}

impl NoteSigner {
    fn new(name: &str, key: Ed25519KeyPair) -> Result<Self, TlogError> {
        check_name(name)?;
        let id = key_id(name, key.public_key().as_ref());
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// A new random key named `name` (for a log: `cuhk.example/certificates`, say). Keep it
    /// with [`NoteSigner::to_pkcs8`].
    pub fn generate(name: &str) -> Result<Self, TlogError> {
        let key = Ed25519KeyPair::generate()
            .map_err(|_| TlogError::BadKey("could not generate an Ed25519 key".into()))?;
        Self::new(name, key)
    }

    /// The key named `name` from a PKCS#8 (DER) Ed25519 private key.
    pub fn from_pkcs8(name: &str, der: &[u8]) -> Result<Self, TlogError> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| TlogError::BadKey(format!("not a PKCS#8 Ed25519 private key: {e}")))?;
        Self::new(name, key)
    }

    /// The key named `name` from its 32-byte RFC 8032 seed.
    pub fn from_seed(name: &str, seed: &[u8]) -> Result<Self, TlogError> {
        let key = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| TlogError::BadKey(format!("not an Ed25519 seed: {e}")))?;
        Self::new(name, key)
    }

    /// A key from the signer-key text other implementations write:
    /// `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`.
    pub fn from_skey(text: &str) -> Result<Self, TlogError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| TlogError::BadKey("a signer key starts with PRIVATE+KEY+".into()))?;
        let (name, id, key) = split_key(rest)?;
        let seed = key
            .strip_prefix(&[ED25519_TYPE])
            .ok_or_else(|| TlogError::BadKey("not an Ed25519 signer key".into()))?;
        if seed.len() != PUBLIC_KEY_LEN {
            return Err(TlogError::BadKey(format!(
                "an Ed25519 seed of {} bytes",
                seed.len()
            )));
        }
        let signer = Self::from_seed(name, seed)?;
        if signer.id != id {
            return Err(TlogError::BadKey(format!(
                "the key ID {id:08x} is not that of the key ({:08x})",
                signer.id
            )));
        }
        Ok(signer)
    }

    /// The private key as PKCS#8 (DER), to store.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, TlogError> {
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = self
            .key
            .as_der()
            .map_err(|_| TlogError::BadKey("could not encode the private key".into()))?;
        Ok(der.as_ref().to_vec())
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        let mut public_key = [0u8; PUBLIC_KEY_LEN];
        public_key.copy_from_slice(self.key.public_key().as_ref());
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            public_key,
        }
    }

    /// Signs `text` into a signed note with this key alone.
    pub fn sign(&self, text: &str) -> Result<String, TlogError> {
        Note::sign(text, &[self])
    }

    fn signature(&self, text: &str) -> NoteSignature {
        let mut bytes = self.id.to_be_bytes().to_vec();
        bytes.extend_from_slice(self.key.sign(text.as_bytes()).as_ref());
        NoteSignature {
            name: self.name.clone(),
            id: self.id,
            bytes,
        }
    }
}

/// Splits `<name>+<8 hex digits>+<base64>` into its parts (the name holds no `+`; the base64
/// may).
fn split_key(text: &str) -> Result<(&str, u32, Vec<u8>), TlogError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TlogError::BadKey(
            "a key is written <name>+<key ID>+<key>".into(),
        ));
    };
    check_name(name)?;
    if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(TlogError::BadKey(format!(
            "the key ID {hex:?} is not 8 lowercase hexadecimal digits"
        )));
    }
    let id = u32::from_str_radix(hex, 16)
        .map_err(|e| TlogError::BadKey(format!("the key ID {hex:?}: {e}")))?;
    let key = decode_base64(b64).map_err(|e| TlogError::BadKey(format!("the key is {e}")))?;
    Ok((name, id, key))
}

/// A key that verifies notes: a name, a key ID and an Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.vkey())
    }
}

impl NoteVerifier {
    /// A verifier from a key name and a raw 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8]) -> Result<Self, TlogError> {
        check_name(name)?;
        let public_key = <[u8; PUBLIC_KEY_LEN]>::try_from(public_key).map_err(|_| {
            TlogError::BadKey(format!(
                "an Ed25519 public key of {} bytes",
                public_key.len()
            ))
        })?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &public_key),
            public_key,
        })
    }

    /// Parses a verifier key, `<name>+<hex key ID>+<base64(0x01 || public key)>`; the key ID
    /// must be the key's.
    pub fn from_vkey(text: &str) -> Result<Self, TlogError> {
        let (name, id, key) = split_key(text)?;
        let public_key = key
            .strip_prefix(&[ED25519_TYPE])
            .ok_or_else(|| TlogError::BadKey("not an Ed25519 verifier key".into()))?;
        let verifier = Self::new(name, public_key)?;
        if verifier.id != id {
            return Err(TlogError::BadKey(format!(
                "the key ID {id:08x} is not that of the key ({:08x})",
                verifier.id
            )));
        }
        Ok(verifier)
    }

    /// The verifier key text, `<name>+<hex key ID>+<base64(0x01 || public key)>`.
    pub fn vkey(&self) -> String {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(&self.public_key);
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            data_encoding::BASE64.encode(&key)
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public_key
    }

    fn verifies(&self, text: &str, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(text.as_bytes(), signature)
            .is_ok()
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signing key's name.
    pub name: String,
    /// The key ID (the first 4 bytes of `bytes`).
    pub id: u32,
    /// Key ID and signature, as base64-encoded on the line.
    pub bytes: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        format!(
            "{DASH}{} {}\n",
            self.name,
            data_encoding::BASE64.encode(&self.bytes)
        )
    }
}

/// A parsed signed note: its text and its signature lines, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Every signature line, known key or not.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Signs `text` (which must end in a newline) with each signer: the signed note.
    pub fn sign(text: &str, signers: &[&NoteSigner]) -> Result<String, TlogError> {
        check_text(text, "the note text")?;
        if signers.is_empty() || signers.len() > MAX_SIGNATURES {
            return Err(TlogError::BadNote(format!(
                "{} signers; 1 to {MAX_SIGNATURES} are needed",
                signers.len()
            )));
        }
        let note = Note {
            text: text.to_owned(),
            signatures: signers.iter().map(|s| s.signature(text)).collect(),
        };
        let out = note.to_text();
        check_text(&out, "the signed note")?;
        Ok(out)
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// Parses a signed note without checking any signature (see [`Note::open`]).
    pub fn parse(note: &[u8]) -> Result<Self, TlogError> {
        if note.len() > MAX_NOTE_LEN {
            return Err(TlogError::BadNote(format!(
                "{} bytes, over the limit of {MAX_NOTE_LEN}",
                note.len()
            )));
        }
        let note =
            std::str::from_utf8(note).map_err(|e| TlogError::BadNote(format!("not UTF-8: {e}")))?;
        check_text(note, "the note")?;
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| TlogError::BadNote("no blank line before the signatures".into()))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if sigs.is_empty() {
            return Err(TlogError::BadNote("no signature lines".into()));
        }
        let mut signatures = Vec::new();
        // `sigs` ends in a newline and holds no blank line (the blank line found was the last).
        for line in sigs.strip_suffix('\n').unwrap_or(sigs).split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(TlogError::BadNote(format!(
                    "more than {MAX_SIGNATURES} signatures"
                )));
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parses a signed note and checks its signatures against `verifiers`: signatures by
    /// unknown keys (another name or key ID) are ignored, any by a known key that fails rejects
    /// the note, and at least one must be by a known key. Answers the note and the verifiers
    /// whose signatures verified.
    pub fn open<'v>(
        note: &[u8],
        verifiers: &'v [NoteVerifier],
    ) -> Result<(Self, Vec<&'v NoteVerifier>), TlogError> {
        let parsed = Self::parse(note)?;
        let mut verified: Vec<&NoteVerifier> = Vec::new();
        for sig in &parsed.signatures {
            let Some(v) = verifiers
                .iter()
                .find(|v| v.name == sig.name && v.id == sig.id)
            else {
                continue;
            };
            if !v.verifies(&parsed.text, &sig.bytes[4..]) {
                return Err(TlogError::Signature(format!(
                    "the signature by {}+{:08x} does not verify",
                    v.name, v.id
                )));
            }
            if !verified.contains(&v) {
                verified.push(v);
            }
        }
        if verified.is_empty() {
            return Err(TlogError::Signature("no signature by a known key".into()));
        }
        Ok((parsed, verified))
    }
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, TlogError> {
    let rest = line.strip_prefix(DASH).ok_or_else(|| {
        TlogError::BadNote(format!(
            "a signature line does not start with an em dash and a space: {:?}",
            truncate(line)
        ))
    })?;
    let (name, b64) = rest.split_once(' ').ok_or_else(|| {
        TlogError::BadNote(format!(
            "a signature line without a signature: {:?}",
            truncate(line)
        ))
    })?;
    check_name(name).map_err(|e| TlogError::BadNote(format!("in a signature line: {e}")))?;
    let bytes = decode_base64(b64)
        .map_err(|e| TlogError::BadNote(format!("a signature by {name} is {e}")))?;
    if bytes.len() <= 4 {
        return Err(TlogError::BadNote(format!(
            "a signature by {name} of {} bytes",
            bytes.len()
        )));
    }
    let id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Ok(NoteSignature {
        name: name.to_owned(),
        id,
        bytes,
    })
}

/// At most 80 characters of hostile text, for an error message.
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}
