//! Finding the module files of a tree (spec §3): a depth-first walk of the
//! module directory in sorted order (kmod uses raw `readdir` order; sorting
//! is kmodtree's deliberate, documented deviation), following symlinks with
//! loop protection, then the external directories; duplicate module names
//! resolved with kmod's priority rules (§3.3).

use super::config::{Config, SearchEntry};
use crate::kmod::{strerror, Diagnostic};
use camino::{Utf8Path, Utf8PathBuf};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A module file accepted for the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The path as built by the walk (the module directory or external
    /// directory, `/`, the relative part; symlinks are not resolved).
    path: String,
    name: String,
    /// Byte offset in the path where the file name starts.
    basename_start: usize,
    /// Where in the path the part relative to the module directory
    /// starts, when it lies inside it.
    relpath_start: Option<usize>,
}

impl Candidate {
    /// A candidate for the module file `path`, whose file name starts at
    /// `basename_start`, relative to `module_dir` when inside it.
    pub fn new(path: String, basename_start: usize, module_dir: &str) -> Candidate {
        let rel = path
            .strip_prefix(module_dir)
            .and_then(|r| r.strip_prefix('/'));
        let relpath_start = rel.map(|r| path.len() - r.len());
        Candidate {
            name: crate::kmod::name_from_file_name(&path[basename_start..]),
            path,
            basename_start,
            relpath_start,
        }
    }

    /// The module file's path as the walk built it.
    pub fn path(&self) -> &Utf8Path {
        Utf8Path::new(&self.path)
    }

    /// The module name: file name up to the first `.`, `-` → `_`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path relative to the module directory, when it lies inside it.
    pub fn relpath(&self) -> Option<&str> {
        self.path.get(self.relpath_start?..)
    }

    /// The path written into the databases: relative when possible.
    pub fn db_path(&self) -> &str {
        self.relpath().unwrap_or(&self.path)
    }

    /// kmod's `uncrelpath` (§3.2): the relative path cut after the module
    /// name plus three bytes (`.ko` for ordinary names). Used to match
    /// `modules.order` lines.
    pub fn uncrelpath(&self) -> Option<&str> {
        let rel = self.relpath()?;
        let dirlen = rel.len() - (self.path.len() - self.basename_start);
        let end = (dirlen + self.name().len() + 3).min(rel.len());
        rel.get(..end)
    }

    /// The path up to the end of the module-name stem.
    fn stem_path(&self) -> &str {
        &self.path[..self.basename_start + self.name.len()]
    }
}

/// Module file suffixes a tree is searched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suffixes {
    /// `.ko.gz` (kmod built with zlib; Debian's builds are not).
    pub gzip: bool,
    /// `.ko.xz`.
    pub xz: bool,
    /// `.ko.zst`.
    pub zstd: bool,
}

impl Default for Suffixes {
    fn default() -> Self {
        Suffixes {
            gzip: true,
            xz: true,
            zstd: true,
        }
    }
}

impl Suffixes {
    /// Whether `name` is a module file name (longer than, and ending with,
    /// an enabled suffix).
    pub fn matches(&self, name: &[u8]) -> bool {
        let ok = |s: &[u8]| name.len() > s.len() && name.ends_with(s);
        ok(b".ko")
            || (self.gzip && ok(b".ko.gz"))
            || (self.xz && ok(b".ko.xz"))
            || (self.zstd && ok(b".ko.zst"))
    }
}

/// Errors that stop discovery.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// kmod's words; the text is glibc's.
    #[error("could not open directory {dir}: {}", strerror(.source))]
    ModuleDir {
        dir: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file name is not valid UTF-8 (kmodtree handles UTF-8 paths only)", .0.display())]
    NonUtf8(PathBuf),
    #[error("too many modules ({0}); kmod supports at most 65534")]
    TooMany(usize),
}

