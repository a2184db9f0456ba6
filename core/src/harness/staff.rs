//! The board's staff service in memory: who may do what in a course (its staff list), the
//! assignments' terms, extensions, grades with feedback files, releases and the action log.
//! Lateness is [`rules::lateness`]'s; the current submission of a student is the latest
//! version of each file name.

use super::apps::{Board, Graded, Terms};
use crate::error::{Refusal, RefusalCode};
use crate::msg::{CourseRow, FeedbackFile, LogRow, StatusRow, SubmissionEntry, SubmissionState};
use crate::pki::{unix_secs, PersonId};
use crate::rules::current::Standing;
use crate::rules::lateness::Deadline;
use crate::staff::{StaffRequest, StaffServer, StaffServerEvent};
use std::collections::BTreeSet;
use std::time::SystemTime;

/// Per-connection state of the board's staff service: the feedback file being received.
#[derive(Debug, Default)]
pub struct StaffSession {
    feedback: Option<Vec<u8>>,
}

fn not_staff(course: &str) -> Refusal {
    Refusal::new(
        RefusalCode::NotStaff,
        format!("you are not on the staff list of {course}"),
    )
}

fn no_assignment(course: &str, assignment: &str) -> Refusal {
    Refusal::new(
        RefusalCode::NoSuchAssignment,
        format!("there is no assignment {assignment} in course {course}"),
    )
}

impl Board {
    /// Whether `person` is on the staff list of `course` (never of a course that does not
    /// exist).
    pub fn is_staff(&self, person: &PersonId, course: &str) -> bool {
        let m = self.membership(person.as_str(), course);
        crate::rules::course::check_staff(person, course, m).is_ok()
    }

    /// Every stored feedback file with its bytes.
    pub fn feedback_files(&self) -> impl Iterator<Item = (&FeedbackFile, &[u8])> {
        self.grades
            .values()
            .filter_map(|g| g.feedback.as_ref().map(|(f, b)| (f, b.as_slice())))
    }

    /// Forgets the staff records (grades, extensions, releases, the log), keeping courses,
    /// assignments and submissions: for a fuzz target that reuses one board.
    pub fn forget_staff_records(&mut self) {
        self.grades.clear();
        self.extensions.clear();
        self.released.clear();
        self.log.clear();
    }

    /// `student`'s current submission to an assignment: the latest version of each file name.
    pub fn current(&self, course: &str, assignment: &str, student: &str) -> Vec<SubmissionEntry> {
        let mine: Vec<&SubmissionEntry> = self
            .stored
            .iter()
            .map(|(e, _)| e)
            .filter(|e| e.student_id == student && e.course == course && e.assignment == assignment)
            .collect();
        crate::rules::current::current(&mine)
            .into_iter()
            .map(|e| (*e).clone())
            .collect()
    }

    fn status_rows(&self, course: &str, assignment: &str, terms: Terms) -> Vec<StatusRow> {
        let class: BTreeSet<String> = self
            .courses
            .get(course)
            .map(|c| c.students.clone())
            .unwrap_or_default();
        let mut students = class.clone();
        for (e, _) in &self.stored {
            if e.course == course && e.assignment == assignment {
                students.insert(e.student_id.clone());
            }
        }
        students
            .into_iter()
            .map(|student| {
                let due_at = self.due_for(course, assignment, &student, terms.due);
                let deadline = Deadline::new(due_at);
                let mut files = self.current(course, assignment, &student);
                for f in &mut files {
                    f.late = deadline.is_late(f.received_at);
                }
                let refs: Vec<&SubmissionEntry> = files.iter().collect();
                let state = match crate::rules::current::standing(&refs, deadline, 0) {
                    Standing::Nothing => SubmissionState::Nothing,
                    Standing::Late => SubmissionState::Late,
                    Standing::OnTime => SubmissionState::OnTime,
                };
                StatusRow {
                    on_class_list: class.contains(&student),
                    extended: self.extensions.contains_key(&(
                        course.into(),
                        assignment.into(),
                        student.clone(),
                    )),
                    student_id: student,
                    due_at,
                    state,
                    files,
                    committed_at: None,
                }
            })
            .collect()
    }

