//! The registrar, sans-IO: FreeSWITCH's REGISTER handling rule by rule.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mod_sofia::registrar::{
    AclCheck, DefaultAcl, Event, MultipleRegistrations, RegisterOutcome, Registrar, RegistrarAcl,
    RegistrarSettings,
};
use mod_sofia::store::{MemoryRegistrationStore, RegistrationStore, StoreOp};
use sofia_iptsec::{AuthClient, MemoryStore};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_tport::Transport;

const T0: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn directory() -> MemoryStore {
    let mut d = MemoryStore::new();
    d.add_password("1000", None, "secret");
    d.add_password("1001", None, "secret1");
    d
}

fn src() -> SocketAddr {
    "192.0.2.7:5060".parse().unwrap()
}

/// A REGISTER for `user` with the given Call-ID, Contact values and extra
/// headers.
fn register(
    user: &str,
    call_id: &str,
    cseq: u32,
    contacts: &[&str],
    extra: &[(HeaderName, String)],
) -> Message {
    let mut b = RequestBuilder::new(Method::Register, "sip:example.com")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            &format!("<sip:{user}@example.com>;tag=f1"),
        )
        .header(HeaderName::To, &format!("<sip:{user}@example.com>"))
        .header(HeaderName::CallId, call_id)
        .header(HeaderName::CSeq, &format!("{cseq} REGISTER"))
        .header(HeaderName::UserAgent, "test-phone/1.0");
    for c in contacts {
        b = b.header(HeaderName::Contact, c);
    }
    for (n, v) in extra {
        b = b.header(*n, v);
    }
    b.build().unwrap()
}

/// Sends a REGISTER, answers the challenge with `password`, returns the
/// second outcome.
#[allow(clippy::too_many_arguments)]
fn authed<S: sofia_iptsec::CredentialStore, A: RegistrarAcl>(
    r: &mut Registrar<S, A>,
    now: SystemTime,
    source: SocketAddr,
    transport: Transport,
    user: &str,
    password: &str,
    call_id: &str,
    contacts: &[&str],
    extra: &[(HeaderName, String)],
) -> RegisterOutcome {
    let first = register(user, call_id, 1, contacts, extra);
    let out = r.handle_register(now, source, transport, &first);
    let challenge = out.response.unwrap();
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    let mut client = AuthClient::new();
    client.add_credentials(None, user, password);
    assert!(client.handle_response(&challenge).unwrap());
    let mut extra2 = extra.to_vec();
    extra2.extend(client.authorize("REGISTER", "sip:example.com", b""));
    let second = register(user, call_id, 2, contacts, &extra2);
    r.handle_register(now, source, transport, &second)
}

fn reg(
    r: &mut Registrar<MemoryStore>,
    now: SystemTime,
    call_id: &str,
    contacts: &[&str],
) -> RegisterOutcome {
    authed(
        r,
        now,
        src(),
        Transport::Udp,
        "1000",
        "secret",
        call_id,
        contacts,
        &[],
    )
}

fn status(out: &RegisterOutcome) -> u16 {
    out.response.as_ref().and_then(|m| m.status()).unwrap_or(0)
}

fn contacts_of(out: &RegisterOutcome) -> Vec<String> {
    out.response
        .as_ref()
        .unwrap()
        .header_lines(HeaderName::Contact)
        .map(str::to_string)
        .collect()
}

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.name).collect()
}

fn registrar(settings: RegistrarSettings) -> Registrar<MemoryStore> {
    Registrar::new(settings, directory(), DefaultAcl)
}

