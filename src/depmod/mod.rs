//! `depmod`: the whole pipeline — discover, read (in parallel), resolve,
//! render, write — for one module directory, with kmod depmod's
//! semantics, as a typed API.
//!
//! [`Depmod`] is built over a base directory and a kernel version;
//! [`Depmod::run`] returns a [`Report`] (kmod's diagnostics in its order,
//! what was written, `-v` lines) or a [`DepmodFailure`] (a typed
//! [`DepmodError`] with the diagnostics before it). Nothing here parses a
//! command line or prints: kmod's texts are the [`Diagnostic`]s' and
//! [`DepmodError::diagnostics`]'s.
//!
//! ```
//! use kmodtree::depmod::{ConfigSource, Depmod, Output};
//!
//! // An empty module directory: depmod writes empty databases.
//! let base = tempfile::tempdir()?;
//! std::fs::create_dir_all(base.path().join("lib/modules/6.1.0"))?;
//! let report = Depmod::new(base.path(), "6.1.0")
//!     .config(ConfigSource::Paths(vec!["/dev/null".into()]))
//!     .run()?;
//! match &report.output {
//!     Output::Written { files, .. } => assert!(files.contains(&"modules.dep.bin")),
//!     other => panic!("{other:?}"),
//! }
//! // kmod warns that modules.order is missing.
//! assert!(report.diagnostics.iter().any(|d| d.text.contains("modules.order")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cache;
mod error;
mod read;

pub(crate) use error::rename_in;
pub use error::{DepmodError, DepmodFailure};
pub use read::{read_modules_with_progress, LoadedModule};

use crate::kmod::{strerror, Diagnostic, KmodVersion};
use crate::module::Limits;
use crate::render::{self, RenderError, RenderInput, RenderModule, RenderOptions};
use crate::resolve::{self, cycles, deps::DepOptions, SymbolTable};
use crate::tree::kernel_symbols::{self, KernelSymbol};
use crate::tree::walk::{self, Candidate, Suffixes};
use crate::tree::{config, order, Config};
use cache::{CacheError, CacheStats};
use camino::Utf8PathBuf;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Where the kernel's own symbols come from (`-F` / `-E`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KernelSymbols {
    /// None: symbols no module exports are not checked.
    #[default]
    None,
    /// `-F`: System.map.
    SystemMap(PathBuf),
    /// `-E`: Module.symvers (symbols and CRCs; CRCs are compared).
    Symvers(PathBuf),
}

/// Which depmod.d configuration is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ConfigSource {
    /// kmod's configuration directories under the base directory only
    /// (kmodtree's default: the host's never leaks into a tree).
    #[default]
    Hermetic,
    /// `-C`: these files or directories instead.
    Paths(Vec<Utf8PathBuf>),
    /// kmod's configuration directories on the host (`/etc/depmod.d`, ...).
    Host,
}

/// Which modules are indexed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ModuleSelection {
    /// Every module of the module directory (and configured external
    /// directories).
    #[default]
    All,
    /// Only these module files (absolute paths, as kmod requires: a
    /// relative one is [`DepmodError::NotAbsolute`]).
    Files(Vec<Utf8PathBuf>),
}

/// What a successful run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Every database was written into `dir`; `files` in kmod's writing
    /// order.
    Written {
        dir: Utf8PathBuf,
        files: Vec<&'static str>,
    },
    /// `-n`: nothing written; the text databases, concatenated as kmod
    /// prints them.
    DryRun(Vec<u8>),
    /// `-A`: `modules.dep` is newer than every module, nothing done (also
    /// `-A` with `-n`).
    UpToDate,
}

/// The result of a successful run.
#[derive(Debug)]
pub struct Report {
    /// kmod's diagnostics (all levels), in its order.
    pub diagnostics: Vec<Diagnostic>,
    pub output: Output,
    /// `-v` lines (`PATH needs "SYMBOL": OWNER`), when asked for.
    pub verbose: Vec<String>,
    /// Problems with the `--manifest` cache file (the run went on without
    /// it, or without updating it).
    pub manifest_problems: Vec<CacheError>,
    /// With a manifest: where each module's metadata came from.
    pub cache_stats: Option<CacheStats>,
}

