//! The rules of submission and enrollment, written once: pure functions of what the records
//! say, with no I/O. Blackboard's and CUHK's services call them, and so do the in-memory
//! [`harness`](crate::harness) and the fuzz targets, so that what is tested is what serves.
//!
//! - [`submission`]: whether an offer fits its assignment, and the version of a resubmission;
//! - [`lateness`]: when a submission counts as late (the due second, per student);
//! - [`visibility`]: who may see which submission (a student sees only their own);
//! - [`quota`]: how much one student may store per assignment;
//! - [`enrollment`]: the decision on an enrollment code or a renewal.

pub mod enrollment;
pub mod lateness;
pub mod quota;
pub mod submission;
pub mod visibility;
