//! Allocation accounting of `Message::parse` with a counting global allocator.
//!
//! - Parsing a typical INVITE (RFC 4475's `wsinv` and a plain 900-byte one)
//!   makes exactly one allocation beyond the caller's `Bytes`, the header
//!   index, on a thread that has not dropped a message yet; and none once a
//!   dropped message has left its index in the thread's pool.
//! - For every RFC 4475 message and for random inputs, the bytes one parse
//!   allocates are at most `32 * len + 1024`.
//!
//! Allocations are counted by dhat's allocator in testing mode (no unsafe
//! code here). dhat counts every thread; this file has one test, so only the
//! measuring thread allocates while it runs.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use sofia_msg::Message;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allocations and bytes allocated by `f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    allocs: usize,
    bytes: usize,
}

fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let before = dhat::HeapStats::get();
    let r = f();
    let after = dhat::HeapStats::get();
    let usage = Usage {
        allocs: (after.total_blocks - before.total_blocks) as usize,
        bytes: (after.total_bytes - before.total_bytes) as usize,
    };
    (r, usage)
}

/// Parses `data` (the caller's `Bytes`, made before the measurement) and
/// returns what the parse allocated.
fn parse_usage(data: Bytes) -> (bool, Usage) {
    let (ok, usage) = measure(|| {
        let parsed = Message::parse(data);
        let ok = parsed.is_ok();
        // Dropping the message frees, and does not allocate.
        drop(parsed);
        ok
    });
    (ok, usage)
}

fn bound(len: usize) -> usize {
    32 * len + 1024
}

fn torture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/rfc4475/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A plain INVITE with an SDP body, exactly 900 bytes long.
fn plain_invite() -> Vec<u8> {
    let head = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
                Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
                Max-Forwards: 70\r\n\
                To: Bob <sip:bob@biloxi.example.com>\r\n\
                From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
                Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
                CSeq: 314159 INVITE\r\n\
                Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n\
                Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, UPDATE\r\n\
                Supported: replaces, timer, 100rel\r\n\
                User-Agent: sofia-rs alloc test\r\n\
                Content-Type: application/sdp\r\n";
    let sdp = "v=0\r\n\
               o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
               s=Session SDP\r\n\
               c=IN IP4 192.0.2.101\r\n\
               t=0 0\r\n\
               m=audio 49172 RTP/AVP 0 8 101\r\n\
               a=rtpmap:0 PCMU/8000\r\n\
               a=rtpmap:8 PCMA/8000\r\n\
               a=rtpmap:101 telephone-event/8000\r\n\
               a=fmtp:101 0-15\r\n\
               a=ptime:20\r\n\
               a=sendrecv\r\n";
    // Pad the SDP with an attribute line so the whole message is 900 bytes.
    let fixed = head.len() + "Content-Length: 000\r\n\r\n".len() + sdp.len();
    let pad_line = "a=x-pad:\r\n".len();
    let pad = 900 - fixed - pad_line;
    let body = format!("{sdp}a=x-pad:{}\r\n", "p".repeat(pad));
    let msg = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
    assert_eq!(msg.len(), 900, "plain INVITE must be 900 bytes");
    msg.into_bytes()
}

/// A small message that parses.
const WARM: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";

/// One test, so that nothing else runs while the counters are in use.
#[test]
fn parse_allocations() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // Warm up lazily initialized state (thread-locals, the mutex).
    let _ = parse_usage(Bytes::from_static(b"OPTIONS sip:a SIP/2.0\r\n\r\n"));

    // Exactly one allocation (the header index) for a typical INVITE on a
    // fresh thread, and none for the next one, whether the caller's Bytes is
    // static, shared (as cut by the StreamFramer) or freshly made from a Vec.
    for (name, data) in [
        ("wsinv.dat", torture("wsinv.dat")),
        ("plain 900-byte INVITE", plain_invite()),
    ] {
        let msg = Message::parse(Bytes::from(data.clone())).expect(name);
        assert!(msg.header_count() > 5, "{name}");
        let leaked: &'static [u8] = Vec::leak(data.clone());
        let shared = bytes::BytesMut::from(&data[..]).split().freeze();
        for (kind, bytes) in [
            ("static", Bytes::from_static(leaked)),
            ("shared", shared),
            ("from Vec", Bytes::from(data.clone())),
        ] {
            let again = bytes.clone();
            let (first, second) = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        // The thread's pool, with its one-time allocation,
                        // exists; the message kept alive holds the only
                        // pooled index, so the pool is empty again.
                        drop(Message::parse(Bytes::from_static(WARM)));
                        let _held = Message::parse(Bytes::from_static(WARM));
                        (parse_usage(bytes), parse_usage(again))
                    })
                    .join()
                    .expect("parse thread")
            });
            let ((ok, usage), (ok2, usage2)) = (first, second);
            assert!(ok && ok2, "{name} ({kind}) does not parse");
            assert_eq!(
                usage.allocs, 1,
                "{name} ({kind} Bytes), empty pool: {usage:?}, expected only the header index"
            );
            assert_eq!(
                usage2.allocs, 0,
                "{name} ({kind} Bytes), pooled index: {usage2:?}, expected none"
            );
        }
    }

    // Bytes allocated per parse are bounded by the input size.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc4475");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect(dir) {
        let path = entry.expect(dir).path();
        let data = std::fs::read(&path).expect("read");
        let len = data.len();
        let (_, usage) = parse_usage(Bytes::from(data));
        assert!(
            usage.bytes <= bound(len),
            "{}: {usage:?} for {len} bytes",
            path.display()
        );
        files += 1;
    }
    assert!(files >= 40, "RFC 4475 messages missing in {dir}");

    // Random inputs: raw bytes, and line-heavy ones (the header index grows
    // with the number of lines).
    let line_heavy = vec(
        prop_oneof![
            Just(b"\n".to_vec()),
            Just(b"a:b\n".to_vec()),
            Just(b"X:\r\n".to_vec()),
            Just(b"\r\n ".to_vec()),
            vec(any::<u8>(), 1..8),
        ],
        0..400,
    )
    .prop_map(|parts| {
        let mut out = b"INVITE sip:a@b SIP/2.0\n".to_vec();
        out.extend(parts.into_iter().flatten());
        out
    });
    let inputs = prop_oneof![vec(any::<u8>(), 0..2048), line_heavy];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(512));
    runner
        .run(&inputs, |data| {
            let len = data.len();
            let (_, usage) = parse_usage(Bytes::from(data));
            prop_assert!(usage.bytes <= bound(len), "{:?} for {} bytes", usage, len);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
