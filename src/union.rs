//! `kmodtree union` and `kmodtree make-module-directory`: merge several
//! module trees into one directory, as Guix's `union-build` (with
//! `#:create-all-directories? #t`) and nixpkgs' `buildEnv` do, then (for
//! `make-module-directory`) regenerate the databases as Guix's
//! `make-linux-module-directory` and nixpkgs' `aggregateModules` do.
//!
//! Rules (see [`union_build`]):
//!
//! * every directory of the output is a real directory; every file is a
//!   link to (or a copy of) one input file ([`LinkMode`]); in
//!   [`LinkMode::BuildEnv`] a directory that only one input holds is one
//!   link to it instead, as nixpkgs' `buildEnv` makes it;
//! * an input's symlink to a directory counts as a directory (it is merged,
//!   as Guix's `file-is-directory?` follows links); a dangling symlink counts
//!   as a file;
//! * files with the same content (or the same inode) are not a collision;
//!   a file against a directory is an error; other collisions follow the
//!   [`CollisionRule`];
//! * names are processed in byte order and inputs in the order given, so the
//!   same inputs always give the same output;
//! * the output is built in a temporary sibling directory and renamed at the
//!   end; on failure nothing is left behind.
//!
//! ```no_run
//! use kmodtree::union::{make_module_directory, union_build, ModuleDirectoryOptions};
//! use std::path::{Path, PathBuf};
//!
//! let inputs = [PathBuf::from("/nix/store/…-linux"), PathBuf::from("/nix/store/…-zfs")];
//! union_build(Path::new("merged"), &inputs, &Default::default())?;
//! // Or Guix's make-linux-module-directory: the union, then depmod.
//! let opts = ModuleDirectoryOptions::default();
//! let report = make_module_directory(Path::new("out"), "6.1.0", &inputs, &opts)?;
//! println!("{} files linked", report.union.files);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::depmod::{Depmod, KernelSymbols};
use crate::kmod::{absolute_clean, strerror, ActionError, Diagnostic, IoResultExt};
use crate::output::scratch::Scratch;
use crate::progress::ProgressHook;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How an output file refers to its input file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkMode {
    /// An absolute symlink to the input's file name as given (Guix's
    /// `union-build`; the link is not resolved, so a symlink-farm input
    /// gives a chain of links).
    #[default]
    Symlink,
    /// A copy of the file's content (links followed), with its permission
    /// bits.
    Copy,
    /// A hard link to the file the input name resolves to; a copy when the
    /// input is on another file system.
    Hardlink,
    /// nixpkgs' `buildEnv` (its `builder.pl`): as [`LinkMode::Symlink`],
    /// but below the output itself a directory that only one input holds
    /// (or that all the inputs holding it resolve to) is a symlink to that
    /// input's directory, not a real directory of links. A tree of
    /// thousands of files then costs a few links instead of thousands.
    BuildEnv,
}

/// What to do when inputs hold different files under the same name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CollisionRule {
    /// Guix's rule: the first input wins, with Guix's warning.
    #[default]
    First,
    /// The last input wins, with the same warning.
    Last,
    /// nixpkgs buildEnv's rule: fail, with its message.
    Error,
}

/// Options of [`union_build`].
#[derive(Clone, Debug, Default)]
pub struct UnionOptions {
    pub mode: LinkMode,
    pub collisions: CollisionRule,
    /// Receives each file linked or copied (and, in
    /// [`make_module_directory`], each module depmod reads).
    pub progress: ProgressHook,
}

/// What a union did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnionReport {
    /// Collision warnings, each in Guix's wording (several lines, starting
    /// with an empty line, ending with a newline).
    pub warnings: Vec<String>,
    /// Files linked or copied (and, in [`LinkMode::BuildEnv`], directories
    /// linked).
    pub files: usize,
}