/// A depmod run over `BASE/lib/modules/VERSION`: the builder methods are
/// kmod depmod's options; [`Depmod::run`] runs it.
///
/// ```no_run
/// use kmodtree::depmod::{Depmod, KernelSymbols, Output};
///
/// // depmod -b /nix/store/…-linux -e -F System.map -n 6.1.0
/// let report = Depmod::new("/nix/store/…-linux", "6.1.0")
///     .kernel_symbols(KernelSymbols::SystemMap("System.map".into()))
///     .errsyms(true)
///     .dry_run(true)
///     .run()?;
/// for d in &report.diagnostics {
///     eprint!("{}", d.render("depmod"));
/// }
/// if let Output::DryRun(text) = report.output {
///     print!("{}", String::from_utf8_lossy(&text));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Depmod {
    base: Option<PathBuf>,
    version: String,
    module_dir: String,
    output_base: Option<PathBuf>,
    kernel_symbols: KernelSymbols,
    errsyms: bool,
    config: ConfigSource,
    modules: ModuleSelection,
    kmod: KmodVersion,
    suffixes: Suffixes,
    limits: Limits,
    jobs: Option<usize>,
    manifest: Option<(PathBuf, bool)>,
    manifest_read_only: bool,
    warn_dups: bool,
    prefix: Option<u8>,
    verbose: bool,
    dry_run: bool,
    quick: bool,
    /// Told of each module read (not with a manifest).
    progress: crate::progress::ProgressHook,
}

/// Builder methods that each set one field: `name => field: Type;`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident => $field:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $field;
            self
        }
    )*};
}

impl Depmod {
    /// depmod `-b BASE VERSION`, every other option at kmod's default
    /// (except the configuration: see [`ConfigSource::Hermetic`]).
    pub fn new(base: impl Into<PathBuf>, version: impl Into<String>) -> Depmod {
        Depmod {
            base: Some(base.into()),
            ..Depmod::system(version)
        }
    }

    /// depmod `VERSION` without `-b`: the system's `/lib/modules`.
    pub fn system(version: impl Into<String>) -> Depmod {
        Depmod {
            base: None,
            version: version.into(),
            module_dir: "lib/modules".into(),
            output_base: None,
            kernel_symbols: KernelSymbols::None,
            errsyms: false,
            config: ConfigSource::Hermetic,
            modules: ModuleSelection::All,
            kmod: KmodVersion::default(),
            suffixes: Suffixes::default(),
            limits: Limits::default(),
            jobs: None,
            manifest: None,
            manifest_read_only: false,
            warn_dups: false,
            prefix: None,
            verbose: false,
            dry_run: false,
            quick: false,
            progress: crate::progress::ProgressHook::default(),
        }
    }

    /// `-m`: the module directory under the base (default `lib/modules`).
    pub fn module_dir(mut self, dir: impl Into<String>) -> Self {
        self.module_dir = dir.into().trim_start_matches('/').to_string();
        self
    }

    /// `-o`: write under this base instead.
    pub fn output_base(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_base = Some(dir.into());
        self
    }

    setters! {
        /// `-F` / `-E`.
        kernel_symbols => kernel_symbols: KernelSymbols;
        /// `-e`: warn about symbols nobody provides (needs kernel symbols).
        errsyms => errsyms: bool;
        /// `-C` and `--host-config`.
        config => config: ConfigSource;
        /// `[MODULE...]`: which modules.
        modules => modules: ModuleSelection;
        /// Which kmod's output to reproduce (default kmod 34).
        kmod_version => kmod: KmodVersion;
        /// Which file suffixes are modules (kmod built without zlib: no `.ko.gz`).
        suffixes => suffixes: Suffixes;
        /// Resource limits for reading modules.
        limits => limits: Limits;
        /// Threads reading modules (None: every core).
        jobs => jobs: Option<usize>;
        /// Read the manifest but never write it back (a Nix build, whose copy
        /// is thrown away: rewriting a kernel's manifest doubled the time of
        /// a warm run).
        manifest_read_only => manifest_read_only: bool;
        /// `-w`: warn about duplicate index entries.
        warn_dups => warn_dups: bool;
        /// `-P`: the architecture's symbol prefix.
        symbol_prefix => prefix: Option<u8>;
        /// `-v`: list each dependency found ([`Report::verbose`]).
        verbose => verbose: bool;
        /// `-n`: write nothing; the text databases in [`Output::DryRun`].
        dry_run => dry_run: bool;
        /// Reports each module read to this hook (not with a manifest).
        progress => progress: crate::progress::ProgressHook;
        /// `-A`: do nothing when `modules.dep` is newer than every module.
        quick => quick: bool;
    }

