//! Guix's own module databases and its initrd module folder, byte for byte
//! (`(gnu build linux-modules)` and `flat-linux-module-directory` of
//! `(gnu system linux-initrd)`):
//!
//! * [`GuixDatabase::Name`] — `modules.name`, an s-expression mapping each
//!   module's `.modinfo` name to its absolute file name, laid out as Guile's
//!   `pretty-print` lays it out ([`pretty_printed_pairs`]);
//! * [`GuixDatabase::Alias`] — Guix's `modules.alias` (one line per alias,
//!   module names taken from file names);
//! * [`GuixDatabase::Devname`] — Guix's `modules.devname`;
//! * [`flat_module_directory`] — the closure of some modules copied flat,
//!   decompressed, with `modules.name`.
//!
//! Files are taken as Guix's `find-files` takes them: every non-directory
//! (symlinks not followed for directories) whose base name ends in `.ko`,
//! `.ko.gz`, `.ko.xz` or `.ko.zst`, sorted by full name.
//!
//! Deliberate differences from Guix (which raises an exception in each
//! case): `.ko.xz` files are read (Guix's reader cannot decompress xz), a
//! module without `.modinfo` has no name and no aliases, a modinfo entry
//! without `=` is ignored, a missing module is a [`GuixError`].

use crate::kmod::absolute_clean;
use crate::kmod::{ActionError, IoResultExt};
use crate::module::{self, decompress, Limits, ModuleError};
use crate::progress::ProgressHook;
use camino::Utf8Path;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

/// Why a Guix database or a flat folder could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GuixError {
    #[error("{path}: {source}")]
    Module { path: String, source: ModuleError },
    #[error(transparent)]
    Io(#[from] ActionError),
    #[error("cannot read '{}': {source}", .path.display())]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("'{0}': file name is not valid UTF-8")]
    NotUtf8(PathBuf),
    #[error(
        "module {module}: malformed device alias '{alias}' (Guix expects TYPE-major-MAJOR-MINOR)"
    )]
    MalformedDeviceAlias { module: String, alias: String },
    #[error("kernel module '{module}' not found in {dir}")]
    ModuleNotFound { module: String, dir: String },
    #[error("kernel module '{module}' (needed by {needed_by}) not found in {dir}")]
    DependencyNotFound {
        module: String,
        needed_by: String,
        dir: String,
    },
    #[error("several modules named '{module}': {}", .files.join(", "))]
    SeveralModules { module: String, files: Vec<String> },
    #[error("modules '{first}' and '{second}' would both be copied to '{name}'")]
    SameFileName {
        first: String,
        second: String,
        name: String,
    },
    #[error(transparent)]
    Write(#[from] crate::output::WriteError),
    #[error("output '{}' already exists", .0.display())]
    OutputExists(PathBuf),
}

/// The module files of `dir` as Guix's `(find-files dir module-regex)`
/// returns them: `DIR/REL` names (with `dir` exactly as given), sorted.
/// Real directories are descended; symlinks are never followed.
pub fn guix_module_files(dir: &str) -> Result<Vec<String>, GuixError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_string()];
    while let Some(d) = pending.pop() {
        let entries = fs::read_dir(&d).doing("cannot read directory", &d)?;
        for entry in entries {
            let entry = entry.doing("cannot read directory", &d)?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| GuixError::NotUtf8(entry.path()))?;
            let full = format!("{d}/{name}");
            let ft = entry.file_type().doing("cannot stat", &full)?;
            if ft.is_dir() {
                pending.push(full);
            } else if crate::kmod::is_module_file_name(&name) {
                out.push(full);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What Guix's database writers read from one module file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuixModule {
    /// The file's name as written into `modules.name`.
    pub file: String,
    /// The first `name=` of `.modinfo`, if any.
    pub formal_name: Option<String>,
    /// Every `alias=` value, in order.
    pub aliases: Vec<String>,
    /// Every `depends=` module name, in order.
    pub depends: Vec<String>,
    /// Every `softdep=` value, in order.
    pub softdeps: Vec<String>,
}

impl GuixModule {
    /// Guix's `file-name->module-name`: the base name up to its first `.`,
    /// dashes replaced by underscores.
    pub fn module_name(&self) -> String {
        module::name_from_file_name(&self.file)
    }

    /// The key of `modules.name`: the `.modinfo` name, else the base name
    /// without extension (not normalised).
    pub fn name_database_key(&self) -> String {
        // Guix's `strip-extension`: the base name up to its first `.`.
        let base = || self.file.rsplit('/').next().unwrap_or(&self.file);
        let stripped = || base().split('.').next().unwrap_or_default().to_string();
        self.formal_name.clone().unwrap_or_else(stripped)
    }
}

/// A module's failure, naming the file read.
fn module_error(path: &str) -> impl Fn(ModuleError) -> GuixError + '_ {
    move |source| GuixError::Module {
        path: path.to_string(),
        source,
    }
}

