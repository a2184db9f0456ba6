//! The rules of submission and enrollment, written once: pure functions of what the records
//! say, with no I/O. Blackboard's and CUHK's services call them, and so do the in-memory
//! [`harness`](crate::harness) and the fuzz targets, so that what is tested is what serves.
//!
//! - [`submission`]: whether an offer fits its assignment, and the version of a resubmission;
//! - [`lateness`]: when a submission counts as late (the due second, per student);
//! - [`visibility`]: who may see which submission (a student sees only their own);
//! - [`quota`]: how much one student may store per assignment;
//! - [`enrollment`]: the decision on an enrollment code or a renewal;
//! - [`course`]: who is staff of a course, and who may submit to it (the class list);
//! - [`window`]: when an assignment takes submissions (open, due, cut-off, extensions);
//! - [`current`]: a student's current submission (the latest version of each file name);
//! - [`grading`]: what a score and a comment may be, and when a student sees them.

pub mod course;
pub mod current;
pub mod enrollment;
pub mod grading;
pub mod lateness;
pub mod quota;
pub mod submission;
pub mod visibility;
pub mod window;
