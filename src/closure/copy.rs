//! nixpkgs' makeModulesClosure: the closure of some root modules (what
//! `modprobe --show-depends` loads for each), copied with the firmware the
//! modules name into a new directory that is a valid module tree.
//!
//! Output (`OUT` below): `lib/modules/VERSION/` with each closure module at
//! its relative path, `modules.order`, `modules.builtin` and
//! `modules.builtin.modinfo` from the source, and every database written by
//! [`crate::depmod`]; `lib/firmware/` with the firmware found; `insmod-list`
//! (absolute paths of the copied modules, in load order); with load
//! scripts, `load-order`, `load.sh`, `unload.sh` ([`super::scripts`]).
//!
//! Everything is built in a temporary directory next to `OUT` and renamed
//! at the end; on any failure the temporary directory is removed and `OUT`
//! is untouched.

use super::scripts::{self, LoadEntry};
use super::show_depends::{LookupError, ModprobeOptions, ProbeAction, Resolver};
use super::Message;
use crate::depmod::Depmod;
use crate::output::{write_all_atomic, WriteError};
use camino::{Utf8Path, Utf8PathBuf};
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
    /// Module names, aliases or `symbol:` names.
    pub roots: Vec<Vec<u8>>,
}

/// Why a closure could not be built. Nothing is left in the output
/// directory's place when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("root module {root}: {source}")]
    RootNotFound { root: String, source: LookupError },
    #[error("root module {root}: resolves to nothing that can be loaded (blacklisted alias?)")]
    RootLoadsNothing { root: String },
    #[error("dependency not found: {path}")]
    ModuleFileMissing { path: String },
    #[error("module {path} is outside the module directory {dirname}")]
    ModuleOutsideTree { path: String, dirname: String },
    #[error("output directory {path} exists and is not empty")]
    OutputNotEmpty { path: String },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("depmod on {dir} failed:\n{failure}")]
    Depmod {
        dir: String,
        #[source]
        failure: Box<crate::depmod::DepmodFailure>,
    },
}

fn io_error(path: &Path, e: &std::io::Error) -> ClosureError {
    ClosureError::Io {
        path: path.display().to_string(),
        reason: crate::kmod::strerror(e),
    }
}

/// One module of the closure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosureModule {
    pub name: Vec<u8>,
    /// Path relative to `lib/modules/VERSION`.
    pub relpath: Vec<u8>,
}

/// One firmware file a closure module names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareFile {
    pub module: Vec<u8>,
    /// The `firmware=` value.
    pub name: Vec<u8>,
    /// What was copied (`name`, `name.xz` or `name.zst`), if found.
    pub copied_as: Option<Vec<u8>>,
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

/// The insmod entries and builtin names of every root, in order.
#[derive(Default)]
struct Resolved {
    entries: Vec<LoadEntry>,
    names: Vec<Vec<u8>>,
    builtin: Vec<Vec<u8>>,
    missing: Vec<Vec<u8>>,
    log: Vec<String>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn relative_to_dirname(path: &[u8], dirname: &[u8]) -> Result<Vec<u8>, ClosureError> {
    let mut prefix = dirname.to_vec();
    prefix.push(b'/');
    match path.strip_prefix(&prefix[..]) {
        Some(rel) if !rel.is_empty() => Ok(rel.to_vec()),
        _ => Err(ClosureError::ModuleOutsideTree {
            path: lossy(path),
            dirname: lossy(dirname),
        }),
    }
}

/// Runs show-depends for every root and collects the closure.
fn resolve_roots(
    opts: &ClosureOptions,
    indexes: &super::ModuleIndexes,
    config: &super::ModprobeConfig,
) -> Result<Resolved, ClosureError> {
    let mut out = Resolved::default();
    for root in &opts.roots {
        out.log.push(format!("root module: {}", lossy(root)));
        // A fresh pool per root, as nixpkgs runs one modprobe per root.
        let mut r = Resolver::new(indexes, config);
        let actions = match r.module_load_actions(root, opts.modprobe.ignore_commands) {
            Ok(a) => a,
            Err(e) => {
                out.log.extend(r.take_messages().iter().map(|m| m.render()));
                if opts.allow_missing {
                    out.log.push(format!("  not found: {e}"));
                    out.missing.push(root.clone());
                    continue;
                }
                return Err(ClosureError::RootNotFound {
                    root: lossy(root),
                    source: e,
                });
            }
        };
        out.log.extend(r.take_messages().iter().map(|m| m.render()));
        if let Some(path) = r.take_broken_dependencies().into_iter().next() {
            return Err(ClosureError::ModuleFileMissing { path: lossy(&path) });
        }
        if actions.is_empty() {
            if opts.allow_missing {
                out.log.push("  not found".into());
                out.missing.push(root.clone());
                continue;
            }
            return Err(ClosureError::RootLoadsNothing { root: lossy(root) });
        }
        for a in actions {
            let (name, path, options) = match a {
                ProbeAction::Builtin { name } => {
                    out.log
                        .push(format!("  builtin dependency: {}", lossy(&name)));
                    if !out.builtin.contains(&name) {
                        out.builtin.push(name);
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
                    out.log.push(format!(
                        "  WARNING: install command of {} ignored: {}",
                        lossy(&name),
                        lossy(&command)
                    ));
                    match path {
                        Some(p) => (name, p, options),
                        None => continue,
                    }
                }
            };
            if !Path::new(std::ffi::OsStr::from_bytes(&path)).is_file() {
                return Err(ClosureError::ModuleFileMissing { path: lossy(&path) });
            }
            let relpath = relative_to_dirname(&path, &indexes.dirname)?;
            if out.entries.iter().any(|e| e.relpath == relpath) {
                continue;
            }
            out.log
                .push(format!("  copying dependency: {}", lossy(&path)));
            out.names.push(name);
            out.entries.push(LoadEntry { relpath, options });
        }
    }
    Ok(out)
}

/// `firmware=` values of a builtin module, from `modules.builtin.modinfo`
/// (records `MODULE.KEY=VALUE\0`).
pub fn builtin_module_firmware(builtin_modinfo: &[u8], module: &[u8]) -> Vec<Vec<u8>> {
    let mut prefix = module.to_vec();
    prefix.extend_from_slice(b".firmware=");
    builtin_modinfo
        .split(|&b| b == 0)
        .filter_map(|rec| rec.strip_prefix(&prefix[..]))
        .filter(|v| !v.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
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

/// Removes a directory tree on drop unless disarmed.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn utf8_dir(p: &Path) -> Result<Utf8PathBuf, ClosureError> {
    Utf8PathBuf::from_path_buf(p.to_path_buf()).map_err(|p| ClosureError::Io {
        path: p.display().to_string(),
        reason: "path is not UTF-8".into(),
    })
}

/// Writes `bytes` at `rel` (may contain `/`) below `dir`, creating parents.
fn write_file_below(dir: &Path, rel: &[u8], bytes: &[u8]) -> Result<(), ClosureError> {
    let target = dir.join(std::ffi::OsStr::from_bytes(rel));
    let parent = target.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, &e))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ClosureError::Io {
            path: target.display().to_string(),
            reason: "file name is not UTF-8".into(),
        })?;
    write_all_atomic(&utf8_dir(parent)?, &[(name, bytes)])?;
    Ok(())
}

