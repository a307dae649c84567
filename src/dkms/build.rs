//! `kmodtree dkms build`: each source folder (a dkms.conf package or a GLEP
//! 33 folder) is built in its own scratch folder, in parallel; the modules
//! are checked and installed under `OUT/lib/modules/V/`, the step logs kept
//! in `OUT/share/kmodtree/dkms/NAME-VERSION/`. OUT is assembled in a
//! temporary sibling and renamed when every source succeeded (or was
//! skipped by a BUILD_EXCLUSIVE directive); on any failure it is removed.
//!
//! ```no_run
//! use kmodtree::dkms::build::{build, BuildOptions};
//! use kmodtree::dkms::sandbox::SandboxMode;
//!
//! let opts = BuildOptions {
//!     kernel_build: "/lib/modules/6.1.0/build".into(),
//!     kernel_version: "6.1.0".into(),
//!     arch: "x86_64".into(),
//!     out: "out".into(),
//!     compress: None,
//!     jobs: 4,
//!     sandbox: SandboxMode::Auto,
//!     scratch: None,
//!     kernel_modules: Some("/lib/modules/6.1.0".into()),
//!     location_override: None,
//!     strip: true,
//!     progress: Default::default(),
//! };
//! for outcome in build(&["/usr/src/zfs-2.2.2".into()], &opts)? {
//!     println!("{}", outcome.package());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::check::{self, KernelInfo, Problem};
use super::conf::{self, Layout, Plan};
use super::glep33;
use super::sandbox::{self, Enforced, SandboxMode};
use crate::kmod::{IoError, IoResultExt};
use crate::module::Limits;
use crate::output::scratch::Scratch;
use rayon::prelude::*;
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Module compression for the installed files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compress {
    Xz,
    Zst,
    Gz,
}

impl Compress {
    pub fn suffix(self) -> &'static str {
        match self {
            Compress::Xz => ".xz",
            Compress::Zst => ".zst",
            Compress::Gz => ".gz",
        }
    }
}

/// Options of a build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The kernel's build folder (`/lib/modules/V/build`, `--kernelsourcedir`).
    pub kernel_build: PathBuf,
    pub kernel_version: String,
    pub arch: String,
    pub out: PathBuf,
    pub compress: Option<Compress>,
    /// make's `-j` (DKMS: `nproc`).
    pub jobs: usize,
    pub sandbox: SandboxMode,
    /// Where scratch folders go (default: the temporary folder).
    pub scratch: Option<PathBuf>,
    /// The kernel's `lib/modules/V`: when given, vermagic must equal that of
    /// its modules exactly.
    pub kernel_modules: Option<PathBuf>,
    /// Replace every DEST_MODULE_LOCATION (DKMS does on some distributions,
    /// e.g. `/updates/dkms` on Debian and Ubuntu).
    pub location_override: Option<String>,
    /// Run `strip -g` where STRIP says so (DKMS's default).
    pub strip: bool,
    /// Receives a tick per build step of every package.
    pub progress: crate::progress::ProgressHook,
}

/// A module installed into OUT.
#[derive(Clone, Debug, Serialize)]
pub struct Installed {
    /// `DEST_MODULE_NAME`.
    pub name: String,
    /// Path relative to OUT, e.g. `lib/modules/V/updates/foo.ko.xz`.
    pub path: String,
}

/// What happened to one source folder.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum SourceOutcome {
    Built {
        package: String,
        modules: Vec<Installed>,
        sandbox: Enforced,
    },
    Skipped {
        package: String,
        reason: String,
    },
}

impl SourceOutcome {
    pub fn package(&self) -> &str {
        match self {
            SourceOutcome::Built { package, .. } | SourceOutcome::Skipped { package, .. } => {
                package
            }
        }
    }
}

