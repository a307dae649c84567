//! `kmodtree depmod`: the whole pipeline — discover, read (in parallel),
//! resolve, render, write — with kmod depmod's options, messages and exit
//! codes.

use crate::kmod::{is_version_number, strerror, Diagnostic, KmodVersion, Level};
use crate::module::{
    self, Compression, ImportList, InternedSymbols, Limits, ModuleError, StringList,
    SymbolInterner, SymbolList,
};
use crate::render::{self, InputFile, RenderInput, RenderOptions, Rendered};
use crate::resolve::{self, cycles, deps::DepOptions, SymbolTable};
use crate::tree::kernel_symbols::{self, KernelSymbol};
use crate::tree::walk::{self, Candidate, Suffixes};
use crate::tree::{config, order, Config};
use camino::Utf8PathBuf;
use rayon::prelude::*;
use std::io::Write;

mod records;
pub use records::{ModuleRecords, SpilledTree};

/// depmod's options (see `kmodtree depmod --help`).
#[derive(Clone, Debug, Default)]
pub struct DepmodOptions {
    /// `-a`: scan the whole module directory.
    pub all: bool,
    /// `-A`: do nothing when modules.dep is newer than every module.
    pub quick: bool,
    /// `-b`: base directory.
    pub basedir: Option<String>,
    /// `-m`: module directory under the base (default `lib/modules`).
    pub moduledir: Option<String>,
    /// `-o`: output base directory.
    pub outdir: Option<String>,
    /// `-C`: configuration files or directories (replace the defaults).
    pub config: Vec<String>,
    /// Read kmod's host configuration directories instead of the hermetic
    /// defaults under the base directory.
    pub host_config: bool,
    /// `-e`.
    pub errsyms: bool,
    /// `-E`: Module.symvers.
    pub symvers: Option<String>,
    /// `-F`: System.map.
    pub system_map: Option<String>,
    /// `-n`: print the text databases to stdout.
    pub dry_run: bool,
    /// `-P`: symbol prefix (must be one character).
    pub prefix: Option<String>,
    /// `-w`.
    pub warn_dups: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `[VERSION] [MODULE_FILE...]`.
    pub args: Vec<String>,
    /// Worker threads (None: available cores).
    pub jobs: Option<usize>,
    pub kmod: KmodVersion,
    pub suffixes: Suffixes,
    pub limits: Limits,
    /// `--manifest FILE`: reuse (and update) the metadata cache FILE.
    pub manifest: Option<std::path::PathBuf>,
    /// `--manifest-verify`: hash every module instead of trusting an
    /// unchanged `stat` identity.
    pub manifest_verify: bool,
    /// Told of each module read (not with `manifest`).
    pub progress: crate::progress::ProgressHook,
}

/// What depmod needs from one module file, extracted in parallel.
///
/// The imported symbols are interned: they are ids into the
/// [`InternedSymbols`] of the [`LoadedTree`] the module belongs to. (The
/// `--manifest` cache stores their names, see [`crate::audit::cache`].)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedModule {
    pub aliases: StringList,
    pub softdeps: StringList,
    pub weakdeps: StringList,
    pub exports: SymbolList,
    pub imports: ImportList,
    /// The first `vermagic` value (not used by the databases; `verify`
    /// reports modules whose vermagic differs from the kernel's).
    pub vermagic: Option<Vec<u8>>,
    /// The image could not be read at all. (Boxed, like the other
    /// error: a tree holds thousands of modules and few errors.)
    pub error: Option<Box<ModuleError>>,
    /// The exports could not be read (the rest is valid).
    pub exports_error: Option<Box<ModuleError>>,
}

/// The modules of a tree, read, and the symbols they import.
#[derive(Clone, Debug, Default)]
pub struct LoadedTree {
    /// `modules[i]` belongs to the i-th module file given to the reader.
    pub modules: Vec<LoadedModule>,
    /// The names and CRCs behind every module's [`LoadedModule::imports`].
    pub symbols: InternedSymbols,
}

