//! The reference applications of the harness, kept in memory: CUHK's registrar and
//! Blackboard's board. Their decisions are the production ones ([`crate::rules`]); only the
//! records are kept in memory, so the core's tests and the fuzz targets exercise the rules
//! that serve students.

use crate::enroll::{EnrollServer, EnrollServerEvent};
use crate::error::{Refusal, RefusalCode};
use crate::msg::{FeedbackFile, GradeEntry, LogRow, SubmissionEntry, UploadOffer};
use crate::pki::{unix_secs, Ca, CertificateInfo, PersonId, RevokedSerial};
use crate::receipt::{Receipt, ReceiptBody, ReceiptSigner};
use crate::rules::{
    self,
    enrollment::{CertStanding, CodeStanding},
    lateness::Deadline,
    quota::{Quota, Usage},
};
use crate::submit::{sha256, SubmitServer, SubmitServerEvent};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// CUHK's application in memory: roster with one-time codes, issued and revoked certificates.
/// Its decisions are the production ones ([`rules::enrollment`]); only the records are kept in
/// memory.
#[derive(Debug)]
pub struct Registrar {
    ca: Arc<Ca>,
    /// By student ID or staff login: the code (as compared, normalized) and whether it was
    /// used.
    roster: HashMap<PersonId, (String, bool)>,
    issued: Vec<(PersonId, CertificateInfo)>,
    revoked: Vec<RevokedSerial>,
    /// Lifetime of issued student certificates.
    pub lifetime: Duration,
    next_code: u64,
}

impl Registrar {
    /// A registrar signing with `ca`.
    pub fn new(ca: Arc<Ca>) -> Self {
        Self {
            ca,
            roster: HashMap::new(),
            issued: Vec::new(),
            revoked: Vec::new(),
            lifetime: crate::pki::DEFAULT_STUDENT_LIFETIME,
            next_code: 0,
        }
    }

    /// Adds `id` with a fresh code (deterministic here: tests need no randomness).
    pub fn add(&mut self, id: &str) -> String {
        self.next_code += 1;
        let code = format!("code-{:04}-{id}", self.next_code);
        let id = PersonId::parse(id).expect("test IDs are student IDs or staff logins");
        self.roster
            .insert(id, (rules::enrollment::normalize_code(&code), false));
        code
    }

    /// Revokes every certificate issued to `id`.
    pub fn revoke(&mut self, id: &str, now: SystemTime) {
        for (who, info) in &self.issued {
            if who.as_str() == id {
                self.revoked.push(RevokedSerial {
                    serial: info.serial.clone(),
                    revoked_at: now,
                });
            }
        }
    }

    /// Every revoked certificate, in order of revocation.
    pub fn revoked(&self) -> &[RevokedSerial] {
        &self.revoked
    }

    /// The current CRL, DER.
    pub fn crl(&self, now: SystemTime) -> Vec<u8> {
        self.ca
            .crl(
                &self.revoked,
                self.revoked.len() as u64 + 1,
                now,
                Duration::from_secs(86_400),
            )
            .expect("CRL")
            .to_vec()
    }

    /// What the records say of `id`'s certificate with `serial`.
    fn standing(&self, id: &PersonId, serial: &[u8]) -> Option<CertStanding> {
        let (_, info) = self
            .issued
            .iter()
            .find(|(who, info)| who == id && info.serial == serial)?;
        Some(CertStanding {
            not_before: unix_secs(info.not_before),
            not_after: unix_secs(info.not_after),
            revoked: self.revoked.iter().any(|r| r.serial == serial),
        })
    }

    /// Answers every pending event of `server`; returns whether it answered anything.
    pub fn serve(&mut self, server: &mut EnrollServer, now: SystemTime) -> bool {
        let mut acted = false;
        while let Some(ev) = server.poll_event() {
            acted = true;
            match ev {
                EnrollServerEvent::EnrollRequested {
                    person: student_id,
                    code,
                    csr,
                } => {
                    let given = rules::enrollment::normalize_code(&code);
                    let standing = match self.roster.get(&student_id) {
                        Some((want, used)) => CodeStanding {
                            matches: *want == given,
                            used: *used,
                        },
                        None => CodeStanding {
                            matches: false,
                            used: false,
                        },
                    };
                    match rules::enrollment::judge_code(standing) {
                        Ok(()) => {
                            if self.sign(server, &student_id, &csr, now) {
                                if let Some((_, used)) = self.roster.get_mut(&student_id) {
                                    *used = true;
                                }
                            }
                        }
                        Err(r) => {
                            let _ = server.refuse(r);
                        }
                    }
                }
                EnrollServerEvent::RenewRequested {
                    person: student_id,
                    current,
                    csr,
                } => {
                    let standing = self.standing(&student_id, &current.serial);
                    let serial = crate::pki::serial_hex(&current.serial);
                    match rules::enrollment::judge_renewal(
                        &student_id,
                        &serial,
                        standing,
                        unix_secs(now),
                    ) {
                        Ok(()) => {
                            self.sign(server, &student_id, &csr, now);
                        }
                        Err(r) => {
                            let _ = server.refuse(r);
                        }
                    }
                }
                EnrollServerEvent::CrlRequested => {
                    let crl = self.crl(now);
                    let _ = server.send_crl(&crl);
                }
                _ => acted = false,
            }
        }
        acted
    }

