//! A PKI directory and the operator's commands on it: `cuhk init`, `issue-server`, `revoke`,
//! `crl`, and the files `cuhk serve` reads.

use super::{io_err, CuhkError, CA_LIFETIME, CRL_VALIDITY, SERVER_LIFETIME};
use crate::registrar::Registrar;
use crate::store::sqlite::SqliteRegistrar;
use crate::store::{PgRegistrar, RegistrarRecords};
use crate::translog::LogWriter;
use handin_core::logs::certificates_origin;
use handin_core::pki::{
    from_pem_or_der, to_pem, Ca, Fingerprint, PersonId, Revocations, ServerName,
};
use handin_core::{Identity, Role, ServerConfig};
use handin_files::dirlock::DirLock;
use handin_files::{self as fsio, PRIVATE, PUBLIC};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// The files of a PKI directory, and where its records are: `cuhk.db` in it, or PostgreSQL
/// ([`PkiDir::with_db`]) shared by several CUHK nodes, each with a copy of the directory.
#[derive(Debug, Clone)]
pub struct PkiDir {
    root: PathBuf,
    db: Option<String>,
}

impl PkiDir {
    /// The directory at `root`, its records in `cuhk.db`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            db: None,
        }
    }

    /// The records in the PostgreSQL database at `url` instead of `cuhk.db` (`None`: `cuhk.db`).
    pub fn with_db(mut self, url: Option<String>) -> Self {
        self.db = url;
        self
    }

    /// The PostgreSQL URL of the records, if they are there.
    pub fn db_url(&self) -> Option<&str> {
        self.db.as_deref()
    }

    /// The records themselves, on a connection of their own (for a node following the CRL).
    pub fn records(&self) -> Result<Box<dyn RegistrarRecords>, CuhkError> {
        self.check()?;
        let records: Box<dyn RegistrarRecords> = match &self.db {
            Some(url) => Box::new(PgRegistrar::open(url).map_err(|e| CuhkError(e.to_string()))?),
            None => {
                Box::new(SqliteRegistrar::open(&self.db()).map_err(|e| CuhkError(e.to_string()))?)
            }
        };
        Ok(records)
    }

    /// `ca.crt`: the root certificate, to hand to students and Blackboard.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.crt")
    }
    /// `ca.key` (0600).
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }
    /// `cuhk.crt`: the enrollment server's certificate.
    pub fn cuhk_cert(&self) -> PathBuf {
        self.root.join("cuhk.crt")
    }
    /// `cuhk.key` (0600).
    pub fn cuhk_key(&self) -> PathBuf {
        self.root.join("cuhk.key")
    }
    /// `crl.pem`: the current CRL.
    pub fn crl(&self) -> PathBuf {
        self.root.join("crl.pem")
    }
    /// `cuhk.db`: roster, codes, issued certificates.
    pub fn db(&self) -> PathBuf {
        self.root.join("cuhk.db")
    }

    /// Refuses a directory that `cuhk init` did not make (a typo in `--dir` must not make a new
    /// empty roster): it must exist and hold the CA's certificate.
    pub fn check(&self) -> Result<(), CuhkError> {
        let root = self.root.display();
        if !self.root.is_dir() {
            return Err(CuhkError(format!(
                "the PKI directory {root} does not exist: create it with `cuhk init --dir {root}`, \
                 or check --dir"
            )));
        }
        if self.ca_cert().symlink_metadata().is_err() {
            return Err(CuhkError(format!(
                "{root} is not a PKI directory (it has no ca.crt): create one with `cuhk init \
                 --dir {root}`, or check --dir"
            )));
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, CuhkError> {
        std::fs::read(path).map_err(|e| {
            CuhkError(format!(
                "cannot read {}: {e}; run `cuhk init --dir {}` first",
                path.display(),
                self.root.display()
            ))
        })
    }

    /// Creates the directory (mode 0700, also if it already existed with a wider mode), the CA,
    /// CUHK's own server certificate for `sans`, an empty CRL and the database.
    pub fn init(&self, sans: &[String], now: SystemTime) -> Result<(), CuhkError> {
        if self.ca_key().exists() {
            return Err(CuhkError(format!(
                "{} already holds a CA; refusing to overwrite it (use another --dir)",
                self.root.display()
            )));
        }
        // Records in PostgreSQL must be nobody's yet: checked before anything is written.
        let pg = match &self.db {
            Some(url) => {
                let records = PgRegistrar::open(url).map_err(|e| CuhkError(e.to_string()))?;
                let taken = records.latest_crl().map_err(|e| CuhkError(e.to_string()))?;
                if taken.is_some() {
                    return Err(CuhkError(
                        "the database of --db already holds another CA's records: give each CA a \
                         database of its own, and copy the PKI directory (not `cuhk init` again) \
                         to every node of this one"
                            .into(),
                    ));
                }
                Some(records)
            }
            None => None,
        };
        let before = fsio::create_private_dir(&self.root).map_err(io_err(format!(
            "creating {} (mode 0700)",
            self.root.display()
        )))?;
        if let Some(mode) = before.filter(|m| m & 0o077 != 0) {
            tracing::warn!(
                "{} was mode {mode:04o}; made it 0700, as it will hold the CA's private key",
                self.root.display()
            );
        }
        let ca = Ca::generate("CUHK Root CA", now, CA_LIFETIME).map_err(|e| CuhkError(e.0))?;
        fsio::write_new(&self.ca_key(), ca.key_pem().as_bytes(), PRIVATE)
            .map_err(io_err(format!("writing {}", self.ca_key().display())))?;
        fsio::write_atomic(&self.ca_cert(), ca.cert_pem().as_bytes(), PUBLIC)
            .map_err(io_err(format!("writing {}", self.ca_cert().display())))?;
        let names: Vec<ServerName> = sans.iter().map(|s| ServerName::parse(s)).collect();
        let cuhk = ca
            .issue_server("CUHK enrollment", &names, now, SERVER_LIFETIME)
            .map_err(|e| CuhkError(e.0))?;
        fsio::write_atomic(&self.cuhk_key(), cuhk.key_pem.as_bytes(), PRIVATE)
            .map_err(io_err(format!("writing {}", self.cuhk_key().display())))?;
        fsio::write_atomic(
            &self.cuhk_cert(),
            format!("{}{}", cuhk.cert_pem, ca.cert_pem()).as_bytes(),
            PUBLIC,
        )
        .map_err(io_err(format!("writing {}", self.cuhk_cert().display())))?;
        let mut registrar = match pg {
            Some(records) => Registrar::with_records(Box::new(records)),
            None => Registrar::create(&self.db()).map_err(|e| CuhkError(e.to_string()))?,
        }
        .with_log(self.log_writer()?);
        // CUHK's own certificate is the log's first entry.
        registrar
            .log_certificate(&cuhk.cert)
            .map_err(|e| CuhkError(format!("logging CUHK's certificate: {e}")))?;
        self.publish_crl(&ca, &mut registrar, now)?;
        Ok(())
    }

    /// The SHA-256 fingerprint of the root certificate (`ca.crt`), which enrolling clients pin
    /// (`--fingerprint`).
    pub fn fingerprint(&self) -> Result<Fingerprint, CuhkError> {
        let pem = self.read(&self.ca_cert())?;
        let der = from_pem_or_der(&pem, "CERTIFICATE")
            .ok()
            .and_then(|mut certs| (!certs.is_empty()).then(|| certs.remove(0)))
            .ok_or_else(|| {
                CuhkError(format!("{} holds no certificate", self.ca_cert().display()))
            })?;
        Ok(Fingerprint::of(&der))
    }

    /// The CA, loaded from `ca.crt` and `ca.key`.
    pub fn ca(&self) -> Result<Ca, CuhkError> {
        self.check()?;
        let cert = self.read(&self.ca_cert())?;
        let key = self.read(&self.ca_key())?;
        let text = |b: Vec<u8>, what: &str| {
            String::from_utf8(b).map_err(|_| CuhkError(format!("{what} is not PEM text")))
        };
        Ca::from_pem(&text(cert, "ca.crt")?, &text(key, "ca.key")?)
            .map_err(|e| CuhkError(format!("loading the CA: {e}")))
    }

    /// Locks the directory for a server (`cuhk serve`) for as long as the lock lives; refuses,
    /// naming the holder, if another server holds it. The operator's commands (`roster add`,
    /// `revoke`, `crl`) do not take it: they work alongside the server.
    pub fn lock_for_serving(&self, now: SystemTime) -> Result<DirLock, CuhkError> {
        DirLock::acquire(&self.root, now).map_err(|e| CuhkError(e.to_string()))
    }

    /// The registrar over the records (refused if the directory is not one `cuhk init` made).
    pub fn registrar(&self) -> Result<Registrar, CuhkError> {
        self.check()?;
        let registrar = match &self.db {
            Some(_) => Registrar::with_records(self.records()?),
            None => Registrar::open(&self.db()).map_err(|e| CuhkError(e.to_string()))?,
        };
        let writer = LogWriter::open_for(
            &self.log_key(),
            &certificates_origin(&crate::translog::host_name()),
            registrar.records(),
        )
        .map_err(CuhkError)?;
        Ok(registrar.with_log(Arc::new(writer)))
    }

    /// The file of the log's key (`log.key`): made on first use; nodes sharing the PKI
    /// directory's copy share the key.
    pub fn log_key(&self) -> PathBuf {
        self.root.join("log.key")
    }

    /// The writer of CUHK's log of certificates and revocations, with the key in
    /// [`PkiDir::log_key`].
    pub fn log_writer(&self) -> Result<Arc<LogWriter>, CuhkError> {
        LogWriter::open(
            &self.log_key(),
            &certificates_origin(&crate::translog::host_name()),
        )
        .map(Arc::new)
        .map_err(CuhkError)
    }

    /// Issues a server certificate and key for `names` into the given files.
    pub fn issue_server(
        &self,
        name: &str,
        sans: &[String],
        out_cert: &Path,
        out_key: &Path,
        now: SystemTime,
    ) -> Result<(), CuhkError> {
        if sans.is_empty() {
            return Err(CuhkError(
                "give at least one --san (a DNS name or an IP address)".into(),
            ));
        }
        let ca = self.ca()?;
        let names: Vec<ServerName> = sans.iter().map(|s| ServerName::parse(s)).collect();
        let issued = ca
            .issue_server(name, &names, now, SERVER_LIFETIME)
            .map_err(|e| CuhkError(e.0))?;
        // Logged before it is handed out, like every certificate CUHK issues.
        self.registrar()?
            .log_certificate(&issued.cert)
            .map_err(|e| CuhkError(format!("logging the certificate: {e}")))?;
        fsio::write_atomic(out_key, issued.key_pem.as_bytes(), PRIVATE)
            .map_err(io_err(format!("writing {}", out_key.display())))?;
        fsio::write_atomic(
            out_cert,
            format!("{}{}", issued.cert_pem, ca.cert_pem()).as_bytes(),
            PUBLIC,
        )
        .map_err(io_err(format!("writing {}", out_cert.display())))?;
        Ok(())
    }

    /// Builds a CRL of every revoked certificate, signed by the CA, keeps it in the records
    /// (where every node of several finds it) and writes it atomically to `crl.pem`. Returns
    /// the PEM.
    pub fn publish_crl(
        &self,
        ca: &Ca,
        registrar: &mut Registrar,
        now: SystemTime,
    ) -> Result<String, CuhkError> {
        let (number, pem) = self.signed_crl(ca, registrar, now)?;
        registrar
            .put_crl(number, pem.as_bytes())
            .map_err(|e| CuhkError(e.to_string()))?;
        fsio::write_atomic(&self.crl(), pem.as_bytes(), PUBLIC)
            .map_err(io_err(format!("writing {}", self.crl().display())))?;
        Ok(pem)
    }

    /// A freshly signed CRL of every revoked certificate (not written anywhere).
    pub fn current_crl(
        &self,
        ca: &Ca,
        registrar: &mut Registrar,
        now: SystemTime,
    ) -> Result<String, CuhkError> {
        Ok(self.signed_crl(ca, registrar, now)?.1)
    }

    /// A freshly signed CRL and its number.
    fn signed_crl(
        &self,
        ca: &Ca,
        registrar: &mut Registrar,
        now: SystemTime,
    ) -> Result<(u64, String), CuhkError> {
        // The number first, the list after: a CRL with a higher number (the one every node
        // follows) then lists every revocation whose own CRL took a lower one, whatever order
        // two operators' commands interleave in.
        let number = registrar
            .next_crl_number()
            .map_err(|e| CuhkError(e.to_string()))?;
        let revoked = registrar.revoked().map_err(|e| CuhkError(e.to_string()))?;
        let crl = ca
            .crl(&revoked, number, now, CRL_VALIDITY)
            .map_err(|e| CuhkError(e.0))?;
        Ok((number, to_pem("X509 CRL", &crl)))
    }

    /// Revokes every certificate of `id` (a student ID or a staff login) and republishes the
    /// CRL. Returns how many.
    pub fn revoke(
        &self,
        id: &(impl Clone + Into<PersonId>),
        now: SystemTime,
    ) -> Result<usize, CuhkError> {
        let ca = self.ca()?;
        let mut registrar = self.registrar()?;
        let n = registrar
            .revoke_person(id, now)
            .map_err(|e| CuhkError(e.to_string()))?;
        self.publish_crl(&ca, &mut registrar, now)?;
        Ok(n)
    }

    /// The enrollment server's certificate chain and key (`cuhk.crt`, `cuhk.key`), the root
    /// last: a client that holds only the root's fingerprint takes the root from the handshake.
    /// `cuhk init` writes the root into `cuhk.crt`; it is added here if it is not there.
    pub fn server_identity(&self, ca: &Ca) -> Result<Identity, CuhkError> {
        let mut identity = Identity::from_pem(
            &self.read(&self.cuhk_cert())?,
            &self.read(&self.cuhk_key())?,
        )
        .map_err(|e| CuhkError(format!("loading CUHK's certificate: {e}")))?;
        if !identity.chain.iter().any(|c| c == ca.cert()) {
            identity.chain.push(ca.cert().clone());
        }
        Ok(identity)
    }

    /// The enrollment server's TLS configuration (CUHK's certificate, the current CRL).
    pub fn server_config(&self) -> Result<ServerConfig, CuhkError> {
        let ca = self.ca()?;
        let identity = self.server_identity(&ca)?;
        let revocations = Revocations::from_crl(&self.read(&self.crl())?, ca.cert())
            .map_err(|e| CuhkError(format!("loading {}: {e}", self.crl().display())))?;
        ServerConfig::new(Role::Enroll, ca.cert().clone(), identity, revocations)
            .map_err(|e| CuhkError(format!("TLS configuration: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn nodes_on_postgres_share_records_and_follow_one_crl() {
        let url = crate::store::postgres::tests::fresh_url("pki_dir");
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let first = PkiDir::new(&dir.path().join("a")).with_db(Some(url.clone()));
        first.init(&["localhost".into()], now).unwrap();
        // A second CA on the same database is refused: its records are another CA's.
        let e = PkiDir::new(&dir.path().join("b"))
            .with_db(Some(url.clone()))
            .init(&["localhost".into()], now)
            .unwrap_err();
        assert!(e.0.contains("already holds another CA's records"), "{e}");
        assert!(!dir.path().join("b").exists(), "nothing written");
        // A copy of the directory on another node sees the same roster and the latest CRL.
        let student = PersonId::parse("1155000001").unwrap();
        let code = first
            .registrar()
            .unwrap()
            .add_person(&student, now)
            .unwrap();
        assert!(!code.is_empty());
        let copy = PkiDir::new(&dir.path().join("a")).with_db(Some(url));
        assert!(copy.registrar().unwrap().on_roster(&student).unwrap());
        let before = copy.records().unwrap().latest_crl().unwrap().unwrap();
        first.revoke(&student, now).unwrap();
        let after = copy.records().unwrap().latest_crl().unwrap().unwrap();
        assert!(after.0 > before.0, "{} then {}", before.0, after.0);
        assert_eq!(after.1, std::fs::read(first.crl()).unwrap());
    }

    #[test]
    fn init_makes_an_existing_directory_private_as_it_does_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("pki");
        std::fs::create_dir(&existing).unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).unwrap();
        PkiDir::new(&existing)
            .init(&["localhost".into()], SystemTime::now())
            .unwrap();
        assert_eq!(mode(&existing), 0o700);
        assert_eq!(mode(&existing.join("ca.key")), 0o600);

        let new = dir.path().join("new");
        PkiDir::new(&new)
            .init(&["localhost".into()], SystemTime::now())
            .unwrap();
        assert_eq!(mode(&new), 0o700);
    }

    #[test]
    fn cuhk_presents_the_root_its_fingerprint_names() {
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiDir::new(&dir.path().join("pki"));
        pki.init(&["localhost".into()], SystemTime::now()).unwrap();
        let ca = pki.ca().unwrap();
        assert_eq!(pki.fingerprint().unwrap(), Fingerprint::of(ca.cert()));
        let chain = pki.server_identity(&ca).unwrap().chain;
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.last(), Some(ca.cert()));
        // A cuhk.crt without the root (written by hand, say) still goes out with it.
        let leaf = to_pem("CERTIFICATE", &chain[0]);
        std::fs::write(pki.cuhk_cert(), leaf).unwrap();
        let chain = pki.server_identity(&ca).unwrap().chain;
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.last(), Some(ca.cert()));
    }
}
