//! What a student sees of their courses (the web pages' home): every assignment they may
//! submit to, with the due time in force for them, where they stand, whether an upload now
//! would be taken, every version they submitted, and their released grades. Every judgement is
//! the rules' own ([`Window::admit`](handin_core::rules::window::Window), lateness, current
//! version, visibility), called here as the command line's requests call them.

use super::{Board, BoardError};
use crate::store::{Assignment, ReleasedGrade, StoredSubmission};
use handin_core::pki::{unix_secs, PersonId, StudentId};
use handin_core::rules::course::check_may_submit;
use handin_core::rules::current::{current, standing, Standing};
use handin_core::Refusal;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One assignment as one student sees it.
#[derive(Debug, Clone)]
pub struct AssignmentView {
    /// Its terms.
    pub assignment: Assignment,
    /// The due time in force for this student (their extension, if any).
    pub due: SystemTime,
    /// The due time is an extension.
    pub extended: bool,
    /// Nothing yet, on time or late, by the current files.
    pub standing: Standing,
    /// Whether an upload now would be admitted (else why not: closed, cut off).
    pub admits: Result<(), Refusal>,
    /// Every version submitted, newest first.
    pub versions: Vec<StoredSubmission>,
    /// The ids of the current versions (the latest of each file name).
    pub current: Vec<String>,
    /// The released grade, if any.
    pub grade: Option<ReleasedGrade>,
}

/// One course as one student sees it.
#[derive(Debug, Clone)]
pub struct CourseView {
    /// Course code.
    pub course: String,
    /// Its title (empty if the course has no record).
    pub title: String,
    /// Its assignments, by name.
    pub assignments: Vec<AssignmentView>,
}

impl Board {
    /// The courses `student` may submit to (those with a class list that names them, and
    /// those without one), with their assignments, at `now`.
    pub fn student_view(
        &self,
        student: &StudentId,
        now: SystemTime,
    ) -> Result<Vec<CourseView>, BoardError> {
        let person = PersonId::Student(student.clone());
        let mut submitted: BTreeMap<(String, String), Vec<StoredSubmission>> = BTreeMap::new();
        for s in self.list(student, None)? {
            submitted
                .entry((s.course.clone(), s.assignment.clone()))
                .or_default()
                .push(s);
        }
        let mut grades: BTreeMap<(String, String), ReleasedGrade> = self
            .released_grades(student, None, now)?
            .into_iter()
            .map(|g| ((g.grade.course.clone(), g.grade.assignment.clone()), g))
            .collect();
        let mut courses: BTreeMap<String, CourseView> = BTreeMap::new();
        for a in self.assignments()? {
            let m = self.records().membership(&person, &a.course)?;
            if check_may_submit(student, &a.course, m).is_err() {
                continue;
            }
            let extension = self
                .records()
                .extension(&a.course, &a.assignment, student)?
                .map(unix_secs);
            let window = a.window();
            let deadline = window.deadline(extension);
            let key = (a.course.clone(), a.assignment.clone());
            let mut versions = submitted.remove(&key).unwrap_or_default();
            versions.sort_by_key(|v| std::cmp::Reverse(v.received_at));
            let now_current = current(&versions);
            let current_ids = now_current.iter().map(|v| v.id.clone()).collect();
            let view = AssignmentView {
                due: UNIX_EPOCH + Duration::from_secs(deadline.due()),
                extended: extension.is_some(),
                standing: standing(&now_current, deadline, a.grace.as_secs()),
                admits: window.admit(unix_secs(now), extension),
                current: current_ids,
                grade: grades.remove(&key),
                versions,
                assignment: a,
            };
            let course = view.assignment.course.clone();
            let entry = match courses.entry(course.clone()) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let title = self
                        .records()
                        .course(&course)?
                        .map(|c| c.title)
                        .unwrap_or_default();
                    v.insert(CourseView {
                        course,
                        title,
                        assignments: Vec::new(),
                    })
                }
            };
            entry.assignments.push(view);
        }
        Ok(courses.into_values().collect())
    }
}
