//! Arbitrary sequences of client operations (honest, lying, streamed, raw, timed) against the submission
//! server and the in-memory board: never panics; what the board holds always matches its
//! hashes; a receipt is only ever given for bytes that were stored; versions follow the rule
//! Blackboard applies.
#![no_main]

use arbitrary::Arbitrary;
use handin_core::harness::{t0, BoardSession, Campus};
use handin_core::msg::{StreamedOffer, UploadOffer};
use handin_core::rules;
use handin_core::submit::sha256;
use handin_core::{ClientConfig, Role, SubmitClientEvent};
use handin_core::Now;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::time::Instant;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Op {
    Submit { assignment_known: bool, name: String, size: u16, lie_hash: bool },
    /// A streamed offer (handin-submit/2): the client hashes what it sends.
    SubmitStreamed { assignment_known: bool, name: String, size: u16 },
    Data(Vec<u8>),
    Finish,
    List(Option<String>),
    Fetch(u8),
    Raw(Vec<u8>),
    Advance(u16),
    Close,
}

thread_local! {
    // One client configuration for every run: its session cache makes later handshakes
    // resumptions (cheaper, and they exercise the post-handshake identity checks).
    static CAMPUS: RefCell<(Campus, ClientConfig)> = RefCell::new({
        let mut c = Campus::new(Now::new(Instant::now(), t0()));
        let id = c.new_student("1155000001");
        let config = c.client_config(Role::Submit, Some(id));
        (c, config)
    });
}

fuzz_target!(|ops: Vec<Op>| {
    CAMPUS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (campus, config) = &mut *guard;
        campus.board.stored.clear();
        let mut pair = campus.submit_pair_with(config);
        if campus.connect_submit(&mut pair).is_err() {
            return;
        }
        let mut session = BoardSession::default();
        let mut receipts = Vec::new();
        for op in ops.into_iter().take(64) {
            let c = &mut pair.client;
            let _ = match op {
                Op::Submit { assignment_known, name, size, lie_hash } => {
                    let data = vec![7u8; size as usize];
                    let hash = if lie_hash { sha256(b"lie") } else { sha256(&data) };
                    c.submit(UploadOffer {
                        course: "CSCI3180".into(),
                        assignment: if assignment_known { "hw1".into() } else { "hw9".into() },
                        file_name: name,
                        size: size as u64,
                        sha256: hash,
                    })
                }
                Op::SubmitStreamed { assignment_known, name, size } => {
                    c.submit_streamed(StreamedOffer {
                        course: "CSCI3180".into(),
                        assignment: if assignment_known { "hw1".into() } else { "hw9".into() },
                        file_name: name,
                        size: size as u64,
                    })
                }
                Op::Data(d) => c.send_data(&d),
                Op::Finish => c.finish_upload(),
                Op::List(course) => c.list(course.as_deref()),
                Op::Fetch(i) => {
                    let id = campus.board.stored.get(i as usize).map(|(e, _)| e.id.clone()).unwrap_or_else(|| format!("s{i}"));
                    c.fetch(&id)
                }
                Op::Raw(bytes) => {
                    c.danger_send_raw(&bytes);
                    Ok(())
                }
                Op::Advance(secs) => {
                    pair.advance(Duration::from_secs(secs as u64));
                    Ok(())
                }
                Op::Close => {
                    c.close();
                    Ok(())
                }
            };
            loop {
                pair.drive();
                if !campus.board.serve(&mut pair.server, &mut session) {
                    break;
                }
            }
            while let Some(ev) = pair.client.poll_event() {
                if let SubmitClientEvent::Receipt { body, .. } = ev {
                    receipts.push(body);
                }
            }
        }
        for (entry, bytes) in &campus.board.stored {
            assert_eq!(entry.sha256, sha256(bytes));
        }
        // Each version is the one the production rule gives, counting the same student's
        // earlier submissions of the same file name to the same assignment.
        for (i, (entry, _)) in campus.board.stored.iter().enumerate() {
            let earlier = campus.board.stored[..i]
                .iter()
                .filter(|(e, _)| {
                    e.student_id == entry.student_id
                        && e.course == entry.course
                        && e.assignment == entry.assignment
                        && e.file_name == entry.file_name
                })
                .count();
            assert_eq!(entry.version, rules::submission::next_version(earlier as u32));
        }
        for r in &receipts {
            assert!(campus.board.stored.iter().any(|(e, _)| e.id == r.id && e.sha256 == r.sha256));
        }
    });
});
