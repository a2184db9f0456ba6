//! The tables of each component in PostgreSQL ([`Component`]s for `schema.rs`): Blackboard's
//! ([`BOARD`]) and CUHK's ([`CUHK`]), each its first schema and the steps after it. Their
//! names differ, so both may live in one database.

use super::log::log_tables;
use super::schema::{Component, Step};

/// Blackboard's tables in PostgreSQL: version 1, then the log and commitments (version 2).
pub(crate) const BOARD: Component = Component {
    name: "blackboard",
    version: 2,
    schema: r#"
CREATE TABLE assignments (
    course     TEXT COLLATE "C" NOT NULL,
    assignment TEXT COLLATE "C" NOT NULL,
    due        BIGINT NOT NULL,
    max_size   BIGINT NOT NULL,
    cutoff     BIGINT,
    grace      BIGINT NOT NULL DEFAULT 0,
    open       BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (course, assignment)
);
CREATE TABLE submissions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    student_id  TEXT COLLATE "C" NOT NULL,
    course      TEXT COLLATE "C" NOT NULL,
    assignment  TEXT COLLATE "C" NOT NULL,
    file_name   TEXT COLLATE "C" NOT NULL,
    size        BIGINT NOT NULL,
    sha256      BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    late        BOOLEAN NOT NULL,
    version     BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    UNIQUE (student_id, course, assignment, file_name, version),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
);
CREATE INDEX submissions_by_student ON submissions (student_id, course);
CREATE INDEX submissions_by_assignment ON submissions (course, assignment);
CREATE TABLE courses (
    course TEXT COLLATE "C" PRIMARY KEY,
    title  TEXT COLLATE "C" NOT NULL
);
CREATE TABLE course_staff (
    course TEXT COLLATE "C" NOT NULL REFERENCES courses (course),
    person TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (course, person)
);
CREATE INDEX course_staff_by_person ON course_staff (person);
CREATE TABLE class_list (
    course     TEXT COLLATE "C" NOT NULL REFERENCES courses (course),
    student_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (course, student_id)
);
CREATE TABLE extensions (
    course     TEXT COLLATE "C" NOT NULL,
    assignment TEXT COLLATE "C" NOT NULL,
    student_id TEXT COLLATE "C" NOT NULL,
    due        BIGINT NOT NULL,
    PRIMARY KEY (course, assignment, student_id),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
);
CREATE TABLE grades (
    course          TEXT COLLATE "C" NOT NULL,
    assignment      TEXT COLLATE "C" NOT NULL,
    student_id      TEXT COLLATE "C" NOT NULL,
    score           TEXT COLLATE "C" NOT NULL,
    comment         TEXT COLLATE "C" NOT NULL,
    feedback_id     TEXT COLLATE "C",
    feedback_name   TEXT COLLATE "C",
    feedback_size   BIGINT,
    feedback_sha256 BYTEA,
    graded_by       TEXT COLLATE "C" NOT NULL,
    graded_at       BIGINT NOT NULL,
    PRIMARY KEY (course, assignment, student_id),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
);
CREATE TABLE releases (
    course      TEXT COLLATE "C" NOT NULL,
    assignment  TEXT COLLATE "C" NOT NULL,
    released_at BIGINT NOT NULL,
    PRIMARY KEY (course, assignment),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
);
CREATE TABLE staff_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    course     TEXT COLLATE "C" NOT NULL,
    actor      TEXT COLLATE "C" NOT NULL,
    action     TEXT COLLATE "C" NOT NULL,
    student_id TEXT COLLATE "C",
    detail     TEXT COLLATE "C" NOT NULL
);
CREATE INDEX staff_log_by_course ON staff_log (course, seq);
"#,
    steps: &[Step {
        from: 1,
        sql: concat!(
            log_tables!("blackboard_"),
            r#"
CREATE TABLE commitments (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    student_id   TEXT COLLATE "C" NOT NULL,
    course       TEXT COLLATE "C" NOT NULL,
    assignment   TEXT COLLATE "C" NOT NULL,
    file_name    TEXT COLLATE "C" NOT NULL,
    size         BIGINT NOT NULL,
    sha256       BYTEA NOT NULL,
    committed_at BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
);
CREATE INDEX commitments_by_student ON commitments (student_id, course, assignment);
CREATE INDEX commitments_by_assignment ON commitments (course, assignment);
ALTER TABLE submissions ADD COLUMN committed_at BIGINT, ADD COLUMN log_index BIGINT;
"#
        ),
    }],
};

/// CUHK's tables in PostgreSQL (the throttle's among them): version 1, then the log
/// (version 2).
pub(crate) const CUHK: Component = Component {
    name: "cuhk",
    version: 2,
    schema: r#"
CREATE TABLE roster (
    person_id    TEXT COLLATE "C" PRIMARY KEY,
    added_at     BIGINT NOT NULL,
    code_salt    BYTEA NOT NULL,
    code_hash    BYTEA NOT NULL,
    code_used_at BIGINT,
    staff        BOOLEAN NOT NULL
);
CREATE TABLE certificates (
    serial     TEXT COLLATE "C" PRIMARY KEY,
    seq        BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    person_id  TEXT COLLATE "C" NOT NULL REFERENCES roster (person_id),
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    issued_at  BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX certificates_by_person ON certificates (person_id);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE crls (
    number BIGINT PRIMARY KEY,
    pem    BYTEA NOT NULL
);
CREATE TABLE throttle (
    source   TEXT PRIMARY KEY,
    until_ms BIGINT NOT NULL
);
CREATE INDEX throttle_by_until ON throttle (until_ms);
"#,
    steps: &[Step {
        from: 1,
        sql: log_tables!("cuhk_"),
    }],
};
