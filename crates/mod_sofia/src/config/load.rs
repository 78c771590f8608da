//! Loading a whole configuration: variables, directory, ACLs and
//! `sofia.conf.xml`, from files or from the embedded default.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Warning};
use super::preprocess::{Preprocessor, Vars};
use super::sofia::{ParseOptions, SofiaConfig};
use super::source::{ConfigSource, FileSystem, MemoryFiles, normalize};
use crate::acl::{AclSet, LocalNetworks};
use crate::directory::Directory;

/// The directory name the embedded default configuration's files are
/// shown under (`(embedded)/sip_profiles/internal.xml:12`).
pub const EMBEDDED_ROOT: &str = "(embedded)";

/// The embedded default configuration's `sofia.conf.xml`.
pub const EMBEDDED_SOFIA_CONF: &str = "(embedded)/autoload_configs/sofia.conf.xml";

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../conf/", $path)))),*]
    };
}

/// The embedded default configuration's files: (path under the
/// configuration directory, text).
pub const EMBEDDED_FILES: &[(&str, &str)] = embedded![
    "vars.xml",
    "autoload_configs/sofia.conf.xml",
    "autoload_configs/acl.conf.xml",
    "sip_profiles/internal.xml",
    "sip_profiles/external.xml",
    "directory/default.xml",
    "directory/default/1000.xml",
    "directory/default/1001.xml",
    "directory/default/1002.xml",
    "directory/default/1003.xml",
    "directory/default/1004.xml",
    "directory/default/1005.xml",
    "directory/default/1006.xml",
    "directory/default/1007.xml",
    "directory/default/1008.xml",
    "directory/default/1009.xml",
    "directory/default/1010.xml",
    "directory/default/1011.xml",
    "directory/default/1012.xml",
    "directory/default/1013.xml",
    "directory/default/1014.xml",
    "directory/default/1015.xml",
    "directory/default/1016.xml",
    "directory/default/1017.xml",
    "directory/default/1018.xml",
    "directory/default/1019.xml",
];

/// The embedded files as a [`MemoryFiles`] under [`EMBEDDED_ROOT`].
pub fn embedded_files() -> MemoryFiles {
    let mut m = MemoryFiles::new();
    for (path, text) in EMBEDDED_FILES {
        m.insert(Path::new(EMBEDDED_ROOT).join(path), *text);
    }
    m
}

/// What to load besides `sofia.conf.xml`. Files not named are looked for
/// in the FreeSWITCH layout around it: the configuration directory is the
/// parent of `autoload_configs/` when `sofia.conf.xml` is in one, else its
/// own directory; `vars.xml`, `directory/*.xml` and
/// `autoload_configs/acl.conf.xml` (or `acl.conf.xml` beside
/// `sofia.conf.xml`) there are read when they exist.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The variables file (FreeSWITCH's `vars.xml`).
    pub vars_file: Option<PathBuf>,
    /// The directory: a file or a glob.
    pub directory: Option<PathBuf>,
    /// `acl.conf.xml`.
    pub acl_file: Option<PathBuf>,
    /// Variables set before any file is read (they replace the built-in ones).
    pub vars: Vars,
    /// This host's networks for `localnet.auto` and `nat.auto` (default:
    /// [`LocalNetworks::detect`]).
    pub local_networks: Option<LocalNetworks>,
}

/// A loaded configuration.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// `sofia.conf`.
    pub sofia: SofiaConfig,
    /// The user directory.
    pub directory: Directory,
    /// The built-in and configured ACL lists.
    pub acls: AclSet,
    /// The preprocessor variables after every file.
    pub vars: Vars,
    /// Warnings, to show at start.
    pub warnings: Vec<Warning>,
    /// Every file read.
    pub files: Vec<PathBuf>,
}

/// Loads `sofia.conf.xml` at `path` and the files around it from the file system.
pub fn load(path: &Path, options: &LoadOptions) -> Result<LoadedConfig, ConfigError> {
    load_from(&FileSystem, path, options)
}

