//! Configuration loading: the embedded default, includes, variables,
//! errors with file:line:parameter, warnings, directory and ACLs.

use std::net::IpAddr;
use std::path::Path;

use mod_sofia::acl::{AclSpec, LocalNetworks};
use mod_sofia::config::{
    ChallengeRealm, ConfigError, LoadOptions, LoadedConfig, MemoryFiles, MultipleRegistrations,
    Transport, load_default, load_from,
};
use sofia_iptsec::{CredentialStore, Secret};

fn options() -> LoadOptions {
    LoadOptions {
        local_networks: Some(LocalNetworks::default()),
        ..LoadOptions::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[test]
fn default_config_has_the_two_profiles_and_twenty_users() {
    let c = load_default(&options()).unwrap();
    let names: Vec<&str> = c.sofia.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["external", "internal"]);

    let internal = c.sofia.profile("internal").unwrap();
    assert_eq!(internal.sip_ip, ip("127.0.0.1"));
    assert_eq!(internal.sip_port, 5060);
    assert!(!internal.tls);
    assert!(internal.auth_calls);
    assert_eq!(internal.challenge_realm, ChallengeRealm::AutoFrom);
    assert_eq!(internal.nonce_ttl, 60);
    assert_eq!(internal.force_register_domain.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        internal.multiple_registrations,
        MultipleRegistrations::Contact
    );
    assert_eq!(internal.watchdog_step_timeout, 30000);
    assert_eq!(internal.apply_inbound_acl.len(), 1);
    assert_eq!(
        internal.bindings(),
        vec![("sip-port", ip("127.0.0.1"), 5060)]
    );
    assert!(
        internal
            .not_acted
            .iter()
            .any(|p| p.name == "inbound-codec-prefs" && p.value == "OPUS,G722,PCMU,PCMA")
    );
    assert_eq!(
        internal.param_location("sip-port").to_string(),
        "(embedded)/sip_profiles/internal.xml:23"
    );

    let external = c.sofia.profile("external").unwrap();
    assert_eq!(external.sip_ip, ip("127.0.0.1"));
    assert_eq!(external.sip_port, 5080);
    assert!(!external.auth_calls);
    assert!(external.gateways.is_empty());

    let domain = c.directory.domain("127.0.0.1").unwrap();
    assert_eq!(domain.users().len(), 20);
    for n in 1000..1020 {
        let u = c.directory.user(&n.to_string(), "127.0.0.1").unwrap();
        assert!(u.is_default_password(), "{n}");
        assert_eq!(u.vm_password(), Some(n.to_string().as_str()));
    }
    assert_eq!(
        c.directory
            .user("1003", "127.0.0.1")
            .map(|u| u.groups.clone()),
        Some(vec!["default".into(), "sales".into()])
    );
    assert_eq!(
        c.directory.lookup("1000", "127.0.0.1"),
        Some(Secret::Password("1234".into()))
    );

    // Everything listens on loopback: no default-password warning, no other warning.
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.acls.get("domains").is_some());
    assert!(c.acls.allows(
        &"loopback.auto".parse::<AclSpec>().unwrap(),
        ip("127.0.0.1")
    ));
}

fn load_mem(m: &MemoryFiles) -> Result<LoadedConfig, ConfigError> {
    load_from(
        m,
        Path::new("conf/autoload_configs/sofia.conf.xml"),
        &options(),
    )
}

const SOFIA: &str = r#"<configuration name="sofia.conf">
  <global_settings><param name="log-level" value="3"/></global_settings>
  <profiles>
    <X-PRE-PROCESS cmd="include" data="../sip_profiles/*.xml"/>
  </profiles>
</configuration>
"#;

fn profile(name: &str, settings: &str) -> String {
    format!("<profile name=\"{name}\">\n  <settings>\n{settings}\n  </settings>\n</profile>\n")
}

