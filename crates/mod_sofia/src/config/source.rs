//! Where configuration files come from: the file system, or a set of files
//! held in memory (the embedded default configuration, tests).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// A place configuration files are read from.
pub trait ConfigSource {
    /// The text of the file at `path`.
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// The files matching the glob `pattern`, sorted by path.
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String>;
    /// True when a file exists at `path`.
    fn exists(&self, path: &Path) -> bool;
}

/// The file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSystem;

impl ConfigSource for FileSystem {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String> {
        let p = pattern.to_str().ok_or("the pattern is not valid UTF-8")?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = glob::glob_with(p, options).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for entry in paths {
            let path = entry.map_err(|e| e.to_string())?;
            if path.is_file() {
                out.push(normalize(&path));
            }
        }
        out.sort();
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// Files held in memory, keyed by their (normalized) path.
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryFiles {
    /// No files.
    pub fn new() -> MemoryFiles {
        MemoryFiles::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) -> &mut Self {
        self.files.insert(normalize(path.as_ref()), text.into());
        self
    }

    /// The paths held, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }
}

impl ConfigSource for MemoryFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }

    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String> {
        let p = pattern.to_str().ok_or("the pattern is not valid UTF-8")?;
        let pat = glob::Pattern::new(p).map_err(|e| e.to_string())?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        Ok(self
            .files
            .keys()
            .filter(|k| pat.matches_path_with(k, options))
            .cloned()
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }
}

/// `path` with `.` components dropped and `..` applied lexically.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// True when `s` has a glob metacharacter.
pub(crate) fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("conf/a/../b/./c.xml")),
            PathBuf::from("conf/b/c.xml")
        );
        assert_eq!(normalize(Path::new("../x.xml")), PathBuf::from("../x.xml"));
        assert_eq!(normalize(Path::new("/../x.xml")), PathBuf::from("/x.xml"));
    }

    #[test]
    fn memory_glob_stays_in_one_directory() {
        let mut m = MemoryFiles::new();
        m.insert("d/a.xml", "")
            .insert("d/b.xml", "")
            .insert("d/sub/c.xml", "")
            .insert("d/n.txt", "");
        let got = m.glob(Path::new("d/*.xml")).unwrap_or_default();
        assert_eq!(
            got,
            vec![PathBuf::from("d/a.xml"), PathBuf::from("d/b.xml")]
        );
    }
}