fn copy_or_link(src: &Path, dir: &Path, rel: &[u8], link: bool) -> Result<(), ClosureError> {
    if link {
        let target = dir.join(std::ffi::OsStr::from_bytes(rel));
        let parent = target.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, &e))?;
        if std::fs::hard_link(src, &target).is_ok() {
            return Ok(());
        }
    }
    let bytes = std::fs::read(src).map_err(|e| io_error(src, &e))?;
    write_file_below(dir, rel, &bytes)
}

/// Finds `name`, `name.xz` or `name.zst` in the first firmware directory
/// that has one of them.
fn find_firmware(dirs: &[PathBuf], name: &[u8]) -> Option<(PathBuf, Vec<u8>)> {
    for d in dirs {
        for suffix in [&b""[..], b".xz", b".zst"] {
            let mut candidate = name.to_vec();
            candidate.extend_from_slice(suffix);
            let p = d.join(std::ffi::OsStr::from_bytes(&candidate));
            if p.is_file() {
                return Some((p, candidate));
            }
        }
    }
    None
}

fn firmware_names_of(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let p = Utf8Path::from_path(path).ok_or("path is not UTF-8")?;
    crate::module::read_module_file(p, &crate::module::Limits::default())
        .map(|meta| meta.values(b"firmware").map(<[u8]>::to_vec).collect())
        .map_err(|e| e.to_string())
}

