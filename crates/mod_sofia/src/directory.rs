//! The user directory, read from FreeSWITCH directory XML:
//!
//! ```xml
//! <include>
//!   <domain name="example.com">
//!     <params><param name="dial-string" value="..."/></params>
//!     <variables><variable name="user_context" value="default"/></variables>
//!     <groups>
//!       <group name="default">
//!         <users>
//!           <user id="1000" number-alias="100" cidr="192.0.2.0/24">
//!             <params><param name="password" value="1234"/></params>
//!             <variables><variable name="effective_caller_id_name" value="Ext 1000"/></variables>
//!           </user>
//!         </users>
//!       </group>
//!       <group name="sales"><users><user id="1000" type="pointer"/></users></group>
//!     </groups>
//!   </domain>
//! </include>
//! ```
//!
//! Users may also sit in `<domain><users>` or directly in `<domain>`. A
//! user's parameters and variables are the domain's, then its group's, then
//! its own (a later one of the same name wins), as FreeSWITCH merges them.
//! A `type="pointer"` user only adds the user of that id to the group.
//! A domain answers to its `name` and to the names in
//! `<aliases><alias name=".."/></aliases>` (case-insensitively); a user
//! to its `id` and its `number-alias`.
//!
//! [`Directory`] implements `sofia_iptsec::CredentialStore` (the realm is
//! the domain): a user's `a1-hash` parameter gives an MD5 `HA1`, otherwise
//! its `password` parameter gives the password. A user without either is
//! not found there.

use std::collections::BTreeMap;

use sofia_iptsec::{CredentialStore, HashFamily, Secret};

use crate::acl::Cidr;
use crate::config::xml;
use crate::config::{ConfigError, Expanded, Location, Warning};

/// FreeSWITCH's `default_password`: a user with this password gets the
/// start-up warning when a profile listens on a non-loopback address.
pub const DEFAULT_PASSWORD: &str = "1234";

/// A directory user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The `id` attribute.
    pub id: String,
    /// The `number-alias` attribute.
    pub number_alias: Option<String>,
    /// The blocks of the `cidr` attribute (comma-separated), used by
    /// `domain=` ACL nodes.
    pub cidrs: Vec<Cidr>,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// Parameters: the domain's, the group's, the user's.
    pub params: Vec<(String, String)>,
    /// Variables: the domain's, the group's, the user's.
    pub variables: Vec<(String, String)>,
    /// Where the user is defined.
    pub at: Location,
}

impl User {
    /// A parameter's value (the last of that name).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A variable's value (the last of that name).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `password` parameter.
    pub fn password(&self) -> Option<&str> {
        self.param("password")
    }

    /// The `a1-hash` parameter: MD5 of `user:domain:password` in hex.
    pub fn a1_hash(&self) -> Option<&str> {
        self.param("a1-hash")
    }

    /// The `vm-password` parameter, or the password when there is none.
    pub fn vm_password(&self) -> Option<&str> {
        self.param("vm-password").or_else(|| self.password())
    }

    /// True when the password is FreeSWITCH's default, [`DEFAULT_PASSWORD`].
    pub fn is_default_password(&self) -> bool {
        self.password() == Some(DEFAULT_PASSWORD)
    }

    /// True when the user has a secret to authenticate with.
    pub fn has_secret(&self) -> bool {
        self.a1_hash().is_some_and(|h| !h.is_empty()) || self.password().is_some()
    }
}

/// A directory domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The `name` attribute.
    pub name: String,
    /// Other names it answers to.
    pub aliases: Vec<String>,
    /// The domain's parameters.
    pub params: Vec<(String, String)>,
    /// The domain's variables.
    pub variables: Vec<(String, String)>,
    /// Where it is defined.
    pub at: Location,
    users: Vec<User>,
}

