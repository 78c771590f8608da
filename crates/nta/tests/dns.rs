//! RFC 3263 resolution against a real DNS server (hickory-server) on
//! 127.0.0.1 serving the test zone `example.test.`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use sofia_msg::Uri;
use sofia_nta::resolve::{ResolveError, Resolver, Target};
use sofia_tport::Transport;
use tokio::net::{TcpListener, UdpSocket};

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 300
@       IN SOA  ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@       IN NS   ns.example.test.
ns      IN A    127.0.0.1

; NAPTR -> SRV -> A. The SCTP and E2U records are not for us.
naptr   IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.naptr.example.test.
naptr   IN NAPTR 20 20 "s" "SIP+D2T"  "" _sip._tcp.naptr.example.test.
naptr   IN NAPTR 20 10 "s" "SIP+D2U"  "" _sip._udp.naptr.example.test.
naptr   IN NAPTR 5  10 "s" "SIP+D2S"  "" _sip._sctp.naptr.example.test.
naptr   IN NAPTR 1  10 "u" "E2U+sip"  "" naptr.example.test.
_sips._tcp.naptr IN SRV 10 60 5061 tls1.example.test.
_sip._tcp.naptr  IN SRV 10 60 5060 tcp1.example.test.
_sip._udp.naptr  IN SRV 10 60 5060 udp1.example.test.
_sip._sctp.naptr IN SRV 10 60 5060 sctp1.example.test.
tls1    IN A    192.0.2.11
tcp1    IN A    192.0.2.12
udp1    IN A    192.0.2.13
sctp1   IN A    192.0.2.14

; SRV only, no NAPTR. The host's own A record is not used.
srv     IN A    192.0.2.99
_sip._udp.srv IN SRV 10 60 5060 a.example.test.
_sip._tcp.srv IN SRV 10 60 5070 b.example.test.
a       IN A    192.0.2.1
a       IN AAAA 2001:db8::1
b       IN A    192.0.2.2

; Priorities and weights.
_sip._udp.weighted IN SRV 20 0  5060 p20.example.test.
_sip._udp.weighted IN SRV 10 90 5060 heavy.example.test.
_sip._udp.weighted IN SRV 10 10 5060 light.example.test.
_sip._udp.weighted IN SRV 30 5  5062 p30.example.test.
heavy   IN A    192.0.2.31
light   IN A    192.0.2.32
p20     IN A    192.0.2.33
p30     IN A    192.0.2.34

; No SRV at all.
plain   IN A    192.0.2.40
plain   IN AAAA 2001:db8::40

; sips: only _sips._tcp counts.
secure  IN A    192.0.2.59
_sips._tcp.secure IN SRV 10 0 5071 tls.example.test.
_sip._udp.secure  IN SRV 10 0 5060 a.example.test.
tls     IN A    192.0.2.50

; Exists, but no address.
empty   IN TXT  "nothing here"
; An SRV target without address.
_sip._udp.dangling IN SRV 10 0 5060 missing.example.test.
; "." target: service not offered; the next one is used.
_sip._udp.dot IN SRV 10 0 0 .
_sip._tcp.dot IN SRV 10 0 5060 b.example.test.
"#;

/// The test DNS server: UDP and TCP on one OS-chosen port of 127.0.0.1.
struct DnsServer {
    addr: SocketAddr,
    server: Server<Catalog>,
}

async fn start_dns() -> DnsServer {
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
            return DnsServer { addr, server };
        }
    }
    panic!("no port free for both UDP and TCP");
}

fn target(p: u16, w: u16, t: Transport, addr: &str, host: &str) -> Target {
    Target {
        transport: t,
        addr: addr.parse().unwrap(),
        host: host.into(),
        priority: p,
        weight: w,
    }
}

async fn resolve(resolver: &Resolver, uri: &str) -> Result<Vec<Target>, ResolveError> {
    resolver.resolve(&Uri::parse(uri).unwrap()).await
}

fn lines(targets: &[Target]) -> Vec<String> {
    targets.iter().map(|t| t.to_string()).collect()
}

use Transport::{Tcp, Tls, Udp};

#[tokio::test]
async fn naptr_srv_a() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    let targets = resolve(&resolver, "sip:alice@naptr.example.test")
        .await
        .unwrap();
    assert_eq!(
        targets,
        [
            target(10, 60, Tls, "192.0.2.11:5061", "tls1.example.test"),
            target(10, 60, Udp, "192.0.2.13:5060", "udp1.example.test"),
            target(10, 60, Tcp, "192.0.2.12:5060", "tcp1.example.test"),
        ]
    );
    // sips: keeps only SIPS+D2T.
    let targets = resolve(&resolver, "sips:alice@naptr.example.test")
        .await
        .unwrap();
    assert_eq!(
        targets,
        [target(10, 60, Tls, "192.0.2.11:5061", "tls1.example.test")]
    );
}

