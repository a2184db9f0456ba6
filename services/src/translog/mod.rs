//! Running a transparency log beside a store: the log's key ([`LogWriter::open`]), sequencing
//! entries in the transaction that writes what they log ([`LogWriter::start`],
//! [`LogBatch::finish`]: one checkpoint signature per batch, and each entry's inclusion proof
//! from memory), and reading it back for clients ([`serve`], [`proof_at`]).
//!
//! CUHK's log holds its certificates and revocations, Blackboard's its receipts and
//! commitments; the formats are the core's ([`handin_core::logs`], [`handin_core::tlog`]).

mod serve;

pub use serve::{consistency_at, proof_at, serve, ServeError, Served};

use crate::store::log::kept;
use crate::store::{LogHead, LogRecords, LogTx, StoreError};
use handin_core::logs::LogProof;
use handin_core::tlog::{
    append_batch, empty_root, leaf_hash, Checkpoint, Frontier, Hash, NoteSigner, NoteVerifier,
};
use std::fmt;
use std::path::Path;

const KEY_LABEL: &str = "PRIVATE KEY";

/// This machine's host name, as a log origin's first part: letters, digits, dots and dashes
/// only (`localhost` if it has none).
pub fn host_name() -> String {
    let host: String = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    if host.is_empty() {
        "localhost".into()
    } else {
        host
    }
}

/// A log's signing key and identity: what appends to it and signs its checkpoints.
pub struct LogWriter {
    signer: NoteSigner,
    vkey: String,
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("origin", &self.signer.name())
            .finish_non_exhaustive()
    }
}

fn bad(what: impl Into<String>) -> StoreError {
    StoreError::BadDatabase(what.into())
}

impl LogWriter {
    /// A writer with this key.
    pub fn new(signer: NoteSigner) -> Self {
        let vkey = signer.verifier().vkey();
        Self { signer, vkey }
    }

    /// The log key kept in the file `path`, made first (named `origin`) if there is none.
    /// Nodes sharing the file share the key. The file holds the key's name on its first line,
    /// then the Ed25519 private key as PKCS#8 PEM; it is made mode 0600.
    pub fn open(path: &Path, origin: &str) -> Result<Self, String> {
        let bytes = crate::secret_file::shared_secret(path, "log key", || {
            let signer = NoteSigner::generate(origin).map_err(|e| e.to_string())?;
            let der = signer.to_pkcs8().map_err(|e| e.to_string())?;
            Ok(format!("{origin}\n{}", handin_core::pki::to_pem(KEY_LABEL, &der)).into_bytes())
        })?;
        let bad = |why: &str| format!("the log key {}: {why}", path.display());
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text"))?;
        let (name, pem) = text.split_once('\n').ok_or_else(|| bad("no name line"))?;
        use handin_core::rustls::pki_types::{pem::PemObject, PrivatePkcs8KeyDer};
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| bad(&format!("no PKCS#8 {KEY_LABEL} block: {e}")))?;
        let signer = NoteSigner::from_pkcs8(name.trim(), der.secret_pkcs8_der())
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Self::new(signer))
    }

    /// [`LogWriter::open`] for the log kept in `records`: a key is made only for a log that
    /// has no entry yet. A log with entries whose key file is missing is refused (a new key
    /// would sign its next checkpoints, and every audit would reject them): restore the file.
    pub fn open_for(path: &Path, origin: &str, records: &dyn LogRecords) -> Result<Self, String> {
        if !path.exists() {
            let head = records
                .log_head()
                .map_err(|e| format!("reading the log's head: {e}"))?;
            if let Some(head) = head.filter(|h| h.size > 0) {
                return Err(format!(
                    "the log key {} is missing but the log holds {} entries: restore the key \
                     file from a backup (a new key would make every audit fail)",
                    path.display(),
                    head.size
                ));
            }
        }
        Self::open(path, origin)
    }

    /// The log's origin (also its key's name).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The log's verifier key (C2SP vkey), which clients keep and receipts name.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// The verifier of the log's checkpoints.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// The signed checkpoint of the empty log.
    pub fn empty_checkpoint(&self) -> Result<String, StoreError> {
        self.sign(0, empty_root())
    }

    fn sign(&self, size: u64, root: Hash) -> Result<String, StoreError> {
        Checkpoint::new(self.origin(), size, root)
            .sign(&self.signer)
            .map_err(|e| bad(format!("signing the checkpoint of {}: {e}", self.origin())))
    }

    /// Starts appending in `tx`: reads the head the transaction sees.
    pub fn start(&self, tx: &mut dyn LogTx) -> Result<LogBatch<'_>, StoreError> {
        let frontier = match tx.log_head()? {
            None => Frontier::new(),
            Some(head) => Frontier::from_parts(head.size, head.frontier)
                .map_err(|e| bad(format!("the log's stored head: {e}")))?,
        };
        Ok(LogBatch {
            writer: self,
            frontier,
            entries: Vec::new(),
        })
    }
}

/// Entries being appended in one transaction.
#[derive(Debug)]
pub struct LogBatch<'w> {
    writer: &'w LogWriter,
    frontier: Frontier,
    entries: Vec<Vec<u8>>,
}

impl LogBatch<'_> {
    /// The index the next entry pushed will have.
    pub fn next_index(&self) -> u64 {
        self.frontier.size() + self.entries.len() as u64
    }

    /// Adds an entry; answers its index.
    pub fn push(&mut self, entry: Vec<u8>) -> u64 {
        let index = self.next_index();
        self.entries.push(entry);
        index
    }

    /// Appends the entries pushed in `tx` (the transaction [`LogWriter::start`] read) with
    /// the new head and its signed checkpoint. With no entry, writes nothing.
    pub fn finish(mut self, tx: &mut dyn LogTx) -> Result<Sequenced, StoreError> {
        let first = self.frontier.size();
        if self.entries.is_empty() {
            return Ok(Sequenced {
                first,
                proofs: Vec::new(),
                checkpoint: String::new(),
            });
        }
        let leaves: Vec<Hash> = self.entries.iter().map(|e| leaf_hash(e)).collect();
        let batch = append_batch(&mut self.frontier, &leaves)
            .map_err(|e| bad(format!("appending to the log: {e}")))?;
        let checkpoint = self.writer.sign(batch.appended.size, batch.appended.root)?;
        let nodes: Vec<_> = batch
            .appended
            .nodes
            .iter()
            .filter(|n| kept(n))
            .copied()
            .collect();
        let head = LogHead {
            size: batch.appended.size,
            frontier: self.frontier.nodes().to_vec(),
            checkpoint: checkpoint.clone(),
        };
        tx.log_append(first, &self.entries, &nodes, &head)?;
        Ok(Sequenced {
            first,
            proofs: batch.proofs,
            checkpoint,
        })
    }
}

/// Where a batch's entries went: each one's proof against the batch's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    first: u64,
    proofs: Vec<Vec<Hash>>,
    checkpoint: String,
}

impl Sequenced {
    /// The proof of the entry at `index`, if it was in the batch.
    pub fn proof(&self, index: u64) -> Option<LogProof> {
        let i = usize::try_from(index.checked_sub(self.first)?).ok()?;
        Some(LogProof {
            index,
            hashes: self.proofs.get(i)?.clone(),
            checkpoint: self.checkpoint.clone(),
        })
    }
}