impl Domain {
    /// The users, in the order defined.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// A user by id or number-alias (case-insensitive).
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(name))
            .or_else(|| {
                self.users.iter().find(|u| {
                    u.number_alias
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(name))
                })
            })
    }

    /// True when the domain answers to `name`.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The user directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    domains: Vec<Domain>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Directory {
        Directory::default()
    }

    /// The domains.
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// A domain by name or alias (names before aliases).
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .or_else(|| self.domains.iter().find(|d| d.answers_to(name)))
    }

    /// A user by id or number-alias in a domain (by name or alias).
    pub fn user(&self, user: &str, domain: &str) -> Option<&User> {
        self.domain(domain)?.user(user)
    }

    /// Makes `domain` answer to `alias` too; false when there is no such domain.
    pub fn add_domain_alias(&mut self, alias: &str, domain: &str) -> bool {
        let Some(d) = self
            .domains
            .iter_mut()
            .find(|d| d.name.eq_ignore_ascii_case(domain))
        else {
            return false;
        };
        if !d.answers_to(alias) {
            d.aliases.push(alias.to_string());
        }
        true
    }

    /// Every user, with its domain.
    pub fn users(&self) -> impl Iterator<Item = (&Domain, &User)> {
        self.domains
            .iter()
            .flat_map(|d| d.users.iter().map(move |u| (d, u)))
    }

    /// `user@domain` of every user whose password is [`DEFAULT_PASSWORD`].
    pub fn default_password_users(&self) -> Vec<String> {
        self.users()
            .filter(|(_, u)| u.is_default_password())
            .map(|(d, u)| format!("{}@{}", u.id, d.name))
            .collect()
    }

    /// Adds the domains of a preprocessed directory document (any
    /// `<domain>` elements, whatever wraps them). Returns warnings (a
    /// pointer to an unknown user, unknown elements are ignored silently).
    pub fn load_xml(&mut self, expanded: &Expanded) -> Result<Vec<Warning>, ConfigError> {
        let doc = xml::parse(expanded)?;
        let mut warnings = Vec::new();
        let root = doc.root_element();
        let domains: Vec<_> = if root.tag_name().name() == "domain" {
            vec![root]
        } else {
            root.descendants()
                .filter(|n| {
                    n.is_element()
                        && n.tag_name().name() == "domain"
                        && !n
                            .ancestors()
                            .skip(1)
                            .any(|a| a.tag_name().name() == "domain")
                })
                .collect()
        };
        for d in domains {
            let dom = parse_domain(expanded, d, &mut warnings)?;
            if let Some(first) = self
                .domains
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(&dom.name))
            {
                return Err(ConfigError::Duplicate {
                    at: dom.at,
                    kind: "domain",
                    name: dom.name,
                    first: first.at.clone(),
                });
            }
            self.domains.push(dom);
        }
        Ok(warnings)
    }
}

fn pairs(
    expanded: &Expanded,
    node: roxmltree::Node<'_, '_>,
    outer: &'static str,
    inner: &'static str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for block in xml::children(node, outer) {
        for (n, v, _) in xml::name_values(expanded, block, inner)? {
            out.push((n, v));
        }
    }
    Ok(out)
}

/// A user element with its group's name, parameters and variables.
type FoundUser<'a, 'i> = (
    Option<String>,
    Vec<(String, String)>,
    Vec<(String, String)>,
    roxmltree::Node<'a, 'i>,
);