/// Walks `dir` (the module directory, as kmod spells it) and the external
/// directories of `cfg`: the accepted modules in walk order (replacements
/// take the place of the module they replace; array order is computed
/// later), and kmod's diagnostics.
pub fn discover(
    dir: &str,
    cfg: &Config,
    suffixes: Suffixes,
) -> Result<(Vec<Candidate>, Vec<Diagnostic>), DiscoverError> {
    let mut diags = Vec::new();
    std::fs::read_dir(dir).map_err(|source| DiscoverError::ModuleDir {
        dir: dir.into(),
        source,
    })?;
    let mut found = Vec::new();
    walk_one(dir, dir, cfg, suffixes, &mut found, &mut diags)?;
    for ext in &cfg.externals {
        match std::fs::read_dir(ext) {
            Ok(_) => walk_one(ext, dir, cfg, suffixes, &mut found, &mut diags)?,
            Err(e) => diags.push(Diagnostic::error(format!(
                "could not open directory {ext}: {}",
                strerror(&e)
            ))),
        }
    }
    let modules = keep_one_per_name(found, |old, new| keep_old(old, new, dir, cfg));
    if modules.len() >= 65535 {
        return Err(DiscoverError::TooMany(modules.len()));
    }
    Ok((modules, diags))
}

/// One candidate per module name, at the place of the name's first
/// candidate: the one `keep_old(current, later)` prefers, `later` being
/// compared with the candidate kept so far.
fn keep_one_per_name(
    found: Vec<Candidate>,
    keep_old: impl Fn(&Candidate, &Candidate) -> bool,
) -> Vec<Candidate> {
    let mut kept: Vec<Candidate> = Vec::new();
    let mut by_name: rustc_hash::FxHashMap<String, usize> = Default::default();
    for cand in found {
        match by_name.get(cand.name()) {
            None => {
                by_name.insert(cand.name().to_string(), kept.len());
                kept.push(cand);
            }
            Some(&s) if !keep_old(&kept[s], &cand) => kept[s] = cand,
            Some(_) => {}
        }
    }
    kept
}

fn walk_one(
    root: &str,
    module_dir: &str,
    cfg: &Config,
    suffixes: Suffixes,
    found: &mut Vec<Candidate>,
    diags: &mut Vec<Diagnostic>,
) -> Result<(), DiscoverError> {
    let skip = |name: &[u8]| {
        name == b"build" || name == b"source" || cfg.excludes.iter().any(|x| x.as_bytes() == name)
    };
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()))
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skip(e.file_name().as_bytes()));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| root.to_string());
                let reason = if err.loop_ancestor().is_some() {
                    "Too many levels of symbolic links".to_string()
                } else {
                    err.io_error().map_or_else(|| err.to_string(), strerror)
                };
                diags.push(Diagnostic::error(format!(
                    "could not open {path}: {reason}"
                )));
                continue;
            }
        };
        let ft = entry.file_type();
        if entry.depth() == 0 || ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            let mode = entry.metadata().map_or(0, |m| m.mode() & 0o170000);
            diags.push(Diagnostic::error(format!(
                "unsupported file type {}: {mode:o}",
                entry.path().to_string_lossy()
            )));
            continue;
        }
        if !suffixes.matches(entry.file_name().as_bytes()) {
            continue;
        }
        let rel_std: &Path = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let Some(rel) = rel_std.to_str() else {
            return Err(DiscoverError::NonUtf8(entry.path().to_path_buf()));
        };
        let file_name = entry.file_name().to_str().unwrap_or_default();
        let path = format!("{root}/{rel}");
        let basename_start = path.len() - file_name.len();
        found.push(Candidate::new(path, basename_start, module_dir));
    }
    Ok(())
}

