//! The operator's commands on a store (a data directory, or PostgreSQL): assignments and courses (the staff and class
//! lists). They work while servers run on the same store.

use crate::board_failure;
use crate::store_args::StoreArgs;
use clap::Subcommand;
use handin::cli::{die, parse_duration, parse_rfc3339, parse_size, rfc3339, Failure};
use handin_core::pki::{PersonId, StudentId};
use handin_core::units::size_exact;
use handin_services::board::{parse_class_list, Actor, AssignmentSpec, BoardError};
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Subcommand)]
pub(crate) enum AssignmentCommand {
    /// Add an assignment (or change its times and size limit).
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Course code, e.g. CSCI3180.
        course: String,
        /// Assignment name, e.g. hw1.
        assignment: String,
        /// Due time, RFC 3339 (e.g. 2026-12-01T23:59:00+08:00); later submissions are marked late.
        #[arg(long)]
        due: String,
        /// Largest file accepted (e.g. 20MB = 20,000,000 bytes, 20MiB = 20 x 2^20).
        #[arg(long, default_value = "100MiB")]
        max_size: String,
        /// Cut-off time, RFC 3339: submissions offered after it are refused (default: none,
        /// late work is taken and marked late).
        #[arg(long)]
        cutoff: Option<String>,
        /// Grace after the due time for work committed to before it (e.g. 10m).
        #[arg(long, default_value = "0s")]
        grace: String,
    },
    /// List assignments.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON array: course, assignment, due, max_size, cutoff, grace_secs, open.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum CourseCommand {
    /// Add a course (or change its title).
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Course code, e.g. CSCI3180.
        course: String,
        /// The course's title.
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Add teachers (staff logins) and TAs (student IDs) to a course's staff list.
    Staff {
        #[command(flatten)]
        store: StoreArgs,
        course: String,
        /// A staff login or a TA's student ID (repeat for more).
        #[arg(long = "add", required = true)]
        add: Vec<String>,
    },
    /// Add students to a course's class list. Once a course has one, only listed students may
    /// submit to it.
    Students {
        #[command(flatten)]
        store: StoreArgs,
        course: String,
        /// A student ID (repeat for more).
        #[arg(
            long = "add",
            required_unless_present = "import",
            conflicts_with = "import"
        )]
        add: Vec<String>,
        /// A CSV file: the column headed student_id (or id, sid), or else the first one.
        #[arg(long)]
        import: Option<PathBuf>,
    },
    /// Show a course's staff list and class list.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        course: String,
        /// One JSON object: course, staff, students.
        #[arg(long)]
        json: bool,
    },
    /// List the courses.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON array: course, title.
        #[arg(long)]
        json: bool,
    },
}

fn fail(e: impl Into<Failure>) -> ! {
    die("blackboard", e)
}

/// A bad argument value (exit code 2).
fn usage(e: impl std::fmt::Display) -> ! {
    fail(Failure::usage(e))
}

/// A store failure, with its exit code.
fn store_failed(e: BoardError) -> ! {
    fail(board_failure(e))
}