fn parse_domain(
    expanded: &Expanded,
    d: roxmltree::Node<'_, '_>,
    warnings: &mut Vec<Warning>,
) -> Result<Domain, ConfigError> {
    let at = xml::loc(expanded, d);
    let name = d.attribute("name").map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(ConfigError::Missing {
            at,
            what: "<domain> without a name".to_string(),
        });
    }
    let params = pairs(expanded, d, "params", "param")?;
    let variables = pairs(expanded, d, "variables", "variable")?;
    let mut aliases = Vec::new();
    for a in xml::children(d, "aliases") {
        for alias in xml::children(a, "alias") {
            if let Some(n) = alias
                .attribute("name")
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                aliases.push(n.to_string());
            }
        }
    }
    let mut domain = Domain {
        name: name.to_string(),
        aliases,
        params,
        variables,
        at,
        users: Vec::new(),
    };
    let mut first_at: BTreeMap<String, Location> = BTreeMap::new();
    // (group name, group params, group variables, user node)
    let mut found: Vec<FoundUser<'_, '_>> = Vec::new();
    for u in xml::children(d, "user") {
        found.push((None, Vec::new(), Vec::new(), u));
    }
    for users in xml::children(d, "users") {
        for u in xml::children(users, "user") {
            found.push((None, Vec::new(), Vec::new(), u));
        }
    }
    for groups in xml::children(d, "groups") {
        for g in xml::children(groups, "group") {
            let gname = g.attribute("name").unwrap_or("").trim().to_string();
            let gp = pairs(expanded, g, "params", "param")?;
            let gv = pairs(expanded, g, "variables", "variable")?;
            for users in xml::children(g, "users") {
                for u in xml::children(users, "user") {
                    found.push((Some(gname.clone()), gp.clone(), gv.clone(), u));
                }
            }
        }
    }
    let mut pointers = Vec::new();
    for (group, gp, gv, u) in found {
        let at = xml::loc(expanded, u);
        let id = u.attribute("id").map(str::trim).unwrap_or("");
        if id.is_empty() {
            return Err(ConfigError::Missing {
                at,
                what: "<user> without an id".to_string(),
            });
        }
        if u.attribute("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("pointer"))
        {
            if let Some(g) = group {
                pointers.push((id.to_string(), g, at));
            }
            continue;
        }
        if let Some(first) = first_at.get(&id.to_ascii_lowercase()) {
            return Err(ConfigError::Duplicate {
                at,
                kind: "user",
                name: format!("{id}@{name}"),
                first: first.clone(),
            });
        }
        first_at.insert(id.to_ascii_lowercase(), at.clone());
        let mut cidrs = Vec::new();
        if let Some(c) = u.attribute("cidr") {
            for part in c.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                cidrs.push(part.parse::<Cidr>().map_err(|e| ConfigError::BadValue {
                    at: at.clone(),
                    param: "cidr".to_string(),
                    value: part.to_string(),
                    what: format!("bad CIDR ({e})"),
                })?);
            }
        }
        let mut params = domain.params.clone();
        params.extend(gp);
        params.extend(pairs(expanded, u, "params", "param")?);
        let mut variables = domain.variables.clone();
        variables.extend(gv);
        variables.extend(pairs(expanded, u, "variables", "variable")?);
        domain.users.push(User {
            id: id.to_string(),
            number_alias: u
                .attribute("number-alias")
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            cidrs,
            groups: group.into_iter().collect(),
            params,
            variables,
            at,
        });
    }
    for (id, group, at) in pointers {
        match domain
            .users
            .iter_mut()
            .find(|u| u.id.eq_ignore_ascii_case(&id))
        {
            Some(u) => {
                if !u.groups.contains(&group) {
                    u.groups.push(group);
                }
            }
            None => warnings.push(Warning::new(
                at,
                None,
                format!(
                    "group '{group}' points at user '{id}', which domain '{name}' does not define"
                ),
            )),
        }
    }
    Ok(domain)
}

