//! Golden replies of the `sofia` commands against a fake state, checked
//! against the formats of FreeSWITCH's mod_sofia.c (`cmd_status`,
//! `cmd_xml_status`, `cmd_profile`, `sofia_function`, `sofia_contact`,
//! `sofia_count_reg`, sip-dig.c), and error replies for bad input.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mod_sofia::commands::{
    ApiCommand, DigArgs, GatewayState, GatewayStatus, ProfileAction, ProfileStatus, RegFilter,
    RegistrationRow, Reply, SEPARATOR, SofiaState, dig_rows, execute_sync, url_from_contact,
};
use proptest::prelude::*;
use sofia_nta::resolve::Target;
use sofia_tport::Transport;

const NOW: u64 = 1_700_000_000;

#[derive(Default)]
struct Fake {
    profiles: Vec<ProfileStatus>,
    regs: Vec<RegistrationRow>,
    calls: Vec<String>,
    reload_error: Option<String>,
}

impl SofiaState for Fake {
    fn profiles(&self) -> Vec<ProfileStatus> {
        self.profiles.clone()
    }
    fn registrations(&self, profile: &str, filter: &RegFilter) -> Vec<RegistrationRow> {
        self.regs
            .iter()
            .filter(|r| r.profile_name == profile && filter.matches(r))
            .cloned()
            .collect()
    }
    fn flush_inbound_reg(&mut self, profile: &str, target: Option<&str>, reboot: bool) {
        self.calls
            .push(format!("flush {profile} {target:?} {reboot}"));
    }
    fn set_siptrace(&mut self, profile: Option<&str>, on: bool) {
        self.calls.push(format!("siptrace {profile:?} {on}"));
    }
    fn set_watchdog(&mut self, profile: Option<&str>, on: bool) {
        self.calls.push(format!("watchdog {profile:?} {on}"));
    }
    fn reload_xml(&mut self) -> Result<(), String> {
        self.calls.push("reload".into());
        match &self.reload_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
    fn profile_action(&mut self, profile: &str, action: ProfileAction) -> Result<(), String> {
        self.calls.push(format!("{action:?} {profile}"));
        if profile == "internal" || profile == "external" {
            Ok(())
        } else {
            Err("no such profile".into())
        }
    }
    fn restart_all(&mut self) {
        self.calls.push("restart all".into());
    }
    fn default_domain(&self) -> Option<String> {
        Some("example.com".into())
    }
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }
}

/// `%Ns`: right-aligned in N columns.
fn r(width: usize, s: &str) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(s.len())))
}

fn internal() -> ProfileStatus {
    ProfileStatus {
        name: "internal".into(),
        aliases: vec!["example.com".into()],
        running: true,
        inuse: 2,
        uptime_secs: 120,
        domain_name: None,
        auto_nat: false,
        dbname: "sofia_reg_internal".into(),
        pres_hosts: "example.com".into(),
        dialplan: "XML".into(),
        context: "public".into(),
        challenge_realm: Some("auto_from".into()),
        rtp_ip: vec!["127.0.0.1".into()],
        sip_ip: "127.0.0.1".into(),
        url: "sip:mod_sofia@127.0.0.1:5060".into(),
        bind_url: "sip:mod_sofia@127.0.0.1:5060".into(),
        codecs_in: "OPUS,G722,PCMU,PCMA".into(),
        codecs_out: "OPUS,G722,PCMU,PCMA".into(),
        tel_event: 101,
        cng: 13,
        session_timeout: 0,
        max_dialog: 1000,
        calls_in: 7,
        failed_calls_in: 1,
        calls_out: 3,
        failed_calls_out: 0,
        ..ProfileStatus::default()
    }
}

fn external() -> ProfileStatus {
    ProfileStatus {
        name: "external".into(),
        running: true,
        uptime_secs: 5,
        url: "sip:mod_sofia@127.0.0.1:5080".into(),
        gateways: vec![
            GatewayStatus {
                name: "gw1".into(),
                register_to: "sip:gw1@203.0.113.5".into(),
                state: GatewayState::Reged,
                ping_time: 12.5,
                ib_calls: 4,
                ib_failed_calls: 1,
                ob_calls: 9,
                ob_failed_calls: 2,
                up: true,
                uptime_secs: 60,
                ..GatewayStatus::default()
            },
            GatewayStatus {
                name: "gw2".into(),
                register_to: "sip:gw2@203.0.113.6".into(),
                state: GatewayState::Failed,
                retry_secs: Some(25),
                ..GatewayStatus::default()
            },
        ],
        ..ProfileStatus::default()
    }
}