impl LoadedTree {
    /// Frees every module's exports and imports and the interned symbol
    /// names: once the tree is resolved, only the aliases, softdeps and
    /// weakdeps are rendered. The load errors stay.
    pub fn release_symbols(&mut self) {
        for m in &mut self.modules {
            m.exports = SymbolList::default();
            m.imports = ImportList::default();
        }
        self.symbols = InternedSymbols::default();
    }
}

impl LoadedModule {
    /// Releases the lists' spare capacity, for a module kept in memory
    /// (one spilled is copied out at once).
    pub fn shrink_to_fit(&mut self) {
        for list in [&mut self.aliases, &mut self.softdeps, &mut self.weakdeps] {
            list.shrink_to_fit();
        }
        self.exports.shrink_to_fit();
    }

    /// Reads one module file keeping only what depmod uses, its imports
    /// interned in `interner`.
    pub fn read(
        path: &camino::Utf8Path,
        limits: &Limits,
        interner: &SymbolInterner,
    ) -> LoadedModule {
        let read = module::read_module_parts_for_depmod(path, limits, |_, parts| {
            let mut m = LoadedModule::default();
            match parts.exports {
                Ok(e) => m.exports = e,
                Err(e) => m.exports_error = Some(Box::new(e)),
            }
            m.imports = interner.intern_imports(&parts.imports)?;
            for entry in parts
                .modinfo
                .map(module::modinfo::strings)
                .into_iter()
                .flatten()
            {
                let (key, value) = module::modinfo::split_entry(entry);
                // The lists hold at most 4 GiB; `.modinfo` is part of an
                // image no larger than the size limit.
                match key {
                    b"alias" => m.aliases.push(value),
                    b"softdep" => m.softdeps.push(value),
                    b"weakdep" => m.weakdeps.push(value),
                    b"vermagic" if m.vermagic.is_none() => {
                        m.vermagic = Some(value.to_vec());
                        Ok(())
                    }
                    _ => Ok(()),
                }?;
            }
            Ok(m)
        });
        read.and_then(|r| r).unwrap_or_else(|e| LoadedModule {
            error: Some(Box::new(e)),
            ..Default::default()
        })
    }
}

/// kmod's messages for a module that failed to load (`errors`: see
/// [`ModuleRecords::load_errors`]), in its order.
fn load_diagnostics(
    errors: (Option<&ModuleError>, Option<&ModuleError>),
    path: &str,
    kmod: KmodVersion,
    out: &mut Vec<Diagnostic>,
) {
    let Some(err) = errors.0.or(errors.1) else {
        return;
    };
    // kmod 34 reports liblzma's error at each of its three attempts.
    let xz = match err {
        ModuleError::Decompress {
            format: Compression::Xz,
            reason,
        } if kmod == KmodVersion::V34 => Some(format!("xz: {reason}")),
        _ => None,
    };
    if let Some(x) = &xz {
        out.push(Diagnostic::error(x.clone()));
    }
    out.push(Diagnostic::error(format!(
        "failed to load symbols from {path}: {}",
        err.errno().strerror()
    )));
    if let Some(x) = xz {
        out.push(Diagnostic::error(x.clone()));
        out.push(Diagnostic::error(x));
    }
}

/// The result of a run: what to print and the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// kmodtree's own lines for stderr (not depmod-compatible ones:
    /// `kmodtree: warning: ...`), printed first.
    pub notes: Vec<String>,
    pub diags: Vec<Diagnostic>,
    pub stdout: Vec<u8>,
    pub exit_code: i32,
}

impl Outcome {
    fn fatal(mut self, text: impl Into<String>) -> Outcome {
        self.diags.push(Diagnostic {
            level: Level::Fatal,
            text: text.into(),
        });
        self.exit_code = 1;
        self
    }

    /// Prints the diagnostics (as `prog: LEVEL: text`) and stdout.
    pub fn print(&self, prog: &str, verbose: u8, out: &mut dyn Write, err: &mut dyn Write) {
        let _ = out.write_all(&self.stdout);
        for n in &self.notes {
            let _ = writeln!(err, "{n}");
        }
        for d in &self.diags {
            if d.level <= Level::Warning || verbose >= 2 {
                let _ = err.write_all(d.render(prog).as_bytes());
            }
        }
    }
}

