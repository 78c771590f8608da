//! Parses arbitrary bytes as a SIP message; a message that parses must survive
//! every check and typed header parser and round-trip through `write_to`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sofia_msg::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(Bytes::copy_from_slice(data)) {
        sofia_fuzz::exercise_message(&msg);
    }
});