/// kmod's duplicate rule (§3.3): whether the accepted module `old` is kept
/// against the candidate `new` of the same name.
pub fn keep_old(old: &Candidate, new: &Candidate, dir: &str, cfg: &Config) -> bool {
    // Each path below `dir/`, up to the end of the module-name stem.
    let [rel_new, rel_old] = [new, old].map(|c| c.stem_path().strip_prefix(dir)?.get(1..));
    for o in &cfg.overrides {
        if rel_new == Some(o.as_str()) {
            return false;
        }
        if rel_old == Some(o.as_str()) {
            return true;
        }
    }
    let under = |p: &str, prefix: &str| {
        p.len() > prefix.len() && p.as_bytes()[prefix.len()] == b'/' && p.starts_with(prefix)
    };
    // Search positions of built-in, new and old (None sorts first, as
    // kmod's -1 does).
    let (mut i, mut b, mut n, mut o) = (0, None, None, None);
    for e in &cfg.search {
        match e {
            SearchEntry::BuiltIn => b = Some(i),
            SearchEntry::External => {
                for x in &cfg.externals {
                    if under(new.stem_path(), x) {
                        n = Some(i);
                    }
                    if under(old.stem_path(), x) {
                        o = Some(i);
                    }
                    i += 1;
                }
            }
            SearchEntry::Path(e) => {
                if rel_new.is_some_and(|r| under(r, e)) {
                    n = Some(i);
                } else if rel_old.is_some_and(|r| under(r, e)) {
                    o = Some(i);
                }
            }
        }
        i += 1;
    }
    n.or(b) <= o.or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(dir: &str, rel: &str) -> Candidate {
        let path = format!("{dir}/{rel}");
        let file = rel.rsplit('/').next().unwrap();
        let c = Candidate::new(path.clone(), path.len() - file.len(), dir);
        assert_eq!(c.relpath(), Some(rel));
        c
    }

    #[test]
    fn one_candidate_per_name_in_first_seen_places() {
        let found = || {
            ["a.ko", "x/b.ko", "y/a.ko", "c.ko", "z/b.ko", "w/a.ko"]
                .iter()
                .map(|r| cand("/m", r))
                .collect::<Vec<_>>()
        };
        let rels = |v: Vec<Candidate>| -> Vec<String> {
            v.iter().map(|c| c.relpath().unwrap().to_string()).collect()
        };
        // Later candidates win: each name keeps its first place.
        let later = keep_one_per_name(found(), |_, _| false);
        assert_eq!(rels(later), ["w/a.ko", "z/b.ko", "c.ko"]);
        let first = keep_one_per_name(found(), |_, _| true);
        assert_eq!(rels(first), ["a.ko", "x/b.ko", "c.ko"]);
        // The second of three wins over the first, then over the third.
        let middle = keep_one_per_name(found(), |old, _| old.path().as_str().contains("/y/"));
        assert_eq!(rels(middle), ["y/a.ko", "z/b.ko", "c.ko"]);
    }

    #[test]
    fn names_and_uncrelpath() {
        assert_eq!(
            crate::kmod::name_from_file_name("snd-hda-intel.ko.xz"),
            "snd_hda_intel"
        );
        assert_eq!(crate::kmod::name_from_file_name("dot.ted.ko"), "dot");
        let c = cand("/m", "kernel/x/snd-hda.ko.xz");
        assert_eq!(c.uncrelpath(), Some("kernel/x/snd-hda.ko"));
        assert_eq!(
            cand("/m", "kernel/x/dot.ted.ko").uncrelpath(),
            Some("kernel/x/dot.te")
        );
    }

    #[test]
    fn updates_wins_without_config() {
        let cfg = Config::empty();
        let k = cand("/m", "kernel/foo.ko");
        let u = cand("/m", "updates/foo.ko");
        assert!(!keep_old(&k, &u, "/m", &cfg));
        assert!(keep_old(&u, &k, "/m", &cfg));
        // Outside every search entry: the first found stays.
        let e = cand("/m", "extra/foo.ko");
        assert!(keep_old(&k, &e, "/m", &cfg));
        // Same search entry: the later one wins (kmod's `else if`).
        let u2 = cand("/m", "updates/sub/foo.ko");
        assert!(!keep_old(&u, &u2, "/m", &cfg));
    }
}