fn files(profiles: &[(&str, String)]) -> MemoryFiles {
    let mut m = MemoryFiles::new();
    m.insert(
        "conf/vars.xml",
        "<include>\n<X-PRE-PROCESS cmd=\"set\" data=\"ip=10.1.2.3\"/>\n</include>",
    );
    m.insert("conf/autoload_configs/sofia.conf.xml", SOFIA);
    for (file, text) in profiles {
        m.insert(format!("conf/sip_profiles/{file}"), text.clone());
    }
    m
}

fn err(m: &MemoryFiles) -> String {
    match load_mem(m) {
        Ok(_) => "loaded".to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn vars_globs_and_nested_includes() {
    let mut m = files(&[(
        "a.xml",
        "<profile name=\"a\">\n<X-PRE-PROCESS cmd=\"include\" data=\"a/settings.xml\"/>\n</profile>".to_string(),
    )]);
    m.insert(
        "conf/sip_profiles/a/settings.xml",
        "<include>\n<settings>\n<X-PRE-PROCESS cmd=\"include\" data=\"more/*.xml\"/>\n</settings>\n</include>",
    );
    m.insert(
        "conf/sip_profiles/a/more/1.xml",
        "<param name=\"sip-ip\" value=\"$${ip}\"/>",
    );
    m.insert(
        "conf/sip_profiles/a/more/2.xml",
        "<X-PRE-PROCESS cmd=\"set\" data=\"p=5070\"/>\n<param name=\"sip-port\" value=\"$${p}\"/>",
    );
    let c = load_mem(&m).unwrap();
    let a = c.sofia.profile("a").unwrap();
    assert_eq!(a.sip_ip, ip("10.1.2.3"));
    assert_eq!(a.sip_port, 5070);
    assert_eq!(
        a.param_location("sip-port").to_string(),
        "conf/sip_profiles/a/more/2.xml:2"
    );
    assert_eq!(c.sofia.global.log_level, 3);
    assert_eq!(c.vars.get("p").map(String::as_str), Some("5070"));
    assert!(
        c.files
            .iter()
            .any(|f| f == Path::new("conf/sip_profiles/a/more/1.xml"))
    );
}

#[test]
fn each_error_names_file_line_and_parameter() {
    let cases: Vec<(&str, String)> = vec![
        (
            "<param name=\"sip-ip\" value=\"aaaaaaaaéé\"/>",
            "conf/sip_profiles/p.xml:3: parameter 'sip-ip' = 'aaaaaaaaéé': not an IP address".into(),
        ),
        (
            "<param name=\"ext-sip-ip\" value=\"stun\"/>",
            "conf/sip_profiles/p.xml:3: parameter 'ext-sip-ip' = 'stun': not an IP address".into(),
        ),
        ("<param name=\"sip-port\" value=\"70000\"/>", "conf/sip_profiles/p.xml:3: parameter 'sip-port' = '70000': bad port (expected 1-65535 or auto)".into()),
        ("<param name=\"sip-port\" value=\"0\"/>", "conf/sip_profiles/p.xml:3: parameter 'sip-port' = '0': bad port".into()),
        ("<param name=\"auth-calls\" value=\"maybe\"/>", "conf/sip_profiles/p.xml:3: parameter 'auth-calls' = 'maybe': bad boolean".into()),
        ("<param name=\"multiple-registrations\" value=\"several\"/>", "conf/sip_profiles/p.xml:3: parameter 'multiple-registrations' = 'several': unknown multiple-registrations value".into()),
        ("<param name=\"sip-ip\" value=\"example.com\"/>", "conf/sip_profiles/p.xml:3: parameter 'sip-ip' = 'example.com': not an IP address".into()),
        ("<param name=\"nonce-ttl\" value=\"-5\"/>", "conf/sip_profiles/p.xml:3: parameter 'nonce-ttl' = '-5': bad number".into()),
        ("<param name=\"apply-register-acl\" value=\"10.0.0.0/40\"/>", "conf/sip_profiles/p.xml:3: parameter 'apply-register-acl' = '10.0.0.0/40': bad ACL".into()),
        ("<param name=\"apply-register-acl\" value=\"nosuchlist\"/>", "conf/sip_profiles/p.xml:3: parameter 'apply-register-acl': unknown ACL list 'nosuchlist'".into()),
        ("<param name=\"sip-port\" value=\"$${nope}\"/>", "conf/sip_profiles/p.xml:3: unknown variable '$${nope}'".into()),
        ("<param name=\"tls\" value=\"true\"/>\n<param name=\"tls-sip-port\" value=\"5060\"/>", "conf/sip_profiles/p.xml:4: parameter 'tls-sip-port': profile 'p' binds ".into()),
        ("<param value=\"x\"/>", "conf/sip_profiles/p.xml:3: <param> without a name".into()),
        ("<param name=\"sip-port\" value=\"1\">", "conf/sip_profiles/p.xml:4: XML: ".into()),
    ];
    for (settings, want) in cases {
        let m = files(&[("p.xml", profile("p", settings))]);
        let got = err(&m);
        assert!(
            got.starts_with(&want),
            "settings {settings}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn profile_level_errors() {
    // Two profiles on one address and port.
    let m = files(&[
        (
            "a.xml",
            profile("a", "<param name=\"sip-ip\" value=\"127.0.0.1\"/>"),
        ),
        (
            "b.xml",
            profile(
                "b",
                "<param name=\"sip-ip\" value=\"127.0.0.1\"/>\n<param name=\"sip-port\" value=\"5060\"/>",
            ),
        ),
    ]);
    assert_eq!(
        err(&m),
        "conf/sip_profiles/b.xml:4: parameter 'sip-port': profile 'b' binds 127.0.0.1:5060, which profile 'a' binds too"
    );
    // 0.0.0.0 is replaced by the guessed address, as FreeSWITCH does; :: overlaps every IPv6 address.
    let m = files(&[
        (
            "a.xml",
            profile("a", "<param name=\"sip-ip\" value=\"::\"/>"),
        ),
        (
            "b.xml",
            profile("b", "<param name=\"sip-ip\" value=\"::1\"/>"),
        ),
    ]);
    assert!(
        err(&m).contains("which profile 'a' binds too"),
        "{}",
        err(&m)
    );

    let m = files(&[
        (
            "a.xml",
            profile("x", "<param name=\"sip-port\" value=\"5070\"/>"),
        ),
        (
            "b.xml",
            profile("X", "<param name=\"sip-port\" value=\"5071\"/>"),
        ),
    ]);
    assert_eq!(
        err(&m),
        "conf/sip_profiles/b.xml:1: duplicate profile 'X' (first at conf/sip_profiles/a.xml:1)"
    );

    let m = files(&[("a.xml", "<profile>\n<settings/>\n</profile>".to_string())]);
    assert_eq!(
        err(&m),
        "conf/sip_profiles/a.xml:1: <profile> without a name"
    );

    let m = files(&[("a.xml", "<profile name=\"a\">\n</profile>".to_string())]);
    assert_eq!(
        err(&m),
        "conf/sip_profiles/a.xml:1: profile 'a' has no <settings>"
    );
}

#[test]
fn unknown_parameters_warn_and_freeswitch_ones_are_listed() {
    let m = files(&[(
        "p.xml",
        profile(
            "p",
            "<param name=\"sip-port\" value=\"5090\"/>\n<param name=\"sip-prot\" value=\"5091\"/>\n<param name=\"dtmf-type\" value=\"info\"/>\n<param name=\"nonce-ttl\" value=\"10\"/>",
        ),
    )]);
    let c = load_mem(&m).unwrap();
    let texts: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert!(texts.contains(&"conf/sip_profiles/p.xml:4: warning: parameter 'sip-prot': unknown parameter in profile 'p', ignored".to_string()), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("conf/sip_profiles/p.xml:6: warning: parameter 'nonce-ttl'")),
        "{texts:?}"
    );
    let p = c.sofia.profile("p").unwrap();
    assert_eq!(p.nonce_ttl, 60);
    assert_eq!(
        p.not_acted
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["dtmf-type"]
    );
    assert_eq!(p.params.len(), 4);
}

#[test]
fn gateways_parse_with_freeswitch_defaults() {
    let text = r#"<profile name="ext">
  <gateways>
    <gateway name="carrier.example">
      <param name="username" value="joe"/>
      <param name="password" value="pw"/>
      <param name="proxy" value="sip.example.com"/>
      <param name="register-proxy" value="reg.example.com"/>
      <param name="expire-seconds" value="2"/>
      <param name="ping" value="25"/>
      <param name="ping-max" value="3"/>
      <param name="caller-id-in-from" value="true"/>
      <variables>
        <variable name="both" value="1"/>
        <variable name="in" value="2" direction="inbound"/>
        <variable name="out" value="3" direction="outbound"/>
      </variables>
    </gateway>
    <gateway name="noreg">
      <param name="register" value="false"/>
      <param name="realm" value="r.example"/>
    </gateway>
  </gateways>
  <settings>
    <param name="sip-port" value="5080"/>
    <param name="context" value="public"/>
  </settings>
</profile>"#;
    let c = load_mem(&files(&[("ext.xml", text.to_string())])).unwrap();
    let (p, g) = c.sofia.gateway("carrier.example").unwrap();
    assert_eq!(p.name, "ext");
    assert_eq!(g.realm, "sip.example.com");
    assert_eq!(g.from_user, "joe");
    assert_eq!(g.auth_username, "joe");
    assert_eq!(g.extension, "joe");
    assert_eq!(g.register_proxy.as_deref(), Some("sip:reg.example.com"));
    assert_eq!(g.expire_seconds, 3600);
    assert_eq!(g.retry_seconds, 30);
    assert_eq!(g.ping, Some(25));
    assert_eq!((g.ping_min, g.ping_max), (1, 3));
    assert!(g.caller_id_in_from);
    assert_eq!(g.register_transport, Transport::Udp);
    assert_eq!(g.context, "public");
    assert_eq!(
        g.inbound_variables,
        vec![("both".into(), "1".into()), ("in".into(), "2".into())]
    );
    assert_eq!(
        g.outbound_variables,
        vec![("both".into(), "1".into()), ("out".into(), "3".into())]
    );
    assert!(
        c.warnings.iter().any(|w| w
            .to_string()
            .starts_with("conf/sip_profiles/ext.xml:8: warning: parameter 'expire-seconds'")),
        "{:?}",
        c.warnings
    );

    let (_, n) = c.sofia.gateway("noreg").unwrap();
    assert!(!n.register);
    assert_eq!(n.username, "FreeSWITCH");
    assert_eq!(n.proxy, "r.example");

    for (bad, want) in [
        (
            "<gateway name=\"g\"><param name=\"password\" value=\"x\"/></gateway>",
            "parameter 'username' is required",
        ),
        (
            "<gateway name=\"g\"><param name=\"username\" value=\"x\"/></gateway>",
            "parameter 'password' is required",
        ),
        (
            "<gateway name=\"g g\"><param name=\"register\" value=\"false\"/></gateway>",
            "bad gateway name",
        ),
        (
            "<gateway name=\"g\"><param name=\"register\" value=\"false\"/><param name=\"register-transport\" value=\"tls\"/></gateway>",
            "transport tls needs 'tls'",
        ),
        (
            "<gateway name=\"g\"><param name=\"register\" value=\"false\"/><param name=\"ping\" value=\"3\"/></gateway>",
            "bad ping interval",
        ),
        (
            "<gateway name=\"g\"><param name=\"register\" value=\"false\"/></gateway><gateway name=\"g\"><param name=\"register\" value=\"false\"/></gateway>",
            "duplicate gateway 'g'",
        ),
    ] {
        let text = format!(
            "<profile name=\"e\">\n<gateways>\n{bad}\n</gateways>\n<settings/>\n</profile>"
        );
        let got = err(&files(&[("e.xml", text)]));
        assert!(
            got.starts_with("conf/sip_profiles/e.xml:3: ") && got.contains(want),
            "{bad}: {got}"
        );
    }
}

#[test]
fn default_password_warning_on_a_public_address() {
    let mut m = files(&[(
        "p.xml",
        profile("p", "<param name=\"sip-ip\" value=\"$${ip}\"/>"),
    )]);
    m.insert(
        "conf/directory/d.xml",
        "<include><domain name=\"d\"><users>\n<user id=\"1\"><params><param name=\"password\" value=\"1234\"/></params></user>\n</users></domain></include>",
    );
    let c = load_mem(&m).unwrap();
    let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("conf/sip_profiles/p.xml:3: warning: parameter 'sip-ip': profile 'p' listens on 10.1.2.3 while 1 directory user(s) have the default password 1234 (1@d)"), "{w:?}");
}

#[test]
fn acl_file_with_domain_nodes() {
    let mut m = files(&[(
        "p.xml",
        profile(
            "p",
            "<param name=\"apply-inbound-acl\" value=\"trusted:ctx\"/>\n<param name=\"apply-register-acl\" value=\"loopback.auto, 2001:db8::/32\"/>",
        ),
    )]);
    m.insert(
        "conf/directory/d.xml",
        "<include><domain name=\"d\"><users><user id=\"gw\" cidr=\"192.0.2.0/24\"/></users></domain></include>",
    );
    m.insert(
        "conf/autoload_configs/acl.conf.xml",
        "<configuration name=\"acl.conf\"><network-lists>\n<list name=\"trusted\" default=\"deny\">\n<node type=\"allow\" domain=\"d\"/>\n<node type=\"deny\" cidr=\"192.0.2.9/32\"/>\n</list>\n</network-lists></configuration>",
    );
    let c = load_mem(&m).unwrap();
    let p = c.sofia.profile("p").unwrap();
    let inbound = &p.apply_inbound_acl[0].spec;
    let v = c.acls.check(inbound, ip("192.0.2.7"));
    assert!(v.allowed);
    assert_eq!(v.token, Some("gw@d"));
    assert!(!c.acls.allows(inbound, ip("192.0.2.9")));
    assert!(!c.acls.allows(inbound, ip("198.51.100.1")));
    let reg = &p.apply_register_acl[0].spec;
    assert!(c.acls.allows(reg, ip("127.0.0.5")));
    assert!(c.acls.allows(reg, ip("2001:db8::7")));
    assert!(!c.acls.allows(reg, ip("2001:db9::7")));
}

#[test]
fn docs_list_every_parameter_not_acted_on() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/mod_sofia.md"
    ))
    .unwrap_or_default();
    assert!(doc.contains("## Configuration"));
    use mod_sofia::config::params::{
        NOT_ACTED_GATEWAY_PARAMS, NOT_ACTED_GLOBAL_PARAMS, NOT_ACTED_PROFILE_PARAMS,
    };
    for name in NOT_ACTED_PROFILE_PARAMS
        .iter()
        .chain(NOT_ACTED_GLOBAL_PARAMS)
        .chain(NOT_ACTED_GATEWAY_PARAMS)
    {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/mod_sofia.md does not list {name}"
        );
    }
}