    /// Reuse (and update) the metadata cache `file`; `verify`: hash every
    /// module instead of trusting an unchanged `stat` identity.
    pub fn manifest(mut self, file: impl Into<PathBuf>, verify: bool) -> Self {
        self.manifest = Some((file.into(), verify));
        self
    }

    /// The module directory as kmod spells it in its messages
    /// (`BASE/lib/modules/VERSION`, BASE made absolute).
    pub fn dir(&self) -> String {
        format!("{}/{}/{}", self.root(), self.module_dir, self.version)
    }

    /// The absolute base directory, empty for none.
    fn root(&self) -> String {
        self.base.as_deref().map(absolute_str).unwrap_or_default()
    }

    /// Where the databases go.
    fn out_dir(&self) -> String {
        match &self.output_base {
            Some(o) => format!("{}/{}/{}", absolute_str(o), self.module_dir, self.version),
            None => self.dir(),
        }
    }

    /// Runs depmod. Files are written only when every database rendered,
    /// all or none.
    pub fn run(&self) -> Result<Report, DepmodFailure> {
        let (output, p) = Progress::attempt(|p| self.run_with(p))?;
        Ok(Report {
            diagnostics: p.diagnostics,
            output,
            verbose: p.verbose,
            manifest_problems: p.manifest_problems,
            cache_stats: p.cache_stats,
        })
    }

