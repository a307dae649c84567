//! nixpkgs' makeModulesClosure: the closure of some root modules (what
//! `modprobe --show-depends` loads for each), copied with the firmware the
//! modules name into a new directory that is a valid module tree.
//!
//! Output (`OUT` below): `lib/modules/VERSION/` with each closure module at
//! its relative path, `modules.order`, `modules.builtin` and
//! `modules.builtin.modinfo` from the source, and every database written by
//! [`crate::depmod`]; `lib/firmware/` with the firmware found; `insmod-list`
//! (absolute paths of the copied modules, in load order); with load
//! scripts, liminix-style `load-order`, `load.sh`, `unload.sh`.
//!
//! Everything is built in a temporary directory next to `OUT` and renamed
//! at the end; on any failure the temporary directory is removed and `OUT`
//! is untouched.
//!
//! ```no_run
//! use kmodtree::closure::{assemble_module_closure, ClosureOptions, ModprobeOptions};
//!
//! let opts = ClosureOptions {
//!     modprobe: ModprobeOptions {
//!         basedir: Some("/nix/store/…-linux".into()),
//!         version: "6.1.0".into(),
//!         ..Default::default()
//!     },
//!     out: "initrd-modules".into(),
//!     firmware_dirs: vec!["/lib/firmware".into()],
//!     roots: vec![b"ext4".to_vec(), b"nvme".to_vec()],
//!     ..Default::default()
//! };
//! let report = assemble_module_closure(&opts)?;
//! println!("{} modules, {} firmware files", report.modules.len(), report.firmware.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::show_depends::{LookupError, ModprobeOptions, ProbeAction, Resolver};
use super::{path_of, Message};
use crate::depmod::Depmod;
use crate::kmod::{IoError, IoResultExt};
use crate::output::{write_all_atomic, WriteError};
use camino::Utf8PathBuf;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct ClosureOptions {
    /// The source tree, version and modprobe.d configuration.
    pub modprobe: ModprobeOptions,
    /// The directory to create.
    pub out: PathBuf,
    /// Firmware directories (each holds firmware files at their names, like
    /// `/lib/firmware`), searched in order.
    pub firmware_dirs: Vec<PathBuf>,
    /// Hard-link module files instead of copying them (a copy is made when
    /// linking fails, e.g. across file systems).
    pub link: bool,
    /// Skip roots that resolve to nothing instead of failing.
    pub allow_missing: bool,
    /// Also write `load-order`, `load.sh` and `unload.sh`.
    pub load_scripts: bool,
    /// Also copy the firmware of every module built into the kernel (the
    /// `firmware=` records of `modules.builtin.modinfo`), not only of the
    /// built-in modules the closure names. nixpkgs does not; a driver built
    /// in (say a GPU's) then finds its firmware in the initrd.
    pub builtin_firmware: bool,
    /// Module names, aliases or `symbol:` names.
    pub roots: Vec<Vec<u8>>,
    /// Receives each module copied and each firmware name looked up.
    pub progress: crate::progress::ProgressHook,
}

/// Why a closure could not be built. Nothing is left in the output
/// directory's place when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("root module {root}: {source}")]
    RootNotFound { root: String, source: LookupError },
    /// A root was not found in a tree without modules.dep.bin, which is
    /// what modprobe (and the closure) look modules up in.
    #[error(
        "root module {root}: {} has no modules.dep.bin, so no module can be found: \
         write the tree's databases first ({depmod})",
        .dir.display()
    )]
    NoDatabases {
        root: String,
        dir: PathBuf,
        /// The command that writes them.
        depmod: String,
    },
    #[error("root module {root}: resolves to nothing that can be loaded (blacklisted alias?)")]
    RootLoadsNothing { root: String },
    #[error("dependency not found: {path}")]
    ModuleFileMissing { path: PathBuf },
    #[error("module {path} is outside the module directory {dirname}")]
    ModuleOutsideTree { path: PathBuf, dirname: PathBuf },
    #[error("output directory {path} exists and is not empty")]
    OutputNotEmpty { path: PathBuf },
    /// `PATH: TEXT`.
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{}: path is not UTF-8", .0.display())]
    PathNotUtf8(PathBuf),
    #[error("{}: file name is not UTF-8", .0.display())]
    FileNameNotUtf8(PathBuf),
    #[error("{0}")]
    Write(#[from] WriteError),
    /// Writing the copy of a module or firmware file failed.
    #[error(
        "could not copy {} into the closure (as {to}): {}",
        .from.display(),
        crate::kmod::strerror(.source)
    )]
    Copy {
        from: PathBuf,
        /// The copy's path below the closure's root.
        to: String,
        #[source]
        source: std::io::Error,
    },
    #[error("depmod on {dir} failed:\n{failure}")]
    Depmod {
        dir: String,
        #[source]
        failure: Box<crate::depmod::DepmodFailure>,
    },
}