/// The directories of a run (spec §1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// The absolute base directory (empty string for `/`).
    pub root: String,
    /// Module directory, as kmod spells it (`ROOT/lib/modules/VERSION`).
    pub dir: String,
    /// Output directory.
    pub out: String,
    pub version: String,
}

fn running_kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// Everything up to rendering; shared by `depmod` and the audit commands.
pub struct Prepared {
    pub dirs: Dirs,
    pub modules: Vec<Candidate>,
    pub kernel_symbols: Option<Vec<KernelSymbol>>,
    pub check_symvers: bool,
    pub print_unknown: bool,
    pub prefix: Option<u8>,
    pub diags: Vec<Diagnostic>,
}

/// Parses the arguments, reads the kernel symbol map and configuration and
/// discovers the module files. Err carries a finished (failed) outcome.
pub fn prepare(opts: &DepmodOptions) -> Result<Prepared, Outcome> {
    let mut outcome = Outcome::default();
    let prefix = match &opts.prefix {
        None => None,
        Some(p) if p.len() == 1 => Some(p.as_bytes()[0]),
        Some(_) => return Err(outcome.fatal("-P only takes a single char")),
    };
    let (dirs, files) = match directories(opts) {
        Ok(d) => d,
        Err(bad) => {
            outcome
                .diags
                .push(Diagnostic::error(format!("Bad version passed {bad}")));
            outcome.exit_code = 1;
            return Err(outcome);
        }
    };
    let all = opts.all || files.is_empty();
    let (root, dir, version) = (dirs.root.clone(), dirs.dir.clone(), dirs.version.clone());

    // Kernel symbols: -E wins over -F.
    let mut print_unknown = opts.errsyms;
    let map = opts
        .symvers
        .as_ref()
        .map(|f| (f, true))
        .or(opts.system_map.as_ref().map(|f| (f, false)));
    let kernel_symbols = match map {
        Some((file, is_symvers)) => {
            let data = match std::fs::read(file) {
                Ok(d) => d,
                Err(e) => {
                    return Err(outcome.fatal(format!("could not load {file}: {}", strerror(&e))))
                }
            };
            let (syms, d) = if is_symvers {
                let errno = kernel_symbols::symvers_errno_text(&dir, opts.kmod == KmodVersion::V34);
                kernel_symbols::parse_module_symvers(&data, file, prefix, &errno)
            } else {
                kernel_symbols::parse_system_map(&data, file, prefix)
            };
            outcome.diags.extend(d);
            Some(syms)
        }
        None => {
            if print_unknown {
                outcome.diags.push(Diagnostic::warning("-e needs -E or -F"));
                print_unknown = false;
            }
            None
        }
    };

    let modules = if all {
        let paths: Vec<Utf8PathBuf> = if !opts.config.is_empty() {
            opts.config.iter().map(Utf8PathBuf::from).collect()
        } else if opts.host_config {
            config::HOST_CONFIG_PATHS
                .iter()
                .map(Utf8PathBuf::from)
                .collect()
        } else {
            config::HERMETIC_CONFIG_PATHS
                .iter()
                .map(|p| Utf8PathBuf::from(format!("{root}/{p}")))
                .collect()
        };
        let cfg = Config::load(&paths, &version, &mut outcome.diags);
        match walk::discover(&dir, &cfg, opts.suffixes) {
            Ok(disc) => {
                outcome.diags.extend(disc.diags);
                disc.modules
            }
            Err(walk::DiscoverError::ModuleDir { dir, source }) => {
                let reason = strerror(&source);
                outcome.diags.push(Diagnostic::error(format!(
                    "could not open directory {dir}: {reason}"
                )));
                return Err(outcome.fatal(format!("could not search modules: {reason}")));
            }
            Err(e) => return Err(outcome.fatal(e.to_string())),
        }
    } else {
        let mut mods: Vec<Candidate> = Vec::new();
        for f in files {
            if !f.starts_with('/') {
                return Err(outcome.fatal(format!("{f}: not absolute path.")));
            }
            let file_name = f.rsplit('/').next().unwrap_or(f);
            let name = walk::module_name(file_name);
            if mods.iter().any(|m| m.name() == name) {
                return Err(outcome.fatal(format!("could not add module {f}: File exists")));
            }
            mods.push(Candidate::new(
                f.to_string(),
                f.len() - file_name.len(),
                &dir,
            ));
        }
        mods
    };
    Ok(Prepared {
        dirs,
        modules,
        check_symvers: opts.symvers.is_some(),
        kernel_symbols,
        print_unknown,
        prefix,
        diags: outcome.diags,
    })
}