    fn run_with(&self, p: &mut Progress) -> Result<Output, DepmodError> {
        if self.quick
            && (self.dry_run || up_to_date(&self.dir(), self.suffixes, &mut p.diagnostics))
        {
            return Ok(Output::UpToDate);
        }
        let (prep, mut tree, resolution) = self.resolve(p)?;
        // The symbol table has what rendering needs of the symbols.
        for m in &mut tree {
            m.exports = Default::default();
            m.imports = Default::default();
        }
        let (rendered, diags) = resolution.render(&prep, &tree, self, self.dry_run)?;
        drop(tree);
        p.diagnostics.extend(diags);
        if self.dry_run {
            let text = rendered.into_iter().flat_map(|(_, text)| text);
            return Ok(Output::DryRun(text.collect()));
        }
        let dir = Utf8PathBuf::from(self.out_dir());
        // As kmod's `mkdir_p`: mode 0755 minus the umask.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|source| DepmodError::CreateDir {
                dir: dir.to_string(),
                source,
            })?;
        // modules.dep and modules.dep.bin are renamed last: the name every
        // lookup of modprobe ends at (a module's file and dependencies)
        // turns new only once every index leading to it is new (see
        // docs/robustness.md, "What readers see").
        let mut files: Vec<(&str, &[u8])> = rendered.iter().map(|(n, b)| (*n, &b[..])).collect();
        files.sort_by_key(|(name, _)| matches!(*name, "modules.dep" | "modules.dep.bin"));
        crate::output::write_all_atomic(&dir, &files)?;
        let files = rendered.iter().map(|(name, _)| *name).collect();
        Ok(Output::Written { dir, files })
    }

    /// Reads, resolves and renders the databases without writing them:
    /// for comparing with what is on disk.
    pub fn regenerate(&self) -> Result<Regenerated, DepmodFailure> {
        let ((prep, tree, files), p) = Progress::attempt(|p| {
            let (prep, tree, resolution) = self.resolve(p)?;
            let (files, diags) = resolution.render(&prep, &tree, self, false)?;
            p.diagnostics.extend(diags);
            Ok((prep, tree, files))
        })?;
        Ok(Regenerated {
            dir: self.dir(),
            modules: prep.modules,
            tree,
            kernel_symbols: prep.kernel_symbols,
            check_symvers: self.check_symvers(),
            prefix: self.prefix,
            files,
            diagnostics: p.diagnostics,
        })
    }

    /// `-E`: the kernel symbols come with CRCs to compare.
    fn check_symvers(&self) -> bool {
        matches!(self.kernel_symbols, KernelSymbols::Symvers(_))
    }

    /// Reads the kernel symbol map and the configuration and discovers
    /// the module files.
    fn prepare(&self, diags: &mut Vec<Diagnostic>) -> Result<Prepared, DepmodError> {
        let dir = self.dir();
        let kernel_symbols = match &self.kernel_symbols {
            KernelSymbols::None => {
                if self.errsyms {
                    diags.push(Diagnostic::warning("-e needs -E or -F"));
                }
                None
            }
            KernelSymbols::SystemMap(path) | KernelSymbols::Symvers(path) => {
                let data = std::fs::read(path).map_err(|source| DepmodError::KernelSymbols {
                    path: path.clone(),
                    source,
                })?;
                let file = path.to_string_lossy();
                let (syms, d) = if self.check_symvers() {
                    let errno =
                        kernel_symbols::symvers_errno_text(&dir, self.kmod == KmodVersion::V34);
                    kernel_symbols::parse_module_symvers(&data, &file, self.prefix, &errno)
                } else {
                    kernel_symbols::parse_system_map(&data, &file, self.prefix)
                };
                diags.extend(d);
                Some(syms)
            }
        };
        let modules = match &self.modules {
            ModuleSelection::All => {
                let paths: Vec<Utf8PathBuf> = match &self.config {
                    ConfigSource::Paths(p) => p.clone(),
                    ConfigSource::Host => config::HOST_CONFIG_PATHS
                        .iter()
                        .map(Utf8PathBuf::from)
                        .collect(),
                    ConfigSource::Hermetic => {
                        let root = self.root();
                        config::HERMETIC_CONFIG_PATHS
                            .iter()
                            .map(|p| Utf8PathBuf::from(format!("{root}/{p}")))
                            .collect()
                    }
                };
                let cfg = Config::load(&paths, &self.version, diags);
                let (modules, d) = walk::discover(&dir, &cfg, self.suffixes)?;
                diags.extend(d);
                modules
            }
            ModuleSelection::Files(files) => {
                let mut mods: Vec<Candidate> = Vec::new();
                for f in files {
                    if !f.is_absolute() {
                        return Err(DepmodError::NotAbsolute { path: f.clone() });
                    }
                    let f = f.to_string();
                    let start = f.rfind('/').map_or(0, |i| i + 1);
                    let name = crate::kmod::name_from_file_name(&f[start..]);
                    if mods.iter().any(|m| m.name() == name) {
                        return Err(DepmodError::DuplicateModule { path: f });
                    }
                    mods.push(Candidate::new(f, start, &dir));
                }
                mods
            }
        };
        Ok(Prepared {
            dir,
            modules,
            kernel_symbols,
        })
    }

    /// Reads every module, through the manifest cache when there is one.
    fn read(&self, prep: &Prepared, p: &mut Progress) -> Vec<LoadedModule> {
        let Some((file, verify)) = &self.manifest else {
            return read_modules_with_progress(
                &prep.modules,
                &self.limits,
                self.jobs,
                self.progress.get(),
            );
        };
        let c = cache::Cache::load(file, &self.limits).unwrap_or_else(|e| {
            p.manifest_problems.push(e);
            cache::Cache::default()
        });
        let r = cache::read_modules_cached(&prep.modules, &self.limits, self.jobs, c, *verify);
        p.cache_stats = Some(r.stats);
        if r.changed && !self.manifest_read_only {
            if let Err(e) = r.write(file, &self.limits) {
                p.manifest_problems.push(e);
            }
        }
        r.tree
    }

    /// The module array (indexes into `prep.modules`): modules.order, then
    /// kmod's hash order; a missing or corrupted modules.order is reported.
    fn module_array(&self, prep: &Prepared, diags: &mut Vec<Diagnostic>) -> Vec<usize> {
        let dir = &prep.dir;
        let names: Vec<&str> = prep.modules.iter().map(|c| c.name()).collect();
        let uncrel: Vec<Option<&str>> = prep.modules.iter().map(|c| c.uncrelpath()).collect();
        let order_file = format!("{dir}/modules.order");
        let order_data = std::fs::read(&order_file)
            .map_err(|e| {
                let e = strerror(&e);
                let text = format!("could not open modules.order at {dir}: {e}");
                diags.push(Diagnostic::warning(text));
            })
            .ok();
        let order_lines = (order_data.as_deref())
            .and_then(|d| order::parse(d, &order_file).map_err(|d| diags.push(d)).ok());
        order::array_order(&names, &uncrel, order_lines.as_deref(), self.kmod)
    }

    /// Prepares and reads the tree, orders the modules, builds the symbol
    /// table and resolves every module's dependencies; the diagnostics and
    /// `-v` lines go to `p` in kmod's order.
    fn resolve(
        &self,
        p: &mut Progress,
    ) -> Result<(Prepared, Vec<LoadedModule>, Resolution), DepmodError> {
        let prep = self.prepare(&mut p.diagnostics)?;
        let tree = self.read(&prep, p);
        let array = self.module_array(&prep, &mut p.diagnostics);
        // Load diagnostics and the symbol table, in array order.
        let mut table = SymbolTable::new(prep.kernel_symbols.as_deref(), self.prefix);
        for (pos, &i) in array.iter().enumerate() {
            let m = &tree[i];
            let path = prep.modules[i].path().as_str();
            read::load_diagnostics(m, path, self.kmod, &mut p.diagnostics);
            if m.exports_error.is_none() {
                for e in m.exports.iter() {
                    table.add_export(e.name, e.crc, pos as u32);
                }
            }
        }
        let path_of = |pos: usize| prep.modules[array[pos]].path().as_str();
        let direct = resolve::direct_dependencies(
            array.len(),
            &path_of,
            &|pos| &tree[array[pos]].imports,
            &table,
            DepOptions {
                print_unknown: self.errsyms && prep.kernel_symbols.is_some(),
                check_symvers: self.check_symvers(),
                verbose: self.verbose,
            },
        );
        p.diagnostics.extend(direct.diags);
        p.verbose.extend(direct.verbose);
        let numbers = match resolve::topological_numbers(&direct.deps) {
            Ok(n) => n,
            Err(users) => {
                let names: Vec<&str> = array.iter().map(|&i| prep.modules[i].name()).collect();
                let (d, modules) = cycles::report_cycles(&names, &direct.deps, &users);
                p.diagnostics.extend(d);
                return Err(DepmodError::Cycles { modules });
            }
        };
        let transitive = resolve::transitive_dependencies(&direct.deps, &numbers);
        let resolution = Resolution {
            array,
            transitive,
            table,
        };
        Ok((prep, tree, resolution))
    }
}