    /// Signs and records a certificate; returns whether one was issued.
    fn sign(
        &mut self,
        server: &mut EnrollServer,
        id: &PersonId,
        csr: &crate::pki::CheckedCsr,
        now: SystemTime,
    ) -> bool {
        match self.ca.issue_person(csr, now, self.lifetime) {
            Ok(cert) => {
                if let Ok(info) = crate::pki::certificate_info(&cert) {
                    self.issued.push((id.clone(), info));
                }
                server.issue(&[cert, self.ca.cert().clone()]).is_ok()
            }
            Err(e) => {
                let _ = server.refuse(Refusal::new(RefusalCode::Internal, e.0));
                false
            }
        }
    }
}

/// An assignment of the in-memory board.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terms {
    pub(crate) due: u64,
    pub(crate) max_size: u64,
    pub(crate) cutoff: Option<u64>,
    pub(crate) open: bool,
}

impl Terms {
    /// Its timing, as the rules read it.
    pub(crate) fn window(&self) -> rules::window::Window {
        rules::window::Window {
            due: self.due,
            cutoff: self.cutoff,
            open: self.open,
        }
    }
}

/// A course of the in-memory board: its title, staff list and class list.
#[derive(Debug, Clone, Default)]
pub struct Course {
    /// The course's title.
    pub title: String,
    /// Who may manage it: staff logins and TAs' student IDs.
    pub staff: BTreeSet<String>,
    /// Who may submit to it; empty: anyone with a student certificate (as before courses had
    /// class lists).
    pub students: BTreeSet<String>,
}

/// A grade kept by the in-memory board.
#[derive(Debug, Clone)]
pub(crate) struct Graded {
    pub(crate) score: String,
    pub(crate) comment: String,
    pub(crate) feedback: Option<(FeedbackFile, Vec<u8>)>,
}

/// (course, assignment)
pub(crate) type AKey = (String, String);
/// (course, assignment, student)
pub(crate) type SKey = (String, String, String);

/// Blackboard's application in memory. Its decisions are the production ones
/// ([`rules::submission`], [`rules::lateness`], [`rules::quota`], [`rules::visibility`]); only
/// the records are kept in memory.
#[derive(Debug)]
pub struct Board {
    signer: ReceiptSigner,
    pub(crate) assignments: HashMap<AKey, Terms>,
    /// The courses, by code. A course that is not here has no staff and no class list.
    pub courses: BTreeMap<String, Course>,
    pub(crate) extensions: HashMap<SKey, u64>,
    pub(crate) grades: HashMap<SKey, Graded>,
    pub(crate) released: HashMap<AKey, u64>,
    /// The receipt of every stored submission, by id.
    pub receipts: HashMap<String, Receipt>,
    /// Every staff action, by course.
    pub log: Vec<(String, LogRow)>,
    /// The bound per student and assignment.
    pub quota: Quota,
    /// Every stored submission with its bytes.
    pub stored: Vec<(SubmissionEntry, Vec<u8>)>,
}

/// Per-connection state of the board: the upload being received.
#[derive(Debug, Default)]
pub struct BoardSession {
    upload: Option<Vec<u8>>,
}

impl Board {
    /// A board signing receipts with `signer`.
    pub fn new(signer: ReceiptSigner) -> Self {
        Self {
            signer,
            assignments: HashMap::new(),
            courses: BTreeMap::new(),
            extensions: HashMap::new(),
            grades: HashMap::new(),
            released: HashMap::new(),
            receipts: HashMap::new(),
            log: Vec::new(),
            quota: Quota::default(),
            stored: Vec::new(),
        }
    }

    /// Adds an assignment due at `due` (Unix seconds) accepting files up to `max_size`.
    pub fn add_assignment(&mut self, course: &str, assignment: &str, due: u64, max_size: u64) {
        self.assignments.insert(
            (course.into(), assignment.into()),
            Terms {
                due,
                max_size,
                cutoff: None,
                open: true,
            },
        );
    }

