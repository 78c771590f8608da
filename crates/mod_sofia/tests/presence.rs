//! Presence in the `sofia` daemon, end to end over SIP on 127.0.0.1 and
//! checked with `sofia -x`: a sofia-nua phone subscribes to another user's
//! presence and gets a NOTIFY for each change as that user registers,
//! PUBLISHes open and closed states, removes its publication and
//! unregisters; `sofia_presence_data` shows the published status; PUBLISH
//! refusals (412, 489, 400); `sofia profile internal check_sync` sends the
//! check-sync NOTIFY to a registered phone; `sofia status profile internal
//! pres <host>`. The commands' formats are also checked against a state
//! held in memory.

mod common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

use mod_sofia::commands::{
    ProfileAction, ProfileStatus, RegFilter, RegistrationRow, SofiaState, execute_sync,
};
use mod_sofia::presence::PresenceRow;
use sofia_nua::{Config, Event, EventKind, Nua};

use common::{TempDir, out, profile_port, start};

const WAIT: Duration = Duration::from_secs(20);

/// Profile `internal` on 127.0.0.1 (a port the system picks), REGISTERs
/// from loopback accepted without authentication, users 1000 and 1001 in
/// domain 127.0.0.1, and the extra `<param>`s.
fn write_config(dir: &TempDir, params: &[(&str, &str)]) -> PathBuf {
    let extra: String = params
        .iter()
        .map(|(n, v)| format!("        <param name=\"{n}\" value=\"{v}\"/>\n"))
        .collect();
    let conf = dir.0.join("conf/autoload_configs/sofia.conf.xml");
    std::fs::write(
        &conf,
        format!(
            r#"<configuration name="sofia.conf" description="sofia Endpoint">
  <profiles>
    <profile name="internal">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
        <param name="challenge-realm" value="auto_from"/>
        <param name="apply-register-acl" value="127.0.0.0/8"/>
{extra}      </settings>
    </profile>
  </profiles>
</configuration>
"#
        ),
    )
    .unwrap();
    common::write_users(dir, &[("1000", "password1000"), ("1001", "password1001")]);
    conf
}

/// A plain UDP phone sending hand-written requests.
struct RawPhone {
    sock: UdpSocket,
    cseq: u32,
}

impl RawPhone {
    fn new() -> RawPhone {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        RawPhone { sock, cseq: 0 }
    }

    /// Sends a request (`head` is everything after the Via, CSeq and
    /// Content-Length) and returns the final response.
    fn request(&mut self, port: u16, method: &str, uri: &str, head: &str, body: &str) -> String {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let msg = format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-pres-{cseq}-{n};rport\r\n\
             Max-Forwards: 70\r\n\
             CSeq: {cseq} {method}\r\n\
             {head}\
             Content-Length: {len}\r\n\r\n{body}",
            cseq = self.cseq,
            n = std::process::id(),
            len = body.len()
        );
        self.sock
            .send_to(msg.as_bytes(), ("127.0.0.1", port))
            .unwrap();
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a response");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 ") {
                continue;
            }
            let status: u16 = text[8..11].parse().expect("a status");
            if status >= 200 {
                return text;
            }
        }
    }

    fn register(&mut self, port: u16, user: &str, call_id: &str, expires: u32) -> String {
        let me = self.sock.local_addr().unwrap();
        self.request(
            port,
            "REGISTER",
            &format!("sip:127.0.0.1:{port}"),
            &format!(
                "From: <sip:{user}@127.0.0.1>;tag=r{c}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
                 Call-ID: {call_id}\r\nContact: <sip:{user}@{me}>\r\nExpires: {expires}\r\n\
                 User-Agent: raw-phone\r\n",
                c = self.cseq
            ),
            "",
        )
    }

    fn publish(
        &mut self,
        port: u16,
        user: &str,
        event: &str,
        if_match: Option<&str>,
        expires: Option<u32>,
        body: &str,
    ) -> String {
        let mut head = format!(
            "From: <sip:{user}@127.0.0.1>;tag=p{c}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: pub-{c}-{user}\r\nEvent: {event}\r\n",
            c = self.cseq
        );
        if let Some(tag) = if_match {
            head.push_str(&format!("SIP-If-Match: {tag}\r\n"));
        }
        if let Some(e) = expires {
            head.push_str(&format!("Expires: {e}\r\n"));
        }
        if !body.is_empty() {
            head.push_str("Content-Type: application/pidf+xml\r\n");
        }
        self.request(
            port,
            "PUBLISH",
            &format!("sip:{user}@127.0.0.1:{port}"),
            &head,
            body,
        )
    }
}