/// A build that failed; every message names the package (and module).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}: the output already exists")]
    OutputExists(PathBuf),
    /// `PATH: TEXT`.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Walking a folder failed (walkdir's text).
    #[error("{path}: {source}")]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("{0}: the output needs a file name")]
    OutputWithoutName(PathBuf),
    #[error("{0}: neither dkms.conf nor BUILD_PARAMS found")]
    NotASource(PathBuf),
    #[error(transparent)]
    Conf(#[from] conf::ConfError),
    #[error(transparent)]
    Kernel(#[from] check::KernelError),
    #[error("{package}: sandbox: {source}")]
    Sandbox {
        package: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{package}: {step} failed ({status}); last lines of its log:\n{tail}")]
    Step {
        package: String,
        step: String,
        status: String,
        tail: String,
    },
    #[error("{package}: module {module}: not built ({path} does not exist after make)")]
    MissingModule {
        package: String,
        module: String,
        path: PathBuf,
    },
    #[error("{package}: module {module}: cannot read the built module: {source}")]
    Unreadable {
        package: String,
        module: String,
        #[source]
        source: crate::module::ModuleError,
    },
    #[error("{package}: module {module}: cannot read the built module: path is not UTF-8")]
    ModulePathNotUtf8 {
        package: String,
        module: String,
        path: PathBuf,
    },
    #[error("{package}: {}", .problems.iter().map(|p| format!("module {}: {}", p.module, p.cause)).collect::<Vec<_>>().join("; "))]
    Check {
        package: String,
        problems: Vec<Problem>,
    },
    #[error("{package}: given twice")]
    GivenTwice { package: String },
    #[error("{package}: module {module}: {path} is installed by another package too")]
    InstalledTwice {
        package: String,
        module: String,
        path: PathBuf,
    },
    #[error("{package}: patch {patch} named in dkms.conf is not in patches/")]
    MissingPatch { package: String, patch: String },
    #[error("{package}: {path} is installed by another package too")]
    FileInstalledTwice { package: String, path: PathBuf },
    #[error(
        "{package}: make install wrote a compressed module {path}; kmodtree compresses with --compress"
    )]
    InstalledCompressed { package: String, path: PathBuf },
    #[error("{package}: make install installed no module (.ko) under DESTDIR/INSTALL_MOD_PATH")]
    NoModuleInstalled { package: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Several(Vec<BuildError>),
}

/// Shell-quotes a path for a command line.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Builds every source into `opts.out`. Outcomes are in the order of
/// `sources`, whatever order the parallel builds finish in.
pub fn build(sources: &[PathBuf], opts: &BuildOptions) -> Result<Vec<SourceOutcome>, BuildError> {
    let out = crate::kmod::absolute(&opts.out);
    if fs::symlink_metadata(&out).is_ok() {
        return Err(BuildError::OutputExists(out));
    }
    let mut opts = opts.clone();
    opts.kernel_build = crate::kmod::absolute(&opts.kernel_build);
    let kernel = check::kernel_info(
        &opts.kernel_build,
        &opts.kernel_version,
        opts.kernel_modules.as_deref(),
    )?;
    out.file_name()
        .ok_or_else(|| BuildError::OutputWithoutName(out.clone()))?;
    let parent = out.parent().unwrap_or(Path::new("/"));
    // Numbered too: `$install_tree` (inside it) reaches dkms.conf's
    // commands, the plan and GLEP 33 builds.
    let tmp_dir = Scratch::dir_beside_numbered(&out).at(parent)?;
    let tmp = tmp_dir.path().to_path_buf();
    let scratch_base =
        crate::kmod::absolute(&opts.scratch.clone().unwrap_or_else(std::env::temp_dir));
    // A fresh, empty, locked folder `BASE/.kmodtree-dkms.kmodtree-N.tmp`
    // (see [`crate::output::scratch`]). Numbered, not random: the modules
    // built in it record its path (in their build id), so a rebuild in a
    // fresh sandbox must build in the same place.
    let scratch_dir =
        Scratch::dir_beside_numbered(&scratch_base.join("kmodtree-dkms")).at(&scratch_base)?;
    let scratch = scratch_dir.path().to_path_buf();
    // Steps are known only once each package is planned.
    opts.progress.get().start("dkms build steps", 0);
    let results: Vec<Result<SourceOutcome, BuildError>> = sources
        .par_iter()
        .enumerate()
        .map(|(i, src)| {
            let work = scratch.join(i.to_string());
            fs::create_dir_all(&work).at(&work)?;
            let r = build_source(&crate::kmod::absolute(src), &work, &tmp, &kernel, &opts);
            let _ = fs::remove_dir_all(&work);
            r
        })
        .collect();
    opts.progress.get().finish();
    drop(scratch_dir);
    let mut errors = Vec::new();
    let outcomes: Vec<SourceOutcome> = results
        .into_iter()
        .filter_map(|r| r.map_err(|e| errors.push(e)).ok())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for o in &outcomes {
        if !seen.insert(o.package().to_string()) {
            errors.push(BuildError::GivenTwice {
                package: o.package().to_string(),
            });
        }
    }
    if errors.len() > 1 {
        return Err(BuildError::Several(errors));
    }
    if let Some(e) = errors.pop() {
        return Err(e);
    }
    tmp_dir.rename_to(&out).at(&out)?;
    Ok(outcomes)
}

fn build_source(
    src: &Path,
    work: &Path,
    out_tmp: &Path,
    kernel: &KernelInfo,
    opts: &BuildOptions,
) -> Result<SourceOutcome, BuildError> {
    if src.join("dkms.conf").is_file() {
        build_dkms(src, work, out_tmp, kernel, opts)
    } else if src.join("BUILD_PARAMS").is_file() {
        glep33::build(src, work, out_tmp, kernel, opts)
    } else {
        Err(BuildError::NotASource(src.to_path_buf()))
    }
}

/// The plan for `src`'s dkms.conf with DKMS's default folders (for
/// `kmodtree dkms plan`): `kernel_build` (default `/lib/modules/V/build`),
/// `/var/lib/dkms`, `/usr/src`, `/lib/modules`.
pub fn plan(
    src: &Path,
    kernel_version: &str,
    arch: &str,
    kernel_build: Option<&Path>,
) -> Result<Plan, BuildError> {
    let conf_path = if src.is_dir() {
        src.join("dkms.conf")
    } else {
        src.to_path_buf()
    };
    let layout = Layout {
        kernel_source_dir: kernel_build.map_or_else(
            || PathBuf::from(format!("/lib/modules/{kernel_version}/build")),
            crate::kmod::absolute,
        ),
        dkms_tree: PathBuf::from("/var/lib/dkms"),
        source_tree: PathBuf::from("/usr/src"),
        install_tree: PathBuf::from("/lib/modules"),
    };
    Ok(conf::evaluate(
        &crate::kmod::absolute(&conf_path),
        kernel_version,
        arch,
        &layout,
    )?)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One package's build: its logs (`OUT/share/kmodtree/dkms/PACKAGE/`), the
/// steps run in its build folder, and the checks and installs of its
/// modules into the output being assembled.
pub(crate) struct Job<'a> {
    package: &'a str,
    logs: PathBuf,
    /// Steps run so far (numbers the logs).
    n: usize,
    cwd: PathBuf,
    /// The environment of every step: nothing of the caller's but PATH.
    env: Vec<(String, String)>,
    /// The scratch folder `work`, the only one a step may write.
    writable: Vec<PathBuf>,
    out_tmp: &'a Path,
    kernel: &'a KernelInfo,
    opts: &'a BuildOptions,
    /// What the last step ran under.
    enforced: Enforced,
}

impl<'a> Job<'a> {
    /// A job for `package`, built in `cwd` with `work` as scratch; a second
    /// package of the same name is an error.
    pub fn new(
        package: &'a str,
        work: &Path,
        cwd: &Path,
        out_tmp: &'a Path,
        kernel: &'a KernelInfo,
        opts: &'a BuildOptions,
    ) -> Result<Job<'a>, BuildError> {
        let logs = out_tmp.join("share/kmodtree/dkms").join(package);
        if logs.exists() {
            return Err(BuildError::GivenTwice {
                package: package.to_string(),
            });
        }
        fs::create_dir_all(&logs).at(&logs)?;
        let home = work.join("home");
        let tmp = work.join("tmp");
        let _ = fs::create_dir_all(&home);
        let _ = fs::create_dir_all(&tmp);
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        Ok(Job {
            package,
            logs,
            n: 0,
            cwd: cwd.to_path_buf(),
            env: vec![
                ("PATH".into(), path),
                ("HOME".into(), home.display().to_string()),
                ("TMPDIR".into(), tmp.display().to_string()),
                ("LC_ALL".into(), "C".into()),
            ],
            writable: vec![work.to_path_buf()],
            out_tmp,
            kernel,
            opts,
            enforced: Enforced::default(),
        })
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), BuildError> {
        let p = self.logs.join(name);
        Ok(fs::write(&p, bytes).at(&p)?)
    }

    /// Writes `value` as pretty JSON with a final newline.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), BuildError> {
        let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        bytes.push(b'\n');
        self.write(name, &bytes)
    }

    /// Runs one logged step; a failure is an error only when `required`.
    pub fn run(&mut self, name: &str, command: &str, required: bool) -> Result<(), BuildError> {
        let package = self.package;
        let progress = self.opts.progress.get();
        progress.working_on(&format!("{package}: {name}"));
        self.n += 1;
        let safe = name.replace(
            |c: char| !c.is_ascii_alphanumeric() && !"._-".contains(c),
            "_",
        );
        let log = self.logs.join(format!("{:02}-{safe}.log", self.n));
        let _ = writeln!(fs::File::create(&log).at(&log)?, "$ {command}");
        let (cwd, env, writable) = (&self.cwd, &self.env, &self.writable);
        let (status, enforced) = sandbox::run(command, cwd, env, &log, writable, self.opts.sandbox)
            .map_err(|source| BuildError::Sandbox {
                package: package.to_string(),
                source,
            })?;
        let failed = !status.success();
        let status = (status.code()).map_or(status.to_string(), |c| format!("exit status {c}"));
        let _ = writeln!(
            fs::OpenOptions::new().append(true).open(&log).at(&log)?,
            "[kmodtree: {status}; network namespace: {}; read-only host: {}]",
            enforced.no_network,
            enforced.read_only_host
        );
        if failed && required {
            return Err(BuildError::Step {
                package: package.to_string(),
                step: name.to_string(),
                status,
                tail: tail(&log, 25),
            });
        }
        progress.advance(1);
        self.enforced = enforced;
        Ok(())
    }

    /// The outcome of the package that installed `modules`, also written
    /// into its logs.
    pub fn built(self, modules: Vec<Installed>) -> Result<SourceOutcome, BuildError> {
        let outcome = SourceOutcome::Built {
            package: self.package.to_string(),
            modules,
            sandbox: self.enforced,
        };
        self.write_json("result.json", &outcome)?;
        Ok(outcome)
    }

    /// Installs one built module file as `OUT/lib/modules/V/LOCATION/NAME.ko[.EXT]`.
    pub fn install(
        &self,
        built: &Path,
        location: &str,
        dest_name: &str,
    ) -> Result<Installed, BuildError> {
        let opts = self.opts;
        let data = fs::read(built).at(built)?;
        let bytes = compressed(&data, opts.compress).at(built)?;
        // (An empty location adds a trailing `/`, which joining ignores.)
        let rel = Path::new("lib/modules")
            .join(&opts.kernel_version)
            .join(location.trim_matches('/'));
        let dir = self.out_tmp.join(&rel);
        fs::create_dir_all(&dir).at(&dir)?;
        let file = format!("{dest_name}.ko{}", opts.compress.map_or("", |c| c.suffix()));
        let dest = dir.join(&file);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => BuildError::InstalledTwice {
                    package: self.package.to_string(),
                    module: dest_name.to_string(),
                    path: rel.join(&file),
                },
                _ => IoError::new(&dest, e).into(),
            })?;
        f.write_all(&bytes).at(&dest)?;
        Ok(Installed {
            name: dest_name.to_string(),
            path: rel.join(&file).display().to_string(),
        })
    }

    /// Reads and checks the built `modules` (name, file) of the package.
    pub fn check_built(&self, modules: &[(String, PathBuf)]) -> Result<(), BuildError> {
        let (package, kernel) = (self.package, self.kernel);
        let metas = modules.iter().map(|(name, path)| {
            let p =
                camino::Utf8Path::from_path(path).ok_or_else(|| BuildError::ModulePathNotUtf8 {
                    package: package.to_string(),
                    module: name.clone(),
                    path: path.clone(),
                })?;
            match crate::module::read_module_file(p, &Limits::default()) {
                Ok(meta) => Ok((name.clone(), meta)),
                Err(source) => Err(BuildError::Unreadable {
                    package: package.to_string(),
                    module: name.clone(),
                    source,
                }),
            }
        });
        let metas: Vec<_> = metas.collect::<Result<_, _>>()?;
        let problems = check::check_modules(kernel, &metas);
        let mut report = format!(
            "kernel {}: vermagic {}\n",
            kernel.version,
            kernel
                .vermagic_exact
                .clone()
                .unwrap_or_else(|| format!("'{}...'", kernel.vermagic_prefix))
        );
        for (name, _) in &metas {
            report.push_str(&format!("{name}: checked\n"));
        }
        for p in &problems {
            report.push_str(&format!("{}: {}\n", p.module, p.cause));
        }
        self.write("check.txt", report.as_bytes())?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BuildError::Check {
                package: package.to_string(),
                problems,
            })
        }
    }
}

