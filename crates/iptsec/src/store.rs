//! Where the server finds a user's secret.

use std::collections::HashMap;

use crate::digest::HashFamily;

/// A user's secret for one realm.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The password.
    Password(String),
    /// Precomputed `HA1 = H(username:realm:password)` values in hex, one per
    /// hash family the store knows (FreeSWITCH's `a1-hash` is the MD5 one).
    /// Algorithms of a family without an entry cannot be verified.
    Ha1(Vec<(HashFamily, String)>),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log.
        match self {
            Secret::Password(_) => f.write_str("Password(..)"),
            Secret::Ha1(v) => write!(f, "Ha1({} families)", v.len()),
        }
    }
}

/// A credential store: the user's secret for a realm, or `None` when the
/// user is unknown there.
pub trait CredentialStore {
    /// Looks a user up.
    fn lookup(&self, username: &str, realm: &str) -> Option<Secret>;
}

impl<T: CredentialStore + ?Sized> CredentialStore for &T {
    fn lookup(&self, username: &str, realm: &str) -> Option<Secret> {
        (**self).lookup(username, realm)
    }
}

impl<T: CredentialStore + ?Sized> CredentialStore for std::sync::Arc<T> {
    fn lookup(&self, username: &str, realm: &str) -> Option<Secret> {
        (**self).lookup(username, realm)
    }
}

/// An in-memory store. A user entered without a realm is known in every
/// realm (as a FreeSWITCH directory user is in every domain's realm).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    users: HashMap<(String, Option<String>), Secret>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Adds (or replaces) a user's password; `realm` `None` for every realm.
    pub fn add_password(&mut self, username: &str, realm: Option<&str>, password: &str) {
        self.users.insert(
            (username.to_string(), realm.map(str::to_string)),
            Secret::Password(password.to_string()),
        );
    }

    /// Adds (or replaces) a user's precomputed `HA1` for one realm.
    pub fn add_ha1(&mut self, username: &str, realm: &str, family: HashFamily, ha1_hex: &str) {
        let key = (username.to_string(), Some(realm.to_string()));
        match self.users.get_mut(&key) {
            Some(Secret::Ha1(list)) => {
                list.retain(|(f, _)| *f != family);
                list.push((family, ha1_hex.to_ascii_lowercase()));
            }
            _ => {
                self.users.insert(
                    key,
                    Secret::Ha1(vec![(family, ha1_hex.to_ascii_lowercase())]),
                );
            }
        }
    }

    /// Removes a user; true when there was one.
    pub fn remove(&mut self, username: &str, realm: Option<&str>) -> bool {
        self.users
            .remove(&(username.to_string(), realm.map(str::to_string)))
            .is_some()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl CredentialStore for MemoryStore {
    fn lookup(&self, username: &str, realm: &str) -> Option<Secret> {
        self.users
            .get(&(username.to_string(), Some(realm.to_string())))
            .or_else(|| self.users.get(&(username.to_string(), None)))
            .cloned()
    }
}