fn reg(user: &str, contact: &str) -> RegistrationRow {
    RegistrationRow {
        call_id: format!("call-{user}"),
        sip_user: user.into(),
        sip_host: "example.com".into(),
        presence_hosts: "example.com,example.org".into(),
        contact: contact.into(),
        status: "Registered(UDP)".into(),
        rpid: "unknown".into(),
        expires: Some(NOW as i64 + 3600),
        user_agent: "Zoiper rv2.10".into(),
        profile_name: "internal".into(),
        hostname: "pbx1".into(),
        network_ip: "192.0.2.7".into(),
        network_port: "5060".into(),
        sip_username: user.into(),
        sip_realm: "example.com".into(),
        mwi_user: user.into(),
        mwi_host: "example.com".into(),
        ping_status: "Reachable".into(),
        ping_time: 12345,
    }
}

fn fake() -> Fake {
    Fake {
        profiles: vec![
            internal(),
            external(),
            ProfileStatus {
                name: "stopped".into(),
                running: false,
                ..ProfileStatus::default()
            },
        ],
        regs: vec![
            reg("1000", "\"1000\" <sip:1000@192.0.2.7:5060;transport=udp>"),
            reg("1001", "<sip:1001@192.0.2.8:5062>;expires=3600"),
        ],
        ..Fake::default()
    }
}

fn run(line: &str, state: &mut Fake) -> Reply {
    execute_sync(line, state)
}

#[test]
fn separator_is_97_equals() {
    assert_eq!(SEPARATOR.len(), 97);
    assert!(SEPARATOR.bytes().all(|b| b == b'='));
}

#[test]
fn status_summary() {
    let mut s = fake();
    let reply = run("sofia status", &mut s);
    let expected = [
        format!("{}\t   Type\t  {}\tState\n", r(25, "Name"), r(40, "Data")),
        format!("{SEPARATOR}\n"),
        format!(
            "{}\tprofile\t  {}\tRUNNING (2)\n",
            r(25, "internal"),
            r(40, "sip:mod_sofia@127.0.0.1:5060")
        ),
        format!(
            "{}\t  alias\t  {}\tALIASED\n",
            r(25, "example.com"),
            r(40, "internal")
        ),
        format!(
            "{}\tprofile\t  {}\tRUNNING (0)\n",
            r(25, "external"),
            r(40, "sip:mod_sofia@127.0.0.1:5080")
        ),
        format!(
            "{}\tgateway\t  {}\tREGED\n",
            r(25, "external::gw1"),
            r(40, "sip:gw1@203.0.113.5")
        ),
        format!(
            "{}\tgateway\t  {}\tFAILED (retry: 25s)\n",
            r(25, "external::gw2"),
            r(40, "sip:gw2@203.0.113.6")
        ),
        format!("{SEPARATOR}\n"),
        "2 profiles 1 alias\n".to_string(),
    ]
    .concat();
    assert_eq!(reply.text, expected);
    assert!(reply.ok);
}

#[test]
fn status_summary_singular_and_empty() {
    let mut s = Fake {
        profiles: vec![ProfileStatus {
            aliases: vec!["a".into(), "b".into()],
            ..internal()
        }],
        ..Fake::default()
    };
    assert!(
        run("sofia status", &mut s)
            .text
            .ends_with("\n1 profile 2 aliases\n")
    );
    let mut empty = Fake::default();
    assert_eq!(
        run("sofia status", &mut empty).text,
        format!(
            "{}\t   Type\t  {}\tState\n{SEPARATOR}\n{SEPARATOR}\n0 profiles 0 aliases\n",
            r(25, "Name"),
            r(40, "Data")
        )
    );
}

#[test]
fn status_tls_rows() {
    let mut s = Fake {
        profiles: vec![ProfileStatus {
            tls: Some((
                "sips:mod_sofia@127.0.0.1:5061".into(),
                "sips:mod_sofia@127.0.0.1:5061".into(),
            )),
            aliases: vec![],
            ..internal()
        }],
        ..Fake::default()
    };
    let text = run("sofia status", &mut s).text;
    assert!(text.contains(&format!(
        "{}\tprofile\t  {}\tRUNNING (2) (TLS)\n",
        r(25, "internal"),
        r(40, "sips:mod_sofia@127.0.0.1:5061")
    )));
    assert!(text.contains("\tRUNNING (2)\n"));
}

