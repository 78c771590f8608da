//! Feeds a byte stream to the `StreamFramer` in pieces cut at fuzzer-chosen
//! points, drains the frames and parses each message frame. The frames must
//! not depend on how the stream was cut.
//!
//! Input layout: byte 0 is the number `n` (mod 16) of piece lengths that
//! follow; the next `n` bytes are piece lengths (each plus one), used in
//! turn; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sofia_msg::{Frame, Limits, Message, StreamFramer};

/// A small limit so that the size checks are reached with short inputs.
const LIMITS: Limits = Limits {
    max_size: 4096,
    max_headers: 64,
};

/// Pushes the pieces one by one, draining frames after each; returns the
/// frames and whether the framer failed.
fn frame<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<Frame>, bool) {
    let mut framer = StreamFramer::new(LIMITS);
    let mut frames = Vec::new();
    for piece in pieces {
        framer.push(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    // Once failed, the framer stays failed.
                    assert_eq!(framer.next_frame(), Err(e));
                    return (frames, true);
                }
            }
        }
        // Whatever is left waits for more bytes and fits the limit.
        assert!(framer.buffered() <= LIMITS.max_size);
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (lens, stream) = rest.split_at(n);

    let mut pieces = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let len = lens
            .get(i % lens.len().max(1))
            .map_or(stream.len(), |&l| usize::from(l) + 1);
        let end = (at + len).min(stream.len());
        pieces.push(&stream[at..end]);
        at = end;
        i += 1;
    }

    let (frames, failed) = frame(pieces.iter().copied());
    let (whole, whole_failed) = frame(std::iter::once(stream));
    assert_eq!(frames, whole, "frames depend on where the stream was cut");
    assert_eq!(
        failed, whole_failed,
        "failure depends on where the stream was cut"
    );

    for f in frames {
        if let Frame::Message(bytes) = f {
            assert!(bytes.len() <= LIMITS.max_size);
            if let Ok(msg) = Message::parse_with(bytes, &LIMITS) {
                sofia_fuzz::exercise_message(&msg);
            }
        }
    }
});
