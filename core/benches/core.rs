//! Benchmarks of the protocol core, all in memory on the harness's virtual clock.
//!
//! Groups: `codec` (frames and messages), `handshake` (full and resumed mutual-TLS submission
//! handshakes), `receipt` (signing and verifying), `csr` (checking and signing a CSR) and
//! `upload` (a 1 MiB submission on a connected pair).
//!
//! Run with `cargo bench -p handin-core --bench core`; add `-- --test` to run each benchmark
//! once as a smoke test, or a name filter (`-- handshake`) to run one group.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use handin_core::frame::{FrameDecoder, CHUNK};
use handin_core::harness::{t0, Campus, StudentKey};
use handin_core::msg::Message;
use handin_core::pki::{check_csr, Ca, ServerName, StudentId, DEFAULT_STUDENT_LIFETIME};
use handin_core::{
    ClientConfig, Identity, Now, Receipt, ReceiptBody, ReceiptSigner, Role, SubmitClientEvent,
    UploadOffer,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const STUDENT: &str = "1155000001";
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
const MIB: usize = 1024 * 1024;

fn offer() -> UploadOffer {
    UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "main.rs".into(),
        size: 1_234_567,
        sha256: [0x5a; 32],
    }
}

/// Decodes every whole frame buffered in `d`; returns how many there were.
fn drain(d: &mut FrameDecoder) -> usize {
    let mut n = 0;
    while let Some(frame) = d.next_frame().expect("valid frames") {
        black_box(frame);
        n += 1;
    }
    n
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");

    // An upload offer: the largest of the small control messages a client sends.
    let submit = Message::Submit(offer());
    g.bench_function("submit_encode_decode", |b| {
        let mut out = BytesMut::with_capacity(256);
        let mut d = FrameDecoder::new();
        b.iter(|| {
            out.clear();
            black_box(&submit).encode(&mut out).expect("encodes");
            d.push(&out);
            let frame = d.next_frame().expect("valid").expect("whole");
            Message::decode(&frame).expect("decodes")
        });
    });

    // One full data chunk, as a sender puts it in a frame.
    let data = Message::Data(Bytes::from(vec![0xa5; CHUNK]));
    let mut wire = BytesMut::new();
    data.encode(&mut wire).expect("encodes");
    let wire = wire.freeze();
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.bench_function("data_16k_encode", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            black_box(&data).encode(&mut out).expect("encodes");
        });
    });
    // From wire bytes to the message: push into the decoder, take the frame, decode it.
    g.bench_function("data_16k_decode", |b| {
        let mut d = FrameDecoder::new();
        b.iter(|| {
            d.push(black_box(&wire));
            let frame = d.next_frame().expect("valid").expect("whole");
            Message::decode(&frame).expect("decodes")
        });
    });

    // A stream of 100 small frames of mixed kinds, arriving in 1 KiB pieces.
    let mut stream = BytesMut::new();
    for i in 0..100 {
        let m = match i % 4 {
            0 => Message::Submit(offer()),
            1 => Message::Ready,
            2 => Message::Data(Bytes::from(vec![i as u8; 20 + 3 * i])),
            _ => Message::DataEnd,
        };
        m.encode(&mut stream).expect("encodes");
    }
    let stream = stream.freeze();
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("decoder_100_frames_1k_pieces", |b| {
        b.iter_batched(
            FrameDecoder::new,
            |mut d| {
                let mut n = 0;
                for piece in stream.chunks(1024) {
                    d.push(black_box(piece));
                    n += drain(&mut d);
                }
                assert_eq!(n, 100);
                d
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// A campus with one enrolled student, and that student's identity.
fn campus_with_student() -> (Campus, Identity) {
    let mut campus = Campus::new(Now::new(Instant::now(), t0()));
    let identity = campus.new_student(STUDENT);
    (campus, identity)
}

fn expect_connected(event: Option<SubmitClientEvent>) {
    assert!(
        matches!(event, Some(SubmitClientEvent::Connected { .. })),
        "not connected: {event:?}"
    );
}

// Both benchmarks measure client and server together, from creating the two connections to the
// client's `Connected` (after the Welcome frame), plus the session tickets that follow. The
// server's share alone cannot be taken apart here: the client's flights carry fresh randomness,
// so they cannot be recorded once and replayed to many servers. The server-side cost under load
// is for the load generator to measure against a real server.
fn handshake(c: &mut Criterion) {
    let (campus, identity) = campus_with_student();
    let ca = campus.ca.cert().clone();
    let fresh_config = || {
        ClientConfig::new(Role::Submit, ca.clone(), Some(identity.clone()))
            .expect("client config")
            .with_timeouts(campus.timeouts)
    };

    let mut g = c.benchmark_group("handshake");

    // Full: a new client config each time, so its session cache is empty and nothing resumes.
    g.bench_function("full", |b| {
        b.iter_batched(
            fresh_config,
            |cfg| {
                let mut pair = campus.submit_pair_with(&cfg);
                pair.drive();
                expect_connected(pair.client.poll_event());
                pair
            },
            BatchSize::SmallInput,
        );
    });

    // Resumed: one client config whose cache holds tickets. Every resumed connection receives
    // new tickets, so the cache never runs dry.
    let cfg = fresh_config();
    let mut first = campus.submit_pair_with(&cfg);
    first.drive();
    expect_connected(first.client.poll_event());
    assert!(!first.server.handshake_info().resumed);
    let mut second = campus.submit_pair_with(&cfg);
    second.drive();
    expect_connected(second.client.poll_event());
    assert!(
        second.server.handshake_info().resumed,
        "the resumed benchmark must really resume"
    );
    g.bench_function("resumed", |b| {
        b.iter_with_large_drop(|| {
            let mut pair = campus.submit_pair_with(&cfg);
            pair.drive();
            expect_connected(pair.client.poll_event());
            pair
        });
    });
    g.finish();
}

fn receipt(c: &mut Criterion) {
    let ca = Ca::generate("Bench Root CA", t0(), 10 * YEAR).expect("CA");
    let names = [ServerName::Dns("localhost".into())];
    let issued = ca
        .issue_server("Blackboard", &names, t0(), YEAR)
        .expect("server certificate");
    let key = Identity::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes())
        .expect("server identity")
        .key;
    let signer = ReceiptSigner::new(&key, issued.cert.clone()).expect("signer");
    let body = ReceiptBody {
        id: "s42".into(),
        student_id: STUDENT.into(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "main.rs".into(),
        size: 1_234_567,
        sha256: [0x5a; 32],
        received_at: 1_788_300_000,
        due_at: 1_788_825_600,
        late: false,
        version: 2,
        committed_at: None,
        log: String::new(),
    };
    let receipt: Receipt = signer.sign(&body).expect("signs");
    assert_eq!(receipt.verify(&issued.cert).expect("verifies"), body);

    let mut g = c.benchmark_group("receipt");
    g.bench_function("sign", |b| {
        b.iter(|| signer.sign(black_box(&body)).expect("signs"));
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            black_box(&receipt)
                .verify(black_box(&issued.cert))
                .expect("verifies")
        });
    });
    g.finish();
}

fn csr(c: &mut Criterion) {
    let ca = Ca::generate("Bench Root CA", t0(), 10 * YEAR).expect("CA");
    let id = StudentId::parse(STUDENT).expect("student ID");
    let key = StudentKey::new(STUDENT);
    let checked = check_csr(&key.csr_der, Some(&id)).expect("a good CSR");

    let mut g = c.benchmark_group("csr");
    g.bench_function("check", |b| {
        b.iter(|| check_csr(black_box(&key.csr_der), Some(&id)).expect("a good CSR"));
    });
    g.bench_function("sign", |b| {
        b.iter(|| {
            ca.issue_student(black_box(&checked), t0(), DEFAULT_STUDENT_LIFETIME)
                .expect("issues")
        });
    });
    g.bench_function("check_and_sign", |b| {
        b.iter(|| {
            let checked = check_csr(black_box(&key.csr_der), Some(&id)).expect("a good CSR");
            ca.issue_student(&checked, t0(), DEFAULT_STUDENT_LIFETIME)
                .expect("issues")
        });
    });
    g.finish();
}

// Offer, Ready, the data, DataEnd, the signed receipt: one whole submission on a pair that is
// already connected, with the harness's in-memory board storing the file. `Campus::submit`
// feeds the data to the client in the harness's own piece size.
fn upload(c: &mut Criterion) {
    let (mut campus, identity) = campus_with_student();
    let mut pair = campus.submit_pair(Some(identity));
    campus.connect_submit(&mut pair).expect("connects");
    let data: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();

    let mut g = c.benchmark_group("upload");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("1mib", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: forget what earlier iterations stored and what the pump recorded,
                // so memory stays flat and every upload is the same first version.
                campus.board.stored.clear();
                pair.client_wire.clear();
                pair.server_wire.clear();
                let start = Instant::now();
                let out = campus.submit(&mut pair, "CSCI3180", "hw1", "big.bin", &data);
                total += start.elapsed();
                let (_, body) = out.expect("stored with a receipt");
                assert_eq!(body.size, MIB as u64);
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, codec, handshake, receipt, csr, upload);
criterion_main!(benches);