/// One module of the closure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosureModule {
    pub name: Vec<u8>,
    /// Path relative to `lib/modules/VERSION`.
    pub relpath: Vec<u8>,
    /// The options modprobe would pass (from modprobe.d `options`; may be
    /// empty).
    pub options: Vec<u8>,
}

/// One firmware name a closure module gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareFile {
    pub module: Vec<u8>,
    /// The `firmware=` value (a file name, or a shell pattern).
    pub name: Vec<u8>,
    /// What was copied, relative to the firmware directory: `name`,
    /// `name.xz` or `name.zst`, or every file a pattern matched; empty when
    /// nothing was found.
    pub copied: Vec<Vec<u8>>,
}

/// What was built.
#[derive(Clone, Debug, Default)]
pub struct ClosureReport {
    /// The modules copied, in load order (first occurrence over all roots).
    pub modules: Vec<ClosureModule>,
    /// Builtin members of the closure (roots or soft dependencies),
    /// reported, not copied.
    pub builtin: Vec<Vec<u8>>,
    /// Roots skipped with `allow_missing`.
    pub missing_roots: Vec<Vec<u8>>,
    pub firmware: Vec<FirmwareFile>,
    /// Progress and warnings, nixpkgs-style (`root module: …`, `WARNING:
    /// missing firmware …`), then modprobe's and depmod's messages.
    pub log: Vec<String>,
    /// depmod's diagnostics on the closure (also at the end of `log`).
    pub depmod_diagnostics: Vec<crate::kmod::Diagnostic>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn relative_to_dirname(path: &[u8], dirname: &[u8]) -> Result<Vec<u8>, ClosureError> {
    match path
        .strip_prefix(dirname)
        .and_then(|r| r.strip_prefix(b"/"))
    {
        Some(rel) if !rel.is_empty() => Ok(rel.to_vec()),
        _ => Err(ClosureError::ModuleOutsideTree {
            path: path_of(path).into(),
            dirname: path_of(dirname).into(),
        }),
    }
}

/// The command writing the databases modprobe reads with `opts`.
fn depmod_command(opts: &super::ModprobeOptions) -> String {
    let base = opts
        .basedir
        .as_ref()
        .map(|b| format!(" -b {}", b.display()));
    let base = base.unwrap_or_default();
    format!("kmodtree depmod{base} {}", opts.version)
}

/// Runs show-depends for every root: the closure's modules (each path
/// once, in load order), builtin members, missing roots and log go to
/// `report`.
fn resolve_roots(
    opts: &ClosureOptions,
    indexes: &super::ModuleIndexes,
    config: &super::ModprobeConfig,
    report: &mut ClosureReport,
) -> Result<(), ClosureError> {
    let log = &mut report.log;
    for root in &opts.roots {
        log.push(format!("root module: {}", lossy(root)));
        // A fresh pool per root, as nixpkgs runs one modprobe per root.
        let mut r = Resolver::new(indexes, config);
        let actions = r.module_load_actions(root, opts.modprobe.ignore_commands, None);
        log.extend(r.take_messages().iter().map(Message::render));
        let actions = match actions {
            Ok(a) => a,
            Err(e) if opts.allow_missing => {
                log.push(format!("  not found: {e}"));
                report.missing_roots.push(root.clone());
                continue;
            }
            Err(_) if indexes.dep.is_none() => {
                return Err(ClosureError::NoDatabases {
                    root: lossy(root),
                    dir: path_of(&indexes.dirname).into(),
                    depmod: depmod_command(&opts.modprobe),
                });
            }
            Err(source) => {
                let root = lossy(root);
                return Err(ClosureError::RootNotFound { root, source });
            }
        };
        if let Some(path) = r.take_broken_dependencies().first() {
            let path = path_of(path).into();
            return Err(ClosureError::ModuleFileMissing { path });
        }
        if actions.is_empty() {
            if opts.allow_missing {
                log.push("  not found".into());
                report.missing_roots.push(root.clone());
                continue;
            }
            return Err(ClosureError::RootLoadsNothing { root: lossy(root) });
        }
        for a in actions {
            let (name, path, options) = match a {
                ProbeAction::Builtin { name } => {
                    log.push(format!("  builtin dependency: {}", lossy(&name)));
                    if !report.builtin.contains(&name) {
                        report.builtin.push(name);
                    }
                    continue;
                }
                ProbeAction::Insmod {
                    name,
                    path,
                    options,
                } => (name, path, options),
                ProbeAction::Install {
                    name,
                    path,
                    options,
                    command,
                } => {
                    log.push(format!(
                        "  WARNING: install command of {} ignored: {}",
                        lossy(&name),
                        lossy(&command)
                    ));
                    let Some(path) = path else { continue };
                    (name, path, options)
                }
            };
            if !path_of(&path).is_file() {
                let path = path_of(&path).into();
                return Err(ClosureError::ModuleFileMissing { path });
            }
            let relpath = relative_to_dirname(&path, &indexes.dirname)?;
            if report.modules.iter().any(|m| m.relpath == relpath) {
                continue;
            }
            log.push(format!("  copying dependency: {}", lossy(&path)));
            report.modules.push(ClosureModule {
                name,
                relpath,
                options,
            });
        }
    }
    Ok(())
}

/// `firmware=` values of a builtin module, from `modules.builtin.modinfo`
/// (records `MODULE.KEY=VALUE\0`).
pub fn builtin_module_firmware(builtin_modinfo: &[u8], module: &[u8]) -> Vec<Vec<u8>> {
    let entries = crate::modinfo_names::builtin_entries(builtin_modinfo, module);
    let firmware = entries
        .into_iter()
        .filter(|(k, v)| k == b"firmware" && !v.is_empty());
    firmware.map(|(_, v)| v).collect()
}

/// Every built-in module with `firmware=` records in
/// `modules.builtin.modinfo`, each once, in the order of their first record.
pub fn builtin_modules_with_firmware(builtin_modinfo: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for rec in builtin_modinfo.split(|&b| b == 0) {
        let Some(dot) = rec.iter().position(|&b| b == b'.') else {
            continue;
        };
        let (module, rest) = (&rec[..dot], &rec[dot + 1..]);
        if module.is_empty() || !rest.starts_with(b"firmware=") || rest.len() == 9 {
            continue;
        }
        if !out.iter().any(|m| m == module) {
            out.push(module.to_vec());
        }
    }
    out
}

/// A firmware name safe to use below a firmware directory: relative, no
/// `..` component, no empty name.
fn is_safe_relative(name: &[u8]) -> bool {
    !name.is_empty()
        && name[0] != b'/'
        && name
            .split(|&b| b == b'/')
            .all(|c| c != b".." && !c.is_empty() && c != b".")
}

use crate::output::scratch::create_dir_all_in;

fn utf8_dir(p: &Path) -> Result<Utf8PathBuf, ClosureError> {
    Utf8PathBuf::from_path_buf(p.to_path_buf()).map_err(ClosureError::PathNotUtf8)
}

/// Copies (or with `link`, hard-links if it can) `src` to `rel` (may
/// contain `/`) below `dir`, creating parents up to `root` (the temporary
/// tree: never re-created once removed).
fn copy_or_link(
    root: &Path,
    src: &Path,
    dir: &Path,
    rel: &[u8],
    link: bool,
) -> Result<(), ClosureError> {
    let target = dir.join(path_of(rel));
    let parent = target.parent().unwrap_or(dir);
    let mkdir = || create_dir_all_in(root, parent).at(parent);
    if link {
        mkdir()?;
        if std::fs::hard_link(src, &target).is_ok() {
            return Ok(());
        }
    }
    let bytes = std::fs::read(src).at(src)?;
    mkdir()?;
    let name = target.file_name().and_then(|n| n.to_str());
    let name = name.ok_or_else(|| ClosureError::FileNameNotUtf8(target.clone()))?;
    // A write error names only the file's base name: say what was copied.
    let copy_error = |WriteError { source, .. }| ClosureError::Copy {
        from: src.to_path_buf(),
        to: lossy(rel),
        source,
    };
    write_all_atomic(&utf8_dir(parent)?, &[(name, &bytes)]).map_err(copy_error)
}

/// Finds a firmware name as nixpkgs' modules-closure.sh does: `NAME`, then
/// `NAME.xz`, then `NAME.zst`, each expanded as the shell expands an
/// unquoted word (a pattern gives every file it matches, sorted; a pattern
/// that matches nothing stays a literal name), in the first firmware
/// directory where one of them succeeds. Returns the files to copy (all the
/// files `cp` would copy, also those of a spelling that failed part-way, as
/// `cp` copies them before failing) and whether the name was found.
fn find_firmware(dirs: &[PathBuf], name: &[u8]) -> (Vec<(PathBuf, Vec<u8>)>, bool) {
    let mut all = Vec::new();
    for d in dirs {
        for suffix in [&b""[..], b".xz", b".zst"] {
            // What `cp lib/firmware/$name "$out"` is given: it succeeds
            // when every word is an existing file or a link to one.
            let words = shell_glob::expand(d, &[name, suffix].concat());
            let mut ok = !words.is_empty();
            for w in words {
                let p = d.join(path_of(&w));
                if p.is_file() {
                    all.push((p, w));
                } else {
                    ok = false;
                }
            }
            if ok {
                return (all, true);
            }
        }
    }
    (all, false)
}

/// Builds the closure of `opts.roots` in `opts.out`.
pub fn assemble_module_closure(opts: &ClosureOptions) -> Result<ClosureReport, ClosureError> {
    let progress = opts.progress.get();
    let mut messages: Vec<Message> = Vec::new();
    let (indexes, config) = opts.modprobe.load(&mut messages);
    let version = opts.modprobe.version.clone();
    let source_dir = indexes.dir_path();

    let out = crate::kmod::absolute(&opts.out);
    if std::fs::read_dir(&out).map_or(out.exists(), |mut rd| rd.next().is_some()) {
        return Err(ClosureError::OutputNotEmpty { path: out });
    }

    let mut report = ClosureReport {
        log: messages.iter().map(Message::render).collect(),
        ..Default::default()
    };
    resolve_roots(opts, &indexes, &config, &mut report)?;

    // The temporary tree, next to OUT.
    let parent = out.parent().unwrap_or(Path::new("/")).to_path_buf();
    let base = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "closure".into());
    let tmp = crate::output::scratch::Scratch::dir_beside(&parent.join(&base)).at(&parent)?;
    let tmp_moddir = tmp.path().join("lib/modules").join(&version);
    create_dir_all_in(tmp.path(), &tmp_moddir).at(&tmp_moddir)?;

