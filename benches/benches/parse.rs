//! Parse and serialize throughput of `sofia-msg`, in messages (or URIs) per
//! second: `cargo bench -p sofia-benches --bench parse`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sofia_benches::{INVITE, OK_200, REGISTER, URI};
use sofia_msg::{Message, Uri};

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, data) in [
        ("invite_sdp_899B", INVITE),
        ("register", REGISTER),
        ("200_ok", OK_200),
    ] {
        let buf = Bytes::from_static(data);
        let msg = Message::parse(buf.clone()).expect("sample message parses");
        assert!(msg.check().is_ok(), "{name}: {:?}", msg.check());
        group.bench_function(name, |b| {
            b.iter(|| Message::parse(black_box(buf.clone())));
        });
    }
    group.finish();
}

fn serialize(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize");
    group.throughput(Throughput::Elements(1));
    let msg = Message::parse(Bytes::from_static(INVITE)).expect("INVITE parses");
    let mut out = Vec::with_capacity(2048);
    group.bench_function("invite_sdp_899B", |b| {
        b.iter(|| {
            out.clear();
            black_box(&msg).write_to(&mut out);
            black_box(out.len())
        });
    });
    group.finish();
}

fn uri(c: &mut Criterion) {
    let mut group = c.benchmark_group("uri");
    group.throughput(Throughput::Elements(1));
    Uri::parse(URI).expect("sample URI parses");
    group.bench_function("parse", |b| b.iter(|| Uri::parse(black_box(URI))));
    group.finish();
}

criterion_group!(benches, parse, serialize, uri);
criterion_main!(benches);