#[test]
fn status_gateway_summary() {
    let mut s = fake();
    let reply = run("sofia status gateway", &mut s);
    let expected = [
        format!(
            "{}\t{}\tState\tPing Time\tIB Calls(F/T)\tOB Calls(F/T)\n",
            r(25, "Profile::Gateway-Name"),
            r(32, "    Data    ")
        ),
        format!("{SEPARATOR}\n"),
        format!(
            "{}\t{}\tREGED\t {}\t1/4\t2/9\n",
            r(25, "external::gw1"),
            r(32, "sip:gw1@203.0.113.5"),
            "12.50"
        ),
        format!(
            "{}\t{}\tFAILED\t{}\t0/0\t0/0 (retry: 25s)\n",
            r(25, "external::gw2"),
            r(32, "sip:gw2@203.0.113.6"),
            "  0.00"
        ),
        format!("{SEPARATOR}\n"),
        "2 gateways: Inbound(Failed/Total): 1/4,Outbound(Failed/Total):2/9\n".to_string(),
    ]
    .concat();
    assert_eq!(reply.text, expected);
}

#[test]
fn status_gateway_detail_and_invalid() {
    let mut s = fake();
    let text = run("sofia status gateway gw1", &mut s).text;
    assert!(text.starts_with(&format!("{SEPARATOR}\nName    \tgw1\nProfile \texternal\n")));
    assert!(text.contains("Password\tno\n"));
    assert!(text.contains(
        "PingTime\t12.50\nPingState\t0/0/0\nState   \tREGED\nStatus  \tUP\nUptime  \t60s\n"
    ));
    assert!(text.ends_with(&format!(
        "CallsIN \t4\nCallsOUT\t9\nFailedCallsIN\t1\nFailedCallsOUT\t2\n{SEPARATOR}\n"
    )));
    let reply = run("sofia status gateway nope", &mut s);
    assert_eq!(reply.text, "Invalid Gateway!\n");
    assert!(!reply.ok);
}

fn internal_info(name: &str, alias_of: Option<&str>) -> String {
    let mut t = format!("{SEPARATOR}\n");
    t += &format!("Name             \t{name}\n");
    t += "Domain Name      \tN/A\n";
    if let Some(a) = alias_of {
        t += &format!("Alias Of         \t{a}\n");
    }
    t += "Auto-NAT         \tfalse\n\
          DBName           \tsofia_reg_internal\n\
          Pres Hosts       \texample.com\n\
          Dialplan         \tXML\n\
          Context          \tpublic\n\
          Challenge Realm  \tauto_from\n\
          RTP-IP           \t127.0.0.1\n\
          SIP-IP           \t127.0.0.1\n\
          URL              \tsip:mod_sofia@127.0.0.1:5060\n\
          BIND-URL         \tsip:mod_sofia@127.0.0.1:5060\n\
          HOLD-MUSIC       \tN/A\n\
          OUTBOUND-PROXY   \tN/A\n\
          CODECS IN        \tOPUS,G722,PCMU,PCMA\n\
          CODECS OUT       \tOPUS,G722,PCMU,PCMA\n\
          TEL-EVENT        \t101\n\
          DTMF-MODE        \trfc2833\n\
          CNG              \t13\n\
          SESSION-TO       \t0\n\
          MAX-DIALOG       \t1000\n\
          NOMEDIA          \tfalse\n\
          LATE-NEG         \tfalse\n\
          PROXY-MEDIA      \tfalse\n\
          ZRTP-PASSTHRU    \tfalse\n\
          AGGRESSIVENAT    \tfalse\n\
          CALLS-IN         \t7\n\
          FAILED-CALLS-IN  \t1\n\
          CALLS-OUT        \t3\n\
          FAILED-CALLS-OUT \t0\n\
          REGISTRATIONS    \t2\n";
    t
}

#[test]
fn status_profile() {
    let mut s = fake();
    let reply = run("sofia status profile internal", &mut s);
    assert_eq!(reply.text, internal_info("internal", None));
    assert!(reply.ok);
    let reply = run("sofia status profile example.com", &mut s);
    assert_eq!(reply.text, internal_info("example.com", Some("internal")));
}