fn status_of(resp: &str) -> u16 {
    resp[8..11].parse().unwrap()
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

fn pidf(user: &str, basic: &str, activity: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:{user}@127.0.0.1\">\r\n\
         <tuple id=\"t1\"><status><basic>{basic}</basic></status></tuple>\r\n\
         <dm:person id=\"p1\"><rpid:activities><rpid:{activity}/></rpid:activities>\
         <dm:note>{note}</dm:note></dm:person>\r\n</presence>\r\n"
    )
}

/// Waits for an `i_notify` whose body has every one of `parts`; returns the
/// body.
async fn notify_with(events: &mut tokio::sync::mpsc::Receiver<Event>, parts: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no NOTIFY with {parts:?}; saw:\n{}", seen.join("\n---\n")))
            .expect("the user agent runs");
        if ev.kind == EventKind::RSubscribe {
            assert_eq!(ev.status, 200, "SUBSCRIBE refused: {ev}");
        }
        if ev.kind != EventKind::INotify {
            continue;
        }
        let body = ev
            .message
            .as_ref()
            .map(|m| String::from_utf8_lossy(m.body_bytes()).into_owned())
            .unwrap_or_default();
        if parts.iter().all(|p| body.contains(p)) {
            return body;
        }
        seen.push(body);
    }
}