    fn record_action(
        &mut self,
        course: &str,
        at: SystemTime,
        actor: &PersonId,
        action: &str,
        student: Option<&str>,
        detail: String,
    ) {
        self.log.push((
            course.to_owned(),
            LogRow {
                at: unix_secs(at),
                actor: actor.to_string(),
                action: action.to_owned(),
                student: student.map(str::to_owned),
                detail,
            },
        ));
    }

    /// Answers every pending event of a staff `server` at wall time `now`; returns whether it
    /// answered a request.
    pub fn serve_staff(
        &mut self,
        server: &mut StaffServer,
        session: &mut StaffSession,
        now: SystemTime,
    ) -> bool {
        let mut acted = false;
        while let Some(ev) = server.poll_event() {
            let Some(me) = server.person().cloned() else {
                continue;
            };
            match ev {
                StaffServerEvent::Request(request) => {
                    acted = true;
                    self.answer(server, session, &me, request, now);
                }
                StaffServerEvent::FeedbackData(d) => {
                    if let Some(buf) = session.feedback.as_mut() {
                        buf.extend_from_slice(&d);
                    }
                }
                StaffServerEvent::FeedbackAborted { .. } => session.feedback = None,
                StaffServerEvent::FeedbackComplete { grade, .. } => {
                    acted = true;
                    let bytes = session.feedback.take().unwrap_or_default();
                    let student = grade.student.to_string();
                    let file = grade.feedback.clone().map(|f| (f, bytes));
                    let detail = format!("score {}, with feedback", grade.score);
                    self.grades.insert(
                        (
                            grade.course.clone(),
                            grade.assignment.clone(),
                            student.clone(),
                        ),
                        Graded {
                            score: grade.score,
                            comment: grade.comment,
                            feedback: file,
                        },
                    );
                    self.record_action(&grade.course, now, &me, "grade", Some(&student), detail);
                    let _ = server.done("graded, feedback stored");
                }
                _ => {}
            }
        }
        acted
    }