/// Why a union failed.
#[derive(Debug, thiserror::Error)]
pub enum UnionError {
    #[error("no input directories given")]
    NoInputs,
    #[error("input '{}' is not a usable directory: {}", .input.display(), strerror(.source))]
    BadInput {
        input: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output '{0}' already exists")]
    OutputExists(PathBuf),
    #[error("output '{output}' is inside input '{input}'")]
    OutputInsideInput { output: PathBuf, input: PathBuf },
    #[error("union-build: collision between file and directories: files {files:?}, directories {dirs:?}")]
    FileAgainstDirectory {
        files: Vec<PathBuf>,
        dirs: Vec<PathBuf>,
    },
    /// nixpkgs buildEnv's message: the later file first.
    #[error("collision between {} and {}", quote_for_buildenv(.new), quote_for_buildenv(.old))]
    Collision { new: PathBuf, old: PathBuf },
    #[error("directory '{0}' is reached again through a symlink loop")]
    SymlinkLoop(PathBuf),
    #[error(transparent)]
    Io(#[from] ActionError),
    #[error("cannot create '{}': the output needs a file name", .0.display())]
    OutputWithoutName(PathBuf),
    #[error("cannot copy '{}': not a regular file", .0.display())]
    NotARegularFile(PathBuf),
}

/// nixpkgs' `prependDangling`: `` `PATH' ``, with "dangling symlink " in
/// front of a symlink whose target does not exist.
fn quote_for_buildenv(path: &Path) -> String {
    let dangling = path.is_symlink() && !path.exists();
    format!(
        "{}`{}'",
        if dangling { "dangling symlink " } else { "" },
        path.display()
    )
}

/// Files that collide in every profile and for which Guix prints no warning
/// (`%harmless-collisions` in `(guix build union)`).
const HARMLESS_COLLISIONS: &[&str] = &["icon-theme.cache", "gschemas.compiled", "ld.so.cache"];

/// The temporary sibling in which `out` is built (created, empty, locked;
/// removed when dropped), after removing the abandoned ones of killed runs.
fn temporary_sibling(out: &Path) -> Result<Scratch, UnionError> {
    out.file_name()
        .ok_or_else(|| UnionError::OutputWithoutName(out.to_path_buf()))?;
    let parent = out.parent().unwrap_or(Path::new("/"));
    Ok(Scratch::dir_beside(out).doing("cannot create directory", parent)?)
}

/// Checks the inputs and the output, and returns the inputs made absolute
/// (duplicates removed, as Guix does).
fn checked_inputs(out: &Path, inputs: &[PathBuf]) -> Result<Vec<PathBuf>, UnionError> {
    if inputs.is_empty() {
        return Err(UnionError::NoInputs);
    }
    if fs::symlink_metadata(out).is_ok() {
        return Err(UnionError::OutputExists(out.to_path_buf()));
    }
    let parent = out.parent().unwrap_or(Path::new("/"));
    let parent_real = fs::canonicalize(parent).doing("cannot create output in", parent)?;
    let out_real = parent_real.join(out.file_name().unwrap_or_default());
    let mut result: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let abs = absolute_clean(input);
        if result.contains(&abs) {
            continue;
        }
        let real = fs::canonicalize(&abs).map_err(|source| UnionError::BadInput {
            input: abs.clone(),
            source,
        })?;
        if !real.is_dir() {
            return Err(UnionError::BadInput {
                input: abs,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        if out_real.starts_with(&real) {
            return Err(UnionError::OutputInsideInput {
                output: out.to_path_buf(),
                input: abs,
            });
        }
        result.push(abs);
    }
    Ok(result)
}

/// Builds in `out` (which must not exist; its parent must) the union of the
/// `inputs` directories. Nothing is written outside `out` but a temporary
/// sibling (`.NAME.kmodtree-TAG.tmp`, see [`crate::output::scratch`]),
/// renamed to `out` at the end and removed on failure.
pub fn union_build(
    out: &Path,
    inputs: &[PathBuf],
    opts: &UnionOptions,
) -> Result<UnionReport, UnionError> {
    let out = absolute_clean(out);
    let inputs = checked_inputs(&out, inputs)?;
    let tmp = temporary_sibling(&out)?;
    let report = union_into(tmp.path(), &inputs, opts)?; // dropping `tmp` removes it
    finish_in_place(tmp, &out)?;
    Ok(report)
}

/// Renames the finished `tmp` to `out`.
fn finish_in_place(tmp: Scratch, out: &Path) -> Result<(), UnionError> {
    if fs::symlink_metadata(out).is_ok() {
        return Err(UnionError::OutputExists(out.to_path_buf()));
    }
    Ok(tmp.rename_to(out).doing("cannot rename into", out)?)
}

/// Builds the union of the checked `inputs` in `tmp`, an empty directory.
fn union_into(
    tmp: &Path,
    inputs: &[PathBuf],
    opts: &UnionOptions,
) -> Result<UnionReport, UnionError> {
    let mut state = UnionState {
        opts,
        report: UnionReport::default(),
        tmp_real: None,
        ancestors: Vec::new(),
    };
    let progress = opts.progress.get();
    // The count is known only at the end of the walk.
    let copy = opts.mode == LinkMode::Copy;
    progress.start(
        if copy {
            "copying files"
        } else {
            "linking files"
        },
        0,
    );
    let result = state.union_of_directories(tmp, inputs);
    progress.finish();
    result.map(|()| state.report)
}

struct UnionState<'o> {
    opts: &'o UnionOptions,
    report: UnionReport,
    /// The resolved name of the directory being built, to refuse inputs
    /// whose symlinks lead into it.
    tmp_real: Option<PathBuf>,
    /// Resolved names of the source directories merged at each level above
    /// the current one (symlink loop detection).
    ancestors: Vec<Vec<PathBuf>>,
}

impl UnionState<'_> {
    fn union_of_directories(&mut self, out: &Path, dirs: &[PathBuf]) -> Result<(), UnionError> {
        let mut reals = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let real = fs::canonicalize(dir).doing("cannot read", dir)?;
            if self.ancestors.iter().flatten().any(|a| *a == real) {
                return Err(UnionError::SymlinkLoop(dir.clone()));
            }
            if self.tmp_real.as_ref().is_some_and(|t| real.starts_with(t)) {
                return Err(UnionError::OutputInsideInput {
                    output: out.to_path_buf(),
                    input: dir.clone(),
                });
            }
            reals.push(real);
        }
        if self.tmp_real.is_some() {
            // (The top level is the temporary, already created.)
            fs::create_dir(out).doing("cannot create directory", out)?;
        } else {
            self.tmp_real = Some(fs::canonicalize(out).doing("cannot read", out)?);
        }

        // Name -> the inputs holding it, in input order; names in byte order.
        let mut table: BTreeMap<OsString, Vec<PathBuf>> = BTreeMap::new();
        for dir in dirs {
            let entries = fs::read_dir(dir).doing("cannot read directory", dir)?;
            for entry in entries {
                let entry = entry.doing("cannot read directory", dir)?;
                table
                    .entry(entry.file_name())
                    .or_default()
                    .push(dir.join(entry.file_name()));
            }
        }
        self.ancestors.push(reals);
        let result = table
            .iter()
            .try_for_each(|(name, files)| self.union(&out.join(name), files));
        self.ancestors.pop();
        result
    }

    /// Merges the entries `inputs` (one name, from several inputs) into `out`.
    fn union(&mut self, out: &Path, inputs: &[PathBuf]) -> Result<(), UnionError> {
        let (dirs, files): (Vec<&PathBuf>, Vec<&PathBuf>) = inputs.iter().partition(|p| p.is_dir());
        if files.is_empty() && self.opts.mode == LinkMode::BuildEnv {
            if let Some(only) = sole_directory(&dirs)? {
                return self.link(only, out);
            }
        }
        if files.is_empty() {
            let dirs: Vec<PathBuf> = dirs.into_iter().cloned().collect();
            return self.union_of_directories(out, &dirs);
        }
        if !dirs.is_empty() {
            return Err(UnionError::FileAgainstDirectory {
                files: files.into_iter().cloned().collect(),
                dirs: dirs.into_iter().cloned().collect(),
            });
        }
        let mut chosen = files[0];
        for f in &files[1..] {
            if !same_file_contents(files[0], f)? {
                chosen = self.resolve_collision(&files, f)?;
                break;
            }
        }
        self.link(chosen, out)
    }

    /// Picks the file to link among colliding `files` (`other` is the first
    /// one differing from the first file), warning as Guix does.
    fn resolve_collision<'a>(
        &mut self,
        files: &[&'a PathBuf],
        other: &Path,
    ) -> Result<&'a PathBuf, UnionError> {
        let chosen = match self.opts.collisions {
            CollisionRule::Error => {
                return Err(UnionError::Collision {
                    new: other.to_path_buf(),
                    old: files[0].clone(),
                })
            }
            CollisionRule::First => files[0],
            CollisionRule::Last => files[files.len() - 1],
        };
        let base = chosen.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !HARMLESS_COLLISIONS.contains(&base) {
            self.report.warnings.push(collision_warning(files, chosen));
        }
        Ok(chosen)
    }

