//! depmod.d configuration (spec §1.3, §2): `search`, `override`,
//! `external`, `exclude`.
//!
//! Lists are kept in kmod's order: every directive *prepends*, so the entry
//! written first ends up last. Parsing is pure ([`Config::parse_file`]);
//! [`Config::load`] only lists and reads the files.

use crate::kmod::Diagnostic;
use camino::{Utf8Path, Utf8PathBuf};

/// One entry of the search list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchEntry {
    /// The `built-in` keyword: everything under no other search entry.
    BuiltIn,
    /// The `external` keyword: the external directories, in their order.
    External,
    /// A directory relative to the module directory.
    Path(String),
}

/// depmod.d configuration, lists in kmod's (prepended) order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub search: Vec<SearchEntry>,
    /// Override paths `SUBDIR/MODNAME` (module name taken literally).
    pub overrides: Vec<String>,
    /// External directories (absolute host paths).
    pub externals: Vec<String>,
    /// Basenames excluded from the walk.
    pub excludes: Vec<String>,
}

/// kmod's default configuration directories (`--host-config`).
pub const HOST_CONFIG_PATHS: &[&str] = &[
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/usr/lib/depmod.d",
    "/lib/depmod.d",
];

/// kmodtree's hermetic defaults, relative to the base directory.
pub const HERMETIC_CONFIG_PATHS: &[&str] = &["etc/depmod.d", "lib/depmod.d", "usr/lib/depmod.d"];

impl Config {
    /// The configuration used when no file says anything: search `updates`.
    pub fn empty() -> Self {
        let mut c = Config::default();
        c.finish();
        c
    }

    /// Lists the configuration files of `paths` the way kmod does (§2.1):
    /// a path that is not a directory is one file; a directory contributes
    /// its `*.conf` entries; all are merged, sorted by basename, the first
    /// path giving a basename winning. Missing paths are skipped silently.
    pub fn list_files(paths: &[Utf8PathBuf], diags: &mut Vec<Diagnostic>) -> Vec<Utf8PathBuf> {
        // By basename: sorted, the first path giving one wins.
        let mut files = std::collections::BTreeMap::new();
        for path in paths {
            let Ok(rd) = std::fs::read_dir(path) else {
                if path.as_std_path().exists() && !path.is_dir() {
                    let base = path.file_name().unwrap_or(path.as_str()).to_string();
                    files.entry(base).or_insert_with(|| path.clone());
                }
                continue;
            };
            let mut names: Vec<String> = Vec::new();
            for entry in rd.flatten() {
                match entry.file_name().into_string() {
                    Ok(n) => names.push(n),
                    Err(n) => diags.push(Diagnostic::error(format!(
                        "{path}/{}: configuration file name is not UTF-8; ignored",
                        n.to_string_lossy()
                    ))),
                }
            }
            names.sort();
            for name in names.into_iter().filter(|n| !n.starts_with('.')) {
                if name.len() < 6 || !name.ends_with(".conf") {
                    diags.push(Diagnostic::info(format!(
                        "All cfg files need .conf: {path}/{name}"
                    )));
                    continue;
                }
                let full = path.join(&name);
                if full.is_dir() {
                    diags.push(Diagnostic::error(format!(
                        "Directories inside directories are not supported: {full}"
                    )));
                    continue;
                }
                files.entry(name).or_insert(full);
            }
        }
        files.into_values().collect()
    }

    /// Reads every configuration file of `paths` for kernel `version`.
    pub fn load(paths: &[Utf8PathBuf], version: &str, diags: &mut Vec<Diagnostic>) -> Config {
        let mut cfg = Config::default();
        for file in Self::list_files(paths, diags) {
            match std::fs::read(&file) {
                Ok(bytes) => cfg.parse_file(&file, &bytes, version, diags),
                Err(e) => diags.push(Diagnostic::error(format!(
                    "could not open '{file}' for reading: {}",
                    crate::kmod::strerror(&e)
                ))),
            }
        }
        cfg.finish();
        cfg
    }

    /// After all files: an empty search list becomes `updates` (§2.2).
    pub fn finish(&mut self) {
        if self.search.is_empty() {
            self.search.push(SearchEntry::Path("updates".into()));
        }
    }