/// Copies a folder tree (files with their permissions, symlinks as
/// symlinks).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    fs::create_dir_all(to).at(to)?;
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry.map_err(|source| BuildError::Walk {
            path: from.to_path_buf(),
            source,
        })?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dest).at(&dest)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(entry.path()).at(entry.path())?;
            std::os::unix::fs::symlink(target, &dest).at(&dest)?;
        } else {
            fs::copy(entry.path(), &dest).at(&dest)?;
        }
    }
    Ok(())
}

/// Compresses (or not) `data` as the kernel's `modules_install` would.
pub(crate) fn compressed(data: &[u8], how: Option<Compress>) -> std::io::Result<Vec<u8>> {
    match how {
        None => Ok(data.to_vec()),
        Some(Compress::Gz) => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(data)?;
            enc.finish()
        }
        Some(Compress::Zst) => zstd::bulk::compress(data, 19),
        Some(Compress::Xz) => {
            // xz --check=crc32 --lzma2=dict=1MiB, as kbuild does.
            let mut lzma =
                liblzma::stream::LzmaOptions::new_preset(6).map_err(std::io::Error::other)?;
            lzma.dict_size(1 << 20);
            let mut filters = liblzma::stream::Filters::new();
            filters.lzma2(&lzma);
            let stream = liblzma::stream::Stream::new_stream_encoder(
                &filters,
                liblzma::stream::Check::Crc32,
            )
            .map_err(std::io::Error::other)?;
            let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
            enc.write_all(data)?;
            enc.finish()
        }
    }
}