/// Reads every module in parallel; results in input order.
pub fn read_modules(modules: &[Candidate], limits: &Limits, jobs: Option<usize>) -> LoadedTree {
    read_modules_with_progress(modules, limits, jobs, &crate::progress::Silent)
}

/// [`read_modules`], reporting each module read to `progress`.
pub fn read_modules_with_progress(
    modules: &[Candidate],
    limits: &Limits,
    jobs: Option<usize>,
    progress: &dyn crate::progress::Progress,
) -> LoadedTree {
    let interner = SymbolInterner::new();
    progress.start("reading modules", modules.len() as u64);
    let modules = read_largest_first(modules, jobs, |c| {
        let mut m = LoadedModule::read(c.path(), limits, &interner);
        m.shrink_to_fit();
        progress.advance(1);
        m
    });
    progress.finish();
    LoadedTree {
        modules,
        symbols: interner.freeze(),
    }
}

/// `read` of every module, in parallel on `jobs` threads; results in
/// input order.
///
/// The largest files are read first: a big compressed module is decoded
/// whole (amdgpu: 28 MB), and a big plain one still has its symbol and
/// string tables read (amdgpu: 2 MB); reading those while little else is
/// held keeps the peak from adding them to the whole tree's metadata, and
/// keeps two of them from being read at the same time late in the run.
fn read_largest_first<T: Send>(
    modules: &[Candidate],
    jobs: Option<usize>,
    read: impl Fn(&Candidate) -> T + Sync,
) -> Vec<T> {
    let work = || {
        let sizes: Vec<u64> = modules
            .par_iter()
            .map(|c| std::fs::metadata(c.path()).map_or(0, |m| m.len()))
            .collect();
        let mut order: Vec<usize> = (0..modules.len()).collect();
        // Ties in input order: the same work order on every run.
        order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
        // One module per job: the costly modules, all at the front, would
        // otherwise be one thread's sequential share.
        let mut read: Vec<T> = order
            .par_iter()
            .with_max_len(1)
            .map(|&i| read(&modules[i]))
            .collect();
        crate::module::release_pool_read_buffers();
        // Back to input order in place (a second tree-sized vector
        // would be part of the peak): `read[k]` belongs at `order[k]`.
        for k in 0..read.len() {
            while order[k] != k {
                let t = order[k];
                read.swap(k, t);
                order.swap(k, t);
            }
        }
        read
    };
    crate::jobs::run_with_jobs(jobs, work)
}

fn read_input(dir: &str, name: &str) -> InputFile {
    std::fs::read(format!("{dir}/{name}")).map_err(|e| strerror(&e))
}

/// A resolved, rendered tree (nothing written yet).
pub struct Built {
    pub rendered: Rendered,
    /// `-v` lines for stdout.
    pub verbose: Vec<String>,
}

/// A build that failed (cycles, bad characters): exit 1, nothing written.
#[derive(Debug, Default)]
pub struct Failed {
    /// `-v` lines for stdout: kmod prints them while it computes the
    /// dependencies, before it finds a cycle or a bad character.
    pub verbose: Vec<String>,
}

