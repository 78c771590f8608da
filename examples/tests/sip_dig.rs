//! Runs the built `sip-dig` binary against a DNS server (hickory-server) on
//! 127.0.0.1 serving a small test zone.

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 300
@       IN SOA  ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@       IN NS   ns.example.test.
ns      IN A    127.0.0.1

naptr   IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.naptr.example.test.
naptr   IN NAPTR 20 10 "s" "SIP+D2U"  "" _sip._udp.naptr.example.test.
_sips._tcp.naptr IN SRV 10 60 5061 tls1.example.test.
_sip._udp.naptr  IN SRV 10 60 5060 udp1.example.test.
tls1    IN A    192.0.2.11
udp1    IN A    192.0.2.13

_sip._udp.srv IN SRV 10 60 5060 a.example.test.
_sip._tcp.srv IN SRV 20 0  5070 b.example.test.
a       IN A    192.0.2.1
a       IN AAAA 2001:db8::1
b       IN A    192.0.2.2

plain   IN A    192.0.2.40
"#;

/// Serves the zone on UDP and TCP of one OS-chosen port of 127.0.0.1.
async fn start_dns() -> (SocketAddr, Server<Catalog>) {
    let origin = Name::from_ascii("example.test.").unwrap();
    let (origin, records) = Parser::new(ZONE, None, Some(origin)).parse().unwrap();
    let zone: InMemoryZoneHandler<TokioRuntimeProvider> =
        InMemoryZoneHandler::new(origin.clone(), records, ZoneType::Primary, AxfrPolicy::Deny)
            .unwrap();
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let mut server = Server::new(catalog);
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 16);
            return (addr, server);
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// Runs sip-dig off the runtime's thread, so that the server keeps answering.
async fn sip_dig(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sip-dig"))
            .args(&args)
            .env_remove("SRESOLV_DEBUG")
            .env_remove("SOFIA_DEBUG")
            .stdin(Stdio::null())
            .output()
            .expect("run sip-dig")
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

#[tokio::test]
async fn prints_the_target_lists() {
    let (addr, _server) = start_dns().await;
    let out = sip_dig(vec![
        "--server".into(),
        addr.to_string(),
        "sip:alice@naptr.example.test".into(),
        "sip:srv.example.test".into(),
        "sips:plain.example.test".into(),
        "plain.example.test:5080".into(),
        "sip:192.0.2.7;transport=tcp".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "sip:alice@naptr.example.test:\n\
         10 60 tls 5061 192.0.2.11\n\
         10 60 udp 5060 192.0.2.13\n\
         sip:srv.example.test:\n\
         10 60 udp 5060 192.0.2.1\n\
         10 60 udp 5060 2001:db8::1\n\
         20 0 tcp 5070 192.0.2.2\n\
         sips:plain.example.test:\n\
         0 0 tls 5061 192.0.2.40\n\
         plain.example.test:5080:\n\
         0 0 udp 5080 192.0.2.40\n\
         sip:192.0.2.7;transport=tcp:\n\
         0 0 tcp 5060 192.0.2.7\n"
    );
    assert_eq!(text(&out.stderr), "");
}

#[tokio::test]
async fn missing_name_exits_1_naming_it() {
    let (addr, _server) = start_dns().await;
    let out = sip_dig(vec![
        "--server".into(),
        addr.to_string(),
        "sip:nope.example.test".into(),
        "sip:plain.example.test".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The other URI is still resolved.
    assert_eq!(
        text(&out.stdout),
        "sip:plain.example.test:\n0 0 udp 5060 192.0.2.40\n"
    );
    assert_eq!(
        text(&out.stderr),
        "sip-dig: sip:nope.example.test: nope.example.test: no such domain\n"
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let out = sip_dig(vec![]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = sip_dig(vec![
        "--server".into(),
        "not-an-address".into(),
        "sip:x".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("not IP or IP:PORT"), "{out:?}");
}

#[tokio::test]
async fn help_describes_the_output() {
    let out = sip_dig(vec!["--help".into()]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let help = text(&out.stdout);
    assert!(help.contains("--server <IP:PORT>"), "{help}");
    assert!(
        help.contains("<priority> <weight> <transport> <port> <address>"),
        "{help}"
    );
}