/// The modinfo, named `file`, of a plain or compressed module image read
/// from `path` (`.modinfo` only: no symbols are read), and the image.
fn guix_module_of_bytes<'d>(
    file: &str,
    path: &str,
    data: &'d [u8],
    limits: &Limits,
) -> Result<(GuixModule, std::borrow::Cow<'d, [u8]>), GuixError> {
    let (_, image) = decompress::decompress(data, limits).map_err(module_error(path))?;
    let elf = module::elf::Elf::parse(&image).map_err(module_error(path))?;
    let mut m = GuixModule {
        file: file.to_string(),
        ..GuixModule::default()
    };
    let [section] = elf.find_sections([b".modinfo"]);
    let section = section.map_or(&[][..], |s| s.data);
    for s in section.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let Some(eq) = s.iter().position(|&b| b == b'=') else {
            continue;
        };
        let value = String::from_utf8_lossy(&s[eq + 1..]).into_owned();
        match &s[..eq] {
            b"name" if m.formal_name.is_none() => m.formal_name = Some(value),
            b"alias" => m.aliases.push(value),
            b"depends" => m.depends.extend(
                value
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            ),
            b"softdep" => m.softdeps.push(value),
            _ => {}
        }
    }
    Ok((m, image))
}

/// Reads the module files of `read_dir` in parallel; each file is named
/// with `named_dir` in place of `read_dir` (the directory the databases
/// describe, when they are built elsewhere first).
pub fn read_guix_modules(
    read_dir: &str,
    named_dir: &str,
    jobs: Option<usize>,
    limits: &Limits,
) -> Result<Vec<GuixModule>, GuixError> {
    let files = guix_module_files(read_dir)?;
    let read = |path: &String| {
        let data = std::fs::read(path)
            .map_err(|e| module_error(path)(ModuleError::io(path.as_str(), e)))?;
        let named = format!("{named_dir}{}", &path[read_dir.len()..]);
        Ok(guix_module_of_bytes(&named, path, &data, limits)?.0)
    };
    crate::jobs::run_with_jobs(jobs, || files.par_iter().map(read).collect())
}

// ---------------------------------------------------------------------------
// The three databases

const NAME_DATABASE_HEADER: &str = ";; Module name to file name mapping.
;;
;; This format is Guix-specific; it is not supported by upstream Linux tools.

";

/// Guix's `aliases->device-tuple`, as `modules.devname` shows it: `DEVNAME
/// TYPEMAJOR:MINOR`. Like Guix, a malformed major alias is an error even
/// when the module has no `devname:` alias.
fn device_tuple(m: &GuixModule) -> Result<Option<String>, GuixError> {
    let devname = m.aliases.iter().find_map(|a| a.strip_prefix("devname:"));
    let major_alias = m
        .aliases
        .iter()
        .find(|a| a.starts_with("char-major-") || a.starts_with("block-major-"));
    let Some(alias) = major_alias else {
        return Ok(None);
    };
    let tokens: Vec<&str> = alias.split('-').filter(|t| !t.is_empty()).collect();
    let [kind, "major", major, minor] = tokens.as_slice() else {
        return Err(GuixError::MalformedDeviceAlias {
            module: m.module_name(),
            alias: alias.clone(),
        });
    };
    let kind = if *kind == "char" { "c" } else { "b" };
    let (major, minor) = (scheme_number(major), scheme_number(minor));
    Ok(devname.map(|d| format!("{d} {kind}{major}:{minor}")))
}

