//! FreeSWITCH's XML preprocessing (`switch_xml.c`): `X-PRE-PROCESS`
//! instructions and `$${name}` variables, applied line by line before the
//! XML is parsed, with a map from every output line back to the file and
//! line it came from.
//!
//! - `<X-PRE-PROCESS cmd="set" data="name=value"/>` sets a variable for the
//!   lines after it (in this file and every file read later with the same
//!   [`Preprocessor`], as FreeSWITCH's global variables).
//! - `<X-PRE-PROCESS cmd="include" data="path-or-glob"/>` inserts the
//!   file(s) in place. A relative path is taken from the including file's
//!   directory. A glob that matches nothing inserts nothing; a plain path
//!   that does not exist is an error. An included file's `<?xml ...?>`
//!   declaration and `<include>`/`</include>` wrapper tags are dropped.
//!   Includes nest up to [`MAX_INCLUDE_DEPTH`] levels; a file that includes
//!   itself (directly or through others) is an error.
//! - `cmd="stun-set"` is `set` for a plain value (a `stun:` value needs a
//!   STUN lookup, which is not done: error). `exec`, `exec-set` and
//!   `env-set` are refused.
//! - `$${name}` is replaced by the variable's value; an unknown name is an
//!   error naming the file and line. `${name}` (one dollar, a FreeSWITCH
//!   channel variable) is left alone.
//!
//! Unlike FreeSWITCH, instructions and variables inside XML comments
//! (`<!-- ... -->`) are left alone, so commenting out a line works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Location};
use super::source::{ConfigSource, is_glob, normalize};

/// How deep includes may nest.
pub const MAX_INCLUDE_DEPTH: usize = 32;
/// The largest preprocessed text, in bytes (16 MiB).
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;

/// Preprocessor variables (`$${name}`), by name (case-sensitive).
pub type Vars = BTreeMap<String, String>;

/// Preprocessed text and the origin of each of its lines.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    /// The text, lines joined with `\n`.
    pub text: String,
    /// The origin of every line of `text`.
    pub map: SourceMap,
}

impl Expanded {
    /// The file and line that line `line` (1-based) of the text came from.
    pub fn location(&self, line: u32) -> Location {
        self.map.location(line)
    }
}

/// Maps lines of preprocessed text back to files and lines.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<Arc<Path>>,
    lines: Vec<(u32, u32)>,
}

impl SourceMap {
    /// The origin of output line `line` (1-based). A line past the end maps
    /// to the last line; an empty map to line 0 of an unnamed file.
    pub fn location(&self, line: u32) -> Location {
        let idx = (line.max(1) - 1) as usize;
        let entry = self.lines.get(idx).or_else(|| self.lines.last());
        match entry {
            Some(&(f, l)) => match self.files.get(f as usize) {
                Some(file) => Location {
                    file: file.clone(),
                    line: l,
                },
                None => Location::new("", l),
            },
            None => Location::new("", 0),
        }
    }

    /// Every file read, in the order first read.
    pub fn files(&self) -> &[Arc<Path>] {
        &self.files
    }

    fn file_index(&mut self, path: &Path) -> u32 {
        if let Some(i) = self.files.iter().position(|p| &**p == path) {
            return i as u32;
        }
        self.files.push(Arc::from(path));
        (self.files.len() - 1) as u32
    }
}

/// Runs FreeSWITCH preprocessing over files from a [`ConfigSource`],
/// keeping variables across files.
pub struct Preprocessor<'s> {
    source: &'s dyn ConfigSource,
    vars: Vars,
}

impl std::fmt::Debug for Preprocessor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preprocessor")
            .field("vars", &self.vars)
            .finish()
    }
}

struct Out {
    text: String,
    map: SourceMap,
}

impl Out {
    fn push_line(
        &mut self,
        file: u32,
        line: u32,
        text: &str,
        at: &Location,
    ) -> Result<(), ConfigError> {
        if self.text.len() + text.len() + 1 > MAX_OUTPUT_BYTES {
            return Err(ConfigError::TooLarge {
                at: at.clone(),
                limit: MAX_OUTPUT_BYTES,
            });
        }
        if !self.map.lines.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(text);
        self.map.lines.push((file, line));
        Ok(())
    }
}