/// A tree regenerated in memory ([`Depmod::regenerate`]).
pub struct Regenerated {
    /// The module directory as kmod spells it.
    pub dir: String,
    /// The module files, in discovery order.
    pub modules: Vec<Candidate>,
    /// `tree[i]` belongs to `modules[i]`.
    pub tree: Vec<LoadedModule>,
    pub kernel_symbols: Option<Vec<KernelSymbol>>,
    /// Whether the kernel symbols came with CRCs (`-E`).
    pub check_symvers: bool,
    pub prefix: Option<u8>,
    /// Every database, in kmod's writing order.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// kmod's diagnostics, in its order.
    pub diagnostics: Vec<Diagnostic>,
}

/// What a run has reported so far.
#[derive(Default)]
struct Progress {
    diagnostics: Vec<Diagnostic>,
    verbose: Vec<String>,
    manifest_problems: Vec<CacheError>,
    cache_stats: Option<CacheStats>,
}

impl Progress {
    /// Runs `f` with an empty `Progress`: its result and what it reported,
    /// or the failure with what it reported before.
    fn attempt<T>(
        f: impl FnOnce(&mut Progress) -> Result<T, DepmodError>,
    ) -> Result<(T, Progress), DepmodFailure> {
        let mut p = Progress::default();
        match f(&mut p) {
            Ok(t) => Ok((t, p)),
            Err(error) => Err(DepmodFailure {
                error: Box::new(error),
                diagnostics: p.diagnostics,
                verbose: p.verbose,
                manifest_problems: p.manifest_problems,
            }),
        }
    }
}