fn bound(r: &Registrar<MemoryStore>) -> Vec<String> {
    let mut v: Vec<String> = r
        .contacts("1000", "example.com")
        .iter()
        .map(|x| mod_sofia::registrar::contact_uri(&x.contact).to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn challenge_then_200() {
    let mut r = registrar(RegistrarSettings::default());
    let req = register("1000", "c1", 1, &["<sip:1000@192.0.2.7:5060>"], &[]);
    let out = r.handle_register(at(0), src(), Transport::Udp, &req);
    assert_eq!(status(&out), 401);
    let resp = out.response.as_ref().unwrap();
    let chall = resp.header(HeaderName::WwwAuthenticate).unwrap();
    assert!(chall.contains("realm=\"example.com\""), "{chall}");
    assert!(chall.contains("algorithm=MD5"), "{chall}");
    assert_eq!(names(&out.events), ["sofia::pre_register"]);
    assert!(out.store_ops.is_empty());
    assert!(r.is_empty());

    let out = reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7:5060>"]);
    assert_eq!(status(&out), 200);
    assert_eq!(contacts_of(&out), ["<sip:1000@192.0.2.7:5060>;expires=300"]);
    assert!(
        out.response
            .as_ref()
            .unwrap()
            .header(HeaderName::Date)
            .is_some()
    );
    assert_eq!(
        names(&out.events),
        ["sofia::register_attempt", "sofia::register"]
    );
    assert_eq!(out.events[0].header("auth-result"), Some("SUCCESS"));
    let e = &out.events[1];
    assert_eq!(e.header("profile-name"), Some("internal"));
    assert_eq!(e.header("from-user"), Some("1000"));
    assert_eq!(e.header("from-host"), Some("example.com"));
    assert_eq!(e.header("status"), Some("Registered(UDP)"));
    assert_eq!(e.header("expires"), Some("300"));
    assert_eq!(e.header("network-ip"), Some("192.0.2.7"));
    assert_eq!(e.header("network-port"), Some("5060"));
    assert_eq!(e.header("username"), Some("1000"));
    assert_eq!(e.header("realm"), Some("example.com"));
    assert_eq!(e.header("user-agent"), Some("test-phone/1.0"));
    assert_eq!(e.header("call-id"), Some("c1"));
    assert_eq!(e.header("contact"), Some("\"\" <sip:1000@192.0.2.7:5060>"));

    assert_eq!(out.store_ops.len(), 2);
    assert!(matches!(out.store_ops[0], StoreOp::DeleteUser { .. }));
    let StoreOp::Insert(row) = &out.store_ops[1] else {
        panic!("expected an insert: {:?}", out.store_ops);
    };
    assert_eq!(row.sip_user, "1000");
    assert_eq!(row.sip_host, "example.com");
    assert_eq!(row.expires, (T0 + 300 + 60) as i64);
    assert_eq!(row.status, "Registered(UDP)");
    assert_eq!(row.sip_username, "1000");
    assert_eq!(row.sip_realm, "example.com");
    assert_eq!(row.network_ip, "192.0.2.7");
    assert_eq!(row.network_port, "5060");
    assert_eq!(row.ping_status, "Reachable");
    assert_eq!(row.mwi_user, "1000");
    assert_eq!(row.server_user, "1000");
    assert_eq!(r.len(), 1);
    assert_eq!(r.count(Some("1000"), "example.com"), 1);
    assert_eq!(r.count(None, "example.com"), 1);
    assert_eq!(r.count(None, "other.example"), 0);
    assert_eq!(r.all().count(), 1);
}

#[test]
fn wrong_password_is_forbidden_by_default() {
    let mut r = registrar(RegistrarSettings::default());
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "wrong",
        "c1",
        &["<sip:1000@192.0.2.7>"],
        &[],
    );
    assert_eq!(status(&out), 403);
    assert_eq!(
        names(&out.events),
        ["sofia::register_attempt", "sofia::register_failure"]
    );
    assert_eq!(out.events[0].header("auth-result"), Some("FORBIDDEN"));
    assert_eq!(out.events[1].header("registration-type"), Some("REGISTER"));
    assert!(r.is_empty());
    assert!(out.store_ops.is_empty());
}

#[test]
fn wrong_password_challenged_again_when_configured() {
    let mut s = RegistrarSettings::default();
    s.auth.forbid_wrong_credentials = false;
    let mut r = registrar(s);
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "wrong",
        "c1",
        &["<sip:1000@192.0.2.7>"],
        &[],
    );
    assert_eq!(status(&out), 401);
    assert!(r.is_empty());
}

#[test]
fn unknown_user_is_forbidden() {
    let mut r = registrar(RegistrarSettings::default());
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "2000",
        "x",
        "c1",
        &["<sip:2000@192.0.2.7>"],
        &[],
    );
    assert_eq!(status(&out), 403);
}