/// A DKMS build, following DKMS's `prepare_build`, `actual_build` and
/// `do_install`.
fn build_dkms(
    src: &Path,
    work: &Path,
    out_tmp: &Path,
    kernel: &KernelInfo,
    opts: &BuildOptions,
) -> Result<SourceOutcome, BuildError> {
    let layout = Layout {
        kernel_source_dir: opts.kernel_build.clone(),
        dkms_tree: work.join("dkms"),
        source_tree: work.join("src"),
        install_tree: out_tmp.join("lib/modules"),
    };
    let plan = conf::evaluate(
        &src.join("dkms.conf"),
        &opts.kernel_version,
        &opts.arch,
        &layout,
    )?;
    let package = format!("{}-{}", plan.package_name, plan.package_version);
    let build_dir = plan.build_dir.clone();
    let mut job = Job::new(&package, work, &build_dir, out_tmp, kernel, opts)?;
    job.write_json("plan.json", &plan)?;
    if let Some(ex) = &plan.excluded {
        let outcome = SourceOutcome::Skipped {
            package: package.clone(),
            reason: ex.message.clone(),
        };
        job.write_json("result.json", &outcome)?;
        return Ok(outcome);
    }
    // $source_tree/NAME-VERSION and $dkms_tree/NAME/VERSION/source point at
    // the given source; the build runs in a copy.
    let source_link = layout.source_tree.join(&package);
    let module_dir = plan.build_dir.parent().unwrap_or(work).to_path_buf();
    fs::create_dir_all(&layout.source_tree).at(&layout.source_tree)?;
    fs::create_dir_all(&module_dir).at(&module_dir)?;
    std::os::unix::fs::symlink(src, &source_link).at(&source_link)?;
    let source_dir = module_dir.join("source");
    std::os::unix::fs::symlink(&source_link, &source_dir).at(&source_dir)?;
    copy_tree(src, &build_dir)?;

    for p in &plan.patches {
        if !build_dir.join("patches").join(p).is_file() {
            return Err(BuildError::MissingPatch {
                package,
                patch: p.clone(),
            });
        }
        let command = format!("patch -p1 < ./patches/{}", quote(p));
        job.run(&format!("patch-{p}"), &command, true)?;
    }
    // PRE_BUILD / POST_BUILD: the command to run when the script is
    // executable (as DKMS); otherwise a warning in the logs and nothing.
    let hook_command = |job: &Job, key: &str, word: &str, line: &Option<String>| {
        let Some(line) = line else { return Ok(None) };
        let first = line.split(' ').next().unwrap_or(line);
        let executable = fs::metadata(build_dir.join(first))
            .is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
        if executable {
            let dir = quote(&build_dir.display().to_string());
            return Ok(Some(format!("exec {dir}/{line}")));
        }
        let warning = format!("{word} {line}: not executable, not run (as DKMS)\n");
        job.write(&format!("{key}.warning"), warning.as_bytes())
            .map(|()| None)
    };
    if let Some(cmd) = hook_command(&job, "pre_build", "PRE_BUILD", &plan.pre_build)? {
        job.run("pre_build", &cmd, true)?;
    }
    // DKMS cleans before building and ignores the clean's status.
    job.run("clean", &plan.clean_command, false)?;
    let make = conf::make_invocation(&plan.make_command, opts.jobs, &opts.kernel_version);
    job.run("make", &make, true)?;

    let mut built = Vec::new();
    for m in &plan.modules {
        let path = build_dir.join(format!("{}{}.ko", m.built_location, m.built_name));
        if !path.is_file() {
            return Err(BuildError::MissingModule {
                package,
                module: m.built_name.clone(),
                path: PathBuf::from(format!("{}{}.ko", m.built_location, m.built_name)),
            });
        }
        if m.strip && opts.strip {
            let command = format!("strip -g {}", quote(&path.display().to_string()));
            job.run(&format!("strip-{}", m.built_name), &command, true)?;
        }
        built.push((m.dest_name.clone(), path));
    }
    job.check_built(&built)?;
    let mut installed = Vec::new();
    for (m, (_, path)) in plan.modules.iter().zip(&built) {
        let location = opts.location_override.as_ref().unwrap_or(&m.dest_location);
        installed.push(job.install(path, location, &m.dest_name)?);
    }
    // POST_BUILD runs after the modules were collected; DKMS ignores its
    // status.
    if let Some(cmd) = hook_command(&job, "post_build", "POST_BUILD", &plan.post_build)? {
        job.run("post_build", &cmd, false)?;
    }
    job.built(installed)
}