/// Orders, resolves and renders. Module `i` of `tree` belongs to
/// `prep.modules[i]`. Diagnostics are appended to `diags` in kmod's order;
/// Err means exit 1 with nothing written (cycles, bad characters).
pub fn build(
    prep: &Prepared,
    tree: &dyn ModuleRecords,
    opts: &DepmodOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Built, Failed> {
    let resolution = resolve(prep, tree, opts, diags)?;
    let (rendered, verbose) = resolution.render(
        prep,
        tree,
        opts,
        diags,
        |input, ropts, diags| match render::render_all(input, ropts) {
            Ok(r) => {
                diags.extend(r.diags.iter().cloned());
                Some(r)
            }
            Err(render::RenderAllError::BadCharacter(bad)) => {
                diags.push(bad_character(&bad));
                None
            }
            Err(e) => {
                diags.push(Diagnostic::error(e.to_string()));
                None
            }
        },
    )?;
    Ok(Built { rendered, verbose })
}

fn bad_character(bad: &render::BadCharacter) -> Diagnostic {
    Diagnostic {
        level: Level::Fatal,
        text: bad.to_string(),
    }
}

/// The tree in kmod's module array order with every module's transitive
/// dependencies, and the symbol table. It owns all of it: the modules'
/// interned symbol names are no longer needed (see
/// [`LoadedTree::release_symbols`] and [`SpilledTree::release_symbols`]);
/// their lists are read from the tree while rendering.
pub struct Resolution {
    /// `array[pos]`: index in `prep.modules` of the module at `pos`.
    array: Vec<usize>,
    /// Transitive dependencies per array position, in modules.dep order.
    transitive: resolve::DepLists,
    table: SymbolTable,
    /// `-v` lines for stdout.
    pub verbose: Vec<String>,
}

/// The module array (indexes into `prep.modules`): modules.order, then
/// kmod's hash order; a missing or corrupted modules.order is reported in
/// `diags`.
fn module_array(prep: &Prepared, opts: &DepmodOptions, diags: &mut Vec<Diagnostic>) -> Vec<usize> {
    let dir = &prep.dirs.dir;
    let names: Vec<&str> = prep.modules.iter().map(|c| c.name()).collect();
    let uncrel: Vec<Option<&str>> = prep.modules.iter().map(|c| c.uncrelpath()).collect();
    let order_file = format!("{dir}/modules.order");
    let order_data = match std::fs::read(&order_file) {
        Ok(d) => Some(d),
        Err(e) => {
            diags.push(Diagnostic::warning(format!(
                "could not open modules.order at {dir}: {}",
                strerror(&e)
            )));
            None
        }
    };
    let order_lines = match order_data.as_deref().map(|d| order::parse(d, &order_file)) {
        Some(Ok(lines)) => Some(lines),
        Some(Err(d)) => {
            diags.push(d);
            None
        }
        None => None,
    };
    let dups = match opts.kmod {
        KmodVersion::V30 => order::Duplicates::Last,
        KmodVersion::V34 => order::Duplicates::First,
    };
    order::array_order(&names, &uncrel, order_lines.as_deref(), dups)
}

/// Orders the modules (modules.order, then kmod's hash order), builds the
/// symbol table and resolves every module's dependencies. Diagnostics are
/// appended to `diags` in kmod's order; Err is a dependency cycle (exit 1).
pub fn resolve(
    prep: &Prepared,
    tree: &dyn ModuleRecords,
    opts: &DepmodOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Resolution, Failed> {
    let array = module_array(prep, opts, diags);

    // Load diagnostics and the symbol table, in array order.
    let mut table = SymbolTable::new(prep.kernel_symbols.as_deref(), prep.prefix);
    for (pos, &i) in array.iter().enumerate() {
        let errors = tree.load_errors(i);
        load_diagnostics(errors, prep.modules[i].path().as_str(), opts.kmod, diags);
        if errors.1.is_none() {
            for e in tree.exports(i).iter() {
                table.add_export(e.name, e.crc, pos as u32);
            }
        }
    }
    let path_of = |pos: usize| prep.modules[array[pos]].path().as_str();
    let direct = resolve::direct_dependencies(
        array.len(),
        &path_of,
        &|pos| tree.imports(array[pos]),
        tree.symbols(),
        &table,
        DepOptions {
            print_unknown: prep.print_unknown,
            check_symvers: prep.check_symvers,
            verbose: opts.verbose >= 1,
        },
    );
    diags.extend(direct.diags);
    let numbers = match resolve::topological_numbers(&direct.deps) {
        Ok(n) => n,
        Err(users) => {
            let names: Vec<&str> = array.iter().map(|&i| prep.modules[i].name()).collect();
            diags.extend(cycles::report_cycles(&names, &direct.deps, &users));
            return Err(Failed {
                verbose: direct.verbose,
            });
        }
    };
    let transitive = resolve::transitive_dependencies(&direct.deps, &numbers);
    Ok(Resolution {
        array,
        transitive,
        table,
        verbose: direct.verbose,
    })
}

impl Resolution {
    /// Hands what the renderers need to `render`, which returns None after
    /// adding a diagnostic when it failed (exit 1); `modules` are the
    /// tree's, whose aliases, softdeps and weakdeps are rendered. Returns
    /// the `-v` lines too.
    pub fn render<T>(
        self,
        prep: &Prepared,
        tree: &dyn ModuleRecords,
        opts: &DepmodOptions,
        diags: &mut Vec<Diagnostic>,
        render: impl FnOnce(&RenderInput, RenderOptions, &mut Vec<Diagnostic>) -> Option<T>,
    ) -> Result<(T, Vec<String>), Failed> {
        let Resolution {
            array,
            transitive,
            table,
            verbose,
        } = self;
        let dir = &prep.dirs.dir;
        let builtin = read_input(dir, "modules.builtin");
        let builtin_modinfo = read_input(dir, "modules.builtin.modinfo");
        let symbols = table.module_symbols();
        let modules = records::InArrayOrder {
            array: &array,
            candidates: &prep.modules,
            transitive: &transitive,
            tree,
        };
        let input = RenderInput {
            modules: &modules,
            symbols: &symbols,
            dir,
            builtin: &builtin,
            builtin_modinfo: &builtin_modinfo,
        };
        let ropts = RenderOptions {
            kmod: opts.kmod,
            warn_dups: opts.warn_dups,
        };
        match render(&input, ropts, diags) {
            Some(r) => Ok((r, verbose)),
            None => Err(Failed { verbose }),
        }
    }
}

/// `-A`: whether `DIR/modules.dep` exists and no module file is newer.
fn up_to_date(dir: &str, suffixes: Suffixes, diags: &mut Vec<Diagnostic>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dep = match std::fs::metadata(format!("{dir}/modules.dep")) {
        Ok(m) => m.mtime(),
        Err(e) => {
            diags.push(Diagnostic::error(format!(
                "could not fstatat({dir}, modules.dep): {}",
                strerror(&e)
            )));
            return false;
        }
    };
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !matches!(e.file_name().to_str(), Some("build" | "source"))
        });
    for e in walker.flatten() {
        if e.file_type().is_file()
            && suffixes.matches(std::os::unix::ffi::OsStrExt::as_bytes(e.file_name()))
            && e.metadata().map(|m| m.mtime() > dep).unwrap_or(false)
        {
            return false;
        }
    }
    true
}

