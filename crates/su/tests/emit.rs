//! Lines pass or are suppressed by the module level, and reach a `tracing`
//! subscriber with the module's target.

use sofia_su::log::{REGISTRY, captured};
use sofia_su::su_log;

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
