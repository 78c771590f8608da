//! Parses arbitrary UTF-8 as a URI; a URI that parses must be equivalent to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sofia_msg::Uri;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = Uri::parse(s) {
        sofia_fuzz::exercise_uri(&uri);
    }
});