/// Runs depmod: returns what to print and the exit status. Files are
/// written only when every database rendered.
pub fn run(opts: &DepmodOptions) -> Outcome {
    let mut pre = Vec::new();
    if opts.quick {
        if opts.dry_run {
            return Outcome::default();
        }
        if let Ok((dirs, _)) = directories(opts) {
            if up_to_date(&dirs.dir, opts.suffixes, &mut pre) {
                return Outcome {
                    diags: pre,
                    ..Default::default()
                };
            }
        }
    }
    let timing = std::env::var_os("KMODTREE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let prep = match prepare(opts) {
        Ok(p) => p,
        Err(mut o) => {
            pre.append(&mut o.diags);
            o.diags = pre;
            return o;
        }
    };
    let mut outcome = Outcome {
        diags: pre,
        ..Default::default()
    };
    outcome.diags.extend(prep.diags.iter().cloned());
    let t1 = std::time::Instant::now();
    let mut cached = None;
    let tree = match &opts.manifest {
        None => Tree::Spilled(SpilledTree::read(
            &prep.modules,
            &opts.limits,
            opts.jobs,
            crate::spill::Spill::in_temp_dir(),
            opts.progress.get(),
        )),
        Some(file) => {
            use crate::audit::cache;
            let (c, problem) = cache::Cache::load(file, &opts.limits);
            if let Some(p) = problem {
                outcome.notes.push(format!("kmodtree: warning: {p}"));
            }
            let mut r = cache::read_modules_cached(
                &prep.modules,
                &opts.limits,
                opts.jobs,
                c,
                opts.manifest_verify,
            );
            if timing {
                eprintln!("kmodtree timing: manifest {:?}", r.stats);
            }
            let tree = std::mem::take(&mut r.tree);
            cached = Some(r);
            Tree::Loaded(tree)
        }
    };
    let t2 = std::time::Instant::now();
    let hwm_read = timing.then(peak_rss_kib).flatten();
    let mut tree = match (cached, tree) {
        (Some(mut r), Tree::Loaded(tree)) if r.changed => {
            r.tree = tree;
            if let Some(file) = &opts.manifest {
                if let Err(e) = r.write(file, &opts.limits) {
                    outcome.notes.push(format!("kmodtree: warning: {e}"));
                }
            }
            Tree::Loaded(std::mem::take(&mut r.tree))
        }
        (_, tree) => tree,
    };
    // Each database goes to its temporary as it is rendered (none is held
    // whole); they are renamed once all are written.
    let out = camino::Utf8Path::new(&prep.dirs.out);
    let staged = crate::output::StagedFiles::new(out);
    let built = if opts.dry_run {
        // `-n`: the text databases to stdout.
        resolve(&prep, tree.records(), opts, &mut outcome.diags).and_then(|resolution| {
            resolution.render(
                &prep,
                tree.records(),
                opts,
                &mut outcome.diags,
                |input, ropts, diags| {
                    let (text, d) = render::render_text_only(input, ropts);
                    diags.extend(d);
                    Some(Some(text))
                },
            )
        })
    } else {
        resolve(&prep, tree.records(), opts, &mut outcome.diags).and_then(|resolution| {
            // The symbol table has what rendering needs of the symbols.
            tree.release_symbols();
            crate::memory::return_free_pages();
            resolution.render(
                &prep,
                tree.records(),
                opts,
                &mut outcome.diags,
                |input, ropts, diags| {
                    render_to_temporaries(input, ropts, &staged, diags).map(|()| None)
                },
            )
        })
    };
    // Nothing rendered from lists that could not be read back is kept.
    let spill_failure = tree.spill_failure();
    // Freeing a whole tree takes a while: do it beside the renaming.
    rayon::spawn(move || drop(tree));
    let t3 = std::time::Instant::now();
    if timing {
        eprintln!(
            "kmodtree timing: discover {:?}, read {:?}, resolve+render {:?}; \
             peak RSS after reading {:?} KiB, after rendering {:?} KiB",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            hwm_read,
            peak_rss_kib()
        );
    }
    let verbose = match &built {
        Ok((_, v)) => v,
        Err(f) => &f.verbose,
    };
    if opts.verbose >= 1 {
        for l in verbose {
            outcome.stdout.extend_from_slice(l.as_bytes());
            outcome.stdout.push(b'\n');
        }
    }
    let text = match built {
        Ok((text, _)) => text,
        Err(_) => {
            outcome.exit_code = 1;
            return outcome;
        }
    };
    if let Some(reason) = spill_failure {
        outcome.diags.push(Diagnostic {
            level: Level::Fatal,
            text: format!("could not read back the modules' data from {SPILL_PLACE}: {reason}"),
        });
        outcome.exit_code = 1;
        return outcome;
    }
    if let Some(t) = text {
        outcome.stdout.extend_from_slice(&t);
        return outcome;
    }
    if let Err(e) = staged.commit() {
        outcome.diags.push(Diagnostic::error(e.to_string()));
        outcome.exit_code = 1;
    }
    outcome
}