    // Modules, and the firmware each names.
    let mut wanted: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    progress.start("copying modules", report.modules.len() as u64);
    for m in &report.modules {
        let src = source_dir.join(path_of(&m.relpath));
        copy_or_link(tmp.path(), &src, &tmp_moddir, &m.relpath, opts.link)?;
        progress.advance(1);
        let limits = crate::module::Limits::default();
        let read =
            camino::Utf8Path::from_path(&src).map(|p| crate::module::read_module_file(p, &limits));
        let reason = match read {
            Some(Ok(meta)) => {
                wanted.extend(
                    meta.values(b"firmware")
                        .map(|n| (m.name.clone(), n.to_vec())),
                );
                continue;
            }
            Some(Err(e)) => e.to_string(),
            None => "path is not UTF-8".to_string(),
        };
        report.log.push(format!(
            "WARNING: cannot read the firmware list of {}: {reason}",
            src.display()
        ));
    }
    progress.finish();

    // The firmware of builtin members, from modules.builtin.modinfo.
    let builtin_modinfo = std::fs::read(source_dir.join("modules.builtin.modinfo")).ok();
    if let Some(data) = &builtin_modinfo {
        let mut members = report.builtin.clone();
        if opts.builtin_firmware {
            for m in builtin_modules_with_firmware(data) {
                if !members.contains(&m) {
                    members.push(m);
                }
            }
        }
        for b in members {
            let names = builtin_module_firmware(data, &b);
            wanted.extend(names.into_iter().map(|n| (b.clone(), n)));
        }
    }
    let tmp_fwdir = tmp.path().join("lib/firmware");
    let mut copied: Vec<Vec<u8>> = Vec::new();
    // A tick per firmware name (a pattern may copy several files).
    progress.start("copying firmware", wanted.len() as u64);
    for (module, name) in wanted {
        progress.advance(1);
        report
            .log
            .push(format!("firmware for {}: {}", lossy(&module), lossy(&name)));
        if !is_safe_relative(&name) {
            report.log.push(format!(
                "WARNING: unsafe firmware name {} for module {} ignored",
                lossy(&name),
                lossy(&module)
            ));
            continue;
        }
        let (files, found) = find_firmware(&opts.firmware_dirs, &name);
        let mut copied_now = Vec::new();
        for (src, as_name) in files {
            if !copied.contains(&as_name) {
                copy_or_link(tmp.path(), &src, &tmp_fwdir, &as_name, false)?;
                copied.push(as_name.clone());
            }
            copied_now.push(as_name);
        }
        if !found {
            report.log.push(format!(
                "WARNING: missing firmware {} for module {}",
                lossy(&name),
                lossy(&module)
            ));
        }
        report.firmware.push(FirmwareFile {
            module,
            name,
            copied: copied_now,
        });
    }
    progress.finish();