/// What Guile's `(display (string->number s))` prints for a decimal
/// string: the number without leading zeros; `#f` for anything that is not
/// an unsigned decimal integer (other Scheme number syntaxes are not
/// reproduced).
fn scheme_number(s: &str) -> String {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return "#f".to_string();
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_string()
}

/// The three Guix databases of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuixDatabases {
    pub name: Vec<u8>,
    pub alias: Vec<u8>,
    pub devname: Vec<u8>,
}

/// Reads `read_dir` and renders its three databases, naming files under
/// `named_dir`.
///
/// ```no_run
/// let dir = "/gnu/store/…-linux-modules/lib/modules/6.1.0";
/// let dbs = kmodtree::guix::guix_databases(dir, dir, None)?;
/// print!("{}", String::from_utf8_lossy(&dbs.name));
/// // Or write them (all or none) into the directory itself:
/// use kmodtree::guix::{write_guix_databases, GuixDatabase};
/// write_guix_databases(dir.as_ref(), dir, None, &GuixDatabase::ALL)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn guix_databases(
    read_dir: &str,
    named_dir: &str,
    jobs: Option<usize>,
) -> Result<GuixDatabases, GuixError> {
    let modules = read_guix_modules(read_dir, named_dir, jobs, &Limits::default())?;
    Ok(GuixDatabases {
        name: GuixDatabase::Name.render(&modules)?,
        alias: GuixDatabase::Alias.render(&modules)?,
        devname: GuixDatabase::Devname.render(&modules)?,
    })
}

/// One of Guix's three module databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuixDatabase {
    /// `modules.name` (`write-module-name-database`)
    Name,
    /// `modules.alias` (`write-module-alias-database`)
    Alias,
    /// `modules.devname` (`write-module-device-database`)
    Devname,
}

impl GuixDatabase {
    pub const ALL: [GuixDatabase; 3] = [Self::Name, Self::Alias, Self::Devname];

    pub fn file_name(self) -> &'static str {
        match self {
            Self::Name => "modules.name",
            Self::Alias => "modules.alias",
            Self::Devname => "modules.devname",
        }
    }

    /// The database of `modules` (in `find-files` order), as Guix's writer
    /// makes it: `modules.name` maps each module's key
    /// ([`GuixModule::name_database_key`]) to its file; `modules.alias` has
    /// `alias ALIAS MODULE` for every alias of every module, MODULE being
    /// the name derived from the file name; `modules.devname` has `MODULE
    /// DEVNAME TYPEMAJOR:MINOR` for every module with both a `devname:`
    /// alias and a `char-major-`/`block-major-` alias (the first of each).
    fn render(self, modules: &[GuixModule]) -> Result<Vec<u8>, GuixError> {
        let mut out = String::new();
        match self {
            Self::Name => {
                let pairs: Vec<(String, String)> = (modules.iter())
                    .map(|m| (m.name_database_key(), m.file.clone()))
                    .collect();
                out = NAME_DATABASE_HEADER.to_string() + &pretty_printed_pairs(&pairs);
            }
            Self::Alias => {
                out.push_str("# Aliases extracted from modules themselves.\n");
                for m in modules {
                    for a in &m.aliases {
                        out.push_str(&format!("alias {a} {}\n", m.module_name()));
                    }
                }
            }
            Self::Devname => {
                out.push_str("# Device nodes to trigger on-demand module loading.\n");
                for m in modules {
                    if let Some(device) = device_tuple(m)? {
                        out.push_str(&format!("{} {device}\n", m.module_name()));
                    }
                }
            }
        }
        Ok(out.into_bytes())
    }
}

