//! `kmodtree verify -b BASE VERSION`: are the tree's databases exactly what
//! `kmodtree depmod` would write now (regenerated in memory, compared with
//! the files on disk), and can every module load into this kernel?
//!
//! Loadability checks: vermagic equal to the kernel's (given, or the most
//! common one among the modules under `kernel/`); every non-weak symbol
//! provided by a module or the kernel (only with `-E` or `-F`, which say
//! what the kernel provides); and with `-E`, every symbol CRC equal to its
//! provider's.

use super::diff::database_changes;
use super::AuditError;
use crate::depmod::{ConfigSource, Depmod, KernelSymbols};
use crate::index::{dump_lines, Index};
use crate::kmod::esc::encode;
use crate::kmod::KmodVersion;
use crate::resolve::SymbolTable;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// Options of a verification.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    pub basedir: Option<String>,
    pub version: String,
    /// `-C`: depmod configuration (default: hermetic, under BASE).
    pub config: Vec<String>,
    /// `-E`: the kernel's Module.symvers (symbols and CRCs).
    pub symvers: Option<String>,
    /// `-F`: the kernel's System.map (symbols).
    pub system_map: Option<String>,
    /// The kernel's vermagic (default: the most common among `kernel/`).
    pub vermagic: Option<String>,
    pub kmod: KmodVersion,
    /// Compare with the output of the kmod that wrote the indexes on disk
    /// (see [`written_by`]) instead of `kmod`, when that can be told.
    pub detect_kmod: bool,
    pub jobs: Option<usize>,
    /// Most itemised differences per database (0: no limit).
    pub limit: usize,
    pub without_zlib: bool,
    /// Told of each module read.
    pub progress: crate::progress::ProgressHook,
}

/// One database that is not what depmod would write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleDatabase {
    pub name: String,
    /// `missing`, `differs`, `differs only in layout`.
    pub problem: String,
    pub details: Vec<String>,
}

/// One module that cannot load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incompatible {
    /// As depmod writes it (relative to the module directory if inside).
    pub path: String,
    pub problems: Vec<String>,
}

/// The result.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub stale: Vec<StaleDatabase>,
    /// Modules present in the tree but not in the on-disk modules.dep.
    pub unindexed: Vec<String>,
    /// Modules in the on-disk modules.dep that are gone.
    pub vanished: Vec<String>,
    pub incompatible: Vec<Incompatible>,
    pub kernel_vermagic: Option<String>,
    /// What could not be checked, and depmod's own diagnostics.
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.stale.is_empty() && self.incompatible.is_empty()
    }

    /// Readable lines.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        for d in &self.stale {
            s.push_str(&format!("stale: {}: {}\n", d.name, d.problem));
            for l in &d.details {
                s.push_str(&format!("    {l}\n"));
            }
        }
        for m in &self.unindexed {
            s.push_str(&format!(
                "not in modules.dep: {m} (added without running depmod?)\n"
            ));
        }
        for m in &self.vanished {
            s.push_str(&format!("in modules.dep but gone: {m}\n"));
        }
        for m in &self.incompatible {
            for p in &m.problems {
                s.push_str(&format!("cannot load: {}: {p}\n", m.path));
            }
        }
        if self.ok() {
            s.push_str("ok: databases fresh, every module loadable\n");
        }
        s
    }
}

fn modules_dep_keys(data: &[u8]) -> BTreeSet<String> {
    data.split(|&b| b == b'\n')
        .filter_map(|l| {
            let c = l.iter().position(|&b| b == b':')?;
            Some(String::from_utf8_lossy(&l[..c]).into_owned())
        })
        .collect()
}

/// Which kmod wrote the databases in `dir`, and why it is thought so: the
/// layout of the first index that tells (pre-order: kmod 34 and later,
/// post-order: kmod 30 to 33), else a `modules.weakdep` (kmod 34 writes
/// one). `None` when nothing tells.
pub fn written_by(dir: &std::path::Path) -> Option<(KmodVersion, &'static str)> {
    use crate::index::{detect_layout, Layout};
    let indexes = [
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols.bin",
    ];
    let by_layout = indexes.into_iter().find_map(|name| {
        match detect_layout(&std::fs::read(dir.join(name)).ok()?)? {
            Layout::PreOrder => Some((KmodVersion::V34, "pre-order indexes")),
            Layout::PostOrder => Some((KmodVersion::V30, "post-order indexes")),
        }
    });
    by_layout.or_else(|| {
        dir.join("modules.weakdep")
            .exists()
            .then_some((KmodVersion::V34, "modules.weakdep"))
    })
}