#[test]
fn status_profile_optional_lines() {
    let mut s = Fake {
        profiles: vec![ProfileStatus {
            domain_name: Some("example.com".into()),
            ext_rtp_ip: Some("198.51.100.1".into()),
            ext_sip_ip: Some("198.51.100.2".into()),
            tls: Some(("sips:a@h:5061".into(), "sips:a@h:5061;transport=tls".into())),
            ws_bind_url: Some("sip:a@h:5066;transport=ws".into()),
            wss_bind_url: Some("sip:a@h:7443;transport=wss".into()),
            hold_music: Some("local_stream://moh".into()),
            outbound_proxy: Some("sip:proxy.example.com".into()),
            user_agent_filter: Some("Yealink".into()),
            max_registrations_per_ext: 3,
            dtmf_mode: mod_sofia::commands::DtmfMode::Info,
            aggressive_nat: true,
            ..internal()
        }],
        ..Fake::default()
    };
    let text = run("sofia status profile internal", &mut s).text;
    for line in [
        "Domain Name      \texample.com\n",
        "RTP-IP           \t127.0.0.1\nExt-RTP-IP       \t198.51.100.1\nSIP-IP           \t127.0.0.1\nExt-SIP-IP       \t198.51.100.2\n",
        "BIND-URL         \tsip:mod_sofia@127.0.0.1:5060\nTLS-URL          \tsips:a@h:5061\nTLS-BIND-URL     \tsips:a@h:5061;transport=tls\n",
        "WS-BIND-URL     \tsip:a@h:5066;transport=ws\nWSS-BIND-URL     \tsip:a@h:7443;transport=wss\n",
        "HOLD-MUSIC       \tlocal_stream://moh\nOUTBOUND-PROXY   \tsip:proxy.example.com\n",
        "DTMF-MODE        \tinfo\n",
        "AGGRESSIVENAT    \ttrue\nUSER-AGENT-FILTER\tYealink\nMAX-REG-PEREXT   \t3\nCALLS-IN ",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

fn reg_block(user: &str, contact: &str) -> String {
    format!(
        "Call-ID:    \tcall-{user}\n\
         User:       \t{user}@example.com\n\
         Contact:    \t{contact}\n\
         Agent:      \tZoiper rv2.10\n\
         Status:     \tRegistered(UDP)(unknown) EXP(2023-11-14 23:13:20) EXPSECS(3600)\n\
         Ping-Status:\tReachable\n\
         Ping-Time:\t12.35\n\
         Host:       \tpbx1\n\
         IP:         \t192.0.2.7\n\
         Port:       \t5060\n\
         Auth-User:  \t{user}\n\
         Auth-Realm: \texample.com\n\
         MWI-Account:\t{user}@example.com\n\n"
    )
}

#[test]
fn status_profile_reg() {
    let mut s = fake();
    let reply = run("sofia status profile internal reg", &mut s);
    let expected = format!(
        "\nRegistrations:\n{SEPARATOR}\n{}{}Total items returned: 2\n{SEPARATOR}\n",
        reg_block("1000", "\"1000\" <sip:1000@192.0.2.7:5060;transport=udp>"),
        reg_block("1001", "<sip:1001@192.0.2.8:5062>;expires=3600"),
    );
    assert_eq!(reply.text, expected);

    // Contact substring, case-insensitive like SQL's `like`.
    let text = run("sofia status profile internal reg 192.0.2.8", &mut s).text;
    assert!(text.contains("call-1001") && !text.contains("call-1000"));
    assert!(text.contains("Total items returned: 1\n"));
    let text = run("sofia status profile internal reg TRANSPORT=UDP", &mut s).text;
    assert!(text.contains("call-1000") && text.contains("Total items returned: 1\n"));
    let text = run("sofia status profile internal reg nomatch", &mut s).text;
    assert_eq!(
        text,
        format!("\nRegistrations:\n{SEPARATOR}\nTotal items returned: 0\n{SEPARATOR}\n")
    );
}

#[test]
fn status_profile_user_and_pres() {
    let mut s = fake();
    let text = run(
        "sofia status profile internal user 1001@example.com",
        &mut s,
    )
    .text;
    assert!(text.starts_with("\nRegistrations:\n"));
    assert!(text.contains("call-1001") && text.contains("Total items returned: 1\n"));
    let text = run("sofia status profile internal user 1000@other.com", &mut s).text;
    assert!(text.contains("Total items returned: 0\n"));
    let text = run("sofia status profile internal user example.com", &mut s).text;
    assert!(text.contains("Total items returned: 2\n"));
    let text = run("sofia status profile internal user 1000@", &mut s).text;
    assert!(text.contains("Total items returned: 1\n"));
    // `user` with no argument prints nothing, as FreeSWITCH.
    assert_eq!(run("sofia status profile internal user", &mut s).text, "");
    // `pres` prints the information and the matching registrations.
    let text = run("sofia status profile internal pres example.org", &mut s).text;
    assert!(text.starts_with(&internal_info("internal", None)));
    assert!(text.contains("Total items returned: 2\n"));
}

#[test]
fn status_errors() {
    let mut s = fake();
    for (line, text) in [
        ("sofia status profile nope", "Invalid Profile!\n"),
        ("sofia status profile stopped", "Invalid Profile!\n"),
        ("sofia status foo bar", "Invalid Syntax!\n"),
        ("sofia xmlstatus profile nope", "Invalid Profile!\n"),
        ("sofia xmlstatus foo bar", "Invalid Syntax!\n"),
        ("sofia xmlstatus gateway nope", "Invalid Gateway!\n"),
    ] {
        let reply = run(line, &mut s);
        assert_eq!(reply.text, text, "{line}");
        assert!(!reply.ok, "{line}");
    }
}

#[test]
fn xmlstatus_summary() {
    let mut s = Fake {
        profiles: vec![internal()],
        ..Fake::default()
    };
    let reply = run("sofia xmlstatus", &mut s);
    assert_eq!(
        reply.text,
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<profiles>\n\
         <profile>\n<name>internal</name>\n<type>profile</type>\n<data>sip:mod_sofia@127.0.0.1:5060</data>\n<state>RUNNING (2)</state>\n</profile>\n\
         <alias>\n<name>example.com</name>\n<type>alias</type>\n<data>internal</data>\n<state>ALIASED</state>\n</alias>\n\
         </profiles>\n"
    );
}

#[test]
fn xmlstatus_profile_reg() {
    let mut s = fake();
    s.regs[0].user_agent = "A&B <x>".into();
    s.regs[0].sip_username = "user name".into();
    let text = run("sofia xmlstatus profile internal reg 192.0.2.7", &mut s).text;
    assert_eq!(
        text,
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<profile>\n  <registrations>\n\
         \x20   <registration>\n\
         \x20       <call-id>call-1000</call-id>\n\
         \x20       <user>1000@example.com</user>\n\
         \x20       <contact>&quot;1000&quot; &lt;sip:1000@192.0.2.7:5060;transport=udp&gt;</contact>\n\
         \x20       <agent>A&amp;B &lt;x&gt;</agent>\n\
         \x20       <status>Registered(UDP)(unknown) exp(2023-11-14 23:13:20) expsecs(3600)</status>\n\
         \x20       <ping-status>Reachable</ping-status>\n\
         \x20       <ping-time>12.35</ping-time>\n\
         \x20       <host>pbx1</host>\n\
         \x20       <network-ip>192.0.2.7</network-ip>\n\
         \x20       <network-port>5060</network-port>\n\
         \x20       <sip-auth-user>user%20name</sip-auth-user>\n\
         \x20       <sip-auth-realm>example.com</sip-auth-realm>\n\
         \x20       <mwi-account>1000@example.com</mwi-account>\n\
         \x20   </registration>\n\
         \x20 </registrations>\n</profile>\n"
    );
}

#[test]
fn xmlstatus_profile_info() {
    let mut s = fake();
    let text = run("sofia xmlstatus profile example.com", &mut s).text;
    assert!(text.starts_with(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<profile>\n  <profile-info>\n    <name>example.com</name>\n    <domain-name>N/A</domain-name>\n    <alias-of>internal</alias-of>\n    <auto-nat>false</auto-nat>\n"
    ));
    assert!(text.ends_with(
        "    <calls-in>7</calls-in>\n    <calls-out>3</calls-out>\n    <failed-calls-in>1</failed-calls-in>\n    <failed-calls-out>0</failed-calls-out>\n    <registrations>2</registrations>\n  </profile-info>\n</profile>\n"
    ));
}

#[test]
fn profile_commands() {
    let mut s = fake();
    let cases: [(&str, &str, bool); 12] = [
        ("sofia profile internal", "Invalid Args!\n", false),
        (
            "sofia profile nope siptrace on",
            "Invalid Profile [nope]",
            false,
        ),
        (
            "sofia profile internal siptrace on",
            "Enabled sip debugging on internal",
            true,
        ),
        (
            "sofia profile example.com siptrace off",
            "Disabled sip debugging on internal",
            true,
        ),
        (
            "sofia profile internal siptrace",
            "Usage: sofia profile <name> siptrace <on/off>\n",
            false,
        ),
        (
            "sofia profile internal watchdog on",
            "Enabled sip debugging on internal",
            true,
        ),
        (
            "sofia profile internal watchdog",
            "Usage: sofia profile <name> watchdog <on/off>\n",
            false,
        ),
        (
            "sofia profile internal frobnicate",
            "-ERR Unknown command!\n",
            false,
        ),
        (
            "sofia profile internal flush_inbound_reg",
            "+OK flushing all registrations\n",
            true,
        ),
        (
            "sofia profile internal flush_inbound_reg reboot",
            "+OK rebooting all registrations\n",
            true,
        ),
        (
            "sofia profile internal flush_inbound_reg 1000@example.com reboot",
            "+OK rebooting all registrations matching specified call_id\n",
            true,
        ),
        (
            "sofia profile internal flush_inbound_reg call-1000",
            "+OK flushing all registrations matching specified call_id\n",
            true,
        ),
    ];
    for (line, text, ok) in cases {
        let reply = run(line, &mut s);
        assert_eq!(reply.text, text, "{line}");
        assert_eq!(reply.ok, ok, "{line}");
    }
    assert_eq!(
        s.calls,
        [
            "siptrace Some(\"internal\") true",
            "siptrace Some(\"internal\") false",
            "watchdog Some(\"internal\") true",
            "flush internal None false",
            "flush internal None true",
            "flush internal Some(\"1000@example.com\") true",
            "flush internal Some(\"call-1000\") false",
        ]
    );
}

#[test]
fn profile_start_stop_restart_rescan() {
    let mut s = fake();
    let reply = run("sofia profile internal stop", &mut s);
    assert_eq!(reply.text, "Reload XML [Success]\nstopping: internal");
    assert!(reply.ok);
    let reply = run("sofia profile internal restart", &mut s);
    assert_eq!(reply.text, "Reload XML [Success]\nrestarting: internal");
    let reply = run("sofia profile internal rescan reloadxml", &mut s);
    assert_eq!(reply.text, "Reload XML [Success]\n+OK scan complete\n");
    let reply = run("sofia profile internal start", &mut s);
    assert_eq!(
        reply.text,
        "Reload XML [Success]\ninternal started successfully\n"
    );
    let reply = run("sofia profile newone start", &mut s);
    assert_eq!(
        reply.text,
        "Reload XML [Success]\nFailure starting newone\n"
    );
    assert!(!reply.ok);
    // Up for 5 s only.
    let reply = run("sofia profile external stop", &mut s);
    assert_eq!(
        reply.text,
        "Profile external must be up for at least 10 seconds to stop/restart.\nPlease wait 5 seconds\n"
    );
    assert!(!reply.ok);
    s.profiles[1].uptime_secs = 9;
    assert!(
        run("sofia profile external restart", &mut s)
            .text
            .ends_with("Please wait 1 second\n")
    );
    s.reload_error = Some("bad.xml: unclosed tag".into());
    let reply = run("sofia profile internal rescan", &mut s);
    assert_eq!(
        reply.text,
        "Reload XML [bad.xml: unclosed tag]\n+OK scan complete\n"
    );
    let reply = run("sofia profile restart all", &mut s);
    assert_eq!(reply.text, "");
    assert!(s.calls.contains(&"restart all".to_string()));
    assert!(
        s.calls
            .contains(&"Stop { wait: false } internal".to_string())
    );
    assert!(run("sofia profile internal stop wait", &mut s).ok);
    assert!(
        s.calls
            .contains(&"Stop { wait: true } internal".to_string())
    );
}

#[test]
fn global_commands() {
    let mut s = fake();
    assert_eq!(
        run("sofia global siptrace on", &mut s).text,
        "+OK Global siptrace on"
    );
    assert_eq!(
        run("sofia global siptrace no", &mut s).text,
        "+OK Global siptrace off"
    );
    assert_eq!(
        run("sofia global watchdog 1", &mut s).text,
        "+OK Global watchdog on"
    );
    let usage =
        "-ERR Usage: siptrace <on|off>|capture <on|off>|watchdog <on|off>|debug <sla|presence|none";
    for line in [
        "sofia global",
        "sofia global siptrace",
        "sofia global frob on",
    ] {
        let reply = run(line, &mut s);
        assert_eq!(reply.text, usage, "{line}");
        assert!(!reply.ok);
    }
    assert_eq!(
        s.calls,
        [
            "siptrace None true",
            "siptrace None false",
            "watchdog None true"
        ]
    );
}

#[test]
fn help_unknown_and_not_found() {
    let mut s = fake();
    let help = run("sofia help", &mut s);
    assert!(help.ok);
    assert!(help.text.starts_with(
        "USAGE:\n--------------------------------------------------------------------------------\nsofia global siptrace <on|off>\nsofia        capture  <on|off>\n             watchdog <on|off>\n\nsofia profile <name> [start | stop | restart | rescan] [wait]\n                     flush_inbound_reg [<call_id> | <[user]@domain>] [reboot]\n"
    ));
    assert!(help.text.ends_with(
        "sofia tracelevel <console|alert|crit|err|warning|notice|info|debug>\n\nsofia help\n--------------------------------------------------------------------------------\n"
    ));
    assert_eq!(run("sofia", &mut s).text, help.text);
    let reply = run("sofia frob", &mut s);
    assert_eq!(reply.text, "Unknown Command [frob]\n");
    assert!(!reply.ok);
    let reply = run("show channels", &mut s);
    assert_eq!(reply.text, "-ERR show Command not found!\n");
    assert!(!reply.ok);
}

#[test]
fn sofia_contact() {
    let mut s = fake();
    let cases = [
        (
            "sofia_contact 1000@example.com",
            "sofia/internal/sip:1000@192.0.2.7:5060;transport=udp",
        ),
        (
            "sofia_contact internal/1001@example.com",
            "sofia/internal/sip:1001@192.0.2.8:5062",
        ),
        (
            "sofia_contact 1000",
            "sofia/internal/sip:1000@192.0.2.7:5060;transport=udp",
        ),
        (
            "sofia_contact */1001@example.org",
            "sofia/internal/sip:1001@192.0.2.8:5062",
        ),
        (
            "sofia_contact internal/1000@example.com/pre-",
            "pre-sofia/internal/sip:1000@192.0.2.7:5060;transport=udp",
        ),
        (
            "sofia_contact 1002@example.com",
            "error/user_not_registered",
        ),
        (
            "sofia_contact internal/1000@example.com~Zoiper",
            "sofia/internal/sip:1000@192.0.2.7:5060;transport=udp",
        ),
        (
            "sofia_contact internal/1000@example.com~Polycom",
            "error/user_not_registered",
        ),
        ("sofia_contact", ""),
    ];
    for (line, text) in cases {
        assert_eq!(run(line, &mut s).text, text, "{line}");
    }
    s.regs.push(reg("1000", "<sip:1000@192.0.2.99:5060>"));
    assert_eq!(
        run("sofia_contact 1000@example.com", &mut s).text,
        "sofia/internal/sip:1000@192.0.2.7:5060;transport=udp,sofia/internal/sip:1000@192.0.2.99:5060"
    );
}

#[test]
fn sofia_count_reg() {
    let mut s = fake();
    for (line, text) in [
        ("sofia_count_reg 1000@example.com", "1"),
        ("sofia_count_reg @example.com", "2"),
        ("sofia_count_reg internal/@example.org", "2"),
        ("sofia_count_reg 1002@example.com", "0"),
        ("sofia_count_reg 1000@nowhere.test", "-1"),
        ("sofia_count_reg 1000", "-1"),
        ("sofia_count_reg", ""),
    ] {
        assert_eq!(run(line, &mut s).text, text, "{line}");
    }
}

#[test]
fn contact_url_extraction() {
    assert_eq!(
        url_from_contact("\"A B\" <sip:a@h;x=1>;expires=3"),
        "sip:a@h;x=1"
    );
    assert_eq!(url_from_contact("sip:a@h"), "sip:a@h");
    assert_eq!(url_from_contact("  <sips:a@h>"), "sips:a@h");
    assert_eq!(url_from_contact("\"unterminated <sip:a@h>"), "sip:a@h");
}

fn dig_header() -> String {
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

fn dig_line(pref: &str, weight: &str, tp: &str, port: &str, addr: &str) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\n",
        r(10, pref),
        r(10, weight),
        r(10, tp),
        r(10, port),
        r(10, addr)
    )
}

#[test]
fn dig_numeric_hosts() {
    let mut s = fake();
    let reply = run("sofia_dig 192.0.2.1", &mut s);
    assert_eq!(
        reply.text,
        dig_header()
            + &dig_line("1", "1.000", "udp", "5060", "192.0.2.1")
            + &dig_line("2", "1.000", "tcp", "5060", "192.0.2.1")
    );
    assert!(reply.ok);
    assert_eq!(
        run("sofia_dig sips:192.0.2.1:5071", &mut s).text,
        dig_header() + &dig_line("1", "1.000", "tls", "5071", "192.0.2.1")
    );
    assert_eq!(
        run("sofia_dig xml sip:192.0.2.1;transport=tcp", &mut s).text,
        "<routes>\n <route>\n  <preference>1</preference>\n  <weight>1.000</weight>\n  <transport>tcp</transport>\n  <port>5060</port>\n  <address>192.0.2.1</address>\n </route>\n</routes>\n"
    );
}

#[test]
fn dig_errors() {
    let mut s = fake();
    let usage = "usage: sofia_dig [OPTIONS] [@dnsserver] uri\n";
    let reply = run("sofia_dig", &mut s);
    assert_eq!(reply.text, usage);
    assert!(!reply.ok);
    assert_eq!(run("sofia_dig --bogus x", &mut s).text, usage);
    assert_eq!(run("sofia_dig -4", &mut s).text, dig_header() + usage);
    // Without a resolver, names are not found.
    let reply = run("sofia_dig example.test", &mut s);
    assert_eq!(reply.text, dig_header() + "-ERR: example.test: not found\n");
    assert!(!reply.ok);
    let reply = run("sofia_dig sip:", &mut s);
    assert!(reply.text.ends_with("-ERR: sip:: invalid uri\n"));
}

fn target(tp: Transport, addr: &str, host: &str, priority: u16, weight: u16) -> Target {
    let addr: SocketAddr = addr.parse().expect("test address");
    Target {
        transport: tp,
        addr,
        host: host.into(),
        priority,
        weight,
    }
}

#[test]
fn dig_rows_from_srv_and_plain_addresses() {
    let args = DigArgs::default();
    let targets = [
        target(Transport::Udp, "192.0.2.1:5060", "a.example.test", 10, 60),
        target(Transport::Udp, "192.0.2.2:5060", "b.example.test", 10, 20),
        target(Transport::Udp, "192.0.2.3:5070", "c.example.test", 20, 0),
        target(Transport::Tcp, "192.0.2.1:5060", "a.example.test", 10, 50),
    ];
    let rows = dig_rows(&targets, true, &args);
    let summary: Vec<(u32, String, String, u16, String)> = rows
        .iter()
        .map(|r| {
            (
                r.preference,
                format!("{:.3}", r.weight),
                r.transport.clone(),
                r.port,
                r.address.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "0.375".into(), "udp".into(), 5060, "192.0.2.1".into()),
            (1, "0.125".into(), "udp".into(), 5060, "192.0.2.2".into()),
            (2, "0.000".into(), "udp".into(), 5070, "192.0.2.3".into()),
            (3, "0.500".into(), "tcp".into(), 5060, "192.0.2.1".into()),
        ]
    );
    // A/AAAA only: every address for UDP and TCP at preference 1.
    let plain = [
        target(Transport::Udp, "192.0.2.1:5060", "h.example.test", 0, 0),
        target(Transport::Udp, "[2001:db8::1]:5060", "h.example.test", 0, 0),
    ];
    let rows = dig_rows(&plain, true, &args);
    let summary: Vec<(u32, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.preference,
                format!("{:.3}", r.weight),
                format!("{} {}", r.transport, r.address),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "0.250".into(), "udp 192.0.2.1".into()),
            (1, "0.250".into(), "tcp 192.0.2.1".into()),
            (1, "0.250".into(), "udp 2001:db8::1".into()),
            (1, "0.250".into(), "tcp 2001:db8::1".into()),
        ]
    );
    let v6 = DigArgs {
        ipv6: true,
        transports: vec!["tcp".into()],
        ..DigArgs::default()
    };
    let rows = dig_rows(&plain, true, &v6);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].transport.as_str(), rows[0].weight), ("tcp", 1.0));
}