#[tokio::test]
async fn srv_without_naptr() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    let targets = resolve(&resolver, "sip:srv.example.test").await.unwrap();
    assert_eq!(
        lines(&targets),
        [
            "10 60 udp 5060 192.0.2.1",
            "10 60 udp 5060 2001:db8::1",
            "10 60 tcp 5070 192.0.2.2",
        ]
    );
    assert_eq!(targets[0].host, "a.example.test");
    assert_eq!(targets[2].host, "b.example.test");
}

#[tokio::test]
async fn priorities_and_seeded_weights() {
    let dns = start_dns().await;
    let uri = "sip:weighted.example.test";
    let resolver = Resolver::with_servers(&[dns.addr]).with_seed(42);
    let first = resolve(&resolver, uri).await.unwrap();
    assert_eq!(first.len(), 4);
    // Priority 10 (two records, in weighted order), then 20, then 30.
    let mut p10: Vec<&str> = first[..2].iter().map(|t| t.host.as_str()).collect();
    p10.sort();
    assert_eq!(p10, ["heavy.example.test", "light.example.test"]);
    assert_eq!(
        lines(&first[2..]),
        ["20 0 udp 5060 192.0.2.33", "30 5 udp 5062 192.0.2.34"]
    );

    // The same seed gives the same order.
    let again = Resolver::with_servers(&[dns.addr]).with_seed(42);
    assert_eq!(resolve(&again, uri).await.unwrap(), first);

    // The weights bias the order: "heavy" (90) comes first far more often
    // than "light" (10). The answers come from the cache after the first.
    let mut heavy_first = 0;
    for _ in 0..200 {
        let targets = resolve(&resolver, uri).await.unwrap();
        assert_eq!(targets[2].priority, 20);
        assert_eq!(targets[3].priority, 30);
        if targets[0].host == "heavy.example.test" {
            heavy_first += 1;
        }
    }
    assert!((150..200).contains(&heavy_first), "{heavy_first} of 200");
}

#[tokio::test]
async fn no_srv_uses_a_and_aaaa_at_5060() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    let targets = resolve(&resolver, "sip:bob@plain.example.test")
        .await
        .unwrap();
    assert_eq!(
        targets,
        [
            target(0, 0, Udp, "192.0.2.40:5060", "plain.example.test"),
            target(0, 0, Udp, "[2001:db8::40]:5060", "plain.example.test"),
        ]
    );
    // A trailing dot is the same name.
    let dotted = resolve(&resolver, "sip:bob@plain.example.test.")
        .await
        .unwrap();
    assert_eq!(dotted, targets);
}

#[tokio::test]
async fn sips_uses_sips_tcp_and_5061() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    assert_eq!(
        lines(
            &resolve(&resolver, "sips:secure.example.test")
                .await
                .unwrap()
        ),
        ["10 0 tls 5071 192.0.2.50"]
    );
    // Without SRV: TLS on 5061.
    assert_eq!(
        lines(&resolve(&resolver, "sips:plain.example.test").await.unwrap()),
        ["0 0 tls 5061 192.0.2.40", "0 0 tls 5061 2001:db8::40"]
    );
    // sips: with transport=tcp is TLS; with udp it is refused.
    assert_eq!(
        lines(
            &resolve(&resolver, "sips:secure.example.test;transport=tcp")
                .await
                .unwrap()
        ),
        ["10 0 tls 5071 192.0.2.50"]
    );
    let err = resolve(&resolver, "sips:secure.example.test;transport=udp")
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::Transport { .. }), "{err}");
}

#[tokio::test]
async fn explicit_port_uses_a_only() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    // srv.example.test has SRV records, and NAPTR-less naptr.example.test
    // has NAPTR: both are skipped when the port is given.
    assert_eq!(
        resolve(&resolver, "sip:srv.example.test:5080")
            .await
            .unwrap(),
        [target(0, 0, Udp, "192.0.2.99:5080", "srv.example.test")]
    );
    assert_eq!(
        lines(
            &resolve(&resolver, "sip:srv.example.test:5080;transport=tcp")
                .await
                .unwrap()
        ),
        ["0 0 tcp 5080 192.0.2.99"]
    );
    let err = resolve(&resolver, "sip:naptr.example.test:5060")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ResolveError::NoAddress {
            name: "naptr.example.test".into()
        }
    );
}