/// Where depmod keeps the modules' lists between reading and rendering,
/// as its messages name it.
const SPILL_PLACE: &str = "its temporary file in TMPDIR";

/// The tree `run` resolves: spilled, or in memory when it comes from the
/// `--manifest` cache (which keeps it whole to write it back).
enum Tree {
    Loaded(LoadedTree),
    Spilled(SpilledTree),
}

impl Tree {
    fn records(&self) -> &dyn ModuleRecords {
        match self {
            Tree::Loaded(t) => t,
            Tree::Spilled(t) => t,
        }
    }

    fn release_symbols(&mut self) {
        match self {
            Tree::Loaded(t) => t.release_symbols(),
            Tree::Spilled(t) => t.release_symbols(),
        }
    }

    fn spill_failure(&self) -> Option<String> {
        match self {
            Tree::Loaded(_) => None,
            Tree::Spilled(t) => t.failure(),
        }
    }
}

/// Renders every database straight into its temporary in `staged`,
/// creating the output directory first (kmod's `mkdir_p`: mode 0755 minus
/// the umask). None after a diagnostic: content kmod refuses, a directory
/// that cannot be created, a temporary that cannot be written.
fn render_to_temporaries(
    input: &RenderInput,
    ropts: RenderOptions,
    staged: &crate::output::StagedFiles,
    diags: &mut Vec<Diagnostic>,
) -> Option<()> {
    enum Refused {
        Mkdir(String),
        Write(crate::output::WriteError),
    }
    let out = staged.dir();
    let mkdir = std::sync::OnceLock::new();
    let sink = |name: &'static str, produce: &render::Producer| -> Result<(), Refused> {
        mkdir
            .get_or_init(|| {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(out)
                    .map_err(|e| strerror(&e))
            })
            .clone()
            .map_err(Refused::Mkdir)?;
        staged.stage_with(name, produce).map_err(Refused::Write)
    };
    match render::render_each(input, ropts, &sink) {
        Ok(d) => {
            diags.extend(d);
            staged.order_by_key(render::writing_rank);
            Some(())
        }
        Err(render::RenderError::BadCharacter(bad)) => {
            diags.push(bad_character(&bad));
            None
        }
        Err(render::RenderError::Sink {
            error: Refused::Mkdir(reason),
            diags: d,
        }) => {
            diags.extend(d);
            diags.push(Diagnostic {
                level: Level::Fatal,
                text: format!("could not create directory {out}: {reason}"),
            });
            None
        }
        Err(render::RenderError::Sink {
            error: Refused::Write(e),
            diags: d,
        }) => {
            diags.extend(d);
            diags.push(Diagnostic::error(e.to_string()));
            None
        }
    }
}