/// Whether `disk`, the content of database `name` in `dir`, is what
/// Guix's `modules.alias` or `modules.devname` writer gives for `dir` (a
/// directory with Guix's `modules.name`). `guix` caches the rendering.
fn guix_wrote(
    dir: &str,
    name: &str,
    disk: &[u8],
    guix: &mut Option<Option<crate::guix::GuixDatabases>>,
    jobs: Option<usize>,
) -> bool {
    if !matches!(name, "modules.alias" | "modules.devname")
        || !std::path::Path::new(dir).join("modules.name").is_file()
    {
        return false;
    }
    let dbs = guix.get_or_insert_with(|| crate::guix::guix_databases(dir, dir, jobs).ok());
    match dbs {
        Some(d) if name == "modules.alias" => d.alias == disk,
        Some(d) => d.devname == disk,
        None => false,
    }
}

/// Verifies a tree: are its databases what depmod would write now, and
/// can every module load (vermagic, symbols, CRCs)?
///
/// ```no_run
/// use kmodtree::audit::{verify, VerifyOptions};
///
/// let opts = VerifyOptions {
///     version: "6.1.0".into(),
///     symvers: Some("/usr/src/linux-headers-6.1.0/Module.symvers".into()),
///     ..Default::default()
/// };
/// let report = verify(&opts)?;
/// print!("{}", report.render());
/// assert!(report.ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify(opts: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let moddir = format!(
        "{}/lib/modules/{}",
        opts.basedir.as_deref().unwrap_or(""),
        opts.version
    );
    let writer = written_by(std::path::Path::new(&moddir));
    let kmod = match writer {
        Some((k, _)) if opts.detect_kmod => k,
        _ => opts.kmod,
    };
    let config = match opts.config.is_empty() {
        true => ConfigSource::Hermetic,
        false => ConfigSource::Paths(opts.config.iter().map(Into::into).collect()),
    };
    // -E wins over -F, as in depmod.
    let kernel_symbols = match (&opts.symvers, &opts.system_map) {
        (Some(f), _) => KernelSymbols::Symvers(f.into()),
        (None, Some(f)) => KernelSymbols::SystemMap(f.into()),
        (None, None) => KernelSymbols::None,
    };
    let depmod = match &opts.basedir {
        Some(b) => Depmod::new(b, &opts.version),
        None => Depmod::system(&opts.version),
    };
    let regen = depmod
        .config(config)
        .kernel_symbols(kernel_symbols)
        .jobs(opts.jobs)
        .progress(opts.progress.clone())
        .kmod_version(kmod)
        .suffixes(crate::tree::walk::Suffixes {
            gzip: !opts.without_zlib,
            ..Default::default()
        })
        .regenerate()
        .map_err(Box::new)?;
    let (modules, loaded) = (&regen.modules, &regen.tree);
    let mut report = VerifyReport::default();
    if let Some((k, why)) = writer {
        let label = |k| match k {
            KmodVersion::V34 => "kmod 34 or later",
            KmodVersion::V30 => "kmod 30 to 33",
        };
        report.notes.push(format!(
            "databases written by {} ({why}); compared with {}'s output",
            label(k),
            label(kmod)
        ));
    }
    for d in &regen.diagnostics {
        if d.level <= crate::kmod::Level::Warning {
            report.notes.push(format!("depmod: {}", d.text));
        }
    }

    // Databases.
    let mut guix = None;
    for (name, bytes) in &regen.files {
        let path = format!("{}/{name}", regen.dir);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.stale.push(StaleDatabase {
                    name: name.to_string(),
                    problem: "missing".into(),
                    details: Vec::new(),
                })
            }
            Err(e) => return Err(crate::kmod::IoError::new(&path, e).into()),
            Ok(disk) if disk == *bytes => {}
            Ok(disk) if guix_wrote(regen.dir.as_str(), name, &disk, &mut guix, opts.jobs) => {
                report.notes.push(format!(
                    "{name}: written by Guix (kmodtree guix-db or Guix's \
                     make-linux-module-directory: modules.name is there), fresh as Guix writes it"
                ));
            }
            Ok(disk) => {
                let decoded = |d: &[u8]| Index::parse(d).and_then(|i| dump_lines(&i)).ok();
                let layout_only = name.ends_with(".bin") && decoded(&disk) == decoded(bytes);
                report.stale.push(StaleDatabase {
                    name: name.to_string(),
                    problem: if layout_only {
                        "differs only in layout (written by another kmod version? see --kmod-version)".into()
                    } else {
                        "differs from what depmod would write now (first: entry as it would be)".into()
                    },
                    details: match layout_only {
                        true => Vec::new(),
                        false => super::at_most(database_changes(name, &disk, bytes), opts.limit),
                    },
                });
                if *name == "modules.dep" {
                    let (on_disk, now) = (modules_dep_keys(&disk), modules_dep_keys(bytes));
                    report.unindexed = now.difference(&on_disk).cloned().collect();
                    report.vanished = on_disk.difference(&now).cloned().collect();
                }
            }
        }
    }

    // The kernel's vermagic.
    let kernel_vermagic = match &opts.vermagic {
        Some(v) => Some(v.clone().into_bytes()),
        None => {
            let mut counts: BTreeMap<&[u8], usize> = BTreeMap::new();
            for (c, m) in modules.iter().zip(loaded) {
                let in_tree = c.relpath().is_some_and(|r| r.starts_with("kernel/"));
                if let (true, Some(v)) = (in_tree, &m.vermagic) {
                    *counts.entry(v.as_slice()).or_default() += 1;
                }
            }
            // Most common; ties to the smallest.
            let best = counts.into_iter().max_by_key(|&(v, n)| (n, Reverse(v)));
            best.map(|(v, _)| v.to_vec())
        }
    };
    report.kernel_vermagic = kernel_vermagic.as_ref().map(|v| encode(v));
    if kernel_vermagic.is_none() {
        report
            .notes
            .push("vermagic not checked: no module under kernel/ has one (give --vermagic)".into());
    }
    let kernel_known = regen.kernel_symbols.is_some();
    if !kernel_known {
        report.notes.push(
            "symbols not checked: give the kernel's Module.symvers (-E) or System.map (-F)".into(),
        );
    }
    let mut table = SymbolTable::new(regen.kernel_symbols.as_deref(), regen.prefix);
    for (pos, m) in loaded.iter().enumerate() {
        if m.error.is_none() && m.exports_error.is_none() {
            for e in m.exports.iter() {
                table.add_export(e.name, e.crc, pos as u32);
            }
        }
    }
    for (c, m) in modules.iter().zip(loaded) {
        let mut problems = Vec::new();
        if let Some(e) = m.error.as_ref() {
            problems.push(format!("unreadable: {e}"));
        }
        if let Some(k) = &kernel_vermagic {
            match &m.vermagic {
                Some(v) if v == k => {}
                Some(v) => problems.push(format!(
                    "vermagic {:?} differs from the kernel's {:?}",
                    encode(v),
                    encode(k)
                )),
                None if m.error.is_none() => problems.push("no vermagic".into()),
                None => {}
            }
        }
        for imp in m.imports.iter() {
            match table.find(imp.name) {
                None if kernel_known && !imp.weak => {
                    problems.push(format!("needs unknown symbol {}", encode(imp.name)))
                }
                Some(s) if regen.check_symvers && !imp.weak && s.crc != imp.crc => {
                    let by = match s.owner {
                        None => "the kernel's Module.symvers".to_string(),
                        Some(o) => modules[o as usize].db_path().to_string(),
                    };
                    problems.push(format!(
                        "CRC of {} is 0x{:08x}, {by} has 0x{:08x}",
                        encode(imp.name),
                        imp.crc,
                        s.crc
                    ));
                }
                _ => {}
            }
        }
        let problems = super::at_most(problems, opts.limit);
        if !problems.is_empty() {
            report.incompatible.push(Incompatible {
                path: c.db_path().to_string(),
                problems,
            });
        }
    }
    report.incompatible.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}