#[tokio::test]
async fn transport_param_queries_only_that_srv() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    assert_eq!(
        lines(
            &resolve(&resolver, "sip:srv.example.test;transport=tcp")
                .await
                .unwrap()
        ),
        ["10 60 tcp 5070 192.0.2.2"]
    );
    assert_eq!(
        lines(
            &resolve(&resolver, "sip:srv.example.test;transport=TCP")
                .await
                .unwrap()
        ),
        ["10 60 tcp 5070 192.0.2.2"]
    );
    // The transport parameter also skips NAPTR.
    assert_eq!(
        lines(
            &resolve(&resolver, "sip:naptr.example.test;transport=udp")
                .await
                .unwrap()
        ),
        ["10 60 udp 5060 192.0.2.13"]
    );
    // No SRV for it: A at the default port, with that transport.
    assert_eq!(
        lines(
            &resolve(&resolver, "sip:plain.example.test;transport=tcp")
                .await
                .unwrap()
        ),
        ["0 0 tcp 5060 192.0.2.40", "0 0 tcp 5060 2001:db8::40"]
    );
    let err = resolve(&resolver, "sip:srv.example.test;transport=sctp")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sip:srv.example.test;transport=sctp: unsupported transport \"sctp\""
    );
}

#[tokio::test]
async fn maddr_replaces_the_host() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    assert_eq!(
        lines(
            &resolve(
                &resolver,
                "sip:carol@nope.example.test;maddr=srv.example.test"
            )
            .await
            .unwrap()
        ),
        [
            "10 60 udp 5060 192.0.2.1",
            "10 60 udp 5060 2001:db8::1",
            "10 60 tcp 5070 192.0.2.2",
        ]
    );
    assert_eq!(
        resolve(
            &resolver,
            "sip:carol@srv.example.test:5090;maddr=192.0.2.77"
        )
        .await
        .unwrap(),
        [target(0, 0, Udp, "192.0.2.77:5090", "192.0.2.77")]
    );
}

/// Numeric hosts need no query: the resolver points at a plain socket that
/// must not receive anything.
#[tokio::test]
async fn numeric_hosts_send_no_query() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resolver = Resolver::with_servers(&[silent.local_addr().unwrap()]);
    let cases = [
        (
            "sip:192.0.2.1",
            target(0, 0, Udp, "192.0.2.1:5060", "192.0.2.1"),
        ),
        (
            "sip:192.0.2.1:5080;transport=tcp",
            target(0, 0, Tcp, "192.0.2.1:5080", "192.0.2.1"),
        ),
        (
            "sips:192.0.2.1",
            target(0, 0, Tls, "192.0.2.1:5061", "192.0.2.1"),
        ),
        (
            "sip:[2001:db8::5]",
            target(0, 0, Udp, "[2001:db8::5]:5060", "2001:db8::5"),
        ),
        (
            "sip:u@[2001:db8::5]:5090;transport=tls",
            target(0, 0, Tls, "[2001:db8::5]:5090", "2001:db8::5"),
        ),
    ];
    for (uri, expected) in cases {
        assert_eq!(resolve(&resolver, uri).await.unwrap(), [expected], "{uri}");
    }
    let mut buf = [0u8; 512];
    assert!(silent.try_recv_from(&mut buf).is_err(), "a query was sent");
}

#[tokio::test]
async fn missing_names_are_clear_errors() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    let err = resolve(&resolver, "sip:nope.example.test")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ResolveError::NoSuchDomain {
            name: "nope.example.test".into()
        }
    );
    assert_eq!(err.to_string(), "nope.example.test: no such domain");

    let err = resolve(&resolver, "sip:empty.example.test")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "empty.example.test: no address (A/AAAA) records"
    );

    // An SRV target without address: the error names the target.
    let err = resolve(&resolver, "sip:dangling.example.test")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ResolveError::NoSuchDomain {
            name: "missing.example.test".into()
        }
    );

    let err = resolve(&resolver, "tel:+1555").await.unwrap_err();
    assert!(matches!(err, ResolveError::Scheme { .. }), "{err}");
}

#[tokio::test]
async fn srv_target_dot_is_skipped() {
    let dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    assert_eq!(
        lines(&resolve(&resolver, "sip:dot.example.test").await.unwrap()),
        ["10 0 tcp 5060 192.0.2.2"]
    );
}

/// Answers are cached for their TTL: with the server gone, a name resolved
/// before still resolves.
#[tokio::test]
async fn answers_are_cached() {
    let mut dns = start_dns().await;
    let resolver = Resolver::with_servers(&[dns.addr]);
    let before = resolve(&resolver, "sip:naptr.example.test").await.unwrap();
    dns.server.shutdown_gracefully().await.unwrap();
    drop(dns);
    let after = resolve(&resolver, "sip:naptr.example.test").await.unwrap();
    assert_eq!(before, after);
}

/// The name servers are really the given ones: a server that does not
/// answer gives a lookup error naming the query, not a wrong answer.
#[tokio::test]
async fn unreachable_server_is_an_error() {
    // A bound socket nobody reads from: queries time out.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    // No TCP listener on that port: TCP fallback is refused.
    let resolver = Resolver::with_servers(&[addr]);
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        resolve(&resolver, "sip:plain.example.test"),
    )
    .await
    .expect("the resolver gives up by itself")
    .unwrap_err();
    assert!(
        matches!(err, ResolveError::Lookup { ref name, rtype: "NAPTR", .. } if name == "plain.example.test"),
        "{err}"
    );
}