pub(crate) fn assignment(command: AssignmentCommand) {
    match command {
        AssignmentCommand::Add {
            store,
            course,
            assignment,
            due,
            max_size,
            cutoff,
            grace,
        } => {
            let due = parse_rfc3339(&due).unwrap_or_else(|e| usage(format!("--due: {e}")));
            let max_size =
                parse_size(&max_size).unwrap_or_else(|e| usage(format!("--max-size: {e}")));
            let cutoff = cutoff
                .map(|c| parse_rfc3339(&c).unwrap_or_else(|e| usage(format!("--cutoff: {e}"))));
            let grace = parse_duration(&grace).unwrap_or_else(|e| usage(format!("--grace: {e}")));
            let spec = AssignmentSpec {
                course: course.clone(),
                assignment: assignment.clone(),
                due,
                max_size,
                cutoff,
                grace,
            };
            // The operator may set any due time (an old assignment, a test).
            store
                .records()
                .put_assignment(&spec, true, &Actor::Operator, SystemTime::now())
                .unwrap_or_else(|e| store_failed(e));
            println!(
                "{course}/{assignment}: due {}, at most {}{}",
                rfc3339(due),
                size_exact(max_size),
                cutoff.map_or_else(String::new, |c| format!(", cut-off {}", rfc3339(c)))
            );
        }
        AssignmentCommand::List { store, json } => {
            let all = store
                .records()
                .assignments()
                .unwrap_or_else(|e| store_failed(e));
            if json {
                let v: Vec<serde_json::Value> = all
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "course": a.course,
                            "assignment": a.assignment,
                            "due_at": rfc3339(a.due),
                            "max_size": a.max_size,
                            "cutoff_at": a.cutoff.map(rfc3339),
                            "grace_secs": a.grace.as_secs(),
                            "open": a.open,
                        })
                    })
                    .collect();
                handin::json::print(&serde_json::Value::Array(v));
                return;
            }
            for a in all {
                println!(
                    "{}/{}\tdue {}\tmax {}\tcut-off {}\t{}",
                    a.course,
                    a.assignment,
                    rfc3339(a.due),
                    size_exact(a.max_size),
                    a.cutoff.map_or_else(|| "none".to_owned(), rfc3339),
                    if a.open { "open" } else { "closed" }
                );
            }
        }
    }
}

fn people(ids: &[String]) -> Vec<PersonId> {
    ids.iter()
        .map(|s| PersonId::parse(s).unwrap_or_else(|e| usage(format!("--add {s:?}: {e}"))))
        .collect()
}

fn students(ids: &[String]) -> Vec<StudentId> {
    ids.iter()
        .map(|s| StudentId::parse(s).unwrap_or_else(|e| usage(format!("--add {s:?}: {e}"))))
        .collect()
}

pub(crate) fn course(command: CourseCommand) {
    let now = SystemTime::now();
    match command {
        CourseCommand::Add {
            store,
            course,
            title,
        } => {
            store
                .records()
                .add_course(&course, &title, now)
                .unwrap_or_else(|e| store_failed(e));
            println!("course {course} added");
        }
        CourseCommand::Staff { store, course, add } => {
            let people = people(&add);
            store
                .records()
                .add_staff(&course, &people, now)
                .unwrap_or_else(|e| store_failed(e));
            println!("{course}: {} on the staff list", people.len());
        }
        CourseCommand::Students {
            store,
            course,
            add,
            import,
        } => {
            let ids = match import {
                Some(file) => {
                    let text = std::fs::read(&file).unwrap_or_else(|e| {
                        fail(Failure::file(format!(
                            "cannot read {}: {e}",
                            file.display()
                        )))
                    });
                    parse_class_list(&text)
                        .unwrap_or_else(|e| fail(Failure::file(format!("{}: {e}", file.display()))))
                }
                None => students(&add),
            };
            let board = store.records();
            board
                .add_students(&course, &ids, now)
                .unwrap_or_else(|e| store_failed(e));
            let (_, listed) = board.lists(&course).unwrap_or_else(|e| store_failed(e));
            println!(
                "{course}: {} student(s) added, {} on the class list",
                ids.len(),
                listed.len()
            );
        }
        CourseCommand::Show {
            store,
            course,
            json,
        } => {
            let (staff, class) = store
                .records()
                .lists(&course)
                .unwrap_or_else(|e| store_failed(e));
            if json {
                let students: Vec<&str> = class.iter().map(|s| s.as_str()).collect();
                handin::json::print(
                    &serde_json::json!({"course": course, "staff": staff, "students": students}),
                );
                return;
            }
            println!("staff ({}): {}", staff.len(), staff.join(" "));
            println!("class list ({}):", class.len());
            for s in class {
                println!("{s}");
            }
        }
        CourseCommand::List { store, json } => {
            let courses = store
                .records()
                .courses()
                .unwrap_or_else(|e| store_failed(e));
            if json {
                let v: Vec<serde_json::Value> = courses
                    .iter()
                    .map(|c| serde_json::json!({"course": c.course, "title": c.title}))
                    .collect();
                handin::json::print(&serde_json::Value::Array(v));
                return;
            }
            for c in courses {
                println!("{}\t{}", c.course, c.title);
            }
        }
    }
}
