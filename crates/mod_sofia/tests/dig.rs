//! `sofia_dig` against a real DNS server (hickory-server) on 127.0.0.1
//! serving the test zone `example.test.`: the table sip-dig prints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use mod_sofia::commands::{NoProfiles, execute};
use sofia_nta::resolve::Resolver;
use tokio::net::{TcpListener, UdpSocket};

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 300
@       IN SOA  ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@       IN NS   ns.example.test.
ns      IN A    127.0.0.1
_sip._udp.srv IN SRV 10 60 5060 a.example.test.
_sip._tcp.srv IN SRV 10 60 5070 b.example.test.
a       IN A    192.0.2.1
a       IN AAAA 2001:db8::1
b       IN A    192.0.2.2
_sip._udp.weighted IN SRV 10 90 5060 heavy.example.test.
_sip._udp.weighted IN SRV 10 10 5060 heavy.example.test.
_sip._udp.weighted IN SRV 20 0  5062 p20.example.test.
heavy   IN A    192.0.2.31
p20     IN A    192.0.2.33
plain   IN A    192.0.2.40
plain   IN AAAA 2001:db8::40
"#;

struct Dns {
    addr: SocketAddr,
    _server: Server<Catalog>,
}

async fn start_dns() -> Dns {
    let origin = Name::from_ascii("example.test.").expect("origin");
    let (origin, records) = Parser::new(ZONE, None, Some(origin)).parse().expect("zone");
    let zone: InMemoryZoneHandler<TokioRuntimeProvider> =
        InMemoryZoneHandler::new(origin.clone(), records, ZoneType::Primary, AxfrPolicy::Deny)
            .expect("zone handler");
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let mut server = Server::new(catalog);
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let addr = udp.local_addr().expect("addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 16);
            return Dns {
                addr,
                _server: server,
            };
        }
    }
    panic!("no port free for both UDP and TCP");
}

fn r(width: usize, s: &str) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(s.len())))
}

fn header() -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\n{}\n",
        r(10, "Preference"),
        r(10, "Weight"),
        r(10, "Transport"),
        r(10, "Port"),
        r(10, "Address"),
        "=".repeat(80)
    )
}

fn row(pref: &str, weight: &str, tp: &str, port: &str, addr: &str) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\n",
        r(10, pref),
        r(10, weight),
        r(10, tp),
        r(10, port),
        r(10, addr)
    )
}

#[tokio::test]
async fn dig_tables() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]).with_seed(7);

    let reply = execute("sofia_dig srv.example.test", &mut NoProfiles, &resolver).await;
    assert_eq!(
        reply.text,
        header()
            + &row("1", "0.250", "udp", "5060", "192.0.2.1")
            + &row("1", "0.250", "udp", "5060", "2001:db8::1")
            + &row("2", "0.500", "tcp", "5070", "192.0.2.2")
    );
    assert!(reply.ok);

    let reply = execute(
        "sofia_dig sip:plain.example.test",
        &mut NoProfiles,
        &resolver,
    )
    .await;
    assert_eq!(
        reply.text,
        header()
            + &row("1", "0.250", "udp", "5060", "192.0.2.40")
            + &row("1", "0.250", "tcp", "5060", "192.0.2.40")
            + &row("1", "0.250", "udp", "5060", "2001:db8::40")
            + &row("1", "0.250", "tcp", "5060", "2001:db8::40")
    );

    let reply = execute(
        "sofia_dig -4 weighted.example.test",
        &mut NoProfiles,
        &resolver,
    )
    .await;
    let text = reply.text;
    assert!(text.starts_with(&header()), "{text}");
    assert!(
        text.ends_with(&row("2", "0.000", "udp", "5062", "192.0.2.33")),
        "{text}"
    );

    let reply = execute(
        "sofia_dig xml sip:srv.example.test;transport=tcp",
        &mut NoProfiles,
        &resolver,
    )
    .await;
    assert_eq!(
        reply.text,
        "<routes>\n <route>\n  <preference>1</preference>\n  <weight>1.000</weight>\n  <transport>tcp</transport>\n  <port>5070</port>\n  <address>192.0.2.2</address>\n </route>\n</routes>\n"
    );

    let reply = execute("sofia_dig nx.example.test", &mut NoProfiles, &resolver).await;
    assert_eq!(reply.text, header() + "-ERR: nx.example.test: not found\n");
    assert!(!reply.ok);
}