    // depmod's inputs, then the databases.
    let tmp_moddir_utf8 = utf8_dir(&tmp_moddir)?;
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        let src = source_dir.join(f);
        match std::fs::read(&src) {
            Ok(bytes) => write_all_atomic(&tmp_moddir_utf8, &[(f, &bytes)])?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IoError::new(&src, e).into()),
        }
    }
    let tmp_utf8 = utf8_dir(tmp.path())?;
    // Name the final directory, not the temporary one, in depmod's messages.
    let tmp_text = tmp.path().display().to_string();
    let out_text = out.display().to_string();
    let depmod = Depmod::new(tmp_utf8.as_std_path(), &version)
        .run()
        .map_err(|mut failure| {
            crate::depmod::rename_in(&mut failure.diagnostics, &tmp_text, &out_text);
            ClosureError::Depmod {
                dir: tmp_moddir.display().to_string(),
                failure: Box::new(failure),
            }
        })?;
    report.depmod_diagnostics = depmod.diagnostics;
    crate::depmod::rename_in(&mut report.depmod_diagnostics, &tmp_text, &out_text);

    // Lists and scripts.
    let moddir = out.join("lib/modules").join(&version);
    let moddir = moddir.as_os_str().as_bytes();
    let insmod_list = report
        .modules
        .iter()
        .flat_map(|m| [moddir, b"/", &m.relpath, b"\n"].concat())
        .collect();
    let mut files: Vec<(&str, Vec<u8>)> = vec![("insmod-list", insmod_list)];
    if opts.load_scripts {
        files.extend(load_scripts(moddir, &report.modules));
    }
    write_all_atomic(&tmp_utf8, &files)?;

    // Into place.
    if out.is_dir() {
        std::fs::remove_dir(&out).at(&out)?;
    }
    tmp.rename_to(&out).at(&out)?;

    // The log is text for the tool; the typed diagnostics are kept too.
    let depmod_lines = report.depmod_diagnostics.iter().map(|d| d.render("depmod"));
    report.log.extend(depmod_lines);
    Ok(report)
}

