//! Lines pass or are suppressed by the module level, and reach a `tracing`
//! subscriber with the module's target.

use sofia_su::log::REGISTRY;
use sofia_su::su_log;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured(f: impl FnOnce()) -> String {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = capture.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

// One test function: the global registry is shared by every test in a binary.
#[test]
fn level_gates_lines_and_target_names_module() {
    REGISTRY.set_level("nta", 3).unwrap();
    let out = captured(|| {
        su_log!(NTA, 5, "signalling line {}", 1);
        su_log!(NTA, 3, "progress line {}", 2);
    });
    assert!(!out.contains("signalling line"), "{out}");
    assert!(out.contains("progress line 2"), "{out}");
    assert!(out.contains("sofia::nta"), "{out}");
    assert!(out.contains("sofia_level=3"), "{out}");

    REGISTRY.set_level("nta", 5).unwrap();
    let out = captured(|| {
        su_log!(NTA, 5, "signalling line {}", 1);
        su_log!(NTA, 7, "media line");
    });
    assert!(out.contains("signalling line 1"), "{out}");
    assert!(out.contains("DEBUG"), "{out}");
    assert!(!out.contains("media line"), "{out}");

    // A module following the default sees a run-time change of the default.
    REGISTRY.reset("tport").unwrap();
    REGISTRY.set_default(9).unwrap();
    let out = captured(|| su_log!(TPORT, 9, "trace line"));
    assert!(out.contains("sofia::tport"), "{out}");
    assert!(out.contains("trace line"), "{out}");
    REGISTRY.set_default(3).unwrap();
    let out = captured(|| su_log!(TPORT, 9, "trace line"));
    assert!(out.is_empty(), "{out}");
    // ... but an explicitly set module does not.
    let out = captured(|| su_log!(NTA, 5, "still on"));
    assert!(out.contains("still on"), "{out}");
}