/// Everything up to reading the modules.
struct Prepared {
    dir: String,
    modules: Vec<Candidate>,
    kernel_symbols: Option<Vec<KernelSymbol>>,
}

/// The tree in kmod's module array order with every module's transitive
/// dependencies, and the symbol table.
struct Resolution {
    /// `array[pos]`: index in `prep.modules` of the module at `pos`.
    array: Vec<usize>,
    /// Transitive dependencies per array position, in modules.dep order.
    transitive: resolve::DepLists,
    table: SymbolTable,
}

impl Resolution {
    /// Renders `run`'s databases (`text_only`: those `-n` prints) from
    /// the candidates' names and paths, the resolution's dependencies and
    /// the lists of `tree`.
    fn render(
        &self,
        prep: &Prepared,
        tree: &[LoadedModule],
        run: &Depmod,
        text_only: bool,
    ) -> Result<(render::Databases, Vec<Diagnostic>), RenderError> {
        let dir = &prep.dir;
        let read = |name| std::fs::read(format!("{dir}/{name}"));
        let (builtin, builtin_modinfo) = (read("modules.builtin"), read("modules.builtin.modinfo"));
        let symbols = self.table.module_symbols();
        let modules: Vec<RenderModule> = self
            .array
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let (c, m) = (&prep.modules[i], &tree[i]);
                RenderModule {
                    name: c.name(),
                    db_path: c.db_path(),
                    deps: self.transitive.of(pos),
                    aliases: &m.aliases,
                    softdeps: &m.softdeps,
                    weakdeps: &m.weakdeps,
                }
            })
            .collect();
        let input = RenderInput {
            modules: &modules,
            symbols: &symbols,
            dir,
            builtin: &builtin,
            builtin_modinfo: &builtin_modinfo,
        };
        let (kmod, warn_dups) = (run.kmod, run.warn_dups);
        render::render_all(&input, RenderOptions { kmod, warn_dups }, text_only)
    }
}

/// `-A`: whether `DIR/modules.dep` exists and no module file is newer.
fn up_to_date(dir: &str, suffixes: Suffixes, diags: &mut Vec<Diagnostic>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dep = match std::fs::metadata(format!("{dir}/modules.dep")) {
        Ok(m) => m.mtime(),
        Err(e) => {
            let text = format!("could not fstatat({dir}, modules.dep): {}", strerror(&e));
            diags.push(Diagnostic::error(text));
            return false;
        }
    };
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !matches!(e.file_name().to_str(), Some("build" | "source"))
        });
    !walker.flatten().any(|e| {
        e.file_type().is_file()
            && suffixes.matches(std::os::unix::ffi::OsStrExt::as_bytes(e.file_name()))
            && e.metadata().is_ok_and(|m| m.mtime() > dep)
    })
}

fn absolute_str(p: &Path) -> String {
    crate::kmod::absolute(p).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_as_kmod_spells_them() {
        let d = Depmod::new("/base", "6.1.0").module_dir("/usr/lib/modules");
        assert_eq!(d.dir(), "/base/usr/lib/modules/6.1.0");
        assert_eq!(d.out_dir(), d.dir());
        let d = d.output_base("/out");
        assert_eq!(d.out_dir(), "/out/usr/lib/modules/6.1.0");
        assert_eq!(Depmod::system("6.1.0").dir(), "/lib/modules/6.1.0");
    }
}