impl CredentialStore for Directory {
    fn lookup(&self, username: &str, realm: &str) -> Option<Secret> {
        let user = self.user(username, realm)?;
        if let Some(h) = user.a1_hash().filter(|h| !h.is_empty()) {
            return Some(Secret::Ha1(vec![(HashFamily::Md5, h.to_ascii_lowercase())]));
        }
        user.password().map(|p| Secret::Password(p.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MemoryFiles, Preprocessor};
    use std::path::Path;

    fn load(text: &str) -> Result<(Directory, Vec<Warning>), ConfigError> {
        let mut m = MemoryFiles::new();
        m.insert("dir.xml", text);
        let e = Preprocessor::new(&m).process_file(Path::new("dir.xml"))?;
        let mut d = Directory::new();
        let w = d.load_xml(&e)?;
        Ok((d, w))
    }

    const DIR: &str = r#"<include>
  <domain name="Example.com">
    <aliases><alias name="alt.example.com"/></aliases>
    <params><param name="dial-string" value="x"/><param name="password" value="dflt"/></params>
    <variables><variable name="user_context" value="default"/></variables>
    <groups>
      <group name="default">
        <users>
          <user id="1000" number-alias="100" cidr="192.0.2.0/24, 2001:db8::/32">
            <params><param name="password" value="1234"/></params>
            <variables><variable name="user_context" value="mine"/></variables>
          </user>
          <user id="1001"><params><param name="a1-hash" value="ABCDEF"/></params></user>
          <user id="1002"/>
        </users>
      </group>
      <group name="sales"><users><user id="1000" type="pointer"/><user id="9" type="pointer"/></users></group>
    </groups>
  </domain>
</include>"#;

    #[test]
    fn lookups() {
        let (d, w) = load(DIR).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].at.line, 17);
        let u = d.user("1000", "example.COM").unwrap();
        assert_eq!(u.password(), Some("1234"));
        assert!(u.is_default_password());
        assert_eq!(u.variable("user_context"), Some("mine"));
        assert_eq!(u.param("dial-string"), Some("x"));
        assert_eq!(u.groups, vec!["default".to_string(), "sales".to_string()]);
        assert_eq!(u.cidrs.len(), 2);
        assert_eq!(u.at, Location::new("dir.xml", 9));
        assert_eq!(
            d.user("100", "alt.example.com").map(|u| u.id.as_str()),
            Some("1000")
        );
        assert!(d.user("1000", "other.com").is_none());
        assert!(d.user("7", "example.com").is_none());
        // The domain-level password applies to a user without one.
        assert_eq!(
            d.user("1002", "example.com").and_then(User::password),
            Some("dflt")
        );
        assert_eq!(
            d.default_password_users(),
            vec!["1000@Example.com".to_string()]
        );
    }

    #[test]
    fn credential_store() {
        let (mut d, _) = load(DIR).unwrap();
        assert_eq!(
            d.lookup("1000", "example.com"),
            Some(Secret::Password("1234".into()))
        );
        assert_eq!(
            d.lookup("1001", "example.com"),
            Some(Secret::Ha1(vec![(HashFamily::Md5, "abcdef".into())]))
        );
        assert_eq!(d.lookup("1000", "nowhere"), None);
        assert!(d.add_domain_alias("127.0.0.1", "example.com"));
        assert!(d.lookup("1000", "127.0.0.1").is_some());
        assert!(!d.add_domain_alias("x", "nope"));
    }

    #[test]
    fn errors() {
        let e = load("<include>\n<domain>\n</domain></include>").unwrap_err();
        assert_eq!(e.to_string(), "dir.xml:2: <domain> without a name");
        let e = load(
            "<include><domain name=\"a\">\n<user id=\"1\"/>\n<user id=\"1\"/></domain></include>",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("dir.xml:3: duplicate user '1@a' (first at dir.xml:2)"),
            "{e}"
        );
        let e = load(
            "<include><domain name=\"a\">\n<user id=\"1\" cidr=\"1.2.3/8\"/></domain></include>",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("dir.xml:2: parameter 'cidr' = '1.2.3/8': bad CIDR"),
            "{e}"
        );
        let e =
            load("<include>\n<domain name=\"a\"/>\n<domain name=\"A\"/></include>").unwrap_err();
        assert!(
            e.to_string().starts_with("dir.xml:3: duplicate domain"),
            "{e}"
        );
    }
}