/// The process's peak resident set so far (`VmHWM`), for `KMODTREE_TIMING`.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The module directory under the base, without leading slashes. `-m`
/// is honoured for every `--kmod-version` (like `-o`): kmod 30 had no
/// such option, and ignoring the user's directory silently would be worse.
fn module_directory(opts: &DepmodOptions) -> String {
    match &opts.moduledir {
        Some(m) => m.trim_start_matches('/').to_string(),
        None => "lib/modules".to_string(),
    }
}

/// The directories of a run and the module files named on the command
/// line; Err is a first argument that is not a version (`%u.%u`).
pub fn directories(opts: &DepmodOptions) -> Result<(Dirs, Vec<&String>), &String> {
    let mut args = opts.args.iter().peekable();
    let version = match args.peek() {
        Some(v) if is_version_number(v) => {
            let v = v.to_string();
            args.next();
            v
        }
        Some(v) => return Err(v),
        None => running_kernel_release(),
    };
    let root = opts
        .basedir
        .as_deref()
        .map(absolute_str)
        .unwrap_or_default();
    let moddir = module_directory(opts);
    let dir = format!("{root}/{moddir}/{version}");
    let out = match &opts.outdir {
        Some(o) => format!("{}/{moddir}/{version}", absolute_str(o)),
        None => dir.clone(),
    };
    let dirs = Dirs {
        root,
        dir,
        out,
        version,
    };
    Ok((dirs, args.collect()))
}

fn absolute_str(p: &str) -> String {
    crate::kmod::absolute(std::path::Path::new(p))
        .to_string_lossy()
        .into_owned()
}