/// Every parameter name of FreeSWITCH's vanilla `internal.xml` and
/// `external.xml` (commented ones too).
const VANILLA_PARAMS: &[&str] = &[
    "rtp-digit-delay",
    "media-option",
    "user-agent-string",
    "debug",
    "shutdown-on-fail",
    "sip-trace",
    "sip-capture",
    "presence-proto-lookup",
    "liberal-dtmf",
    "watchdog-enabled",
    "watchdog-step-timeout",
    "watchdog-event-timeout",
    "log-auth-failures",
    "forward-unsolicited-mwi-notify",
    "context",
    "rfc2833-pt",
    "sip-port",
    "dialplan",
    "dtmf-duration",
    "inbound-codec-prefs",
    "outbound-codec-prefs",
    "rtp-timer-name",
    "rtp-ip",
    "sip-ip",
    "hold-music",
    "apply-nat-acl",
    "cid-in-1xx",
    "extended-info-parsing",
    "aggressive-nat-detection",
    "enable-100rel",
    "disable-srv503",
    "enable-compact-headers",
    "enable-timer",
    "minimum-session-expires",
    "apply-inbound-acl",
    "local-network-acl",
    "apply-register-acl",
    "dtmf-type",
    "send-message-query-on-register",
    "send-presence-on-register",
    "caller-id-type",
    "record-path",
    "record-template",
    "manage-presence",
    "presence-probe-on-register",
    "manage-shared-appearance",
    "dbname",
    "presence-hosts",
    "presence-privacy",
    "bitpacking",
    "max-proceeding",
    "max-recv-requests-per-second",
    "session-timeout",
    "multiple-registrations",
    "inbound-codec-negotiation",
    "bind-params",
    "unregister-on-options-fail",
    "all-reg-options-ping",
    "nat-options-ping",
    "sip-options-respond-503-on-busy",
    "sip-messages-respond-200-ok",
    "sip-subscribe-respond-200-ok",
    "tls",
    "tls-only",
    "tls-bind-params",
    "tls-sip-port",
    "tls-cert-dir",
    "tls-passphrase",
    "tls-verify-date",
    "tls-verify-policy",
    "tls-verify-depth",
    "tls-verify-in-subjects",
    "tls-version",
    "tls-ciphers",
    "tls-orq-connect-timeout",
    "rtp-autoflush-during-bridge",
    "rtp-rewrite-timestamps",
    "pass-rfc2833",
    "odbc-dsn",
    "db-spin-up-wait-ms",
    "inbound-bypass-media",
    "inbound-proxy-media",
    "inbound-late-negotiation",
    "accept-blind-reg",
    "accept-blind-auth",
    "suppress-cng",
    "nonce-ttl",
    "disable-transcoding",
    "manual-redirect",
    "disable-transfer",
    "disable-register",
    "NDLB-broken-auth-hash",
    "NDLB-received-in-nat-reg-contact",
    "auth-calls",
    "auth-subscriptions",
    "inbound-reg-force-matching-username",
    "auth-all-packets",
    "ext-rtp-ip",
    "ext-sip-ip",
    "rtp-timeout-sec",
    "rtp-hold-timeout-sec",
    "vad",
    "alias",
    "force-register-domain",
    "force-subscription-domain",
    "force-register-db-domain",
    "ws-binding",
    "wss-binding",
    "delete-subs-on-register",
    "inbound-reg-in-new-thread",
    "rtcp-audio-interval-msec",
    "rtcp-video-interval-msec",
    "force-subscription-expires",
    "sip-subscription-max-deviation",
    "enable-3pcc",
    "NDLB-force-rport",
    "challenge-realm",
    "disable-rtp-auto-adjust",
    "inbound-use-callid-as-uuid",
    "outbound-use-uuid-as-callid",
    "rtp-autofix-timing",
    "pass-callee-id",
    "auto-rtp-bugs",
    "disable-srv",
    "disable-naptr",
    "timer-T1",
    "timer-T1X64",
    "timer-T2",
    "timer-T4",
    "auto-jitterbuffer-msec",
    "renegotiate-codec-on-hold",
    "auto-invite-100",
    "parse-all-invite-headers",
    "enable-rfc-5626",
];

