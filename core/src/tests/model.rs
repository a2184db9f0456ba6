//! Model-based testing: random sequences of student actions (enroll, submit, resubmit, list,
//! fetch someone's submission, disconnect at any point, even mid-upload) run against the real
//! state machines on the in-memory harness, and against a plain model of what Blackboard should
//! hold. After every step the two must agree.

use super::t0;
use crate::harness::{Campus, Pair};
use crate::msg::UploadOffer;
use crate::submit::sha256;
use crate::{Identity, RefusalCode, SubmitClient, SubmitServer};
use proptest::prelude::*;
use std::collections::HashMap;

const STUDENTS: [&str; 3] = ["1155000001", "1155000002", "1155000003"];
const NAMES: [&str; 2] = ["a.txt", "report.pdf"];

#[derive(Debug, Clone)]
enum Action {
    Enroll(usize),
    Submit {
        who: usize,
        known: bool,
        name: usize,
        data: Vec<u8>,
    },
    List(usize),
    Fetch {
        who: usize,
        owner: usize,
        nth: usize,
    },
    Disconnect(usize),
    DropMidUpload {
        who: usize,
        data: Vec<u8>,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let who = 0..STUDENTS.len();
    prop_oneof![
        who.clone().prop_map(Action::Enroll),
        (
            who.clone(),
            prop::bool::weighted(0.85),
            0..NAMES.len(),
            prop::collection::vec(any::<u8>(), 0..3000)
        )
            .prop_map(|(who, known, name, data)| Action::Submit {
                who,
                known,
                name,
                data
            }),
        who.clone().prop_map(Action::List),
        (who.clone(), who.clone(), 0..4usize).prop_map(|(who, owner, nth)| Action::Fetch {
            who,
            owner,
            nth
        }),
        who.clone().prop_map(Action::Disconnect),
        (who, prop::collection::vec(any::<u8>(), 2..3000))
            .prop_map(|(who, data)| Action::DropMidUpload { who, data }),
    ]
}

/// One submission as the model knows it: id, file name, bytes, version.
type Held = (String, String, Vec<u8>, u32);

/// What Blackboard should hold: per student, their submissions in order.
#[derive(Debug, Default)]
struct Model {
    enrolled: HashMap<usize, ()>,
    held: HashMap<usize, Vec<Held>>,
}

struct Real {
    campus: Campus,
    identities: HashMap<usize, Identity>,
    conns: HashMap<usize, Pair<SubmitClient, SubmitServer>>,
}

impl Real {
    fn conn(&mut self, who: usize) -> &mut Pair<SubmitClient, SubmitServer> {
        if !self.conns.contains_key(&who) {
            let id = self.identities[&who].clone();
            let mut pair = self.campus.submit_pair(Some(id));
            self.campus
                .connect_submit(&mut pair)
                .expect("an enrolled student connects");
            self.conns.insert(who, pair);
        }
        self.conns.get_mut(&who).expect("just inserted")
    }
}

fn step(real: &mut Real, model: &mut Model, action: &Action) {
    match action {
        Action::Enroll(who) => {
            if model.enrolled.contains_key(who) {
                return;
            }
            let identity = real.campus.new_student(STUDENTS[*who]);
            real.identities.insert(*who, identity);
            model.enrolled.insert(*who, ());
        }
        Action::Submit {
            who,
            known,
            name,
            data,
        } => {
            if !model.enrolled.contains_key(who) {
                return;
            }
            let assignment = if *known { "hw1" } else { "hw9" };
            let mut pair = real.conns.remove(who);
            let pair_ref = match pair.as_mut() {
                Some(p) => p,
                None => {
                    real.conn(*who);
                    pair = real.conns.remove(who);
                    pair.as_mut().expect("connected")
                }
            };
            let result = real
                .campus
                .submit(pair_ref, "CSCI3180", assignment, NAMES[*name], data);
            real.conns.insert(*who, pair.expect("pair"));
            let held = model.held.entry(*who).or_default();
            if *known {
                let (_, body) = result.expect("a known assignment accepts the file");
                let version =
                    1 + held.iter().filter(|(_, n, _, _)| n == NAMES[*name]).count() as u32;
                assert_eq!(body.version, version);
                assert_eq!(body.student_id, STUDENTS[*who]);
                held.push((body.id, NAMES[*name].to_string(), data.clone(), version));
            } else {
                assert_eq!(
                    result.expect_err("unknown assignment").code,
                    RefusalCode::NoSuchAssignment
                );
            }
        }
        Action::List(who) => {
            if !model.enrolled.contains_key(who) {
                return;
            }
            real.conn(*who);
            let mut pair = real.conns.remove(who).expect("connected");
            let listed = real.campus.list(&mut pair, None).expect("list");
            real.conns.insert(*who, pair);
            let want: Vec<(String, u32, u64)> = model
                .held
                .get(who)
                .map(|h| {
                    h.iter()
                        .map(|(id, _, d, v)| (id.clone(), *v, d.len() as u64))
                        .collect()
                })
                .unwrap_or_default();
            let got: Vec<(String, u32, u64)> = listed
                .iter()
                .map(|e| (e.id.clone(), e.version, e.size))
                .collect();
            assert_eq!(got, want);
        }
        Action::Fetch { who, owner, nth } => {
            if !model.enrolled.contains_key(who) {
                return;
            }
            let Some((id, _, data, _)) = model.held.get(owner).and_then(|h| h.get(*nth)).cloned()
            else {
                return;
            };
            real.conn(*who);
            let mut pair = real.conns.remove(who).expect("connected");
            let result = real.campus.fetch(&mut pair, &id);
            real.conns.insert(*who, pair);
            if who == owner {
                assert_eq!(result.expect("own submission").1, data);
            } else {
                assert_eq!(result.expect_err("another's").code, RefusalCode::NotFound);
            }
        }
        Action::Disconnect(who) => {
            if let Some(mut pair) = real.conns.remove(who) {
                pair.client.close();
                pair.drive();
            }
        }
        Action::DropMidUpload { who, data } => {
            if !model.enrolled.contains_key(who) {
                return;
            }
            real.conn(*who);
            let mut pair = real.conns.remove(who).expect("connected");
            pair.client
                .submit(UploadOffer {
                    course: "CSCI3180".into(),
                    assignment: "hw1".into(),
                    file_name: "partial.bin".into(),
                    size: data.len() as u64,
                    sha256: sha256(data),
                })
                .expect("offer");
            real.campus.pump_submit(&mut pair);
            let _ = pair.client.poll_event();
            pair.client
                .send_data(&data[..data.len() / 2])
                .expect("half");
            pair.drive();
            // The student's machine goes away: the server sees the stream end.
            let now = pair.now;
            let _ = pair.server.handle_eof(now);
            real.campus.pump_submit(&mut pair);
            assert!(pair.server.is_closed());
        }
    }
}

fn agree(real: &Real, model: &Model) {
    for (who, student) in STUDENTS.iter().enumerate() {
        let stored: Vec<(String, Vec<u8>)> = real
            .campus
            .board
            .stored
            .iter()
            .filter(|(e, _)| e.student_id == *student)
            .map(|(e, b)| (e.id.clone(), b.clone()))
            .collect();
        let want: Vec<(String, Vec<u8>)> = model
            .held
            .get(&who)
            .map(|h| {
                h.iter()
                    .map(|(id, _, d, _)| (id.clone(), d.clone()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(stored, want, "student {student}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn blackboard_always_holds_exactly_what_the_model_says(actions in prop::collection::vec(action(), 1..25)) {
        let mut real = Real { campus: Campus::new(t0()), identities: HashMap::new(), conns: HashMap::new() };
        let mut model = Model::default();
        for a in &actions {
            step(&mut real, &mut model, a);
            agree(&real, &model);
        }
    }
}