    fn link(&mut self, input: &Path, out: &Path) -> Result<(), UnionError> {
        match self.opts.mode {
            LinkMode::Symlink | LinkMode::BuildEnv => {
                std::os::unix::fs::symlink(input, out).doing("cannot create symlink", out)?
            }
            LinkMode::Copy => copy_file(input, out)?,
            LinkMode::Hardlink => {
                let real = fs::canonicalize(input).doing("cannot resolve", input)?;
                match fs::hard_link(&real, out) {
                    Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_file(input, out)?,
                    r => r.doing("cannot create hard link", out)?,
                }
            }
        }
        self.report.files += 1;
        self.opts.progress.get().advance(1);
        Ok(())
    }
}

/// The directory that buildEnv links instead of merging `dirs` (all
/// directories under one name, below the output): the only one, or, when
/// they all resolve to the same directory, the first that is not itself a
/// symlink (else the first). None: they are merged.
fn sole_directory<'a>(dirs: &[&'a PathBuf]) -> Result<Option<&'a PathBuf>, UnionError> {
    let [first, rest @ ..] = dirs else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(first));
    }
    let real = |d: &Path| fs::canonicalize(d).doing("cannot read", d);
    let first_real = real(first)?;
    for d in rest {
        if real(d)? != first_real {
            return Ok(None);
        }
    }
    Ok(Some(
        dirs.iter()
            .find(|d| !d.is_symlink())
            .copied()
            .unwrap_or(first),
    ))
}

