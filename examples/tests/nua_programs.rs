//! `register` and `message` against `sip-registrar` and `sip-responder` on
//! 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A server program started on 127.0.0.1 and killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(program: &str, args: &[&str]) -> Server {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on udp/127.0.0.1:"), "{line}");
        let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        Server { child, port }
    }

    fn registrar() -> Server {
        Server::start(
            env!("CARGO_BIN_EXE_sip-registrar"),
            &[
                "--bind",
                "sip:127.0.0.1:0",
                "--user",
                "1000:secret",
                "--min-expires",
                "2",
            ],
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn register(args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_register"));
    cmd.args(args)
        .env_remove("SIP_USER")
        .env_remove("SIP_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

#[test]
fn register_refreshes_and_unregisters_on_sigint() {
    let registrar = Server::registrar();
    let aor = format!("sip:1000@127.0.0.1:{}", registrar.port);
    let mut child = register(
        &[&aor, "--expires", "2"],
        &[("SIP_USER", "1000"), ("SIP_PASSWORD", "secret")],
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The registration, then its refresh after 1 s.
    for _ in 0..2 {
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "r_register #1: 200 OK\n");
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    for l in out.lines() {
        rest.push_str(&l.unwrap());
        rest.push('\n');
    }
    assert!(rest.ends_with("r_unregister #1: 200 OK\n"), "{rest}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn register_fails_with_wrong_password_or_without_credentials() {
    let registrar = Server::registrar();
    let aor = format!("sip:1000@127.0.0.1:{}", registrar.port);
    let out = register(&[&aor, "--user", "1000", "--password", "bad"], &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("r_register #1: 40"), "{text}");
    let out = register(&[&aor], &[]).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn message(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_message"))
        .args(args)
        .env_remove("SIP_USER")
        .env_remove("SIP_PASSWORD")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn message_prints_the_final_status_and_exits_accordingly() {
    let responder = |status: &str| {
        Server::start(
            env!("CARGO_BIN_EXE_sip-responder"),
            &["--bind", "sip:127.0.0.1:0", "--status", status],
        )
    };
    let ok = responder("200");
    let uri = format!("sip:bob@127.0.0.1:{}", ok.port);
    assert_eq!(message(&[&uri, "hello"]), (0, "SIP/2.0 200 OK\n".into()));
    let busy = responder("486");
    let uri = format!("sip:bob@127.0.0.1:{}", busy.port);
    let (code, out) = message(&[&uri, "hello"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("SIP/2.0 486 "), "{out}");
    // A usage error.
    assert_eq!(message(&[]).0, 2);
    assert_eq!(message(&["not a uri", "x"]).0, 2);
}