    /// Adds a course with a staff list and a class list (empty: anyone may submit).
    pub fn add_course(&mut self, course: &str, title: &str, staff: &[&str], students: &[&str]) {
        self.courses.insert(
            course.into(),
            Course {
                title: title.into(),
                staff: staff.iter().map(|s| s.to_string()).collect(),
                students: students.iter().map(|s| s.to_string()).collect(),
            },
        );
    }

    fn terms(&self, offer: &UploadOffer) -> Option<Terms> {
        self.assignments
            .get(&(offer.course.clone(), offer.assignment.clone()))
            .copied()
    }

    /// What `student` stores for the offer's assignment.
    fn usage(&self, student: &str, offer: &UploadOffer) -> Usage {
        let mine = self.stored.iter().filter(|(e, _)| {
            e.student_id == student && e.course == offer.course && e.assignment == offer.assignment
        });
        mine.fold(Usage::default(), |u, (e, _)| Usage {
            submissions: u.submissions + 1,
            bytes: u.bytes.saturating_add(e.size),
        })
    }

    /// What the records say about `student` and `course` ([`rules::course`]).
    pub(crate) fn membership(&self, person: &str, course: &str) -> rules::course::Membership {
        let c = self.courses.get(course);
        rules::course::Membership {
            course_exists: c.is_some(),
            staff: c.is_some_and(|c| c.staff.contains(person)),
            has_class_list: c.is_some_and(|c| !c.students.is_empty()),
            on_class_list: c.is_some_and(|c| c.students.contains(person)),
        }
    }

    /// Whether `offer` fits its assignment and the quota as the records stand now: checked
    /// when it arrives and again when it is recorded, as Blackboard does.
    fn admit(&self, student: &str, offer: &UploadOffer) -> Result<Terms, Refusal> {
        let terms = self.terms(offer);
        rules::submission::admit(offer, terms.map(|t| t.max_size))?;
        self.quota.check(self.usage(student, offer), offer.size)?;
        terms.ok_or_else(|| Refusal::new(RefusalCode::Internal, "the assignment went missing"))
    }

    /// Whether `offer` from `student`, arriving at `now`, may be taken: [`Board::admit`], then
    /// the class list ([`rules::course::check_may_submit`]) and the assignment's window (open,
    /// cut-off moved by an extension: [`rules::window::Window::admit`]), as Blackboard decides.
    fn admit_offer(&self, student: &str, offer: &UploadOffer, now: u64) -> Result<Terms, Refusal> {
        let terms = self.admit(student, offer)?;
        let sid = crate::pki::StudentId::parse(student)
            .map_err(|_| Refusal::new(RefusalCode::NotAuthenticated, "not a student"))?;
        let m = self.membership(student, &offer.course);
        rules::course::check_may_submit(&sid, &offer.course, m)?;
        let ext = self
            .extensions
            .get(&(
                offer.course.clone(),
                offer.assignment.clone(),
                student.to_owned(),
            ))
            .copied();
        terms.window().admit(now, ext)?;
        Ok(terms)
    }

    /// Records a finished upload (checked again against the assignment and the quota, as
    /// Blackboard does when it commits) and returns its receipt body.
    fn record(
        &mut self,
        student: &str,
        offer: UploadOffer,
        received_at: SystemTime,
        bytes: Vec<u8>,
    ) -> Result<ReceiptBody, Refusal> {
        let terms = self.admit(student, &offer)?;
        let received = unix_secs(received_at);
        let due = self.due_for(&offer.course, &offer.assignment, student, terms.due);
        let earlier = self
            .stored
            .iter()
            .filter(|(e, _)| {
                e.student_id == student
                    && e.course == offer.course
                    && e.assignment == offer.assignment
                    && e.file_name == offer.file_name
            })
            .count();
        let entry = SubmissionEntry {
            id: format!("s{}", self.stored.len() + 1),
            student_id: student.to_owned(),
            course: offer.course,
            assignment: offer.assignment,
            file_name: offer.file_name,
            size: offer.size,
            sha256: sha256(&bytes),
            received_at: received,
            late: Deadline::new(due).is_late(received),
            version: rules::submission::next_version(u32::try_from(earlier).unwrap_or(u32::MAX)),
        };
        let body = ReceiptBody::for_entry(&entry, due);
        self.stored.push((entry, bytes));
        Ok(body)
    }