#[test]
fn multiple_registrations_false_replaces_everything() {
    let mut r = registrar(RegistrarSettings::default());
    assert_eq!(
        status(&reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7:5060>"])),
        200
    );
    let out = reg(&mut r, at(1), "c2", &["<sip:1000@192.0.2.8:5060>"]);
    assert_eq!(status(&out), 200);
    assert_eq!(bound(&r), ["sip:1000@192.0.2.8:5060"]);
    assert_eq!(contacts_of(&out), ["<sip:1000@192.0.2.8:5060>;expires=300"]);
}

#[test]
fn multiple_registrations_call_id_replaces_same_call_id() {
    let mut r = registrar(RegistrarSettings {
        multiple_registrations: MultipleRegistrations::CallId,
        ..RegistrarSettings::default()
    });
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7:5060>"]);
    reg(&mut r, at(0), "c2", &["<sip:1000@192.0.2.8:5060>"]);
    assert_eq!(
        bound(&r),
        ["sip:1000@192.0.2.7:5060", "sip:1000@192.0.2.8:5060"]
    );
    // Same Call-ID, new contact: replaces the first binding only.
    let out = reg(&mut r, at(10), "c1", &["<sip:1000@192.0.2.9:5060>"]);
    assert!(matches!(&out.store_ops[0], StoreOp::DeleteCallId { call_id, .. } if call_id == "c1"));
    assert_eq!(
        bound(&r),
        ["sip:1000@192.0.2.8:5060", "sip:1000@192.0.2.9:5060"]
    );
    // The 200 lists both, the old one with its remaining time.
    let mut c = contacts_of(&out);
    c.sort();
    assert_eq!(
        c,
        [
            "<sip:1000@192.0.2.8:5060>;expires=290",
            "<sip:1000@192.0.2.9:5060>;expires=300"
        ]
    );
    // Unregistering the Call-ID removes its binding.
    let out = reg(
        &mut r,
        at(20),
        "c2",
        &["<sip:1000@192.0.2.8:5060>;expires=0"],
    );
    assert_eq!(status(&out), 200);
    assert_eq!(bound(&r), ["sip:1000@192.0.2.9:5060"]);
    assert!(names(&out.events).contains(&"sofia::unregister"));
}

#[test]
fn multiple_registrations_contact_replaces_same_contact() {
    for setting in ["contact", "true"] {
        let mut r = registrar(RegistrarSettings {
            multiple_registrations: MultipleRegistrations::from_setting(setting),
            ..RegistrarSettings::default()
        });
        reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7:5060>"]);
        reg(&mut r, at(0), "c2", &["<sip:1000@192.0.2.8:5060>"]);
        // Same contact, new Call-ID: replaces that contact's binding.
        let out = reg(&mut r, at(5), "c3", &["<sip:1000@192.0.2.7:5060>"]);
        assert!(
            matches!(&out.store_ops[0], StoreOp::DeleteContact { contact, .. }
            if contact == "\"\" <sip:1000@192.0.2.7:5060>")
        );
        assert_eq!(
            bound(&r),
            ["sip:1000@192.0.2.7:5060", "sip:1000@192.0.2.8:5060"]
        );
        let call_ids: Vec<String> = r
            .contacts("1000", "example.com")
            .iter()
            .map(|x| x.call_id.clone())
            .collect();
        assert!(call_ids.contains(&"c3".to_string()), "{call_ids:?}");
        assert!(!call_ids.contains(&"c1".to_string()), "{call_ids:?}");
        // A new contact with the same Call-ID adds a binding.
        reg(&mut r, at(6), "c3", &["<sip:1000@192.0.2.9:5060>"]);
        assert_eq!(r.count(Some("1000"), "example.com"), 3);
        // One contact unregisters alone.
        reg(
            &mut r,
            at(7),
            "c2",
            &["<sip:1000@192.0.2.8:5060>;expires=0"],
        );
        assert_eq!(
            bound(&r),
            ["sip:1000@192.0.2.7:5060", "sip:1000@192.0.2.9:5060"]
        );
    }
}

#[test]
fn star_removes_all() {
    let mut r = registrar(RegistrarSettings {
        multiple_registrations: MultipleRegistrations::Contact,
        ..RegistrarSettings::default()
    });
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7:5060>"]);
    reg(&mut r, at(0), "c2", &["<sip:1000@192.0.2.8:5060>"]);
    assert_eq!(r.len(), 2);
    // `*` without Expires: 0 is refused, and changes nothing.
    let out = authed(
        &mut r,
        at(1),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c9",
        &["*"],
        &[(HeaderName::Expires, "3600".into())],
    );
    assert_eq!(status(&out), 400);
    assert_eq!(r.len(), 2);
    let out = authed(
        &mut r,
        at(1),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c9",
        &["*"],
        &[(HeaderName::Expires, "0".into())],
    );
    assert_eq!(status(&out), 200);
    assert!(contacts_of(&out).is_empty());
    assert!(r.is_empty());
    assert!(matches!(out.store_ops[0], StoreOp::DeleteUser { .. }));
    let unreg = out
        .events
        .iter()
        .find(|e| e.name == "sofia::unregister")
        .unwrap();
    assert_eq!(unreg.header("contact"), Some("*"));
}

#[test]
fn interval_too_brief() {
    let mut r = registrar(RegistrarSettings {
        min_expires: 60,
        ..RegistrarSettings::default()
    });
    let out = reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7>;expires=30"]);
    assert_eq!(status(&out), 423);
    assert_eq!(
        out.response
            .as_ref()
            .unwrap()
            .header(HeaderName::MinExpires),
        Some("60")
    );
    assert!(r.is_empty());
    // Expires: 0 is never too brief.
    let out = reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7>;expires=0"]);
    assert_eq!(status(&out), 200);
}

#[test]
fn expiry_clamped_to_max_and_contact_param_wins() {
    let mut r = registrar(RegistrarSettings {
        max_expires: 3600,
        ..RegistrarSettings::default()
    });
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7>;expires=7200"],
        &[(HeaderName::Expires, "120".into())],
    );
    assert_eq!(contacts_of(&out), ["<sip:1000@192.0.2.7>;expires=3600"]);
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7>"],
        &[(HeaderName::Expires, "120".into())],
    );
    assert_eq!(contacts_of(&out), ["<sip:1000@192.0.2.7>;expires=120"]);
}