async fn r_event(events: &mut tokio::sync::mpsc::Receiver<Event>, kind: EventKind) -> Event {
    loop {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("an answer")
            .expect("the user agent runs");
        if ev.kind == kind {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_sees_registration_and_published_presence() {
    let dir = TempDir::new("watch");
    let conf = write_config(&dir, &[]);
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();

    // 1000 watches 1001, who is not registered: closed.
    let (watcher, mut wev) = Nua::new(Config::default()).await.unwrap();
    let h = watcher
        .handle(&format!("sip:1001@127.0.0.1:{port}"))
        .unwrap();
    h.subscribe("presence", Some("application/pidf+xml"), Some(600))
        .unwrap();
    // The first NOTIFY may come before the 200 is reported: both are
    // waited for together (a refused SUBSCRIBE fails the wait).
    let doc = notify_with(&mut wev, &["<basic>closed</basic>"]).await;
    assert!(doc.contains("entity='sip:1001@127.0.0.1'"), "{doc}");
    assert!(doc.contains("<dm:note>Unregistered</dm:note>"), "{doc}");

    // 1001 registers: open, Available.
    let mut phone = RawPhone::new();
    let r = tokio::task::block_in_place(|| phone.register(port, "1001", "reg-1001", 600));
    assert_eq!(status_of(&r), 200, "{r}");
    notify_with(
        &mut wev,
        &["<basic>open</basic>", "<dm:note>Available</dm:note>"],
    )
    .await;

    // 1001 publishes that it is on the phone.
    let (publisher, mut pev) = Nua::new(Config::default()).await.unwrap();
    let p = publisher
        .handle(&format!("sip:1001@127.0.0.1:{port}"))
        .unwrap();
    p.publish(
        "presence",
        "application/pidf+xml",
        pidf("1001", "open", "on-the-phone", "On the phone"),
        Some(300),
    )
    .unwrap();
    let ok = r_event(&mut pev, EventKind::RPublish).await;
    assert_eq!(ok.status, 200);
    let resp = ok.message.expect("the 200");
    assert!(resp.header(sofia_msg::HeaderName::SipETag).is_some());
    assert_eq!(resp.header(sofia_msg::HeaderName::Expires), Some("300"));
    notify_with(
        &mut wev,
        &[
            "<basic>open</basic>",
            "<rpid:on-the-phone/>",
            "<dm:note>On the phone</dm:note>",
        ],
    )
    .await;
    let status = tokio::task::block_in_place(|| {
        out(&dir, "sofia_presence_data status internal/1001@127.0.0.1")
    });
    assert_eq!(status.trim_end(), "On the phone");
    let list = tokio::task::block_in_place(|| out(&dir, "sofia_presence_data list 1001@127.0.0.1"));
    let me = phone.sock.local_addr().unwrap();
    assert_eq!(
        list,
        format!(
            "status|rpid|user_agent|network_ip|network_port\n\
             On the phone|on-the-phone|raw-phone|127.0.0.1|{}\n+OK\n",
            me.port()
        )
    );

    // Closed: the watcher sees Unregistered.
    p.publish(
        "presence",
        "application/pidf+xml",
        pidf("1001", "closed", "away", "Gone"),
        Some(300),
    )
    .unwrap();
    assert_eq!(r_event(&mut pev, EventKind::RPublish).await.status, 200);
    notify_with(
        &mut wev,
        &["<basic>closed</basic>", "<dm:note>Unregistered</dm:note>"],
    )
    .await;

    // The publication removed: back to the registration's open state.
    p.unpublish().unwrap();
    assert_eq!(r_event(&mut pev, EventKind::RUnpublish).await.status, 200);
    notify_with(
        &mut wev,
        &["<basic>open</basic>", "<dm:note>Available</dm:note>"],
    )
    .await;
    let rpid = tokio::task::block_in_place(|| {
        out(&dir, "sofia_presence_data rpid internal/1001@127.0.0.1")
    });
    assert_eq!(rpid.trim_end(), "unknown");

    // Unregistered: closed.
    let r = tokio::task::block_in_place(|| phone.register(port, "1001", "reg-1001", 0));
    assert_eq!(status_of(&r), 200, "{r}");
    notify_with(&mut wev, &["<basic>closed</basic>"]).await;
    let list = tokio::task::block_in_place(|| out(&dir, "sofia_presence_data list 1001@127.0.0.1"));
    assert_eq!(list, "+OK\n");
    watcher.shutdown();
    publisher.shutdown();
}

#[test]
fn publish_refusals_and_the_etag_lifecycle() {
    let dir = TempDir::new("refuse");
    let conf = write_config(&dir, &[("force-publish-expires", "120")]);
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut phone = RawPhone::new();
    let doc = pidf("1000", "open", "away", "Out");

    let r = phone.publish(port, "1000", "dialog", None, None, &doc);
    assert_eq!(status_of(&r), 489, "{r}");
    assert_eq!(header(&r, "Allow-Events"), Some("presence"));
    let r = phone.publish(port, "1000", "presence", None, None, "");
    assert_eq!(status_of(&r), 400, "{r}");
    let r = phone.publish(port, "1000", "presence", Some("nosuchtag"), None, "");
    assert_eq!(status_of(&r), 412, "{r}");

    // Expires is lowered to force-publish-expires.
    let r = phone.publish(port, "1000", "presence", None, Some(3600), &doc);
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(header(&r, "Expires"), Some("120"));
    let e1 = header(&r, "SIP-ETag").expect("an entity tag").to_string();
    // Refresh: a new tag; the old one is then unknown.
    let r = phone.publish(port, "1000", "presence", Some(&e1), Some(60), "");
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(header(&r, "Expires"), Some("60"));
    let e2 = header(&r, "SIP-ETag").unwrap().to_string();
    assert_ne!(e1, e2);
    assert_eq!(
        status_of(&phone.publish(port, "1000", "presence", Some(&e1), None, "")),
        412
    );
    // Remove.
    let r = phone.publish(port, "1000", "presence", Some(&e2), Some(0), "");
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(header(&r, "Expires"), Some("0"));
    assert_eq!(
        status_of(&phone.publish(port, "1000", "presence", Some(&e2), None, "")),
        412
    );
    // OPTIONS lists PUBLISH.
    let r = phone.request(
        port,
        "OPTIONS",
        &format!("sip:127.0.0.1:{port}"),
        "From: <sip:1000@127.0.0.1>;tag=o\r\nTo: <sip:127.0.0.1>\r\nCall-ID: opt-1\r\n",
        "",
    );
    assert!(header(&r, "Allow").unwrap().contains("PUBLISH"), "{r}");
}

#[test]
fn check_sync_notifies_the_phone_and_without_target_expires_every_registration() {
    let dir = TempDir::new("sync");
    let conf = write_config(&dir, &[("presence-hosts", "127.0.0.1")]);
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut phone = RawPhone::new();
    assert_eq!(
        status_of(&phone.register(port, "1000", "cid-sync", 600)),
        200
    );
    let me = phone.sock.local_addr().unwrap();

    assert_eq!(
        out(&dir, "sofia profile internal check_sync 1000@127.0.0.1"),
        "+OK syncing all registrations matching specified call_id\n"
    );
    let mut buf = [0u8; 4096];
    let (n, _) = phone.sock.recv_from(&mut buf).expect("a check-sync NOTIFY");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        text.starts_with(&format!("NOTIFY sip:1000@{me} SIP/2.0\r\n")),
        "{text}"
    );
    assert_eq!(header(&text, "Event"), Some("check-sync"), "{text}");
    assert_eq!(header(&text, "Call-ID"), Some("cid-sync"), "{text}");
    assert_eq!(
        header(&text, "Content-Type"),
        Some("application/simple-message-summary")
    );
    // The registration stays.
    assert_eq!(
        out(&dir, "sofia_count_reg internal/1000@127.0.0.1").trim(),
        "1"
    );
    // By Call-ID too.
    assert_eq!(
        out(&dir, "sofia profile internal check_sync cid-sync"),
        "+OK syncing all registrations matching specified call_id\n"
    );
    phone.sock.recv_from(&mut buf).expect("a second NOTIFY");

    // `pres <host>`: the profile's lines and the registrations whose
    // presence hosts have it.
    let pres = out(&dir, "sofia status profile internal pres 127.0.0.1");
    assert!(pres.contains("Pres Hosts       \t127.0.0.1\n"), "{pres}");
    assert!(pres.contains("\nRegistrations:\n"), "{pres}");
    assert!(pres.contains("User:       \t1000@127.0.0.1\n"), "{pres}");
    assert!(pres.contains("Total items returned: 1\n"), "{pres}");
    let none = out(&dir, "sofia status profile internal pres example.org");
    assert!(none.contains("Total items returned: 0\n"), "{none}");

    // Without a target every registration goes, as in FreeSWITCH.
    assert_eq!(
        out(&dir, "sofia profile internal check_sync"),
        "+OK syncing all registrations\n"
    );
    assert_eq!(
        out(&dir, "sofia_count_reg internal/1000@127.0.0.1").trim(),
        "0"
    );
}

/// A state in memory for the command formats.
struct Fake {
    rows: Vec<(String, PresenceRow)>,
    synced: Vec<(String, Option<String>)>,
    flushed: Vec<String>,
}

impl SofiaState for Fake {
    fn profiles(&self) -> Vec<ProfileStatus> {
        ["internal", "external"]
            .iter()
            .map(|n| ProfileStatus {
                name: n.to_string(),
                running: true,
                aliases: if *n == "internal" {
                    vec!["example.com".into()]
                } else {
                    Vec::new()
                },
                ..ProfileStatus::default()
            })
            .collect()
    }
    fn registrations(&self, _: &str, _: &RegFilter) -> Vec<RegistrationRow> {
        Vec::new()
    }
    fn flush_inbound_reg(&mut self, profile: &str, _: Option<&str>, _: bool) {
        self.flushed.push(profile.to_string());
    }
    fn set_siptrace(&mut self, _: Option<&str>, _: bool) {}
    fn set_watchdog(&mut self, _: Option<&str>, _: bool) {}
    fn reload_xml(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn profile_action(&mut self, _: &str, _: ProfileAction) -> Result<(), String> {
        Ok(())
    }
    fn restart_all(&mut self) {}
    fn default_domain(&self) -> Option<String> {
        Some("example.com".into())
    }
    fn presence_data(&self, profile: &str, user: &str, domain: &str) -> Vec<PresenceRow> {
        if user != "1000" || domain != "example.com" {
            return Vec::new();
        }
        self.rows
            .iter()
            .filter(|(p, _)| p == profile)
            .map(|(_, r)| r.clone())
            .collect()
    }
    fn check_sync(&mut self, profile: &str, target: Option<&str>) {
        self.synced
            .push((profile.to_string(), target.map(str::to_string)));
    }
}

#[test]
fn command_formats_are_freeswitchs() {
    let row = |status: Option<&str>, rpid: Option<&str>, ua: &str, port: &str| PresenceRow {
        status: status.map(str::to_string),
        rpid: rpid.map(str::to_string),
        user_agent: ua.to_string(),
        network_ip: "192.0.2.7".to_string(),
        network_port: port.to_string(),
    };
    let mut s = Fake {
        rows: vec![
            (
                "internal".into(),
                row(Some("On the phone"), Some("on-the-phone"), "snom", "5060"),
            ),
            ("internal".into(), row(None, None, "", "5062")),
            ("external".into(), row(Some("Away"), Some("away"), "x", "1")),
        ],
        synced: Vec::new(),
        flushed: Vec::new(),
    };
    let run = |s: &mut Fake, line: &str| execute_sync(line, s).text;
    assert_eq!(
        run(&mut s, "sofia_presence_data list internal/1000@example.com"),
        "status|rpid|user_agent|network_ip|network_port\n\
         On the phone|on-the-phone|snom|192.0.2.7|5060\n\
         unknown|unknown|unknown|192.0.2.7|5062\n+OK\n"
    );
    assert_eq!(
        run(
            &mut s,
            "sofia_presence_data status internal/1000@example.com"
        ),
        "On the phoneunknown"
    );
    assert_eq!(
        run(&mut s, "sofia_presence_data rpid 1000@example.com"),
        "on-the-phoneunknown"
    );
    assert_eq!(
        run(&mut s, "sofia_presence_data user_agent 1000"),
        "snomunknown"
    );
    // Another word lists without the +OK.
    assert!(run(&mut s, "sofia_presence_data other 1000@example.com").ends_with("|5062\n"));
    // No profile by that name or domain: every profile.
    assert_eq!(
        run(&mut s, "sofia_presence_data status */1000@example.com"),
        "On the phoneunknownAway"
    );
    assert_eq!(
        run(&mut s, "sofia_presence_data list 2000@example.com"),
        "+OK\n"
    );
    assert_eq!(run(&mut s, "sofia_presence_data list"), "");
    assert_eq!(run(&mut s, "sofia_presence_data"), "");

    let r = execute_sync("sofia profile internal check_sync 1000@example.com", &mut s);
    assert_eq!(
        (r.text.as_str(), r.ok),
        (
            "+OK syncing all registrations matching specified call_id\n",
            true
        )
    );
    assert_eq!(
        run(&mut s, "sofia profile example.com check_sync"),
        "+OK syncing all registrations\n"
    );
    assert_eq!(
        s.synced,
        vec![
            ("internal".to_string(), Some("1000@example.com".to_string())),
            ("internal".to_string(), None)
        ]
    );
    assert_eq!(
        run(&mut s, "sofia profile nope check_sync"),
        "Invalid Profile [nope]"
    );
}

#[test]
fn check_sync_without_target_flushes_by_default() {
    struct Minimal(Vec<String>);
    impl SofiaState for Minimal {
        fn profiles(&self) -> Vec<ProfileStatus> {
            vec![ProfileStatus {
                name: "internal".into(),
                running: true,
                ..ProfileStatus::default()
            }]
        }
        fn registrations(&self, _: &str, _: &RegFilter) -> Vec<RegistrationRow> {
            Vec::new()
        }
        fn flush_inbound_reg(&mut self, profile: &str, target: Option<&str>, reboot: bool) {
            assert_eq!((target, reboot), (None, false));
            self.0.push(profile.to_string());
        }
        fn set_siptrace(&mut self, _: Option<&str>, _: bool) {}
        fn set_watchdog(&mut self, _: Option<&str>, _: bool) {}
        fn reload_xml(&mut self) -> Result<(), String> {
            Ok(())
        }
        fn profile_action(&mut self, _: &str, _: ProfileAction) -> Result<(), String> {
            Ok(())
        }
        fn restart_all(&mut self) {}
    }
    let mut m = Minimal(Vec::new());
    execute_sync("sofia profile internal check_sync", &mut m);
    execute_sync("sofia profile internal check_sync 1000@h", &mut m);
    assert_eq!(m.0, vec!["internal".to_string()]);
    // Without presence data the lists are empty.
    assert_eq!(
        execute_sync("sofia_presence_data list internal/1000@h", &mut m).text,
        "+OK\n"
    );
}