/// Quotes bytes for a POSIX shell: inside single quotes, `'` as `'\''`.
fn shell_quote(s: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = s.split(|&b| b == b'\'').collect();
    [&b"'"[..], &parts.join(&b"'\\''"[..]), b"'"].concat()
}

/// Load scripts in the manner of liminix's kmodloader: `load-order` (the
/// modules' paths relative to the module directory), `load.sh` (`insmod
/// "$O"/'PATH' ['OPTIONS']` per module in load order; the options go to
/// insmod as one argument, which it passes to the kernel as they are, as
/// modprobe does) and `unload.sh` (`rmmod "$O"/'PATH'` in the reverse
/// order). Both scripts set `O` to the module directory first (liminix's
/// unload.sh loses it: it overwrites the file). Quoting makes any bytes in
/// the paths safe.
fn load_scripts(module_dir: &[u8], modules: &[ClosureModule]) -> [(&'static str, Vec<u8>); 3] {
    let header = |what: &str| {
        let head = format!("#!/bin/sh\n# Written by kmodtree: {what}\nO=");
        [head.as_bytes(), &shell_quote(module_dir), b"\n"].concat()
    };
    let mut order = Vec::new();
    let mut load = header("insert the modules in dependency order.");
    for m in modules {
        order.extend([&m.relpath[..], b"\n"].concat());
        load.extend([&b"insmod \"$O\"/"[..], &shell_quote(&m.relpath)].concat());
        if !m.options.is_empty() {
            load.extend([&b" "[..], &shell_quote(&m.options)].concat());
        }
        load.push(b'\n');
    }
    let mut unload = header("remove the modules in reverse dependency order.");
    for m in modules.iter().rev() {
        unload.extend([&b"rmmod \"$O\"/"[..], &shell_quote(&m.relpath), b"\n"].concat());
    }
    [
        ("load-order", order),
        ("load.sh", load),
        ("unload.sh", unload),
    ]
}

/// Pathname expansion of one unquoted shell word, as bash does it (no
/// `nullglob`, `dotglob`, `extglob` or `globstar`, C locale): what
/// nixpkgs' `cp lib/firmware/$name` hands to `cp`.
pub mod shell_glob {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// Does `word` contain an unquoted `*`, `?`, or a `[` closed by a `]`
    /// (bash's `unquoted_glob_pattern_p`)? A backslash quotes the next byte.
    pub fn has_glob(word: &[u8]) -> bool {
        let mut i = 0;
        let mut open = false;
        while i < word.len() {
            match word[i] {
                b'\\' => i += 1,
                b'*' | b'?' => return true,
                b'[' => open = true,
                b']' if open => return true,
                _ => {}
            }
            i += 1;
        }
        false
    }

    /// The word without its quoting backslashes (what a component with no
    /// pattern character names).
    fn unquote(word: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(word.len());
        let mut i = 0;
        while i < word.len() {
            if word[i] == b'\\' && i + 1 < word.len() {
                i += 1;
            }
            out.push(word[i]);
            i += 1;
        }
        out
    }

    /// Does the file name `name` match the one-component pattern `pat`?
    /// A leading `.` must be matched by a literal `.`.
    fn component_matches(pat: &[u8], name: &[u8]) -> bool {
        if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
            return false;
        }
        crate::index::fnmatch(pat, name)
    }

    /// The words `word` expands to, relative to `dir`: if it is a pattern
    /// that matches, the matching paths sorted byte-wise (bash sorts with
    /// the C locale's collation, as in Nix's build sandbox); otherwise the
    /// word itself, unquoted only when it is not a pattern (bash keeps an
    /// unmatched pattern as written).
    pub fn expand(dir: &Path, word: &[u8]) -> Vec<Vec<u8>> {
        if !has_glob(word) {
            return vec![word.to_vec()];
        }
        let components: Vec<&[u8]> = word.split(|&b| b == b'/').collect();
        // Paths matched so far, relative to dir ("" = dir itself).
        let mut partial: Vec<Vec<u8>> = vec![Vec::new()];
        let last = components.len() - 1;
        for (n, comp) in components.iter().enumerate() {
            let mut next = Vec::new();
            for base in &partial {
                let join = |name: &[u8]| match base.is_empty() {
                    true => name.to_vec(),
                    false => [base, &b"/"[..], name].concat(),
                };
                if comp.is_empty() {
                    // "a//b" or a trailing "/": kept as written.
                    next.push(join(b""));
                    continue;
                }
                if !has_glob(comp) {
                    let p = join(&unquote(comp));
                    // bash checks that a literal component after a pattern
                    // exists (lstat), so that dangling links count.
                    if n < last || dir.join(super::path_of(&p)).symlink_metadata().is_ok() {
                        next.push(p);
                    }
                    continue;
                }
                let Ok(rd) = std::fs::read_dir(dir.join(super::path_of(base))) else {
                    continue;
                };
                let mut names: Vec<Vec<u8>> = rd
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().as_bytes().to_vec())
                    .filter(|name| component_matches(comp, name))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|name| join(name)));
            }
            partial = next;
            if partial.is_empty() {
                break;
            }
        }
        // An intermediate component must be a directory to have matched
        // anything below it; a literal one that is not just drops out here.
        partial.retain(|p| dir.join(super::path_of(p)).symlink_metadata().is_ok());
        if partial.is_empty() {
            return vec![word.to_vec()];
        }
        partial.sort();
        partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_firmware_records() {
        let data =
            b"a.firmware=x.bin\0ab.firmware=y.bin\0a.alias=z\0a.firmware=d/w.fw\0a.firmware=\0";
        assert_eq!(
            builtin_module_firmware(data, b"a"),
            vec![b"x.bin".to_vec(), b"d/w.fw".to_vec()]
        );
    }

    #[test]
    fn load_scripts_quote_and_set_o() {
        let m = |p: &str, o: &str| ClosureModule {
            name: Vec::new(),
            relpath: p.into(),
            options: o.into(),
        };
        let modules = [
            m("kernel/a.ko", ""),
            m("kernel/b.ko", "x=1 y=\"a b\""),
            m("kernel/it's.ko", ""),
        ];
        let [(_, order), (_, load), (_, unload)] = load_scripts(b"/out/lib/modules/1.0", &modules);
        assert_eq!(order, b"kernel/a.ko\nkernel/b.ko\nkernel/it's.ko\n");
        let load = String::from_utf8(load).unwrap();
        assert_eq!(
            load.lines().skip(2).collect::<Vec<_>>(),
            [
                "O='/out/lib/modules/1.0'",
                "insmod \"$O\"/'kernel/a.ko'",
                "insmod \"$O\"/'kernel/b.ko' 'x=1 y=\"a b\"'",
                "insmod \"$O\"/'kernel/it'\\''s.ko'",
            ]
        );
        let unload = String::from_utf8(unload).unwrap();
        assert_eq!(
            unload.lines().skip(2).collect::<Vec<_>>(),
            [
                "O='/out/lib/modules/1.0'",
                "rmmod \"$O\"/'kernel/it'\\''s.ko'",
                "rmmod \"$O\"/'kernel/b.ko'",
                "rmmod \"$O\"/'kernel/a.ko'",
            ]
        );
    }

    #[test]
    fn firmware_names_must_stay_below_the_directory() {
        assert!(is_safe_relative(b"rtl_nic/rtl8168d-1.fw"));
        assert!(!is_safe_relative(b"../etc/passwd"));
        assert!(!is_safe_relative(b"/etc/passwd"));
        assert!(!is_safe_relative(b"a//b"));
        assert!(!is_safe_relative(b""));
    }
    #[test]
    fn builtin_modules_with_firmware_are_listed_once() {
        let data = b"a.firmware=x\0b.alias=y\0a.firmware=z\0c.firmware=\0d.firmware=w\0";
        assert_eq!(
            builtin_modules_with_firmware(data),
            vec![b"a".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn firmware_patterns_expand_as_bash_does() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for f in [
            "q/a660_zap.mbn",
            "q/a650_zap.mbn",
            "q/.hidden.mbn",
            "q/B.mbn",
            "r/a660_zap.mbn",
            "star*name",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let ex = |w: &str| -> Vec<String> {
            shell_glob::expand(d, w.as_bytes())
                .into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect()
        };
        assert_eq!(ex("q/a6*_zap.mbn"), ["q/a650_zap.mbn", "q/a660_zap.mbn"]);
        // Byte order (C locale): upper case first; no hidden files.
        assert_eq!(
            ex("q/*.mbn"),
            ["q/B.mbn", "q/a650_zap.mbn", "q/a660_zap.mbn"]
        );
        assert_eq!(ex("?/a660_zap.mbn"), ["q/a660_zap.mbn", "r/a660_zap.mbn"]);
        assert_eq!(ex("q/a6[5]0_zap.mbn"), ["q/a650_zap.mbn"]);
        assert_eq!(ex("q/.*"), ["q/.hidden.mbn"]);
        // No match: the word as written; not a pattern: as written.
        assert_eq!(ex("q/none*.mbn"), ["q/none*.mbn"]);
        assert_eq!(ex("x/*/a.bin"), ["x/*/a.bin"]);
        assert_eq!(ex("q/a[6"), ["q/a[6"]);
        assert_eq!(ex("star\\*name"), ["star\\*name"]);
        assert_eq!(ex("sta?\\*name"), ["star*name"]);
        assert!(!shell_glob::has_glob(b"a[b"));
        assert!(shell_glob::has_glob(b"a[b]"));
        assert!(!shell_glob::has_glob(b"a\\*b"));
    }
}