#[test]
fn nat_from_private_contact() {
    let mut r = registrar(RegistrarSettings::default());
    let public: SocketAddr = "203.0.113.9:40000".parse().unwrap();
    let out = authed(
        &mut r,
        at(0),
        public,
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["\"Alice\" <sip:1000@10.0.0.5:5060>"],
        &[],
    );
    assert_eq!(status(&out), 200);
    let row = &r.contacts("1000", "example.com")[0].clone();
    assert_eq!(row.status, "Registered(UDP-NAT)");
    assert_eq!(
        row.contact,
        "\"Alice\" <sip:1000@10.0.0.5:5060;fs_nat=yes;fs_path=sip%3A1000%40203.0.113.9%3A40000>"
    );
    assert_eq!(row.network_ip, "203.0.113.9");
    assert_eq!(row.network_port, "40000");
    // Behind NAT the default expiry is 30 s.
    assert_eq!(contacts_of(&out), ["<sip:1000@10.0.0.5:5060>;expires=30"]);
}

#[test]
fn nat_from_via_when_aggressive() {
    let mut r = registrar(RegistrarSettings {
        aggressive_nat_detection: true,
        received_in_nat_reg_contact: true,
        ..RegistrarSettings::default()
    });
    // The Via says 192.0.2.7:5060 but the packet came from elsewhere.
    let from: SocketAddr = "198.51.100.4:61000".parse().unwrap();
    let out = authed(
        &mut r,
        at(0),
        from,
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7:5060>;expires=600"],
        &[],
    );
    assert_eq!(status(&out), 200);
    let row = r.contacts("1000", "example.com")[0].clone();
    assert_eq!(row.status, "Registered(UDP-NAT)");
    assert!(
        row.contact
            .contains(";received=198.51.100.4:61000;fs_nat=yes;fs_path="),
        "{}",
        row.contact
    );
    // Without aggressive detection the same request is not NAT.
    let mut r = registrar(RegistrarSettings::default());
    authed(
        &mut r,
        at(0),
        from,
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7:5060>"],
        &[],
    );
    assert_eq!(
        r.contacts("1000", "example.com")[0].status,
        "Registered(UDP)"
    );
}

