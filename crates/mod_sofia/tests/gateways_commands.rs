//! Golden replies of the gateway commands against a fake state, in the
//! words of FreeSWITCH's mod_sofia.c: `sofia profile <p> killgw`,
//! `startgw`, `register`, `unregister`, `gwlist`, and `sofia_gateway_data`.

use mod_sofia::commands::{
    GatewayAction, GatewayState, GatewayStatus, ProfileAction, ProfileStatus, RegFilter,
    RegistrationRow, Reply, SofiaState, execute_sync,
};

#[derive(Default)]
struct Fake {
    profiles: Vec<ProfileStatus>,
    actions: Vec<(String, GatewayAction)>,
}

impl SofiaState for Fake {
    fn profiles(&self) -> Vec<ProfileStatus> {
        self.profiles.clone()
    }
    fn registrations(&self, _: &str, _: &RegFilter) -> Vec<RegistrationRow> {
        Vec::new()
    }
    fn flush_inbound_reg(&mut self, _: &str, _: Option<&str>, _: bool) {}
    fn set_siptrace(&mut self, _: Option<&str>, _: bool) {}
    fn set_watchdog(&mut self, _: Option<&str>, _: bool) {}
    fn reload_xml(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn profile_action(&mut self, _: &str, _: ProfileAction) -> Result<(), String> {
        Ok(())
    }
    fn restart_all(&mut self) {}
    fn gateway_action(&mut self, profile: &str, action: &GatewayAction) -> Result<(), String> {
        self.actions.push((profile.to_string(), action.clone()));
        let name = match action {
            GatewayAction::Kill(n) | GatewayAction::Register(n) | GatewayAction::Unregister(n) => {
                n.clone()
            }
            GatewayAction::Start(n) => Some(n.clone()),
        };
        match name.as_deref() {
            None | Some("gw1") | Some("gw2") | Some("gw3") => Ok(()),
            Some(other) => Err(format!("no gateway {other}")),
        }
    }
}

fn gw(name: &str, up: bool) -> GatewayStatus {
    GatewayStatus {
        name: name.to_string(),
        state: if up {
            GatewayState::Reged
        } else {
            GatewayState::FailWait
        },
        up,
        inbound_variables: vec![
            ("in_only".into(), "i".into()),
            ("both".into(), "b-in".into()),
        ],
        outbound_variables: vec![
            ("out_only".into(), "o".into()),
            ("both".into(), "b-out".into()),
        ],
        ..GatewayStatus::default()
    }
}

fn fake() -> Fake {
    Fake {
        profiles: vec![ProfileStatus {
            name: "external".into(),
            aliases: vec!["ext".into()],
            running: true,
            uptime_secs: 100,
            gateways: vec![gw("gw1", true), gw("gw2", false), gw("gw4", true)],
            ..ProfileStatus::default()
        }],
        ..Fake::default()
    }
}

fn run(line: &str, s: &mut Fake) -> Reply {
    execute_sync(line, s)
}

fn check(line: &str, text: &str, ok: bool) {
    let mut s = fake();
    let reply = run(line, &mut s);
    assert_eq!(reply.text, text, "{line}");
    assert_eq!(reply.ok, ok, "{line}");
}

#[test]
fn killgw_replies() {
    check(
        "sofia profile external killgw",
        "-ERR missing gw name\n",
        false,
    );
    check(
        "sofia profile external killgw _all_",
        "+OK every gateway marked for deletion.\n",
        true,
    );
    check(
        "sofia profile external killgw gw1",
        "+OK gateway marked for deletion.\n",
        true,
    );
    check(
        "sofia profile external killgw nope",
        "-ERR no such gateway.\n",
        false,
    );
    check(
        "sofia profile nope killgw gw1",
        "Invalid Profile [nope]",
        false,
    );
    let mut s = fake();
    run("sofia profile ext killgw _all_", &mut s);
    run("sofia profile external killgw gw2", &mut s);
    assert_eq!(
        s.actions,
        [
            ("external".to_string(), GatewayAction::Kill(None)),
            (
                "external".to_string(),
                GatewayAction::Kill(Some("gw2".into()))
            )
        ]
    );
}

#[test]
fn startgw_replies() {
    check(
        "sofia profile external startgw",
        "-ERR missing gw name\n",
        false,
    );
    check(
        "sofia profile external startgw gw3",
        "Reload XML [Success]\n+OK started gateway gw3\n",
        true,
    );
    check(
        "sofia profile external startgw nope",
        "Reload XML [Success]\n-ERR cannot start gateway nope\n",
        false,
    );
}

#[test]
fn register_and_unregister_replies() {
    for verb in ["register", "unregister"] {
        check(
            &format!("sofia profile external {verb}"),
            "No gateway name provided!\n",
            false,
        );
        check(&format!("sofia profile external {verb} all"), "+OK\n", true);
        check(&format!("sofia profile external {verb} gw1"), "+OK\n", true);
        check(
            &format!("sofia profile external {verb} nope"),
            "Invalid gateway!\n",
            false,
        );
    }
    let mut s = fake();
    run("sofia profile external register all", &mut s);
    run("sofia profile external unregister gw2", &mut s);
    assert_eq!(
        s.actions,
        [
            ("external".to_string(), GatewayAction::Register(None)),
            (
                "external".to_string(),
                GatewayAction::Unregister(Some("gw2".into()))
            )
        ]
    );
}

#[test]
fn gwlist_replies() {
    check("sofia profile external gwlist", "gw1 gw4", true);
    check("sofia profile external gwlist up", "gw1 gw4", true);
    check("sofia profile external gwlist down", "gw2", true);
    let mut s = Fake {
        profiles: vec![ProfileStatus {
            name: "external".into(),
            running: true,
            gateways: vec![gw("gw1", true)],
            ..ProfileStatus::default()
        }],
        ..Fake::default()
    };
    // Nothing down: an empty reply, as FreeSWITCH's sofia_glue_gateway_list.
    let reply = run("sofia profile external gwlist down", &mut s);
    assert_eq!(reply.text, "");
    assert!(reply.ok);
}

#[test]
fn gateway_data_replies() {
    check("sofia_gateway_data", "-ERR Parameter missing\n", false);
    check("sofia_gateway_data gw1 ivar in_only", "i", true);
    check("sofia_gateway_data gw1 ivar out_only", "", true);
    check("sofia_gateway_data gw1 ovar out_only", "o", true);
    check("sofia_gateway_data gw1 var out_only", "o", true);
    check("sofia_gateway_data gw1 var both", "b-in", true);
    check("sofia_gateway_data gw1 ovar both", "b-out", true);
    check("sofia_gateway_data gw1 xvar both", "", true);
    check("sofia_gateway_data nope var both", "", true);
    check("sofia_gateway_data gw1 var", "", true);
}

#[test]
fn commands_without_gateway_support_fail_cleanly() {
    let mut s = mod_sofia::commands::NoProfiles;
    let reply = execute_sync("sofia profile external killgw gw1", &mut s);
    assert_eq!(reply.text, "Invalid Profile [external]");
    let reply = execute_sync("sofia_gateway_data gw1 var x", &mut s);
    assert_eq!(reply.text, "");
}