/// One `X-PRE-PROCESS` instruction.
struct Instruction {
    cmd: String,
    data: String,
}

impl<'s> Preprocessor<'s> {
    /// A preprocessor reading from `source` with no variables set.
    pub fn new(source: &'s dyn ConfigSource) -> Preprocessor<'s> {
        Preprocessor {
            source,
            vars: Vars::new(),
        }
    }

    /// A preprocessor with the given variables set.
    pub fn with_vars(source: &'s dyn ConfigSource, vars: Vars) -> Preprocessor<'s> {
        Preprocessor { source, vars }
    }

    /// The source files are read from.
    pub fn source(&self) -> &'s dyn ConfigSource {
        self.source
    }

    /// Sets a variable.
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
    }

    /// A variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// Preprocesses the file at `path`.
    pub fn process_file(&mut self, path: &Path) -> Result<Expanded, ConfigError> {
        let path = normalize(path);
        let text = self.source.read(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        self.process_str(&path, &text)
    }

    /// Preprocesses `text` as if read from `path` (includes are relative to
    /// its directory).
    pub fn process_str(&mut self, path: &Path, text: &str) -> Result<Expanded, ConfigError> {
        let mut out = Out {
            text: String::new(),
            map: SourceMap::default(),
        };
        let path = normalize(path);
        let mut stack = vec![path.clone()];
        self.run(&path, text, false, &mut stack, &mut out)?;
        Ok(Expanded {
            text: out.text,
            map: out.map,
        })
    }

    fn run(
        &mut self,
        path: &Path,
        text: &str,
        included: bool,
        stack: &mut Vec<PathBuf>,
        out: &mut Out,
    ) -> Result<(), ConfigError> {
        let file = out.map.file_index(path);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut in_comment = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let at = Location::new(path, line_no);
            let (line, instructions) = self.line(raw, &mut in_comment, included, &at)?;
            out.push_line(file, line_no, &line, &at)?;
            for ins in instructions {
                self.execute(ins, path, &at, stack, out)?;
            }
        }
        Ok(())
    }