/// Writes the databases in `which` ([`GuixDatabase::ALL`]: `modules.name`,
/// `modules.alias` and `modules.devname`) into `dir` (all or none), as
/// Guix's writer of each does, naming files under `named_dir` (`dir`
/// itself, unless `dir` is to be renamed afterwards); the others are
/// neither computed nor touched (a malformed `char-major-` alias fails only
/// `modules.devname`).
pub fn write_guix_databases(
    dir: &Path,
    named_dir: &str,
    jobs: Option<usize>,
    which: &[GuixDatabase],
) -> Result<(), GuixError> {
    let read_dir = dir
        .to_str()
        .ok_or_else(|| GuixError::NotUtf8(dir.to_path_buf()))?;
    let modules = read_guix_modules(read_dir, named_dir, jobs, &Limits::default())?;
    let files = GuixDatabase::ALL
        .into_iter()
        .filter(|db| which.contains(db))
        .map(|db| Ok((db.file_name(), db.render(&modules)?)))
        .collect::<Result<Vec<_>, GuixError>>()?;
    crate::output::write_all_atomic(Utf8Path::new(read_dir), &files)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Guile's pretty-print, for a list of string pairs

/// Guile's `write` of a string.
pub fn scheme_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Guile's `(pretty-print LIST)` (width 79, `max-expr-width` 50) of a list
/// of `(STRING . STRING)` pairs, with its final newline. An element is
/// written on one line when it takes at most 49 characters, else as
/// `("KEY"`, `.`, `"VALUE")` on three lines indented by two.
pub fn pretty_printed_pairs(pairs: &[(String, String)]) -> String {
    let written: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (scheme_string(k), scheme_string(v)))
        .collect();
    let lines: Vec<String> = written
        .iter()
        .map(|(k, v)| format!("({k} . {v})"))
        .collect();
    let width = |s: &str| s.chars().count();
    // The whole list on one line when it is shorter than 50 characters.
    let whole = format!("({})", lines.join(" "));
    if width(&whole) < 50 {
        return whole + "\n";
    }
    let lines: Vec<String> = (lines.into_iter().zip(&written))
        .map(|(line, (k, v))| match width(&line) < 50 {
            true => line,
            false => format!("({k}\n  .\n  {v})"),
        })
        .collect();
    format!("({})\n", lines.join("\n "))
}

// ---------------------------------------------------------------------------
// The flat initrd folder

/// Options of [`flat_module_directory`].
#[derive(Clone, Debug, Default)]
pub struct FlatOptions {
    /// Also take the modules' soft dependencies (`pre:` and `post:`),
    /// recursively; targets that are neither modules, module aliases nor
    /// builtin are skipped, as modprobe skips them.
    pub softdeps: bool,
    pub limits: Limits,
    /// Receives each module written.
    pub progress: ProgressHook,
}

/// What [`flat_module_directory`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlatReport {
    /// Module names copied (normalised), sorted.
    pub modules: Vec<String>,
    /// Requested or soft-dependency names built into the kernel (skipped).
    pub builtin: Vec<String>,
    /// Soft-dependency targets found nowhere (skipped).
    pub missing_softdeps: Vec<String>,
}

/// A module tree's files by normalised module name, its builtin names and
/// (read on demand) its aliases.
struct ModuleTree {
    dir: PathBuf,
    by_name: BTreeMap<String, Vec<String>>,
    builtin: BTreeSet<String>,
    /// The alias patterns of builtin modules.
    builtin_aliases: Vec<Vec<u8>>,
    aliases: Option<Vec<(Vec<u8>, String)>>,
}

/// Where a name leads.
enum Found {
    File(String),
    Builtin,
    Nothing,
}