/// Guix's `resolve+warn-if-harmful` text: an empty line, the colliding
/// files, the chosen one.
pub fn collision_warning(files: &[&PathBuf], chosen: &Path) -> String {
    let listed: String = files
        .iter()
        .map(|f| format!("  {}\n", f.display()))
        .collect();
    format!(
        "\nwarning: collision encountered:\n{listed}warning: choosing {}\n",
        chosen.display()
    )
}

fn copy_file(input: &Path, out: &Path) -> Result<(), UnionError> {
    let meta = fs::metadata(input).doing("cannot copy", input)?;
    if !meta.is_file() {
        return Err(UnionError::NotARegularFile(input.to_path_buf()));
    }
    fs::copy(input, out).doing("cannot copy to", out)?;
    Ok(())
}

/// Guix's `file=?`: both names lead to the same inode, or both are regular
/// files with the same content.
pub fn same_file_contents(a: &Path, b: &Path) -> Result<bool, UnionError> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) else {
        return Ok(false);
    };
    if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
        return Ok(true);
    }
    if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() {
        return Ok(false);
    }
    let mut fa = fs::File::open(a).doing("cannot read", a)?;
    let mut fb = fs::File::open(b).doing("cannot read", b)?;
    // The next 64 KiB (fewer only at the end of the file).
    let chunk = |f: &mut fs::File, p: &Path| {
        let mut buf = Vec::new();
        f.take(64 * 1024)
            .read_to_end(&mut buf)
            .doing("cannot read", p)?;
        Ok::<_, UnionError>(buf)
    };
    loop {
        let ca = chunk(&mut fa, a)?;
        if ca != chunk(&mut fb, b)? {
            return Ok(false);
        }
        if ca.is_empty() {
            return Ok(true);
        }
    }
}