    /// Answers every pending event of `server`; returns whether it answered a request.
    pub fn serve(&mut self, server: &mut SubmitServer, session: &mut BoardSession) -> bool {
        let mut acted = false;
        while let Some(ev) = server.poll_event() {
            let me = server.student().cloned();
            let student = me.as_ref().map(|s| s.to_string()).unwrap_or_default();
            match ev {
                SubmitServerEvent::UploadRequested(offer) => {
                    acted = true;
                    let now = unix_secs(server.engine.wall());
                    match self.admit_offer(&student, &offer, now) {
                        Err(r) => {
                            let _ = server.refuse(r);
                        }
                        Ok(_) => {
                            session.upload = Some(Vec::new());
                            let _ = server.accept_upload();
                        }
                    }
                }
                SubmitServerEvent::UploadData(d) => {
                    if let Some(buf) = session.upload.as_mut() {
                        buf.extend_from_slice(&d);
                    }
                }
                SubmitServerEvent::UploadAborted { .. } => session.upload = None,
                SubmitServerEvent::UploadComplete { offer, received_at } => {
                    acted = true;
                    let bytes = session.upload.take().unwrap_or_default();
                    match self.record(&student, offer, received_at, bytes) {
                        Ok(body) => {
                            let receipt = self.signer.sign(&body).expect("signing");
                            let _ = server.send_receipt(&receipt);
                            self.receipts.insert(body.id.clone(), receipt);
                        }
                        Err(r) => {
                            let _ = server.refuse(r);
                        }
                    }
                }
                SubmitServerEvent::ListRequested { course } => {
                    acted = true;
                    if let Some(me) = &me {
                        for (e, _) in &self.stored {
                            if rules::visibility::listed(
                                me,
                                course.as_deref(),
                                &e.student_id,
                                &e.course,
                            ) {
                                let _ = server.send_list_entry(e);
                            }
                        }
                    }
                    let _ = server.finish_list();
                }
                SubmitServerEvent::FetchRequested { id } => {
                    acted = true;
                    // Deliberately looked up by id alone, without `rules::visibility`: the core
                    // must refuse another student's submission even when the application
                    // finds it.
                    match self.stored.iter().find(|(e, _)| e.id == id) {
                        None => {
                            let _ = server
                                .refuse(Refusal::new(RefusalCode::NotFound, "no such submission"));
                        }
                        Some((e, bytes)) => {
                            if server.start_fetch(e).is_ok() {
                                let _ = server.send_fetch_data(bytes);
                                let _ = server.finish_fetch();
                            }
                        }
                    }
                }
                SubmitServerEvent::GradesRequested { course } => {
                    acted = true;
                    for g in self.released_grades(&student, course.as_deref()) {
                        let _ = server.send_grade(&g);
                    }
                    let _ = server.finish_grades();
                }
                SubmitServerEvent::FeedbackRequested { course, assignment } => {
                    acted = true;
                    let key = (course.clone(), assignment.clone());
                    let released = self.released.contains_key(&key);
                    let file = self
                        .grades
                        .get(&(course, assignment, student.clone()))
                        .and_then(|g| g.feedback.as_ref())
                        .filter(|_| released);
                    match file {
                        Some((file, bytes)) => {
                            if server.start_feedback(file).is_ok() {
                                let _ = server.send_fetch_data(bytes);
                                let _ = server.finish_fetch();
                            }
                        }
                        None => {
                            let _ = server.refuse(Refusal::new(
                                RefusalCode::NotFound,
                                "no released feedback file for that assignment",
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        acted
    }

    /// The due time in force for `student`: an extension's, or the assignment's `due`.
    pub(crate) fn due_for(&self, course: &str, assignment: &str, student: &str, due: u64) -> u64 {
        let ext = self
            .extensions
            .get(&(course.into(), assignment.into(), student.into()))
            .copied();
        rules::window::Window {
            due,
            cutoff: None,
            open: true,
        }
        .deadline(ext)
        .due()
    }

    /// `student`'s released grades, optionally of one course, in a stable order.
    fn released_grades(&self, student: &str, course: Option<&str>) -> Vec<GradeEntry> {
        let mut out: Vec<GradeEntry> = self
            .grades
            .iter()
            .filter(|((c, _, s), _)| s == student && course.is_none_or(|only| only == c))
            .filter_map(|((c, a, _), g)| {
                let released_at = *self.released.get(&(c.clone(), a.clone()))?;
                Some(GradeEntry {
                    course: c.clone(),
                    assignment: a.clone(),
                    score: g.score.clone(),
                    comment: g.comment.clone(),
                    feedback: g.feedback.as_ref().map(|(f, _)| f.clone()),
                    released_at,
                })
            })
            .collect();
        out.sort_by(|x, y| (&x.course, &x.assignment).cmp(&(&y.course, &y.assignment)));
        out
    }
}