    fn answer(
        &mut self,
        server: &mut StaffServer,
        session: &mut StaffSession,
        me: &PersonId,
        request: StaffRequest,
        now: SystemTime,
    ) {
        if let Some(course) = request.course() {
            if !self.is_staff(me, course) {
                let _ = server.refuse(not_staff(course));
                return;
            }
        }
        let outcome = match request {
            StaffRequest::Courses => {
                for (code, c) in &self.courses {
                    if c.staff.contains(me.as_str()) {
                        let _ = server.send_course(&CourseRow {
                            course: code.clone(),
                            title: c.title.clone(),
                        });
                    }
                }
                let _ = server.finish_rows();
                return;
            }
            StaffRequest::PutAssignment(spec) => {
                let key = (spec.course.clone(), spec.assignment.clone());
                let open = self.assignments.get(&key).is_none_or(|t| t.open);
                self.assignments.insert(
                    key,
                    Terms {
                        due: spec.due,
                        max_size: spec.max_size,
                        cutoff: spec.cutoff,
                        open,
                    },
                );
                self.record_action(
                    &spec.course,
                    now,
                    me,
                    "put-assignment",
                    None,
                    format!("{} due {}", spec.assignment, spec.due),
                );
                Ok(format!("{}/{} saved", spec.course, spec.assignment))
            }
            StaffRequest::SetOpen {
                course,
                assignment,
                open,
            } => match self
                .assignments
                .get_mut(&(course.clone(), assignment.clone()))
            {
                None => Err(no_assignment(&course, &assignment)),
                Some(t) => {
                    t.open = open;
                    let action = if open { "reopen" } else { "close" };
                    self.record_action(&course, now, me, action, None, assignment.clone());
                    Ok(format!("{course}/{assignment} {action}ed"))
                }
            },
            StaffRequest::Status { course, assignment } => {
                match self.assignments.get(&(course.clone(), assignment.clone())) {
                    None => Err(no_assignment(&course, &assignment)),
                    Some(terms) => {
                        for row in self.status_rows(&course, &assignment, *terms) {
                            let _ = server.send_status(&row);
                        }
                        let _ = server.finish_rows();
                        return;
                    }
                }
            }
            StaffRequest::Fetch { id } => {
                let found = self
                    .stored
                    .iter()
                    .find(|(e, _)| e.id == id && self.is_staff(me, &e.course));
                match found.and_then(|(e, b)| Some((e, b, self.receipts.get(&e.id)?))) {
                    // Another course's submission is answered as a missing one.
                    None => Err(Refusal::new(RefusalCode::NotFound, "no such submission")),
                    Some((e, bytes, receipt)) => {
                        if server.start_fetch(e, receipt).is_ok() {
                            let _ = server.send_fetch_data(bytes);
                            let _ = server.finish_fetch();
                        }
                        return;
                    }
                }
            }
            StaffRequest::Extend {
                course,
                assignment,
                student,
                due,
            } => {
                if !self
                    .assignments
                    .contains_key(&(course.clone(), assignment.clone()))
                {
                    Err(no_assignment(&course, &assignment))
                } else if !self.knows_student(&course, &assignment, student.as_str()) {
                    Err(not_listed(&course))
                } else {
                    self.extensions.insert(
                        (course.clone(), assignment.clone(), student.to_string()),
                        due,
                    );
                    self.record_action(
                        &course,
                        now,
                        me,
                        "extend",
                        Some(student.as_str()),
                        format!("{assignment} due {due}"),
                    );
                    Ok(format!("{student} now due at {due}"))
                }
            }
            StaffRequest::Grade(grade) => {
                let key = (grade.course.clone(), grade.assignment.clone());
                if !self.assignments.contains_key(&key) {
                    Err(no_assignment(&grade.course, &grade.assignment))
                } else if !self.knows_student(
                    &grade.course,
                    &grade.assignment,
                    grade.student.as_str(),
                ) {
                    Err(not_listed(&grade.course))
                } else if grade.feedback.is_some() {
                    session.feedback = Some(Vec::new());
                    let _ = server.accept_feedback();
                    return;
                } else {
                    let student = grade.student.to_string();
                    let detail = format!("score {}", grade.score);
                    self.grades.insert(
                        (
                            grade.course.clone(),
                            grade.assignment.clone(),
                            student.clone(),
                        ),
                        Graded {
                            score: grade.score,
                            comment: grade.comment,
                            feedback: None,
                        },
                    );
                    self.record_action(&grade.course, now, me, "grade", Some(&student), detail);
                    Ok("graded".to_owned())
                }
            }
            StaffRequest::Release { course, assignment } => {
                let key = (course.clone(), assignment.clone());
                if !self.assignments.contains_key(&key) {
                    Err(no_assignment(&course, &assignment))
                } else {
                    self.released.insert(key, unix_secs(now));
                    self.record_action(&course, now, me, "release", None, assignment.clone());
                    Ok(format!("grades of {course}/{assignment} released"))
                }
            }
            StaffRequest::Log { course } => {
                for (_, row) in self.log.iter().filter(|(c, _)| *c == course) {
                    let _ = server.send_log(row);
                }
                let _ = server.finish_rows();
                return;
            }
        };
        let _ = match outcome {
            Ok(detail) => server.done(&detail),
            Err(r) => server.refuse(r),
        };
    }

    /// Whether `student` is on the course's class list or submitted to the assignment.
    fn knows_student(&self, course: &str, assignment: &str, student: &str) -> bool {
        self.courses
            .get(course)
            .is_some_and(|c| c.students.contains(student))
            || self.stored.iter().any(|(e, _)| {
                e.student_id == student && e.course == course && e.assignment == assignment
            })
    }
}

fn not_listed(course: &str) -> Refusal {
    Refusal::new(
        RefusalCode::NotOnClassList,
        format!("that student is not on the class list of {course} and submitted nothing"),
    )
}
