//! Environment parsing, fallback to the default level and run-time changes,
//! on private registries so the tests do not disturb each other.

use sofia_su::log::{LevelError, LevelSource, Registry};
use std::collections::HashMap;

fn registry(vars: &[(&str, &str)]) -> (Registry, sofia_su::log::InitReport) {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Registry::from_env_fn(move |name| env.get(name).cloned())
}

#[test]
fn nothing_set_means_level_3_everywhere() {
    let (r, report) = registry(&[]);
    assert!(report.warnings.is_empty());
    assert!(report.shown.is_empty());
    for m in r.modules() {
        assert_eq!(m.level(), 3, "{}", m.name());
    }
    assert_eq!(r.level("sofia").unwrap(), (3, LevelSource::BuiltIn));
    assert_eq!(r.level("nta").unwrap(), (3, LevelSource::Default));
}

#[test]
fn unset_module_follows_sofia_debug() {
    let (r, _) = registry(&[("SOFIA_DEBUG", "7")]);
    assert_eq!(r.level("nta").unwrap(), (7, LevelSource::Default));
    assert_eq!(r.level("tport").unwrap().0, 7);
    assert_eq!(r.level("sofia").unwrap(), (7, LevelSource::Env));
}

#[test]
fn module_env_overrides_default() {
    let (r, _) = registry(&[
        ("SOFIA_DEBUG", "1"),
        ("NTA_DEBUG", "9"),
        ("TPORT_DEBUG", "0"),
    ]);
    assert_eq!(r.level("nta").unwrap(), (9, LevelSource::Env));
    assert_eq!(r.level("tport").unwrap(), (0, LevelSource::Env));
    assert_eq!(r.level("nua").unwrap(), (1, LevelSource::Default));
    let nta = r.module("nta").unwrap();
    assert!(nta.enabled(9));
    let nua = r.module("nua").unwrap();
    assert!(nua.enabled(1));
    assert!(!nua.enabled(2));
}

#[test]
fn every_documented_variable_is_read() {
    for (module, var) in [
        ("su", "SU_DEBUG"),
        ("tport", "TPORT_DEBUG"),
        ("nta", "NTA_DEBUG"),
        ("nua", "NUA_DEBUG"),
        ("soa", "SOA_DEBUG"),
        ("nea", "NEA_DEBUG"),
        ("iptsec", "IPTSEC_DEBUG"),
        ("sresolv", "SRESOLV_DEBUG"),
    ] {
        let (r, _) = registry(&[(var, "6")]);
        assert_eq!(r.level(module).unwrap(), (6, LevelSource::Env), "{var}");
        assert_eq!(r.module(module).unwrap().env_var(), var);
        assert_eq!(
            r.module(module).unwrap().target(),
            format!("sofia::{module}")
        );
    }
}

#[test]
fn bad_values_warn_and_fall_back() {
    let (r, report) = registry(&[
        ("NTA_DEBUG", "abc"),
        ("TPORT_DEBUG", "12"),
        ("SOFIA_DEBUG", "5"),
    ]);
    assert_eq!(r.level("nta").unwrap(), (5, LevelSource::Default));
    assert_eq!(r.level("tport").unwrap(), (5, LevelSource::Default));
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("NTA_DEBUG=\"abc\""))
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("TPORT_DEBUG=\"12\""))
    );
    for w in &report.warnings {
        assert!(!w.contains('\n'));
    }

    let (r, report) = registry(&[("SOFIA_DEBUG", "-3")]);
    assert_eq!(r.default_level(), 3);
    assert_eq!(report.warnings.len(), 1);
}

#[test]
fn run_time_default_change_moves_followers_only() {
    let (r, _) = registry(&[("NTA_DEBUG", "2")]);
    r.set_default(8).unwrap();
    assert_eq!(r.level("tport").unwrap(), (8, LevelSource::Default));
    assert_eq!(r.level("nta").unwrap(), (2, LevelSource::Env));
    assert_eq!(r.level("sofia").unwrap(), (8, LevelSource::RunTime));

    r.set_level("tport", 4).unwrap();
    r.set_default(1).unwrap();
    assert_eq!(r.level("tport").unwrap(), (4, LevelSource::RunTime));
    assert_eq!(r.level("nua").unwrap(), (1, LevelSource::Default));

    r.reset("tport").unwrap();
    assert_eq!(r.level("tport").unwrap(), (1, LevelSource::Default));
    r.set_default(6).unwrap();
    assert_eq!(r.level("tport").unwrap().0, 6);
}

#[test]
fn set_all_and_default_alias() {
    let (r, _) = registry(&[]);
    r.set_all(9).unwrap();
    for m in r.modules() {
        assert_eq!(m.level(), 9);
    }
    r.set_default(2).unwrap();
    assert_eq!(r.level("nta").unwrap(), (9, LevelSource::RunTime));
    r.set_level("default", 4).unwrap();
    assert_eq!(r.default_level(), 4);
}

#[test]
fn run_time_errors() {
    let (r, _) = registry(&[]);
    assert_eq!(
        r.set_level("nope", 3),
        Err(LevelError::UnknownModule("nope".into()))
    );
    assert_eq!(
        r.set_level("nta", 10),
        Err(LevelError::BadLevel("10".into()))
    );
    assert!(r.set_default(42).is_err());
    assert!(r.set_all(11).is_err());
    assert!(sofia_su::log::parse_level_arg("x").is_err());
    assert_eq!(sofia_su::log::parse_level_arg("7"), Ok(7));
    assert!(
        r.set_level("nope", 3)
            .unwrap_err()
            .to_string()
            .contains("nta")
    );
}

#[test]
fn show_debug_levels_lists_every_module() {
    let (_, report) = registry(&[("SHOW_DEBUG_LEVELS", "1"), ("NTA_DEBUG", "9")]);
    assert_eq!(report.shown.len(), 9);
    assert!(
        report
            .shown
            .contains(&"su_log: nta: level 9 (NTA_DEBUG=9)".to_string())
    );
    assert!(
        report
            .shown
            .contains(&"su_log: tport: level 3 (default, SOFIA_DEBUG)".to_string())
    );
    assert!(
        report
            .shown
            .contains(&"su_log: sofia: level 3 (built-in default)".to_string())
    );
    let (_, report) = registry(&[("SHOW_DEBUG_LEVELS", "0")]);
    assert!(report.shown.is_empty());
}

#[test]
fn case_insensitive_names() {
    let (r, _) = registry(&[]);
    r.set_level("NTA", 5).unwrap();
    assert_eq!(r.level("nta").unwrap().0, 5);
}
