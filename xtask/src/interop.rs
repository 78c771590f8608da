//! Interop suites against real peers on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};

use crate::{Result, pcap, workspace_root};

/// Where suites keep their files.
fn work_dir() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("interop");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Messages written by sofia-msg: every RFC 4475 message that passes
/// `check()`, re-serialized, and messages made by the builders.
fn written_messages() -> Result<Vec<(String, Message)>> {
    let dir = workspace_root().join("crates/msg/tests/data/rfc4475");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let Ok(msg) = Message::parse(Bytes::from(data)) else {
            continue;
        };
        if msg.check().is_err() {
            continue;
        }
        let written = Message::parse(msg.to_bytes())
            .map_err(|e| format!("{}: re-serialized message does not parse: {e}", path.display()))?;
        out.push((file_name(&path), written));
    }
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let invite = RequestBuilder::new(Method::Invite, "sip:bob@127.0.0.1")
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinterop1;rport")
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "\"Alice\" <sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>")
        .header(HeaderName::CallId, "interop-invite@127.0.0.1")
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, "<sip:alice@127.0.0.1:5060>")
        .body("application/sdp", sdp)
        .build()
        .map_err(|e| format!("builder INVITE: {e}"))?;
    let ok = ResponseBuilder::reply_to(&invite, 200, "OK", Some("b2"))
        .header(HeaderName::Contact, "<sip:bob@127.0.0.1:5060>")
        .body("application/sdp", sdp)
        .build()
        .map_err(|e| format!("builder 200: {e}"))?;
    let register = RequestBuilder::new(Method::Register, "sip:127.0.0.1")
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinterop2")
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:1000@127.0.0.1>;tag=r1")
        .header(HeaderName::To, "<sip:1000@127.0.0.1>")
        .header(HeaderName::CallId, "interop-register@127.0.0.1")
        .header(HeaderName::CSeq, "1 REGISTER")
        .header(HeaderName::Contact, "<sip:1000@127.0.0.1:5060>;expires=3600")
        .build()
        .map_err(|e| format!("builder REGISTER: {e}"))?;
    out.push(("builder-invite".into(), invite));
    out.push(("builder-200".into(), ok));
    out.push(("builder-register".into(), register));
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// tshark dissects everything sofia-msg writes as SIP, without malformed
/// frames, with the method or status and the Call-ID we wrote.
pub fn tshark_dissects_written_messages() -> Result {
    let messages = written_messages()?;
    let payloads: Vec<Vec<u8>> = messages.iter().map(|(_, m)| m.to_bytes().to_vec()).collect();
    let pcap_path = work_dir()?.join("sofia-msg-written.pcap");
    let mut file = std::fs::File::create(&pcap_path)
        .map_err(|e| format!("{}: {e}", pcap_path.display()))?;
    pcap::write_udp(&mut file, 5060, &payloads).map_err(|e| format!("pcap: {e}"))?;
    drop(file);
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(&pcap_path)
        .args(["-o", "sip.desegment_headers:FALSE"])
        .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=f"])
        .args(["-e", "frame.number", "-e", "sip.Method", "-e", "sip.Status-Code"])
        .args(["-e", "sip.Call-ID", "-e", "_ws.malformed", "-e", "_ws.expert.severity"])
        .output()
        .map_err(|e| format!("cannot run tshark: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "tshark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    if rows.len() != messages.len() {
        return Err(format!(
            "tshark saw {} frames, {} were written",
            rows.len(),
            messages.len()
        ));
    }
    let mut problems = Vec::new();
    for ((name, msg), row) in messages.iter().zip(&rows) {
        let field = |i: usize| row.get(i).copied().unwrap_or("");
        let expected_start = if msg.is_request() {
            msg.method_str().to_string()
        } else {
            msg.status().map(|s| s.to_string()).unwrap_or_default()
        };
        let seen_start = if msg.is_request() { field(1) } else { field(2) };
        if seen_start != expected_start {
            problems.push(format!("{name}: tshark read {seen_start:?}, we wrote {expected_start:?}"));
        }
        if field(3) != msg.call_id().unwrap_or("") {
            problems.push(format!(
                "{name}: tshark read Call-ID {:?}, we wrote {:?}",
                field(3),
                msg.call_id()
            ));
        }
        if !field(4).is_empty() {
            problems.push(format!("{name}: tshark reports a malformed frame"));
        }
    }
    println!(
        "interop: tshark dissected {} messages written by sofia-msg ({})",
        messages.len(),
        pcap_path.display()
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}