#[test]
fn transport_in_status() {
    let mut r = registrar(RegistrarSettings::default());
    authed(
        &mut r,
        at(0),
        src(),
        Transport::Tcp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7:5060>"],
        &[],
    );
    assert_eq!(
        r.contacts("1000", "example.com")[0].status,
        "Registered(TCP)"
    );
    authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7:5061;transport=tls>"],
        &[],
    );
    assert_eq!(
        r.contacts("1000", "example.com")[0].status,
        "Registered(TLS)"
    );
}

struct Acl {
    allow: Option<IpAddr>,
    token: Option<String>,
}

impl RegistrarAcl for Acl {
    fn register_acl(&self, source: IpAddr) -> AclCheck {
        match self.allow {
            Some(a) if a == source => AclCheck::Allowed {
                token: self.token.clone(),
            },
            _ => AclCheck::Denied {
                acl: "reg-acl".into(),
            },
        }
    }
}

#[test]
fn register_acl() {
    let acl = Acl {
        allow: Some("192.0.2.7".parse().unwrap()),
        token: None,
    };
    let mut r = Registrar::new(RegistrarSettings::default(), directory(), acl);
    // Denied: 403 before any challenge.
    let other: SocketAddr = "198.51.100.1:5060".parse().unwrap();
    let req = register("1000", "c1", 1, &["<sip:1000@198.51.100.1>"], &[]);
    let out = r.handle_register(at(0), other, Transport::Udp, &req);
    assert_eq!(status(&out), 403);
    assert!(r.is_empty());
    // Allowed: registered without authentication.
    let req = register("1000", "c1", 1, &["<sip:1000@192.0.2.7>"], &[]);
    let out = r.handle_register(at(0), src(), Transport::Udp, &req);
    assert_eq!(status(&out), 200);
    assert_eq!(r.count(Some("1000"), "example.com"), 1);
    // A token names the user and domain.
    let acl = Acl {
        allow: Some("192.0.2.7".parse().unwrap()),
        token: Some("gw1@trunks.example".into()),
    };
    let mut r = Registrar::new(RegistrarSettings::default(), directory(), acl);
    let out = r.handle_register(at(0), src(), Transport::Udp, &req);
    assert_eq!(status(&out), 200);
    assert_eq!(r.count(Some("gw1"), "trunks.example"), 1);
}

#[test]
fn force_register_domain_and_db_domain() {
    let mut d = MemoryStore::new();
    d.add_password("1000", Some("corp.example"), "secret");
    // The directory only knows corp.example: a REGISTER to example.com
    // fails ...
    let mut r = Registrar::new(RegistrarSettings::default(), d.clone(), DefaultAcl);
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7>"],
        &[],
    );
    assert_eq!(status(&out), 403);
    // ... unless force-register-domain looks users up there.
    let mut r = Registrar::new(
        RegistrarSettings {
            force_register_domain: Some("corp.example".into()),
            force_register_db_domain: Some("db.example".into()),
            ..RegistrarSettings::default()
        },
        d,
        DefaultAcl,
    );
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.0.2.7>"],
        &[],
    );
    assert_eq!(status(&out), 200);
    assert_eq!(r.count(Some("1000"), "db.example"), 1);
    assert_eq!(r.count(Some("1000"), "example.com"), 0);
    let row = r.contacts("1000", "db.example")[0];
    assert_eq!(row.sip_host, "db.example");
    assert_eq!(row.sip_realm, "example.com");
}