/// Loads the embedded default configuration: an `internal` profile on
/// 127.0.0.1:5060 (UDP and TCP) and an `external` profile on
/// 127.0.0.1:5080, users 1000-1019 with password 1234 in domain 127.0.0.1.
pub fn load_default(options: &LoadOptions) -> Result<LoadedConfig, ConfigError> {
    load_from(&embedded_files(), Path::new(EMBEDDED_SOFIA_CONF), options)
}

/// The variables sofia-rs sets before reading any file, as FreeSWITCH's
/// core does: `hostname`, `local_ip_v4` and `local_ip_v6` (the addresses
/// of the interface that routes to the Internet, else the loopback ones),
/// `conf_dir`, `base_dir` (its parent), and `certs_dir`, `sounds_dir`,
/// `recordings_dir`, `log_dir`, `run_dir`, `db_dir`, `storage_dir`,
/// `script_dir` (`conf_dir/tls`, then `base_dir/NAME`), `temp_dir`.
pub fn builtin_vars(conf_dir: &Path) -> Vars {
    let mut v = Vars::new();
    let base = conf_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    v.insert("hostname".into(), hostname());
    v.insert("local_ip_v4".into(), guess_ip_v4().to_string());
    v.insert("local_ip_v6".into(), guess_ip_v6().to_string());
    v.insert("conf_dir".into(), s(conf_dir));
    v.insert("base_dir".into(), s(&base));
    v.insert("certs_dir".into(), s(&conf_dir.join("tls")));
    for (name, dir) in [
        ("sounds_dir", "sounds"),
        ("recordings_dir", "recordings"),
        ("log_dir", "log"),
        ("run_dir", "run"),
        ("db_dir", "db"),
        ("storage_dir", "storage"),
        ("script_dir", "scripts"),
    ] {
        v.insert(name.into(), s(&base.join(dir)));
    }
    v.insert("temp_dir".into(), s(&std::env::temp_dir()));
    v
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The local IPv4 address of the route to the Internet (no packet is
/// sent), else 127.0.0.1.
pub fn guess_ip_v4() -> Ipv4Addr {
    let found = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("8.8.8.8:53").and_then(|()| s.local_addr()))
        .ok()
        .map(|a| a.ip());
    match found {
        Some(IpAddr::V4(a)) if !a.is_unspecified() => a,
        _ => Ipv4Addr::LOCALHOST,
    }
}

/// The local IPv6 address of the route to the Internet, else ::1.
pub fn guess_ip_v6() -> Ipv6Addr {
    let found = UdpSocket::bind("[::]:0")
        .and_then(|s| {
            s.connect("[2001:4860:4860::8888]:53")
                .and_then(|()| s.local_addr())
        })
        .ok()
        .map(|a| a.ip());
    match found {
        Some(IpAddr::V6(a)) if !a.is_unspecified() => a,
        _ => Ipv6Addr::LOCALHOST,
    }
}

/// The configuration directory for a `sofia.conf.xml` path.
pub fn conf_dir_of(sofia_conf: &Path) -> PathBuf {
    let parent = sofia_conf
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if parent.file_name().is_some_and(|n| n == "autoload_configs") {
        parent.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        parent
    }
}

/// Loads `sofia.conf.xml` at `path` and the files around it from `source`.
pub fn load_from(
    source: &dyn ConfigSource,
    path: &Path,
    options: &LoadOptions,
) -> Result<LoadedConfig, ConfigError> {
    let path = normalize(path);
    let conf_dir = conf_dir_of(&path);
    let mut vars = builtin_vars(&conf_dir);
    vars.extend(options.vars.clone());
    let mut pp = Preprocessor::with_vars(source, vars);
    let mut warnings = Vec::new();
    let mut files = Vec::new();

    let vars_file = options.vars_file.clone().or_else(|| {
        let p = conf_dir.join("vars.xml");
        source.exists(&p).then_some(p)
    });
    if let Some(v) = vars_file {
        let e = pp.process_file(&v)?;
        files.extend(e.map.files().iter().map(|f| f.to_path_buf()));
    }

    let mut directory = Directory::new();
    let dir_files = match &options.directory {
        Some(d) if super::source::is_glob(&d.to_string_lossy()) => {
            source.glob(d).map_err(|reason| ConfigError::Io {
                path: d.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
            })?
        }
        Some(d) => vec![d.clone()],
        None => {
            let pattern = Path::new(&glob::Pattern::escape(&conf_dir.to_string_lossy()))
                .join("directory/*.xml");
            source.glob(&pattern).unwrap_or_default()
        }
    };
    for f in dir_files {
        let e = pp.process_file(&f)?;
        warnings.extend(directory.load_xml(&e)?);
        files.extend(e.map.files().iter().map(|f| f.to_path_buf()));
    }

    let local = options
        .local_networks
        .clone()
        .unwrap_or_else(LocalNetworks::detect);
    let mut acls = AclSet::with_builtins(&local);
    let acl_file = options.acl_file.clone().or_else(|| {
        [
            conf_dir.join("autoload_configs/acl.conf.xml"),
            path.with_file_name("acl.conf.xml"),
        ]
        .into_iter()
        .find(|p| source.exists(p))
    });
    if let Some(a) = acl_file {
        let e = pp.process_file(&a)?;
        warnings.extend(acls.load_xml(&e, &directory)?);
        files.extend(e.map.files().iter().map(|f| f.to_path_buf()));
    }

    let e = pp.process_file(&path)?;
    files.extend(e.map.files().iter().map(|f| f.to_path_buf()));
    let guess_ip = pp
        .var("local_ip_v4")
        .and_then(|v| v.parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (sofia, w) = SofiaConfig::parse(&e, ParseOptions { guess_ip })?;
    warnings.extend(w);

    for p in &sofia.profiles {
        for (param, list) in [
            ("apply-register-acl", &p.apply_register_acl),
            ("apply-inbound-acl", &p.apply_inbound_acl),
        ] {
            for a in list {
                if let Err(name) = acls.knows(&a.spec) {
                    return Err(ConfigError::UnknownAcl {
                        at: a.at.clone(),
                        param: param.to_string(),
                        name,
                    });
                }
            }
        }
        for d in &p.domains {
            if d.parse {
                warnings.push(Warning::new(
                    d.at.clone(),
                    None,
                    format!("profile '{}': parse=\"true\" is accepted; gateways inside directory users are not read", p.name),
                ));
            }
            if !d.name.eq_ignore_ascii_case("all") && directory.domain(&d.name).is_none() {
                warnings.push(Warning::new(
                    d.at.clone(),
                    None,
                    format!(
                        "profile '{}': domain '{}' is not in the directory",
                        p.name, d.name
                    ),
                ));
            }
        }
    }
    warnings.extend(default_password_warnings(&sofia, &directory));
    files.dedup();
    Ok(LoadedConfig {
        sofia,
        directory,
        acls,
        vars: pp.vars().clone(),
        warnings,
        files,
    })
}

/// FreeSWITCH's start-up warning: one per profile that listens on an
/// address other than loopback while directory users still have the
/// default password ([`crate::directory::DEFAULT_PASSWORD`]).
pub fn default_password_warnings(sofia: &SofiaConfig, directory: &Directory) -> Vec<Warning> {
    let users = directory.default_password_users();
    if users.is_empty() {
        return Vec::new();
    }
    let shown: Vec<&str> = users.iter().take(5).map(String::as_str).collect();
    let more = if users.len() > shown.len() {
        format!(" and {} more", users.len() - shown.len())
    } else {
        String::new()
    };
    sofia
        .profiles
        .iter()
        .filter(|p| !p.sip_ip.is_loopback())
        .map(|p| {
            Warning::new(
                p.param_location("sip-ip"),
                Some("sip-ip"),
                format!(
                    "profile '{}' listens on {} while {} directory user(s) have the default password {} ({}{}): change default_password in vars.xml",
                    p.name,
                    p.sip_ip,
                    users.len(),
                    crate::directory::DEFAULT_PASSWORD,
                    shown.join(", "),
                    more
                ),
            )
        })
        .collect()
}