    /// Applies one configuration file's text.
    pub fn parse_file(
        &mut self,
        file: &Utf8Path,
        text: &[u8],
        version: &str,
        diags: &mut Vec<Diagnostic>,
    ) {
        for (lineno, line) in logical_lines(text) {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut tokens = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|t| !t.is_empty())
                .map(|t| String::from_utf8_lossy(t).into_owned());
            let Some(cmd) = tokens.next() else { continue };
            let args: Vec<String> = tokens.collect();
            match (cmd.as_str(), args.as_slice()) {
                ("search", _) => {
                    let entries = args.iter().rev().map(|a| match a.as_str() {
                        "built-in" => SearchEntry::BuiltIn,
                        "external" => SearchEntry::External,
                        _ => SearchEntry::Path(a.clone()),
                    });
                    self.search.splice(0..0, entries);
                }
                ("override", [modname, kver, subdir, ..]) if kernel_matches(kver, version) => {
                    self.overrides.insert(0, format!("{subdir}/{modname}"))
                }
                ("override", [_, kver, _, ..]) => diags.push(Diagnostic::info(format!(
                    "{file}:{lineno}: override kernel did not match {kver}"
                ))),
                ("external", [kver, dir, ..]) if kernel_matches(kver, version) => {
                    self.externals.insert(0, dir.clone())
                }
                ("external", [kver, _, ..]) => diags.push(Diagnostic::info(format!(
                    "{file}:{lineno}: external directory did not match {kver}"
                ))),
                ("exclude", _) => {
                    self.excludes.splice(0..0, args.iter().rev().cloned());
                }
                ("include" | "make_map_files", _) => diags.push(Diagnostic::info(format!(
                    "{file}:{lineno}: command {cmd} not implemented yet"
                ))),
                _ => diags.push(Diagnostic::error(format!(
                    "{file}:{lineno}: ignoring bad line starting with '{cmd}'"
                ))),
            }
        }
    }
}

/// kmod's KVER test: `*` matches all, otherwise an unanchored POSIX extended
/// regular expression search; an invalid expression never matches.
pub fn kernel_matches(pattern: &str, version: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(version))
}

/// Splits configuration text into logical lines as libkmod's
/// `freadline_wrapped` does (§2.2): a backslash before a newline joins two
/// physical lines, a backslash before any other byte is dropped. Returns
/// each line with the number of the last physical line it used.
pub fn logical_lines(data: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut linenum = 0usize;
    let mut pending = 0usize;
    let mut bytes = data.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\n' => {
                linenum = linenum.saturating_add(pending + 1);
                pending = 0;
                out.push((linenum, std::mem::take(&mut line)));
            }
            b'\\' => match bytes.next() {
                Some(b'\n') => pending += 1,
                Some(&next) => line.push(next),
                None => {}
            },
            _ => line.push(b),
        }
    }
    if !line.is_empty() {
        linenum = linenum.saturating_add(pending + 1);
        out.push((linenum, line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_prepend_and_finish_defaults() {
        let mut cfg = Config::default();
        let mut d = Vec::new();
        let text = b"# comment\nsearch updates built-in\nsearch extra\noverride foo * extra\n\
                     exclude a b\nexternal 6\\.1 /ext\n  # indented\nfrobnicate x\n";
        cfg.parse_file(Utf8Path::new("/c.conf"), text, "6.1.0", &mut d);
        cfg.finish();
        assert_eq!(
            cfg.search,
            vec![
                SearchEntry::Path("extra".into()),
                SearchEntry::BuiltIn,
                SearchEntry::Path("updates".into())
            ]
        );
        assert_eq!(cfg.overrides, vec!["extra/foo".to_string()]);
        assert_eq!(cfg.excludes, vec!["b".to_string(), "a".to_string()]);
        assert_eq!(cfg.externals, vec!["/ext".to_string()]);
        let errs = d.iter().filter(|d| d.level == crate::kmod::Level::Error);
        assert_eq!(
            errs.map(|d| d.text.as_str()).collect::<Vec<_>>(),
            [
                "/c.conf:7: ignoring bad line starting with '#'",
                "/c.conf:8: ignoring bad line starting with 'frobnicate'"
            ]
        );
        assert_eq!(
            Config::empty().search,
            vec![SearchEntry::Path("updates".into())]
        );
    }

    #[test]
    fn continuation_lines_count_physical_lines() {
        let lines = logical_lines(b"search a \\\n b\nx\\yz");
        assert_eq!(
            lines,
            vec![(2, b"search a  b".to_vec()), (3, b"xyz".to_vec())]
        );
        let l = logical_lines(b"a\\\nb\nc\\x\n\nd");
        assert_eq!(
            l,
            vec![
                (2, b"ab".to_vec()),
                (3, b"cx".to_vec()),
                (4, b"".to_vec()),
                (5, b"d".to_vec())
            ]
        );
        assert_eq!(logical_lines(b"x\\"), vec![(1, b"x".to_vec())]);
    }

    #[test]
    fn kver_matching() {
        assert!(kernel_matches("*", "anything"));
        assert!(kernel_matches("6\\.1", "6.1.0-56-amd64"));
        assert!(!kernel_matches("^5", "6.1.0"));
        assert!(!kernel_matches("(", "6.1.0"));
    }
}
