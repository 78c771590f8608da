//! `sofia loglevel` and `sofia tracelevel` change process-wide levels, so
//! they are checked in a test binary of their own.

use mod_sofia::commands::{NoProfiles, execute_sync};

fn run(line: &str) -> mod_sofia::commands::Reply {
    execute_sync(line, &mut NoProfiles)
}

#[test]
fn loglevel_and_tracelevel() {
    let reply = run("sofia loglevel nta 7");
    assert_eq!(
        reply.text,
        "Sofia log level for component [nta] has been set to [7]"
    );
    assert_eq!(sofia_su::log::NTA.level(), 7);
    assert_eq!(
        run("sofia loglevel nta").text,
        "Sofia-sip loglevel for [nta] is [7]"
    );
    assert_eq!(
        run("sofia loglevel all 2").text,
        "Sofia log level for component [all] has been set to [2]"
    );
    assert_eq!(sofia_su::log::TPORT.level(), 2);
    assert_eq!(
        run("sofia loglevel default 4").text,
        "Sofia log level for component [default] has been set to [4]"
    );
    assert_eq!(
        run("sofia loglevel default").text,
        "Sofia-sip loglevel for [default] is [4]"
    );
    for bad in [
        "sofia loglevel",
        "sofia loglevel nta 10",
        "sofia loglevel nta -1",
        "sofia loglevel frob 3",
        "sofia loglevel all",
        "sofia loglevel frob",
    ] {
        let reply = run(bad);
        assert!(reply.text.starts_with("USAGE:\n"), "{bad}");
        assert!(!reply.ok, "{bad}");
    }
    assert_eq!(sofia_su::log::NTA.level(), 2);

    assert_eq!(run("sofia tracelevel").text, "+OK tracelevel is CONSOLE");
    assert_eq!(run("sofia tracelevel info").text, "+OK tracelevel is INFO");
    assert_eq!(run("sofia tracelevel 3").text, "+OK tracelevel is ERR");
    assert_eq!(run("sofia tracelevel 99").text, "+OK tracelevel is DEBUG");
    assert_eq!(
        run("sofia tracelevel disable").text,
        "+OK tracelevel is DISABLE"
    );
    assert_eq!(
        run("sofia tracelevel bogus").text,
        "+OK tracelevel is DEBUG"
    );
    assert_eq!(mod_sofia::commands::tracelevel(), 64);
    run("sofia tracelevel console");
}