// ---------------------------------------------------------------------------
// make-module-directory

/// The `modules.*` files of a module directory that are inputs of depmod,
/// kept when the databases are regenerated.
pub const KERNEL_INPUT_FILES: &[&str] = &[
    "modules.order",
    "modules.builtin",
    "modules.builtin.modinfo",
];

/// Guix's list: it deletes `modules.builtin.modinfo` too.
pub const GUIX_KERNEL_INPUT_FILES: &[&str] = &["modules.order", "modules.builtin"];

/// Options of [`make_module_directory`].
#[derive(Clone, Debug, Default)]
pub struct ModuleDirectoryOptions {
    pub union: UnionOptions,
    /// Keep only what Guix keeps (`modules.order`, `modules.builtin`).
    pub guix_compat: bool,
    /// Also write Guix's `modules.name`, `modules.alias`, `modules.devname`
    /// (the last two replace kmod's text files of the same names).
    pub guix_databases: bool,
    /// Worker threads for reading modules (None: all cores).
    pub jobs: Option<usize>,
}

/// What [`make_module_directory`] did.
#[derive(Debug, Default)]
pub struct ModuleDirectoryReport {
    pub union: UnionReport,
    /// Files removed from `lib/modules/VERSION` before depmod.
    pub removed: Vec<String>,
    /// depmod's messages (warnings of `-e`).
    pub depmod_diagnostics: Vec<Diagnostic>,
}