#[test]
fn blind_registration() {
    let mut r = registrar(RegistrarSettings {
        accept_blind_reg: true,
        ..RegistrarSettings::default()
    });
    let req = register("9999", "c1", 1, &["<sip:9999@192.0.2.7>"], &[]);
    let out = r.handle_register(at(0), src(), Transport::Udp, &req);
    assert_eq!(status(&out), 200);
    assert_eq!(names(&out.events), ["sofia::register"]);
    let row = r.contacts("9999", "example.com")[0];
    assert_eq!(row.sip_username, "unknown");
}

#[test]
fn expiry_sweep() {
    let mut r = registrar(RegistrarSettings::default());
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7>;expires=60"]);
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1001",
        "secret1",
        "c2",
        &["<sip:1001@192.0.2.8>;expires=600"],
        &[],
    );
    assert_eq!(status(&out), 200);
    assert_eq!(r.next_expiry(), Some(at(120)));
    // The late margin (60 s) keeps the binding after its expiry.
    let out = r.sweep(at(119));
    assert!(out.expired.is_empty() && out.events.is_empty() && out.store_ops.is_empty());
    let out = r.sweep(at(120));
    assert_eq!(out.expired.len(), 1);
    assert_eq!(out.expired[0].sip_user, "1000");
    assert_eq!(names(&out.events), ["sofia::expire"]);
    let e = &out.events[0];
    assert_eq!(e.header("user"), Some("1000"));
    assert_eq!(e.header("host"), Some("example.com"));
    assert_eq!(e.header("call-id"), Some("c1"));
    assert_eq!(e.header("expires"), Some((T0 + 120).to_string().as_str()));
    assert_eq!(
        out.store_ops,
        [StoreOp::DeleteExpired {
            profile_name: "internal".into(),
            now: (T0 + 120) as i64
        }]
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r.next_expiry(), Some(at(660)));
}

#[test]
fn bounds_per_user_and_total() {
    let mut r = registrar(RegistrarSettings {
        multiple_registrations: MultipleRegistrations::Contact,
        max_bindings_per_user: 2,
        max_bindings: 3,
        ..RegistrarSettings::default()
    });
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.1>"]);
    reg(&mut r, at(0), "c2", &["<sip:1000@192.0.2.2>"]);
    // A refresh of a bound contact is not a new binding.
    assert_eq!(
        status(&reg(&mut r, at(1), "c2", &["<sip:1000@192.0.2.2>"])),
        200
    );
    let out = reg(&mut r, at(1), "c3", &["<sip:1000@192.0.2.3>"]);
    assert_eq!(status(&out), 403);
    assert!(names(&out.events).contains(&"sofia::register_failure"));
    assert_eq!(r.len(), 2);
    // The profile's bound: 503 with Retry-After.
    let out = authed(
        &mut r,
        at(1),
        src(),
        Transport::Udp,
        "1001",
        "secret1",
        "d1",
        &["<sip:1001@192.0.2.4>", "<sip:1001@192.0.2.5>"],
        &[],
    );
    assert_eq!(status(&out), 503);
    assert_eq!(
        out.response
            .as_ref()
            .unwrap()
            .header(HeaderName::RetryAfter),
        Some("30")
    );
    assert_eq!(r.len(), 2);
    // max-registrations-per-extension lowers the per-user bound.
    let mut r = registrar(RegistrarSettings {
        multiple_registrations: MultipleRegistrations::Contact,
        max_registrations_per_extension: 1,
        ..RegistrarSettings::default()
    });
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.1>"]);
    assert_eq!(
        status(&reg(&mut r, at(0), "c2", &["<sip:1000@192.0.2.2>"])),
        403
    );
}

#[test]
fn fetch_bindings_without_contact() {
    let mut r = registrar(RegistrarSettings::default());
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.7>"]);
    let out = reg(&mut r, at(100), "c5", &[]);
    assert_eq!(status(&out), 200);
    assert_eq!(contacts_of(&out), ["<sip:1000@192.0.2.7>;expires=200"]);
    assert_eq!(r.len(), 1);
}