    /// Expands one line: returns the text to keep and the instructions found.
    fn line(
        &self,
        raw: &str,
        in_comment: &mut bool,
        included: bool,
        at: &Location,
    ) -> Result<(String, Vec<Instruction>), ConfigError> {
        let mut kept = String::with_capacity(raw.len());
        let mut instructions = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            if *in_comment {
                match rest.find("-->") {
                    Some(end) => {
                        kept.push_str(&rest[..end + 3]);
                        rest = &rest[end + 3..];
                        *in_comment = false;
                    }
                    None => {
                        kept.push_str(rest);
                        rest = "";
                    }
                }
                continue;
            }
            let (code, next) = match rest.find("<!--") {
                Some(start) => {
                    *in_comment = true;
                    (&rest[..start], &rest[start..])
                }
                None => (rest, ""),
            };
            let expanded = self.expand(code, at)?;
            let code = self.instructions(&expanded, included, at, &mut instructions)?;
            kept.push_str(&code);
            if *in_comment {
                kept.push_str("<!--");
                rest = &next[4..];
            } else {
                rest = next;
            }
        }
        Ok((kept, instructions))
    }

    /// Replaces `$${name}` in `s`.
    fn expand(&self, s: &str, at: &Location) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(pos) = rest.find("$${") {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 3..];
            let end = after.find('}').ok_or_else(|| ConfigError::PreProcess {
                at: at.clone(),
                what: "'$${' without a closing '}'".to_string(),
            })?;
            let name = after[..end].trim();
            match self.vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(ConfigError::UnknownVariable {
                        at: at.clone(),
                        name: name.to_string(),
                    });
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Removes `X-PRE-PROCESS` tags (and, in included files, the XML
    /// declaration and `<include>` wrapper tags) from `s`, collecting the
    /// instructions.
    fn instructions(
        &self,
        s: &str,
        included: bool,
        at: &Location,
        found: &mut Vec<Instruction>,
    ) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        loop {
            let Some(lt) = rest.find('<') else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..lt]);
            let tail = &rest[lt..];
            if starts_with_ci(tail, "<X-PRE-PROCESS") {
                let (ins, len) = parse_instruction(tail, at)?;
                found.push(ins);
                rest = &tail[len..];
                // A closing tag, if written as a pair.
                let trimmed = rest.trim_start();
                if starts_with_ci(trimmed, "</X-PRE-PROCESS>") {
                    rest = &trimmed["</X-PRE-PROCESS>".len()..];
                }
            } else if included && tail.starts_with("<?xml") {
                match tail.find("?>") {
                    Some(end) => rest = &tail[end + 2..],
                    None => {
                        out.push_str(tail);
                        break;
                    }
                }
            } else if included && (tail.starts_with("<include>") || tail.starts_with("</include>"))
            {
                let len = if tail.starts_with("<include>") { 9 } else { 10 };
                rest = &tail[len..];
            } else {
                out.push('<');
                rest = &tail[1..];
            }
        }
        Ok(out)
    }

    fn execute(
        &mut self,
        ins: Instruction,
        path: &Path,
        at: &Location,
        stack: &mut Vec<PathBuf>,
        out: &mut Out,
    ) -> Result<(), ConfigError> {
        match ins.cmd.to_ascii_lowercase().as_str() {
            "set" | "stun-set" => {
                let (name, value) =
                    ins.data
                        .split_once('=')
                        .ok_or_else(|| ConfigError::PreProcess {
                            at: at.clone(),
                            what: format!(
                                "X-PRE-PROCESS {}: data '{}' is not name=value",
                                ins.cmd, ins.data
                            ),
                        })?;
                let name = name.trim();
                if name.is_empty() {
                    return Err(ConfigError::PreProcess {
                        at: at.clone(),
                        what: format!("X-PRE-PROCESS {}: empty variable name", ins.cmd),
                    });
                }
                if ins.cmd.eq_ignore_ascii_case("stun-set")
                    && value.trim_start().starts_with("stun:")
                {
                    return Err(ConfigError::PreProcess {
                        at: at.clone(),
                        what: format!(
                            "X-PRE-PROCESS stun-set: STUN lookups ('{value}') are not supported; set the address"
                        ),
                    });
                }
                self.vars.insert(name.to_string(), value.to_string());
                Ok(())
            }
            "include" => self.include(&ins.data, path, at, stack, out),
            "exec" | "exec-set" | "env-set" => Err(ConfigError::PreProcess {
                at: at.clone(),
                what: format!("X-PRE-PROCESS {} is not supported", ins.cmd),
            }),
            other => Err(ConfigError::PreProcess {
                at: at.clone(),
                what: format!("unknown X-PRE-PROCESS cmd '{other}'"),
            }),
        }
    }

    fn include(
        &mut self,
        data: &str,
        path: &Path,
        at: &Location,
        stack: &mut Vec<PathBuf>,
        out: &mut Out,
    ) -> Result<(), ConfigError> {
        let data = data.trim();
        if data.is_empty() {
            return Err(ConfigError::Include {
                at: at.clone(),
                data: data.to_string(),
                reason: "no file named".to_string(),
            });
        }
        if stack.len() > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeDepth {
                at: at.clone(),
                limit: MAX_INCLUDE_DEPTH,
            });
        }
        let target = Path::new(data);
        let base = path.parent().unwrap_or(Path::new(""));
        let full = if target.is_absolute() {
            normalize(target)
        } else if is_glob(data) {
            // The including file's directory is literal text in the pattern.
            let escaped = glob::Pattern::escape(&base.to_string_lossy());
            normalize(&Path::new(&escaped).join(target))
        } else {
            normalize(&base.join(target))
        };
        let files = if is_glob(data) {
            self.source
                .glob(&full)
                .map_err(|reason| ConfigError::Include {
                    at: at.clone(),
                    data: data.to_string(),
                    reason,
                })?
        } else {
            vec![full]
        };
        for f in files {
            if stack.contains(&f) {
                return Err(ConfigError::IncludeCycle {
                    at: at.clone(),
                    path: f,
                });
            }
            let text = self.source.read(&f).map_err(|e| ConfigError::Include {
                at: at.clone(),
                data: data.to_string(),
                reason: format!("{}: {e}", f.display()),
            })?;
            stack.push(f.clone());
            let r = self.run(&f, &text, true, stack, out);
            stack.pop();
            r?;
        }
        Ok(())
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Parses `<X-PRE-PROCESS cmd=".." data=".."/>` at the start of `s`;
/// returns the instruction and the length of the tag.
fn parse_instruction(s: &str, at: &Location) -> Result<(Instruction, usize), ConfigError> {
    let bad = |what: &str| ConfigError::PreProcess {
        at: at.clone(),
        what: format!("malformed X-PRE-PROCESS: {what}"),
    };
    let bytes = s.as_bytes();
    let mut i = "<X-PRE-PROCESS".len();
    let mut cmd = None;
    let mut data = None;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Err(bad("the tag does not end on this line"));
        }
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'>') {
            i += 2;
            break;
        }
        if bytes[i] == b'>' {
            i += 1;
            break;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b'_' | b':'))
        {
            i += 1;
        }
        if start == i {
            return Err(bad("expected an attribute"));
        }
        let name = &s[start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return Err(bad(&format!("attribute '{name}' has no value")));
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let quote = match bytes.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => q,
            _ => return Err(bad(&format!("attribute '{name}' is not quoted"))),
        };
        i += 1;
        let vstart = i;
        while i < bytes.len() && bytes[i] != quote {
            i += 1;
        }
        if i >= bytes.len() {
            return Err(bad(&format!("attribute '{name}' is not closed")));
        }
        let value = unescape(&s[vstart..i]);
        i += 1;
        if name.eq_ignore_ascii_case("cmd") {
            cmd = Some(value);
        } else if name.eq_ignore_ascii_case("data") {
            data = Some(value);
        }
    }
    let cmd = cmd.ok_or_else(|| bad("no cmd attribute"))?;
    Ok((
        Instruction {
            cmd,
            data: data.unwrap_or_default(),
        },
        i,
    ))
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::super::source::MemoryFiles;
    use super::*;

    fn run(files: &MemoryFiles, top: &str) -> Result<Expanded, ConfigError> {
        Preprocessor::new(files).process_file(Path::new(top))
    }

    #[test]
    fn sets_and_substitutes() {
        let mut m = MemoryFiles::new();
        m.insert(
            "c/a.xml",
            "<X-PRE-PROCESS cmd=\"set\" data=\"x=1=2\"/>\n<p v=\"$${x}\" w=\"${chan}\"/>",
        );
        let e = run(&m, "c/a.xml").unwrap();
        assert_eq!(e.text, "\n<p v=\"1=2\" w=\"${chan}\"/>");
    }

    #[test]
    fn unknown_variable_names_file_and_line() {
        let mut m = MemoryFiles::new();
        m.insert(
            "c/a.xml",
            "<a>\n<X-PRE-PROCESS cmd=\"include\" data=\"b.xml\"/>\n</a>",
        );
        m.insert("c/b.xml", "<include>\n  <p v=\"$${nope}\"/>\n</include>");
        let err = run(&m, "c/a.xml").unwrap_err();
        assert_eq!(err.to_string(), "c/b.xml:2: unknown variable '$${nope}'");
    }

    #[test]
    fn comments_are_left_alone() {
        let mut m = MemoryFiles::new();
        m.insert(
            "a.xml",
            "<!-- <X-PRE-PROCESS cmd=\"include\" data=\"missing.xml\"/> $${x}\n still $${y} -->\n<a/>",
        );
        let e = run(&m, "a.xml").unwrap();
        assert_eq!(e.map.location(3).line, 3);
        assert!(e.text.contains("$${y}"));
    }

    #[test]
    fn includes_map_lines_back() {
        let mut m = MemoryFiles::new();
        m.insert(
            "c/top.xml",
            "<r>\n<X-PRE-PROCESS cmd=\"include\" data=\"sub/*.xml\"/>\n<z/>\n</r>",
        );
        m.insert(
            "c/sub/1.xml",
            "<?xml version=\"1.0\"?>\n<include>\n<one/>\n</include>",
        );
        m.insert("c/sub/2.xml", "<two/>");
        let e = run(&m, "c/top.xml").unwrap();
        let lines: Vec<&str> = e.text.lines().collect();
        let one = lines.iter().position(|l| l.contains("<one/>")).unwrap() as u32 + 1;
        let two = lines.iter().position(|l| l.contains("<two/>")).unwrap() as u32 + 1;
        let z = lines.iter().position(|l| l.contains("<z/>")).unwrap() as u32 + 1;
        assert_eq!(e.location(one), Location::new("c/sub/1.xml", 3));
        assert_eq!(e.location(two), Location::new("c/sub/2.xml", 1));
        assert_eq!(e.location(z), Location::new("c/top.xml", 3));
        assert!(!e.text.contains("<include>"));
        assert!(!e.text.contains("<?xml"));
    }

    #[test]
    fn cycle_and_missing() {
        let mut m = MemoryFiles::new();
        m.insert("a.xml", "<X-PRE-PROCESS cmd=\"include\" data=\"b.xml\"/>");
        m.insert(
            "b.xml",
            "\n<X-PRE-PROCESS cmd=\"include\" data=\"./a.xml\"/>",
        );
        let err = run(&m, "a.xml").unwrap_err();
        assert!(matches!(err, ConfigError::IncludeCycle { .. }), "{err}");
        assert_eq!(err.location(), Some(&Location::new("b.xml", 2)));

        let mut m = MemoryFiles::new();
        m.insert(
            "a.xml",
            "<X-PRE-PROCESS cmd=\"include\" data=\"nope.xml\"/>",
        );
        let err = run(&m, "a.xml").unwrap_err();
        assert!(
            err.to_string().starts_with("a.xml:1: include 'nope.xml'"),
            "{err}"
        );

        let mut m = MemoryFiles::new();
        m.insert(
            "a.xml",
            "<X-PRE-PROCESS cmd=\"include\" data=\"none/*.xml\"/>",
        );
        assert!(run(&m, "a.xml").is_ok());
    }

    #[test]
    fn depth_limit() {
        let mut m = MemoryFiles::new();
        for i in 0..(MAX_INCLUDE_DEPTH + 5) {
            m.insert(
                format!("f{i}.xml"),
                format!("<X-PRE-PROCESS cmd=\"include\" data=\"f{}.xml\"/>", i + 1),
            );
        }
        m.insert(format!("f{}.xml", MAX_INCLUDE_DEPTH + 5), "<end/>");
        let err = run(&m, "f0.xml").unwrap_err();
        assert!(matches!(err, ConfigError::IncludeDepth { .. }), "{err}");
    }

    #[test]
    fn bad_instructions() {
        for (text, want) in [
            ("<X-PRE-PROCESS cmd=\"exec\" data=\"ls\"/>", "not supported"),
            (
                "<X-PRE-PROCESS cmd=\"frob\" data=\"x\"/>",
                "unknown X-PRE-PROCESS cmd",
            ),
            (
                "<X-PRE-PROCESS cmd=\"set\" data=\"novalue\"/>",
                "not name=value",
            ),
            ("<X-PRE-PROCESS cmd=\"set\" data=\"a=b\"", "does not end"),
            ("<X-PRE-PROCESS data=\"a=b\"/>", "no cmd"),
            ("x $${open", "without a closing"),
        ] {
            let mut m = MemoryFiles::new();
            m.insert("a.xml", text);
            let err = run(&m, "a.xml").unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