/// Why [`make_module_directory`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleDirectoryError {
    #[error(transparent)]
    Union(#[from] UnionError),
    #[error("inconsistent kernel versions: {}", describe_versions(.0))]
    InconsistentVersions(Vec<(String, Vec<PathBuf>)>),
    #[error("no input has lib/modules/{0}")]
    NoModules(String),
    #[error("depmod failed:\n{0}")]
    Depmod(#[source] Box<crate::depmod::DepmodFailure>),
    #[error(transparent)]
    Guix(#[from] crate::guix::GuixError),
    /// In [`LinkMode::BuildEnv`], `lib/modules/VERSION` is held by one
    /// input only and so would be a link into it: depmod would write there.
    #[error("lib/modules/{0} is held by one input only and would be linked to it (use the symlink mode)")]
    LinkedModuleDirectory(String),
}

fn describe_versions(versions: &[(String, Vec<PathBuf>)]) -> String {
    let described: Vec<String> = (versions.iter())
        .map(|(v, inputs)| {
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            format!("{v} (in {})", names.join(", "))
        })
        .collect();
    described.join("; ")
}

/// The kernel versions (`lib/modules/*`, names not starting with `.`) each
/// input holds, by version in byte order, with the inputs holding it.
pub fn kernel_versions_of_inputs(inputs: &[PathBuf]) -> Vec<(String, Vec<PathBuf>)> {
    let mut versions: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for input in inputs {
        let Ok(entries) = fs::read_dir(input.join("lib/modules")) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let list = versions.entry(name).or_default();
            if !list.contains(input) {
                list.push(input.clone());
            }
        }
    }
    versions.into_iter().collect()
}

/// Guix's `make-linux-module-directory` in one process: the union of
/// `inputs` in `out`, every `modules.*` of `lib/modules/VERSION` removed but
/// the kernel's inputs ([`KERNEL_INPUT_FILES`]), then depmod (`-e -F
/// OUT/System.map` when that file exists). On failure `out` is not created.
pub fn make_module_directory(
    out: &Path,
    version: &str,
    inputs: &[PathBuf],
    opts: &ModuleDirectoryOptions,
) -> Result<ModuleDirectoryReport, ModuleDirectoryError> {
    let mut versions = kernel_versions_of_inputs(inputs);
    match versions.as_slice() {
        [] => return Err(ModuleDirectoryError::NoModules(version.to_string())),
        [(v, _)] if v == version => {}
        _ => {
            if versions.len() == 1 {
                let named = vec![PathBuf::from("the command line")];
                versions.push((version.to_string(), named));
            }
            return Err(ModuleDirectoryError::InconsistentVersions(versions));
        }
    }
    let out = absolute_clean(out);
    let checked = checked_inputs(&out, inputs)?;
    let tmp = temporary_sibling(&out)?;
    let mut report = ModuleDirectoryReport::default();
    (|| -> Result<(), ModuleDirectoryError> {
        report.union = union_into(tmp.path(), &checked, &opts.union)?;
        let dir = tmp.path().join("lib/modules").join(version);
        let linked = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_symlink());
        if dir.ancestors().take(3).any(linked) {
            return Err(ModuleDirectoryError::LinkedModuleDirectory(
                version.to_string(),
            ));
        }
        report.removed = remove_generated_databases(&dir, opts.guix_compat)?;
        let system_map = tmp.path().join("System.map");
        let errsyms = system_map.exists();
        let kernel_symbols = match errsyms {
            true => KernelSymbols::SystemMap(system_map),
            false => KernelSymbols::None,
        };
        let depmod = Depmod::new(tmp.path(), version)
            .kernel_symbols(kernel_symbols)
            .errsyms(errsyms)
            .jobs(opts.jobs)
            .progress(opts.union.progress.clone())
            .run()
            .map_err(|e| ModuleDirectoryError::Depmod(Box::new(e)))?;
        report.depmod_diagnostics = depmod.diagnostics;
        // Messages name OUT, not the temporary (whose name is random).
        crate::depmod::rename_in(
            &mut report.depmod_diagnostics,
            &tmp.path().to_string_lossy(),
            &out.to_string_lossy(),
        );
        if opts.guix_databases {
            let named = out.join("lib/modules").join(version);
            let all = &crate::guix::GuixDatabase::ALL;
            crate::guix::write_guix_databases(&dir, &named.to_string_lossy(), opts.jobs, all)?;
        }
        Ok(())
    })()?; // dropping `tmp` removes it
    finish_in_place(tmp, &out)?;
    Ok(report)
}

/// Removes every `modules.*` entry of `dir` except the kernel's input files;
/// returns the names removed, sorted.
fn remove_generated_databases(dir: &Path, guix_compat: bool) -> Result<Vec<String>, UnionError> {
    let keep = if guix_compat {
        GUIX_KERNEL_INPUT_FILES
    } else {
        KERNEL_INPUT_FILES
    };
    let mut names: Vec<String> = fs::read_dir(dir)
        .doing("cannot read directory", dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("modules.") && !keep.contains(&n.as_str()))
        .collect();
    names.sort();
    for n in &names {
        let p = dir.join(n);
        fs::remove_file(&p).doing("cannot remove", &p)?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_path_and_keep_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let out = dir.path().join("out");
        let opts = UnionOptions::default();
        let e = union_build(&out, std::slice::from_ref(&file), &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "input '{}' is not a usable directory: Not a directory",
                file.display()
            )
        );
        let missing = dir.path().join("missing");
        let e = union_build(&out, std::slice::from_ref(&missing), &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "input '{}' is not a usable directory: No such file or directory",
                missing.display()
            )
        );
        let source = std::error::Error::source(&e).unwrap();
        let io = source.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

        let e: UnionError = fs::create_dir(&file)
            .doing("cannot create directory", &file)
            .unwrap_err()
            .into();
        assert_eq!(
            e.to_string(),
            format!("cannot create directory '{}': File exists", file.display())
        );
        assert!(matches!(&e, UnionError::Io(ActionError { source, .. }) if source.path == file));
    }
}