/// Builds the closure of `opts.roots` in `opts.out`.
pub fn assemble_module_closure(opts: &ClosureOptions) -> Result<ClosureReport, ClosureError> {
    let mut messages: Vec<Message> = Vec::new();
    let (indexes, config) = opts.modprobe.load(&mut messages);
    let version = opts.modprobe.version.clone();
    let source_dir = indexes.dir_path();

    let out = crate::kmod::absolute(&opts.out);
    if let Ok(mut rd) = std::fs::read_dir(&out) {
        if rd.next().is_some() {
            return Err(ClosureError::OutputNotEmpty {
                path: out.display().to_string(),
            });
        }
    } else if out.exists() {
        return Err(ClosureError::OutputNotEmpty {
            path: out.display().to_string(),
        });
    }

    let resolved = resolve_roots(opts, &indexes, &config)?;
    let mut report = ClosureReport {
        builtin: resolved.builtin.clone(),
        missing_roots: resolved.missing.clone(),
        log: messages.iter().map(|m| m.render()).collect(),
        ..Default::default()
    };
    report.log.extend(resolved.log.iter().cloned());

    // The temporary tree, next to OUT.
    let parent = out.parent().unwrap_or(Path::new("/")).to_path_buf();
    let base = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "closure".into());
    let tmp = TempDir {
        path: parent.join(format!(".{base}.kmodtree-{}.tmp", std::process::id())),
        keep: false,
    };
    let _ = std::fs::remove_dir_all(&tmp.path);
    let tmp_moddir = tmp.path.join("lib/modules").join(&version);
    std::fs::create_dir_all(&tmp_moddir).map_err(|e| io_error(&tmp_moddir, &e))?;

    // Modules.
    for (e, name) in resolved.entries.iter().zip(&resolved.names) {
        let src = source_dir.join(std::ffi::OsStr::from_bytes(&e.relpath));
        copy_or_link(&src, &tmp_moddir, &e.relpath, opts.link)?;
        report.modules.push(ClosureModule {
            name: name.clone(),
            relpath: e.relpath.clone(),
        });
    }

    // Firmware of every member, builtin ones from modules.builtin.modinfo.
    let builtin_modinfo = std::fs::read(source_dir.join("modules.builtin.modinfo")).ok();
    let mut wanted: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for m in &report.modules {
        let src = source_dir.join(std::ffi::OsStr::from_bytes(&m.relpath));
        match firmware_names_of(&src) {
            Ok(names) => wanted.extend(names.into_iter().map(|n| (m.name.clone(), n))),
            Err(e) => report.log.push(format!(
                "WARNING: cannot read the firmware list of {}: {e}",
                src.display()
            )),
        }
    }
    for b in &report.builtin {
        if let Some(data) = &builtin_modinfo {
            wanted.extend(
                builtin_module_firmware(data, b)
                    .into_iter()
                    .map(|n| (b.clone(), n)),
            );
        }
    }
    let tmp_fwdir = tmp.path.join("lib/firmware");
    let mut copied: Vec<Vec<u8>> = Vec::new();
    for (module, name) in wanted {
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
        let found = find_firmware(&opts.firmware_dirs, &name);
        let copied_as = match found {
            Some((src, as_name)) => {
                if !copied.contains(&as_name) {
                    let bytes = std::fs::read(&src).map_err(|e| io_error(&src, &e))?;
                    write_file_below(&tmp_fwdir, &as_name, &bytes)?;
                    copied.push(as_name.clone());
                }
                Some(as_name)
            }
            None => {
                report.log.push(format!(
                    "WARNING: missing firmware {} for module {}",
                    lossy(&name),
                    lossy(&module)
                ));
                None
            }
        };
        report.firmware.push(FirmwareFile {
            module,
            name,
            copied_as,
        });
    }

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
            Err(e) => return Err(io_error(&src, &e)),
        }
    }
    let tmp_utf8 = utf8_dir(&tmp.path)?;
    // Name the final directory, not the temporary one, in depmod's messages.
    let tmp_text = tmp.path.display().to_string();
    let out_text = out.display().to_string();
    let depmod = Depmod::new(tmp_utf8.as_std_path(), &version)
        .run()
        .map_err(|mut failure| {
            failure.rename_dir(&tmp_text, &out_text);
            ClosureError::Depmod {
                dir: tmp_moddir.display().to_string(),
                failure: Box::new(failure),
            }
        })?;
    let mut depmod_diagnostics = depmod.diagnostics;
    crate::depmod::rename_in(&mut depmod_diagnostics, &tmp_text, &out_text);

    // Lists and scripts.
    let final_moddir = out.join("lib/modules").join(&version);
    let final_moddir_bytes = final_moddir.as_os_str().as_bytes().to_vec();
    let mut insmod_list = Vec::new();
    for m in &report.modules {
        insmod_list.extend_from_slice(&final_moddir_bytes);
        insmod_list.push(b'/');
        insmod_list.extend_from_slice(&m.relpath);
        insmod_list.push(b'\n');
    }
    let mut files: Vec<(&str, Vec<u8>)> = vec![("insmod-list", insmod_list)];
    if opts.load_scripts {
        files.push(("load-order", scripts::load_order_text(&resolved.entries)));
        files.push((
            "load.sh",
            scripts::load_script_text(&final_moddir_bytes, &resolved.entries),
        ));
        files.push((
            "unload.sh",
            scripts::unload_script_text(&final_moddir_bytes, &resolved.entries),
        ));
    }
    write_all_atomic(&tmp_utf8, &files)?;

    // Into place.
    if out.is_dir() {
        std::fs::remove_dir(&out).map_err(|e| io_error(&out, &e))?;
    }
    std::fs::rename(&tmp.path, &out).map_err(|e| io_error(&out, &e))?;
    let mut tmp = tmp;
    tmp.keep = true;

    // The log is text for the tool; the typed diagnostics are kept too.
    report
        .log
        .extend(depmod_diagnostics.iter().map(|d| d.render("depmod")));
    report.depmod_diagnostics = depmod_diagnostics;
    Ok(report)
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
    fn firmware_names_must_stay_below_the_directory() {
        assert!(is_safe_relative(b"rtl_nic/rtl8168d-1.fw"));
        assert!(!is_safe_relative(b"../etc/passwd"));
        assert!(!is_safe_relative(b"/etc/passwd"));
        assert!(!is_safe_relative(b"a//b"));
        assert!(!is_safe_relative(b""));
    }
}