#[test]
fn bad_headers_get_400() {
    let mut r = registrar(RegistrarSettings::default());
    let req = register(
        "1000",
        "c1",
        1,
        &["<sip:1000@192.0.2.7>"],
        &[(HeaderName::Expires, "soon".into())],
    );
    let out = r.handle_register(at(0), src(), Transport::Udp, &req);
    assert_eq!(status(&out), 400);
    assert_eq!(
        out.response.as_ref().unwrap().reason(),
        Some("Bad Expires header")
    );
    let req = register("1000", "c1", 1, &["<sip:1000@"], &[]);
    let out = r.handle_register(at(0), src(), Transport::Udp, &req);
    assert_eq!(status(&out), 400);
}

#[test]
fn store_round_trip_and_flush() {
    let mut store = MemoryRegistrationStore::new();
    let mut r = registrar(RegistrarSettings {
        multiple_registrations: MultipleRegistrations::Contact,
        ..RegistrarSettings::default()
    });
    for (cid, c) in [
        ("c1", "<sip:1000@192.0.2.1>"),
        ("c2", "<sip:1000@192.0.2.2>"),
    ] {
        let out = reg(&mut r, at(0), cid, &[c]);
        store.apply(out.store_ops).unwrap();
    }
    let out = reg(&mut r, at(1), "c3", &["<sip:1000@192.0.2.1>"]);
    store.apply(out.store_ops).unwrap();
    let mut mem: Vec<_> = r.all().cloned().collect();
    let mut rows = store.load("internal", (T0 + 1) as i64).unwrap();
    mem.sort_by(|a, b| a.contact.cmp(&b.contact));
    rows.sort_by(|a, b| a.contact.cmp(&b.contact));
    assert_eq!(mem, rows);

    // A restarted registrar sees the same bindings.
    let mut r2 = registrar(RegistrarSettings::default());
    assert_eq!(r2.load(rows, at(2)), 2);
    assert_eq!(r2.count(Some("1000"), "example.com"), 2);
    // Expired rows are not loaded.
    let mut r3 = registrar(RegistrarSettings::default());
    assert_eq!(r3.load(store.rows().to_vec(), at(400)), 0);

    // Flushing one Call-ID, then everything.
    let out = r2.flush(Some("c2"));
    assert_eq!(out.expired.len(), 1);
    assert_eq!(names(&out.events), ["sofia::expire"]);
    store.apply(out.store_ops).unwrap();
    assert_eq!(store.rows().len(), 1);
    let out = r2.flush(Some("1000@example.com"));
    assert_eq!(out.expired.len(), 1);
    assert!(r2.is_empty());
}

#[test]
fn any_directory_user_may_register_an_aor_unless_forced_to_match() {
    // 1001's credentials for 1000's AOR: FreeSWITCH's default accepts.
    let run = |force: bool| {
        let mut r = registrar(RegistrarSettings {
            force_matching_username: force,
            ..RegistrarSettings::default()
        });
        let first = register("1000", "c1", 1, &["<sip:1000@192.0.2.7>"], &[]);
        let challenge = r
            .handle_register(at(0), src(), Transport::Udp, &first)
            .response
            .unwrap();
        let mut client = AuthClient::new();
        client.add_credentials(None, "1001", "secret1");
        assert!(client.handle_response(&challenge).unwrap());
        let auth = client.authorize("REGISTER", "sip:example.com", b"");
        let second = register("1000", "c1", 2, &["<sip:1000@192.0.2.7>"], &auth);
        let out = r.handle_register(at(0), src(), Transport::Udp, &second);
        (status(&out), r.contacts("1000", "example.com").len(), out)
    };
    let (st, n, out) = run(false);
    assert_eq!((st, n), (200, 1));
    let reg_event = out
        .events
        .iter()
        .find(|e| e.name == "sofia::register")
        .unwrap();
    assert_eq!(reg_event.header("username"), Some("1001"));
    let (st, n, out) = run(true);
    assert_eq!((st, n), (403, 0));
    assert!(names(&out.events).contains(&"sofia::register_failure"));
}

#[test]
fn private_contact_from_private_source_is_not_nat() {
    let mut r = registrar(RegistrarSettings::default());
    let lan: SocketAddr = "192.168.1.20:5060".parse().unwrap();
    authed(
        &mut r,
        at(0),
        lan,
        Transport::Udp,
        "1000",
        "secret",
        "c1",
        &["<sip:1000@192.168.1.20:5060>"],
        &[],
    );
    assert_eq!(
        r.contacts("1000", "example.com")[0].status,
        "Registered(UDP)"
    );
}

