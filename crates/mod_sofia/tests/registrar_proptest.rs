//! Whatever a peer sends as a REGISTER, the registrar answers without
//! panicking, keeps within its bounds, and its store operations replay to
//! the same bindings as its index.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use mod_sofia::registrar::{DefaultAcl, MultipleRegistrations, Registrar, RegistrarSettings};
use mod_sofia::store::{MemoryRegistrationStore, RegistrationStore};
use proptest::prelude::*;
use sofia_iptsec::MemoryStore;
use sofia_msg::Message;
use sofia_tport::Transport;

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<sip:1000@192.0.2.7:5060>".to_string()),
        Just("<sip:1000@10.0.0.1>;expires=0".to_string()),
        Just("*".to_string()),
        Just("\"A\" <sips:1000@[2001:db8::1]:5061;transport=tls>;expires=99999999999".to_string()),
        Just("<sip:1000@192.0.2.7;transport=ws>;expires=60, <tel:+123>".to_string()),
        "[ -~]{0,40}",
    ]
}

fn register_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(header_value(), 0..4),
        prop::option::of(prop_oneof![
            Just("0".to_string()),
            Just("3600".to_string()),
            "[0-9a-z]{0,12}"
        ]),
        prop_oneof![Just("1000".to_string()), "[a-z0-9]{0,6}"],
        prop_oneof![Just("example.com".to_string()), "[a-z.]{0,10}"],
        prop_oneof![
            Just("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;received=10.1.1.1".to_string()),
            Just("SIP/2.0/WSS h.invalid;branch=z9hG4bK2".to_string()),
            "[ -~]{0,30}"
        ],
        prop::option::of("[ -~]{0,60}"),
        "[a-z0-9]{1,4}",
    )
        .prop_map(|(contacts, expires, user, host, via, auth, call_id)| {
            let mut s = format!(
                "REGISTER sip:{host} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:{user}@{host}>;tag=1\r\n\
                 To: <sip:{user}@{host}>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
            );
            for c in contacts {
                s.push_str(&format!("Contact: {c}\r\n"));
            }
            if let Some(e) = expires {
                s.push_str(&format!("Expires: {e}\r\n"));
            }
            if let Some(a) = auth {
                s.push_str(&format!("Authorization: Digest {a}\r\n"));
            }
            s.push_str("Content-Length: 0\r\n\r\n");
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(texts in prop::collection::vec(register_text(), 1..12), mode in 0u8..3, blind in any::<bool>()) {
        let settings = RegistrarSettings {
            accept_blind_reg: blind,
            multiple_registrations: match mode {
                0 => MultipleRegistrations::False,
                1 => MultipleRegistrations::CallId,
                _ => MultipleRegistrations::Contact,
            },
            min_expires: 30,
            max_expires: 7200,
            max_bindings_per_user: 3,
            max_bindings: 5,
            ..RegistrarSettings::default()
        };
        let mut dir = MemoryStore::new();
        dir.add_password("1000", None, "secret");
        let mut r = Registrar::new(settings, dir, DefaultAcl);
        let mut store = MemoryRegistrationStore::new();
        let source: SocketAddr = "192.0.2.7:5060".parse().unwrap();
        let mut now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for t in texts {
            let Ok(msg) = Message::parse(Bytes::from(t)) else { continue };
            let out = r.handle_register(now, source, Transport::Udp, &msg);
            let resp = out.response.expect("a response");
            prop_assert!(resp.status().is_some());
            store.apply(out.store_ops).unwrap();
            prop_assert!(r.len() <= 5);
            now += Duration::from_secs(17);
            let swept = r.sweep(now);
            store.apply(swept.store_ops).unwrap();
        }
        let mut mem: Vec<_> = r.all().cloned().collect();
        let mut rows = store.load("internal", 0).unwrap();
        mem.sort_by(|a, b| (&a.sip_user, &a.contact, &a.call_id).cmp(&(&b.sip_user, &b.contact, &b.call_id)));
        rows.sort_by(|a, b| (&a.sip_user, &a.contact, &a.call_id).cmp(&(&b.sip_user, &b.contact, &b.call_id)));
        for row in &rows {
            let n = rows.iter().filter(|x| x.sip_host == row.sip_host).count();
            prop_assert_eq!(r.count(None, &row.sip_host), n);
        }
        prop_assert_eq!(mem, rows);
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut text = b"REGISTER sip:example.com SIP/2.0\r\n".to_vec();
        text.extend(bytes);
        if let Ok(msg) = Message::parse(Bytes::from(text)) {
            let mut r = Registrar::new(RegistrarSettings { accept_blind_reg: true, ..RegistrarSettings::default() }, MemoryStore::new(), DefaultAcl);
            let out = r.handle_register(UNIX_EPOCH, "[2001:db8::1]:5060".parse().unwrap(), Transport::Tcp, &msg);
            let _ = out.response;
        }
    }
}
