//! Arbitrary text never panics the preprocessor or the parsers: every
//! input ends in a configuration or an error.

use std::path::Path;

use mod_sofia::acl::{AclSet, AclSpec, Cidr, LocalNetworks};
use mod_sofia::config::{
    LoadOptions, MemoryFiles, ParseOptions, Preprocessor, SofiaConfig, load_from,
};
use mod_sofia::directory::Directory;
use proptest::prelude::*;

/// Pieces of the configuration language, so that generated text reaches
/// past the XML parser.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<configuration name=\"sofia.conf\">".to_string()),
        Just("</configuration>".to_string()),
        Just("<profiles>".to_string()),
        Just("</profiles>".to_string()),
        Just("<profile name=\"p\">".to_string()),
        Just("</profile>".to_string()),
        Just("<settings>".to_string()),
        Just("</settings>".to_string()),
        Just("<gateways><gateway name=\"g\">".to_string()),
        Just("</gateway></gateways>".to_string()),
        Just("<domain name=\"d\"><users>".to_string()),
        Just("</users></domain>".to_string()),
        Just("<X-PRE-PROCESS cmd=\"include\" data=\"*.xml\"/>".to_string()),
        Just("<X-PRE-PROCESS cmd=\"include\" data=\"a.xml\"/>".to_string()),
        Just("<X-PRE-PROCESS cmd=\"set\" data=\"v=5060\"/>".to_string()),
        Just("<X-PRE-PROCESS cmd=\"set\"".to_string()),
        Just("$${v}".to_string()),
        Just("$${".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("\n".to_string()),
        "[a-z-]{1,20}".prop_map(|n| format!("<param name=\"{n}\" value=\"$${{v}}\"/>")),
        ("[a-z-]{1,25}", "[ -~]{0,12}").prop_map(|(n, v)| format!(
            "<param name=\"{n}\" value=\"{}\"/>",
            v.replace(['"', '<', '&'], "")
        )),
        "[ -~]{0,16}".prop_map(|s| s),
        (known_param(), "\\PC{0,14}").prop_map(|(n, v)| format!(
            "<param name=\"{n}\" value=\"{}\"/>",
            v.replace(['"', '<', '&'], "")
        )),
        "[ -~]{0,12}".prop_map(|s| format!(
            "<user id=\"1\" cidr=\"{}\"/>",
            s.replace(['"', '<', '&'], "")
        )),
    ]
}

/// Parameter names the parsers act on, to reach their value parsers.
fn known_param() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "sip-ip",
        "sip-port",
        "ext-sip-ip",
        "ext-sip-port",
        "tls",
        "tls-sip-port",
        "challenge-realm",
        "nonce-ttl",
        "multiple-registrations",
        "sip-force-expires",
        "sip-force-expires-min",
        "sip-force-expires-max",
        "apply-register-acl",
        "apply-inbound-acl",
        "user-agent-string",
        "username",
        "password",
        "proxy",
        "register",
        "register-transport",
        "expire-seconds",
        "retry-seconds",
        "ping",
        "ping-min",
        "ping-max",
        "register-proxy",
        "log-level",
    ])
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        let mut m = MemoryFiles::new();
        m.insert("a.xml", text.clone());
        let mut pp = Preprocessor::new(&m);
        if let Ok(e) = pp.process_file(Path::new("a.xml")) {
            let _ = SofiaConfig::parse(&e, ParseOptions::default());
            let mut d = Directory::new();
            let _ = d.load_xml(&e);
            let _ = AclSet::new().load_xml(&e, &d);
        }
        let _ = text.parse::<Cidr>();
        let _ = text.parse::<AclSpec>();
        let _ = LocalNetworks::from_proc(&text, &text);
    }

    #[test]
    fn generated_configurations(top in document(), a in document(), b in document()) {
        let mut m = MemoryFiles::new();
        m.insert("conf/sofia.conf.xml", top);
        m.insert("conf/a.xml", a);
        m.insert("conf/b.xml", b.clone());
        m.insert("conf/directory/d.xml", b);
        let options = LoadOptions { local_networks: Some(LocalNetworks::default()), ..LoadOptions::default() };
        let _ = load_from(&m, Path::new("conf/sofia.conf.xml"), &options);
    }
}