#[test]
fn per_user_directory_parameters() {
    use mod_sofia::registrar::UserRegParams;
    let mut r = registrar(RegistrarSettings {
        multiple_registrations: MultipleRegistrations::Contact,
        ..RegistrarSettings::default()
    });
    r.set_user_params(Box::new(|user, domain| {
        assert_eq!(domain, "example.com");
        match user {
            "1000" => Some(UserRegParams {
                allow_multiple_registrations: Some(false),
                force_expires: Some(120),
                mwi_account: Some("vm1000@voicemail.example".into()),
                ..UserRegParams::default()
            }),
            "1001" => Some(UserRegParams {
                forbid_register: true,
                ..UserRegParams::default()
            }),
            _ => None,
        }
    }));
    reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.1>"]);
    let out = reg(&mut r, at(0), "c2", &["<sip:1000@192.0.2.2>;expires=3600"]);
    // Multiple registrations are off for 1000, and the expiry is forced.
    assert_eq!(contacts_of(&out), ["<sip:1000@192.0.2.2>;expires=120"]);
    let row = r.contacts("1000", "example.com")[0];
    assert_eq!(
        (row.mwi_user.as_str(), row.mwi_host.as_str()),
        ("vm1000", "voicemail.example")
    );
    // 1001 may not register.
    let out = authed(
        &mut r,
        at(0),
        src(),
        Transport::Udp,
        "1001",
        "secret1",
        "d1",
        &["<sip:1001@192.0.2.3>"],
        &[],
    );
    assert_eq!(status(&out), 403);
    assert!(names(&out.events).contains(&"sofia::register_failure"));
    assert_eq!(r.count(Some("1001"), "example.com"), 0);
}

#[test]
fn force_user_stores_under_another_user() {
    use mod_sofia::registrar::UserRegParams;
    let mut r = registrar(RegistrarSettings::default());
    r.set_user_params(Box::new(|_, _| {
        Some(UserRegParams {
            force_user: Some("alias".into()),
            max_registrations: Some(1),
            ..UserRegParams::default()
        })
    }));
    let out = reg(&mut r, at(0), "c1", &["<sip:1000@192.0.2.1>"]);
    assert_eq!(status(&out), 200);
    assert_eq!(r.count(Some("alias"), "example.com"), 1);
    assert_eq!(r.count(Some("1000"), "example.com"), 0);
    // Two contacts at once are over the user's own limit of one.
    let out = reg(
        &mut r,
        at(0),
        "c1",
        &["<sip:1000@192.0.2.1>", "<sip:1000@192.0.2.2>"],
    );
    assert_eq!(status(&out), 403);
}

#[test]
fn nat_when_contact_differs_from_source_if_enabled() {
    let from: SocketAddr = "198.51.100.4:61000".parse().unwrap();
    for (enabled, contact, want) in [
        (false, "<sip:1000@192.0.2.7:5060>", "Registered(UDP)"),
        (true, "<sip:1000@192.0.2.7:5060>", "Registered(UDP-NAT)"),
        (true, "<sip:1000@198.51.100.4:5060>", "Registered(UDP-NAT)"),
        (true, "<sip:1000@198.51.100.4:61000>", "Registered(UDP)"),
    ] {
        let mut r = registrar(RegistrarSettings {
            nat_on_contact_mismatch: enabled,
            ..RegistrarSettings::default()
        });
        authed(
            &mut r,
            at(0),
            from,
            Transport::Udp,
            "1000",
            "secret",
            "c1",
            &[contact],
            &[],
        );
        assert_eq!(
            r.contacts("1000", "example.com")[0].status,
            want,
            "{enabled} {contact}"
        );
    }
}

#[test]
fn registrar_and_stores_move_between_threads() {
    fn send<T: Send + 'static>() {}
    send::<Registrar<MemoryStore, DefaultAcl>>();
    send::<mod_sofia::store::BackgroundStore>();
    send::<mod_sofia::store::SqliteStore>();
    send::<Box<dyn RegistrationStore>>();
}