#[test]
fn parse_forms() {
    assert_eq!(ApiCommand::parse("   "), ApiCommand::Empty);
    assert!(
        matches!(ApiCommand::parse("sofia_dig xml -p tcp -6 example.test"), ApiCommand::Dig(a) if a.xml && a.ipv6 && a.transports == ["tcp"] && a.uris == ["example.test"])
    );
    assert!(matches!(ApiCommand::parse("sofia_dig -p"), ApiCommand::Dig(a) if a.usage));
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sofia".to_string()),
        Just("status".to_string()),
        Just("xmlstatus".to_string()),
        Just("profile".to_string()),
        Just("internal".to_string()),
        Just("example.com".to_string()),
        Just("reg".to_string()),
        Just("user".to_string()),
        Just("pres".to_string()),
        Just("gateway".to_string()),
        Just("gw1".to_string()),
        Just("flush_inbound_reg".to_string()),
        Just("reboot".to_string()),
        Just("siptrace".to_string()),
        Just("watchdog".to_string()),
        Just("global".to_string()),
        Just("on".to_string()),
        Just("loglevel".to_string()),
        Just("tracelevel".to_string()),
        Just("stop".to_string()),
        Just("restart".to_string()),
        Just("rescan".to_string()),
        Just("start".to_string()),
        Just("all".to_string()),
        Just("sofia_contact".to_string()),
        Just("sofia_count_reg".to_string()),
        Just("sofia_dig".to_string()),
        "[0-9@/~*.:-]{0,12}",
        "\\PC{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_lines_never_panic(line in "\\PC{0,80}") {
        let mut s = fake();
        let _ = execute_sync(&line, &mut s);
    }

    #[test]
    fn command_like_lines_never_panic(words in proptest::collection::vec(token(), 0..7)) {
        let mut s = fake();
        let reply = execute_sync(&words.join(" "), &mut s);
        // Error replies are flagged: none of them reads as a success.
        if reply.text.starts_with("-ERR") || reply.text.starts_with("Invalid ") {
            prop_assert!(!reply.ok, "{:?}", reply);
        }
    }
}
