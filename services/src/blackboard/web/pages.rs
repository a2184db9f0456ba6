//! The pages, rendered with maud: every value interpolated is escaped by construction, so a
//! file name such as `<img src=x onerror=alert(1)>.pdf` or a comment is text, never markup.
//! Forms work without JavaScript; the one script (`/static/app.js`) adds the upload's progress
//! bar, checks the size limit before sending, and shows times in the viewer's time zone (they
//! are in UTC without it).

use super::routes::seg;
use crate::board::{CourseView, StudentStatus};
use crate::store::{Assignment, Course, Grade};
use handin_core::pki::{rfc3339, PersonId};
use handin_core::rules::current::Standing;
use handin_core::submit::hex;
use handin_core::units::{size, size_exact};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::time::SystemTime;

/// A whole page around `body`.
pub(crate) fn layout(title: &str, who: Option<&PersonId>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Blackboard" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "Blackboard" }
                    @if let Some(p) = who {
                        span.who { "Signed in by certificate as " strong { (p.to_string()) } }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// A time as the page shows it: UTC text, which the script turns into the viewer's time zone.
fn when(t: SystemTime) -> Markup {
    let iso = rfc3339(t);
    let text = iso.replacen('T', " ", 1).replace('Z', " UTC");
    html! { time datetime=(iso) { (text) } }
}

fn standing(s: Standing) -> Markup {
    match s {
        Standing::Nothing => html! { span.tag.nothing { "nothing yet" } },
        Standing::OnTime => html! { span.tag.ontime { "on time" } },
        Standing::Late => html! { span.tag.late { "late" } },
    }
}

/// For a browser without a CUHK certificate: what to do.
pub(crate) fn no_certificate() -> String {
    layout(
        "Sign in with your certificate",
        None,
        html! {
            h1 { "Sign in with your CUHK certificate" }
            p { "Blackboard knows you by the certificate CUHK issued you when you enrolled. \
                 Your browser did not present one. To use these pages:" }
            ol {
                li { "Export your certificate and key from your profile, with a password you choose:" br;
                     code { "student export-p12 --out me.p12" }
                     " (teachers and TAs: " code { "staff export-p12 --out me.p12" } ")." }
                li { "Import " code { "me.p12" } " into your browser: in Chromium or Chrome, Settings, \
                      Privacy and security, Security, Manage certificates, Import; in Firefox, \
                      Settings, Privacy & Security, Certificates, View Certificates, Your \
                      Certificates, Import. On a phone, open the file and install it." }
                li { "Close every window of the browser, open it again and come back here: \
                      choose the CUHK certificate when the browser asks." }
            }
            p { "Not enrolled yet? Run " code { "student enroll" } " with the code CUHK gave you." }
        },
    )
}

/// An error page.
pub(crate) fn error(status: u16, message: &str, who: Option<&PersonId>) -> String {
    layout(
        "Error",
        who,
        html! {
            h1 { (status) " " (handin_core::http::response::reason(status)) }
            p.error { (message) }
            p { a href="/" { "Back to your courses" } }
        },
    )
}

/// A student's home: their courses, assignments, submissions and released grades.
pub(crate) fn student_home(
    who: &PersonId,
    courses: &[CourseView],
    staff_of: &[(Course, Vec<Assignment>)],
    token: &str,
) -> String {
    layout(
        "Your courses",
        Some(who),
        html! {
            h1 { "Your courses" }
            @if !staff_of.is_empty() { (staff_courses(staff_of)) }
            @if courses.is_empty() {
                p { "No assignment is open to you yet." }
            }
            @for c in courses {
                section.course {
                    h2 { (c.course) @if !c.title.is_empty() { " · " (c.title) } }
                    @for a in &c.assignments {
                        article.assignment id=(format!("a-{}-{}", c.course, a.assignment.assignment)) {
                            h3 { (a.assignment.assignment) " " (standing(a.standing)) }
                            p {
                                "Due " (when(a.due))
                                @if a.extended { " " span.tag.extended { "extended for you" } }
                                @if let Some(cut) = a.assignment.cutoff { "; nothing is taken after " (when(cut)) }
                                "; files up to " (size_exact(a.assignment.max_size)) "."
                            }
                            @match &a.admits {
                                Ok(()) => {
                                    form.upload method="post" enctype="multipart/form-data"
                                        action=(format!("/submit/{}/{}", seg(&c.course), seg(&a.assignment.assignment))) {
                                        input type="hidden" name="token" value=(token);
                                        label { "File " input type="file" name="file" required
                                            data-max=(a.assignment.max_size); }
                                        button type="submit" { "Submit" }
                                        progress hidden max="100" value="0" {}
                                        output {}
                                    }
                                }
                                Err(r) => { p.closed { (r.reason) } }
                            }
                            @if !a.versions.is_empty() {
                                table.files {
                                    thead { tr { th { "File" } th { "Version" } th { "Size" } th { "Received" } th { "" } th { "Receipt" } } }
                                    tbody {
                                        @for v in &a.versions {
                                            tr.current[a.current.contains(&v.id)] {
                                                td { a href=(format!("/files/{}", v.id)) { (v.file_name) } }
                                                td { "v" (v.version) }
                                                td { (size(v.size)) }
                                                td { (when(v.received_at)) }
                                                td {
                                                    @if v.late { span.tag.late { "late" } }
                                                    @if let Some(c) = v.committed_at { span.tag.extended { "committed " (when(c)) } }
                                                }
                                                td { a href=(format!("/files/{}/receipt", v.id)) { "receipt" } }
                                            }
                                        }
                                    }
                                }
                            }
                            @if let Some(g) = &a.grade {
                                div.grade {
                                    p { "Grade: " strong { (g.grade.score) } " (released " (when(g.released_at)) ")" }
                                    @if !g.grade.comment.is_empty() { blockquote { (g.grade.comment) } }
                                    @if let Some(f) = &g.grade.feedback {
                                        p { "Feedback file: " a href=(format!("/feedback/{}/{}", seg(&c.course), seg(&a.assignment.assignment))) { (f.file_name) } " (" (size(f.size)) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The courses someone is staff of, each with links to its assignments' tables.
fn staff_courses(courses: &[(Course, Vec<Assignment>)]) -> Markup {
    html! {
        @for (c, assignments) in courses {
            section.course.staff {
                h2 { (c.course) @if !c.title.is_empty() { " · " (c.title) } " (staff)" }
                @if assignments.is_empty() { p { "No assignment yet." } }
                ul {
                    @for a in assignments {
                        li { a href=(format!("/staff/{}/{}", seg(&c.course), seg(&a.assignment))) { (a.assignment) }
                             " · due " (when(a.due)) @if !a.open { " " span.tag.closed { "closed" } } }
                    }
                }
            }
        }
    }
}

/// A staff member's home: their courses and each one's assignments.
pub(crate) fn staff_home(who: &PersonId, courses: &[(Course, Vec<Assignment>)]) -> String {
    layout(
        "Your courses",
        Some(who),
        html! {
            h1 { "Courses you teach" }
            @if courses.is_empty() { p { "You are on the staff list of no course." } }
            (staff_courses(courses))
        },
    )
}

/// What the assignment's table shows.
pub(crate) struct Table<'a> {
    /// The assignment.
    pub(crate) assignment: &'a Assignment,
    /// One row per student.
    pub(crate) rows: &'a [StudentStatus],
    /// The grades entered so far.
    pub(crate) grades: &'a [Grade],
    /// When the grades were released, if they were.
    pub(crate) released: Option<SystemTime>,
    /// The page's form token.
    pub(crate) token: &'a str,
    /// A message about the change just made, if any.
    pub(crate) said: Option<&'a str>,
}

/// An assignment's table for its staff: class list x nothing / on time / late / extended.
pub(crate) fn staff_table(who: &PersonId, t: &Table<'_>) -> String {
    let a = t.assignment;
    let base = format!("/staff/{}/{}", seg(&a.course), seg(&a.assignment));
    let count = |s: Standing| t.rows.iter().filter(|r| r.standing == s).count();
    layout(
        &format!("{}/{}", a.course, a.assignment),
        Some(who),
        html! {
            h1 { (a.course) " / " (a.assignment) }
            @if let Some(said) = t.said { p.said role="status" { (said) } }
            p { "Due " (when(a.due)) "; files up to " (size_exact(a.max_size))
                @if !a.open { "; " span.tag.closed { "closed" } } "." }
            p { (t.rows.len()) " students: " (count(Standing::OnTime)) " on time, "
                (count(Standing::Late)) " late, " (count(Standing::Nothing)) " nothing yet. "
                a.button href=(format!("{base}/all.zip")) download { "Download every current submission (zip)" } }
            table.status {
                thead { tr { th { "Student" } th { "State" } th { "Due" } th { "Committed" } th { "Received" } th { "Size" } th { "Files" } th { "Grade" } } }
                tbody {
                    @for r in t.rows {
                        @let last = r.files.iter().map(|f| f.received_at).max();
                        @let total: u64 = r.files.iter().map(|f| f.size).sum();
                        @let grade = t.grades.iter().find(|g| g.student == r.student);
                        tr {
                            td { (r.student.as_str()) @if !r.on_class_list { " " span.tag.closed { "not on the class list" } } }
                            td { (standing(r.standing)) }
                            td { (when(r.due)) @if r.extended { " " span.tag.extended { "extended" } } }
                            td { @if let Some(c) = r.committed_at { (when(c)) } @else { "-" } }
                            td { @if let Some(l) = last { (when(l)) } @else { "-" } }
                            td { @if r.files.is_empty() { "-" } @else { (size(total)) } }
                            td { @for f in &r.files { a href=(format!("/files/{}", f.id)) { (f.file_name) } " (v" (f.version) ") " } }
                            td { @if let Some(g) = grade { (g.score) } @else { "-" } }
                        }
                    }
                }
            }
            section.forms {
                form method="post" action=(format!("{base}/grade")) {
                    h2 { "Grade" }
                    input type="hidden" name="token" value=(t.token);
                    label { "Student ID " input name="student" required pattern="[0-9]{10}" inputmode="numeric"; }
                    label { "Score " input name="score" required inputmode="decimal"; }
                    label { "Comment " textarea name="comment" rows="3" {} }
                    button type="submit" { "Save grade" }
                }
                form method="post" enctype="multipart/form-data" action=(format!("{base}/grades")) {
                    h2 { "Grade sheet" }
                    input type="hidden" name="token" value=(t.token);
                    label { "CSV with columns student_id, score, comment " input type="file" name="sheet" required accept=".csv,text/csv"; }
                    button type="submit" { "Save every grade" }
                }
                form method="post" action=(format!("{base}/extend")) {
                    h2 { "Extension" }
                    input type="hidden" name="token" value=(t.token);
                    label { "Student ID " input name="student" required pattern="[0-9]{10}" inputmode="numeric"; }
                    label { "Due (RFC 3339, e.g. 2026-12-08T23:59:00+08:00) " input name="due" required; }
                    button type="submit" { "Extend" }
                }
                form method="post" action=(format!("{base}/release")) {
                    h2 { "Release" }
                    input type="hidden" name="token" value=(t.token);
                    @if let Some(r) = t.released { p { "Released " (when(r)) "." } }
                    button type="submit" { "Release grades to students" }
                }
            }
        },
    )
}

/// After an upload: what Blackboard stored and signed.
pub(crate) fn stored(who: &PersonId, body: &handin_core::ReceiptBody) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(body.received_at);
    layout(
        "Submitted",
        Some(who),
        html! {
            h1 { "Submitted" }
            p.said role="status" { "Blackboard stored " strong { (body.file_name) } " for "
                (body.course) "/" (body.assignment) " as version " (body.version) "." }
            dl {
                dt { "Received" } dd { (when(at)) @if body.late { " " span.tag.late { "late" } } }
                dt { "Size" } dd { (size_exact(body.size)) }
                dt { "SHA-256" } dd { code { (hex(&body.sha256)) } }
                dt { "Submission" } dd { code { (body.id) } }
            }
            p { a href=(format!("/files/{}/receipt", body.id)) { "Download the signed receipt" }
                " (check it with " code { "student verify-receipt FILE" } ")." }
            p { a href="/" { "Back to your courses" } }
            (PreEscaped(""))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::AssignmentView;
    use crate::store::{ReleasedGrade, StoredSubmission};
    use handin_core::pki::StudentId;
    use std::time::{Duration, UNIX_EPOCH};

    const HOSTILE: &str = "<img src=x onerror=alert(1)>.pdf";

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    #[test]
    fn names_and_comments_are_text_never_markup() {
        let student = StudentId::parse("1155000001").unwrap();
        let who = PersonId::Student(student.clone());
        let assignment = Assignment::new("CSCI3180", "hw1", t(100), 1 << 20);
        let sub = StoredSubmission {
            id: "ABC".into(),
            student: student.clone(),
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            file_name: HOSTILE.into(),
            size: 5,
            sha256: [0; 32],
            received_at: t(50),
            late: false,
            version: 1,
            due: t(100),
            committed_at: None,
            log_index: None,
        };
        let grade = ReleasedGrade {
            grade: Grade {
                course: "CSCI3180".into(),
                assignment: "hw1".into(),
                student: student.clone(),
                score: "90".into(),
                comment: "<script>alert(2)</script> & \"quotes\"".into(),
                feedback: None,
                graded_by: "prof.lee".into(),
                graded_at: t(200),
            },
            released_at: t(300),
        };
        let view = CourseView {
            course: "CSCI3180".into(),
            title: "<b>PL</b>".into(),
            assignments: vec![AssignmentView {
                assignment: assignment.clone(),
                due: t(100),
                extended: false,
                standing: Standing::OnTime,
                admits: Ok(()),
                versions: vec![sub.clone()],
                current: vec!["ABC".into()],
                grade: Some(grade),
            }],
        };
        let html = student_home(&who, &[view], &[], "1.abc\"><script>");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;.pdf"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(2)&lt;/script&gt; &amp; &quot;quotes&quot;"),
            "{html}"
        );
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the script file: {html}"
        );
        assert!(html.contains("&lt;b&gt;PL&lt;/b&gt;"));
        assert!(
            html.contains("value=\"1.abc&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );

        let rows = [crate::board::StudentStatus {
            student,
            on_class_list: true,
            due: t(100),
            extended: false,
            standing: Standing::OnTime,
            files: vec![sub],
            committed_at: Some(t(90)),
        }];
        let table = staff_table(
            &who,
            &Table {
                assignment: &assignment,
                rows: &rows,
                grades: &[],
                released: None,
                token: "t",
                said: Some("<i>said</i>"),
            },
        );
        assert!(!table.contains("<img") && !table.contains("<i>"), "{table}");
        assert!(table.contains("&lt;i&gt;said&lt;/i&gt;"));
    }

    #[test]
    fn the_no_certificate_page_says_how_to_import_one() {
        let html = no_certificate();
        assert!(html.contains("student export-p12"));
        assert!(html.contains("Manage certificates"));
    }
}
