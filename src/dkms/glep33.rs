//! GLEP 33 source folders: patched module sources with a `BUILD_PARAMS`
//! file holding extra make arguments, built with `make clean`,
//! `make $(BUILD_PARAMS)` and `make install`. The sources follow the GLEP's
//! conventions: `KERNELDIR` (also given as `KERNEL_DIR`, `KV_DIR`) names the
//! kernel's build folder, `KV` its version (not `KERNELRELEASE`, which the
//! usual `ifneq ($(KERNELRELEASE),)` Makefiles take as "called by kbuild"), and
//! `make install` honours `DESTDIR` / `INSTALL_MOD_PATH`. The install goes
//! to a staging folder in the scratch area (so parallel builds cannot mix
//! their files), whose modules are checked and moved into OUT; database
//! files (`modules.*`) a `make install` may have written are dropped.
//! The package name is the folder's name.

use super::build::{copy_tree, quote, BuildError, BuildOptions, Installed, Job, SourceOutcome};
use super::check::KernelInfo;
use crate::kmod::IoResultExt;
use std::fs;
use std::path::{Path, PathBuf};

pub(crate) fn build(
    src: &Path,
    work: &Path,
    out_tmp: &Path,
    kernel: &KernelInfo,
    opts: &BuildOptions,
) -> Result<SourceOutcome, BuildError> {
    let package = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "source".into());
    let build_dir = work.join("build").join(&package);
    let mut job = Job::new(&package, work, &build_dir, out_tmp, kernel, opts)?;
    copy_tree(src, &build_dir)?;
    let stage = work.join("stage");
    fs::create_dir_all(&stage).at(&stage)?;
    let kdir = quote(&opts.kernel_build.display().to_string());
    let v = quote(&opts.kernel_version);
    let common =
        format!("KERNELDIR={kdir} KERNEL_DIR={kdir} KV_DIR={kdir} KV={v} $(cat BUILD_PARAMS)");
    let stage_q = quote(&stage.display().to_string());
    job.run("clean", &format!("make {common} clean"), false)?;
    job.run("make", &format!("make -j{} {common}", opts.jobs), true)?;
    let install = format!("make {common} DESTDIR={stage_q} INSTALL_MOD_PATH={stage_q} install");
    job.run("install", &install, true)?;
    // The modules the install wrote, anywhere under the staging folder.
    // (module, file) with its location.
    let mut modules: Vec<(String, PathBuf)> = Vec::new();
    let mut locations: Vec<String> = Vec::new();
    let mut others: Vec<PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(&stage).sort_by_file_name() {
        let entry = entry.map_err(|source| BuildError::Walk {
            path: stage.clone(),
            source,
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&stage).unwrap_or(entry.path());
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ko") {
            let module = name.trim_end_matches(".ko").to_string();
            // Location relative to lib/modules/V, or extra/ when the
            // install put it elsewhere.
            let prefix = Path::new("lib/modules").join(&opts.kernel_version);
            let location = rel.parent().and_then(|p| p.strip_prefix(&prefix).ok());
            locations.push(location.map_or("extra".into(), |l| l.display().to_string()));
            modules.push((module, entry.path().to_path_buf()));
        } else if crate::kmod::is_module_file_name(&name) {
            return Err(BuildError::InstalledCompressed {
                package,
                path: rel.to_path_buf(),
            });
        } else if !name.starts_with("modules.") {
            others.push(rel.to_path_buf());
        }
    }
    if modules.is_empty() {
        return Err(BuildError::NoModuleInstalled { package });
    }
    job.check_built(&modules)?;
    let installed: Vec<Installed> = (modules.iter().zip(&locations))
        .map(|((module, path), location)| job.install(path, location, module))
        .collect::<Result<_, _>>()?;
    for rel in others {
        let dest = out_tmp.join(&rel);
        if dest.exists() {
            return Err(BuildError::FileInstalledTwice { package, path: rel });
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        fs::copy(stage.join(&rel), &dest).at(&dest)?;
    }
    job.built(installed)
}