impl ModuleTree {
    fn read(dir: &Path) -> Result<ModuleTree, GuixError> {
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in walkdir::WalkDir::new(dir)
            .follow_links(true)
            .sort_by_file_name()
            .min_depth(1)
        {
            let entry = entry.map_err(|e| GuixError::Walk {
                path: e.path().unwrap_or(dir).to_path_buf(),
                source: e,
            })?;
            // (A name that is not UTF-8 is not a module's.)
            let name = entry.file_name().to_str().unwrap_or_default();
            if entry.file_type().is_dir() || !crate::kmod::is_module_file_name(name) {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap_or(entry.path())
                .to_str()
                .ok_or_else(|| GuixError::NotUtf8(entry.path().to_path_buf()))?
                .to_string();
            by_name
                .entry(module::name_from_file_name(name))
                .or_default()
                .push(rel);
        }
        let builtin = fs::read(dir.join("modules.builtin"))
            .map(|data| {
                String::from_utf8_lossy(&data)
                    .split_whitespace()
                    .map(module::name_from_file_name)
                    .collect()
            })
            .unwrap_or_default();
        let builtin_aliases = fs::read(dir.join("modules.builtin.modinfo"))
            .map(|data| {
                let aliases = crate::tree::builtin::builtin_aliases(&data).into_iter();
                aliases.map(|(alias, _)| alias).collect()
            })
            .unwrap_or_default();
        Ok(ModuleTree {
            dir: dir.to_path_buf(),
            by_name,
            builtin,
            builtin_aliases,
            aliases: None,
        })
    }

    /// The file of module `name` (any spelling), or builtin, or nothing.
    /// Among several files, the one under `updates/` wins (depmod's default
    /// search order); otherwise several files are an error.
    fn find(&self, name: &str) -> Result<Found, GuixError> {
        let key = module::name_from_file_name(name);
        let Some(files) = self.by_name.get(&key) else {
            return Ok(match self.builtin.contains(&key) {
                true => Found::Builtin,
                false => Found::Nothing,
            });
        };
        let updates: Vec<&String> = files.iter().filter(|f| f.starts_with("updates/")).collect();
        match (files.as_slice(), updates.as_slice()) {
            ([ref file], _) | (_, [&ref file]) => Ok(Found::File(file.clone())),
            _ => Err(GuixError::SeveralModules {
                module: name.to_string(),
                files: files.clone(),
            }),
        }
    }

    /// Modules (files) whose alias patterns match `target`, as modprobe's
    /// alias lookup does.
    fn find_by_alias(&mut self, target: &str, limits: &Limits) -> Result<Vec<String>, GuixError> {
        let Some(key) = crate::index::normalize_alias(target.as_bytes()) else {
            return Ok(Vec::new());
        };
        if self.aliases.is_none() {
            let mut all = Vec::new();
            for f in self.by_name.values().flatten() {
                let path = self.dir.join(f);
                let p = (path.to_str()).ok_or_else(|| GuixError::NotUtf8(path.clone()))?;
                let data = fs::read(&path).doing("cannot read", &path)?;
                let (m, _) = guix_module_of_bytes(f, p, &data, limits)?;
                let patterns = m.aliases.iter();
                let patterns = patterns.filter_map(|a| crate::index::normalize_alias(a.as_bytes()));
                all.extend(patterns.map(|pattern| (pattern, f.clone())));
            }
            self.aliases = Some(all);
        }
        let mut found: Vec<String> = Vec::new();
        for (pattern, file) in self.aliases.iter().flatten() {
            if crate::index::fnmatch(pattern, &key) && !found.contains(file) {
                found.push(file.clone());
            }
        }
        Ok(found)
    }

    /// Whether `target` names a builtin module or matches a builtin alias.
    fn is_builtin(&self, target: &str) -> bool {
        let Some(key) = crate::index::normalize_alias(target.as_bytes()) else {
            return false;
        };
        self.builtin.contains(&module::name_from_file_name(target))
            || (self.builtin_aliases.iter()).any(|a| crate::index::fnmatch(a, &key) || *a == key)
    }
}

/// Guix's `module-soft-dependencies` tokens of one `softdep=` value: every
/// word that does not end in `:` (both `pre:` and `post:` targets).
fn softdep_targets(value: &str) -> impl Iterator<Item = &str> {
    value
        .split([' ', '\t'])
        .filter(|t| !t.is_empty() && !t.ends_with(':'))
}

/// The file name a module gets in the flat folder: its base name without
/// compression suffix.
fn flat_file_name(rel: &str) -> String {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    [".xz", ".gz", ".zst"]
        .iter()
        .find_map(|suffix| base.strip_suffix(suffix).filter(|s| s.ends_with(".ko")))
        .unwrap_or(base)
        .to_string()
}

/// Guix's initrd module folder: the modules named `requested` (any
/// spelling; builtin ones skipped) and their dependencies (modinfo
/// `depends`, and with [`FlatOptions::softdeps`] their soft dependencies),
/// taken from `BASE/lib/modules/VERSION`, decompressed into `out` under
/// their base names, with Guix's `modules.name` naming them under `out`
/// made absolute. Built in a temporary sibling and renamed; on failure
/// `out` is not created.
///
/// ```no_run
/// use kmodtree::guix::{flat_module_directory, FlatOptions};
/// use std::path::Path;
///
/// let requested = ["ahci".to_string(), "ext4".to_string()];
/// let opts = FlatOptions { softdeps: true, ..Default::default() };
/// let base = Path::new("/gnu/store/…-linux");
/// let report = flat_module_directory(Path::new("initrd"), base, "6.1.0", &requested, &opts)?;
/// println!("copied {:?}, built in {:?}", report.modules, report.builtin);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn flat_module_directory(
    out: &Path,
    base: &Path,
    version: &str,
    requested: &[String],
    opts: &FlatOptions,
) -> Result<FlatReport, GuixError> {
    let out = absolute_clean(out);
    if fs::symlink_metadata(&out).is_ok() {
        return Err(GuixError::OutputExists(out));
    }
    let named_dir = out
        .to_str()
        .ok_or_else(|| GuixError::NotUtf8(out.clone()))?
        .to_string();
    let moddir = base.join("lib/modules").join(version);
    let mut tree = ModuleTree::read(&moddir)?;
    let dir_text = moddir.display().to_string();

    let mut report = FlatReport::default();
    // (file relative to moddir, module) in the order found.
    let mut chosen: BTreeMap<String, (GuixModule, Vec<u8>)> = BTreeMap::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    for name in requested {
        match tree.find(name)? {
            Found::File(f) => queue.push_back(f),
            Found::Builtin => report.builtin.push(module::name_from_file_name(name)),
            Found::Nothing => {
                return Err(GuixError::ModuleNotFound {
                    module: name.clone(),
                    dir: dir_text,
                })
            }
        }
    }
    while let Some(rel) = queue.pop_front() {
        if chosen.contains_key(&rel) {
            continue;
        }
        let path = moddir.join(&rel);
        let data = fs::read(&path).doing("cannot read", &path)?;
        let shown = path.display().to_string();
        let (m, image) = guix_module_of_bytes(&rel, &shown, &data, &opts.limits)?;
        for dep in &m.depends {
            match tree.find(dep)? {
                Found::File(f) => queue.push_back(f),
                Found::Builtin => report.builtin.push(module::name_from_file_name(dep)),
                Found::Nothing => {
                    return Err(GuixError::DependencyNotFound {
                        module: dep.clone(),
                        needed_by: m.module_name(),
                        dir: dir_text,
                    })
                }
            }
        }
        if opts.softdeps {
            for t in m.softdeps.iter().flat_map(|v| softdep_targets(v)) {
                // modprobe's lookup order: module names, module aliases,
                // then builtin names and builtin aliases.
                if let Found::File(f) = tree.find(t)? {
                    queue.push_back(f);
                    continue;
                }
                let found = tree.find_by_alias(t, &opts.limits)?;
                if !found.is_empty() {
                    queue.extend(found);
                } else if tree.is_builtin(t) {
                    report.builtin.push(t.to_string());
                } else {
                    report.missing_softdeps.push(t.to_string());
                }
            }
        }
        chosen.insert(rel, (m, image.into_owned()));
    }
    report.builtin.sort();
    report.builtin.dedup();
    report.missing_softdeps.sort();
    report.missing_softdeps.dedup();

    // Output file names must not collide.
    let mut by_file_name: BTreeMap<String, &str> = BTreeMap::new();
    for rel in chosen.keys() {
        let name = flat_file_name(rel);
        if let Some(first) = by_file_name.insert(name.clone(), rel) {
            return Err(GuixError::SameFileName {
                first: first.to_string(),
                second: rel.clone(),
                name,
            });
        }
    }

    let parent = out.parent().unwrap_or(Path::new("/"));
    let tmp = crate::output::scratch::Scratch::dir_beside(&out)
        .doing("cannot create directory", parent)?;
    (|| -> Result<(), GuixError> {
        let dir = tmp.path();
        let mut entries: Vec<GuixModule> = Vec::with_capacity(chosen.len());
        let progress = opts.progress.get();
        progress.start("writing modules", chosen.len() as u64);
        for (rel, (m, image)) in &chosen {
            let name = flat_file_name(rel);
            write_new_file(&dir.join(&name), image)?;
            progress.advance(1);
            entries.push(GuixModule {
                file: format!("{named_dir}/{name}"),
                ..m.clone()
            });
        }
        progress.finish();
        entries.sort_by(|a, b| a.file.cmp(&b.file));
        let db = GuixDatabase::Name.render(&entries)?;
        let dir = Utf8Path::from_path(dir).ok_or_else(|| GuixError::NotUtf8(dir.into()))?;
        crate::output::write_all_atomic(dir, &[("modules.name", &db)])?;
        Ok(())
    })()?; // dropping `tmp` removes it
    if fs::symlink_metadata(&out).is_ok() {
        return Err(GuixError::OutputExists(out));
    }
    tmp.rename_to(&out).doing("cannot rename into", &out)?;
    let names: BTreeSet<String> = chosen.values().map(|(m, _)| m.module_name()).collect();
    report.modules = names.into_iter().collect();
    Ok(report)
}

fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), GuixError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .doing("cannot write", path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn pretty_print_wraps_at_fifty_columns() {
        assert_eq!(pretty_printed_pairs(&[]), "()\n");
        assert_eq!(
            pretty_printed_pairs(&[pair("a", "/b")]),
            "((\"a\" . \"/b\"))\n"
        );
        // 49 characters: one line; 50: three lines.
        let v49 = format!("/{}", "x".repeat(49 - 10 - 1));
        let line = format!("(\"a\" . \"{v49}\")");
        assert_eq!(line.len(), 49);
        let v50 = format!("{v49}y");
        assert_eq!(
            pretty_printed_pairs(&[pair("a", &v49), pair("b", &v50)]),
            format!("({line}\n (\"b\"\n  .\n  \"{v50}\"))\n")
        );
    }

    #[test]
    fn strings_are_written_as_guile_writes_them() {
        assert_eq!(scheme_string("a\"b\\c\n\x01é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }

    #[test]
    fn device_numbers_as_guile_displays_them() {
        assert_eq!(scheme_number("010"), "10");
        assert_eq!(scheme_number("0"), "0");
        assert_eq!(scheme_number("x"), "#f");
    }

    #[test]
    fn flat_names_lose_compression_suffixes() {
        assert_eq!(flat_file_name("kernel/fs/ext4.ko.zst"), "ext4.ko");
        assert_eq!(flat_file_name("a/usb-storage.ko"), "usb-storage.ko");
        assert_eq!(flat_file_name("a/b.ko.xz"), "b.ko");
    }
}