fn vanilla_value(name: &str) -> &'static str {
    match name {
        "sip-ip" | "ext-sip-ip" | "rtp-ip" | "ext-rtp-ip" => "127.0.0.1",
        "sip-port" => "5062",
        "tls-sip-port" => "5063",
        "apply-inbound-acl" | "apply-register-acl" | "apply-nat-acl" | "local-network-acl" => {
            "loopback.auto"
        }
        "multiple-registrations" => "contact",
        "challenge-realm" => "auto_from",
        "nonce-ttl" | "watchdog-step-timeout" | "watchdog-event-timeout" => "60",
        "user-agent-string" => "Vanilla",
        "force-register-domain" | "force-register-db-domain" => "$${domain}",
        _ => "false",
    }
}

/// A FreeSWITCH-layout tree on disk: conf/vars.xml,
/// conf/autoload_configs/{sofia,acl}.conf.xml, conf/sip_profiles/*.xml,
/// conf/directory/default.xml with default/*.xml.
#[test]
fn freeswitch_tree_on_disk_with_every_vanilla_parameter() {
    let root = std::env::temp_dir().join(format!("mod_sofia-config-{}", std::process::id()));
    let conf = root.join("conf");
    let write = |rel: &str, text: &str| {
        let p = conf.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, text).unwrap();
    };
    write(
        "vars.xml",
        "<include>\n  <X-PRE-PROCESS cmd=\"set\" data=\"domain=example.test\"/>\n  <X-PRE-PROCESS cmd=\"set\" data=\"default_password=s3cret\"/>\n</include>\n",
    );
    write("autoload_configs/sofia.conf.xml", SOFIA);
    write(
        "autoload_configs/acl.conf.xml",
        "<configuration name=\"acl.conf\"><network-lists>\n<list name=\"domains\" default=\"deny\"><node type=\"allow\" domain=\"$${domain}\"/></list>\n</network-lists></configuration>",
    );
    let settings: String = VANILLA_PARAMS
        .iter()
        .map(|n| format!("    <param name=\"{n}\" value=\"{}\"/>\n", vanilla_value(n)))
        .collect();
    write(
        "sip_profiles/internal.xml",
        &format!(
            "<profile name=\"internal\">\n  <gateways>\n    <X-PRE-PROCESS cmd=\"include\" data=\"internal/*.xml\"/>\n  </gateways>\n  <settings>\n{settings}  </settings>\n</profile>\n"
        ),
    );
    write(
        "sip_profiles/internal/carrier.xml",
        "<include>\n  <gateway name=\"carrier\">\n    <param name=\"username\" value=\"u\"/>\n    <param name=\"password\" value=\"p\"/>\n  </gateway>\n</include>\n",
    );
    write(
        "directory/default.xml",
        "<include>\n  <domain name=\"$${domain}\">\n    <groups><group name=\"default\"><users>\n      <X-PRE-PROCESS cmd=\"include\" data=\"default/*.xml\"/>\n    </users></group></groups>\n  </domain>\n</include>\n",
    );
    write(
        "directory/default/1000.xml",
        "<include>\n  <user id=\"1000\" cidr=\"127.0.0.2/32\">\n    <params><param name=\"password\" value=\"$${default_password}\"/></params>\n  </user>\n</include>\n",
    );
    let loaded = mod_sofia::config::load(&conf.join("autoload_configs/sofia.conf.xml"), &options());
    let _ = std::fs::remove_dir_all(&root);
    let c = loaded.unwrap();
    assert!(
        c.warnings.is_empty(),
        "{:?}",
        c.warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    let p = c.sofia.profile("internal").unwrap();
    assert_eq!(p.sip_port, 5062);
    assert_eq!(p.user_agent.as_deref(), Some("Vanilla"));
    assert_eq!(p.force_register_domain.as_deref(), Some("example.test"));
    assert_eq!(p.params.len(), VANILLA_PARAMS.len());
    assert_eq!(p.gateways.len(), 1);
    assert_eq!(p.gateways[0].at.line, 2);
    assert!(
        p.gateways[0]
            .at
            .file
            .ends_with("conf/sip_profiles/internal/carrier.xml")
    );
    assert_eq!(
        c.directory.lookup("1000", "example.test"),
        Some(Secret::Password("s3cret".into()))
    );
    let domains = "domains".parse::<AclSpec>().unwrap();
    assert_eq!(
        c.acls.check(&domains, ip("127.0.0.2")).token,
        Some("1000@example.test")
    );
    assert_eq!(c.files.len(), 7, "{:?}", c.files);
}
