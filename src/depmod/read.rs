//! Reading a tree's modules in parallel: what depmod keeps of each one.

use crate::kmod::{Diagnostic, KmodVersion};
use crate::module::{self, Compression, Limits, ModuleError, StringList, SymbolList};
use crate::tree::walk::Candidate;
use rayon::prelude::*;

/// What depmod needs from one module file, extracted in parallel. It is
/// also the record of the `--manifest` cache, whose JSON format this
/// defines (byte strings escaped, see [`crate::kmod::esc`]; the errors are
/// not recorded: modules with one are never cached).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoadedModule {
    #[serde(with = "crate::module::symbol_list::as_escaped_strings")]
    pub aliases: StringList,
    #[serde(with = "crate::module::symbol_list::as_escaped_strings")]
    pub softdeps: StringList,
    #[serde(with = "crate::module::symbol_list::as_escaped_strings")]
    pub weakdeps: StringList,
    #[serde(with = "crate::module::symbol_list::as_symbols")]
    pub exports: SymbolList,
    #[serde(with = "crate::module::symbol_list::as_symbols")]
    pub imports: SymbolList,
    /// The first `vermagic` value (not used by the databases; `verify`
    /// reports modules whose vermagic differs from the kernel's).
    #[serde(with = "crate::kmod::esc::opt")]
    pub vermagic: Option<Vec<u8>>,
    /// The image could not be read at all. (Boxed, like the other
    /// error: a tree holds thousands of modules and few errors.)
    #[serde(skip)]
    pub error: Option<Box<ModuleError>>,
    /// The exports could not be read (the rest is valid).
    #[serde(skip)]
    pub exports_error: Option<Box<ModuleError>>,
}

impl LoadedModule {
    /// Reads one module file keeping only what depmod uses (without spare
    /// capacity).
    pub fn read(path: &camino::Utf8Path, limits: &Limits) -> LoadedModule {
        let read = module::read_module_parts_for_depmod(path, limits, |_, parts| {
            let mut m = LoadedModule::default();
            match parts.exports {
                Ok(e) => m.exports = e,
                Err(e) => m.exports_error = Some(Box::new(e)),
            }
            m.imports = parts.imports;
            for entry in parts.modinfo.into_iter().flat_map(module::modinfo::strings) {
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
            for list in [&mut m.aliases, &mut m.softdeps, &mut m.weakdeps] {
                list.shrink_to_fit();
            }
            m.exports.shrink_to_fit();
            m.imports.shrink_to_fit();
            Ok(m)
        });
        read.and_then(|r| r).unwrap_or_else(|e| LoadedModule {
            error: Some(Box::new(e)),
            ..Default::default()
        })
    }
}

/// kmod's messages for a module that failed to load (wholly, or its
/// exports), in its order.
pub(super) fn load_diagnostics(
    m: &LoadedModule,
    path: &str,
    kmod: KmodVersion,
    out: &mut Vec<Diagnostic>,
) {
    let Some(err) = m.error.as_deref().or(m.exports_error.as_deref()) else {
        return;
    };
    // kmod 34 reports liblzma's error at each of its three attempts.
    let xz = match err {
        ModuleError::Decompress {
            format: Compression::Xz,
            reason,
        } if kmod == KmodVersion::V34 => Some(Diagnostic::error(format!("xz: {reason}"))),
        _ => None,
    };
    out.extend(xz.clone());
    // Our limits (kmod has none): which one, before kmod's line.
    if matches!(
        err,
        ModuleError::TooLarge { .. } | ModuleError::TooExpanded { .. }
    ) {
        out.push(Diagnostic::error(format!("{path}: {err}")));
    }
    out.push(Diagnostic::error(format!(
        "failed to load symbols from {path}: {}",
        err.errno().strerror()
    )));
    out.extend(xz.clone());
    out.extend(xz);
}

/// Reads every module in parallel, reporting each module read to
/// `progress`; results in input order.
///
/// The largest files are read first: a big compressed module is decoded
/// whole (amdgpu: 28 MB), and a big plain one still has its symbol and
/// string tables read (amdgpu: 2 MB); reading those while little else is
/// held keeps the peak from adding them to the whole tree's metadata, and
/// keeps two of them from being read at the same time late in the run.
pub fn read_modules_with_progress(
    modules: &[Candidate],
    limits: &Limits,
    jobs: Option<usize>,
    progress: &dyn crate::progress::Progress,
) -> Vec<LoadedModule> {
    progress.start("reading modules", modules.len() as u64);
    let work = || {
        let sizes: Vec<u64> = modules
            .par_iter()
            .map(|c| {
                // A plain module is read sparsely (its symbol and string
                // tables, not the whole file): no stat to order it by.
                if c.path().as_str().ends_with(".ko") {
                    return 0;
                }
                std::fs::metadata(c.path()).map_or(0, |m| m.len())
            })
            .collect();
        let mut order: Vec<usize> = (0..modules.len()).collect();
        // Ties in input order: the same work order on every run.
        order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
        // One module per job: the costly modules, all at the front, would
        // otherwise be one thread's sequential share.
        let read: Vec<LoadedModule> = order
            .par_iter()
            .with_max_len(1)
            .map(|&i| {
                let m = LoadedModule::read(modules[i].path(), limits);
                progress.advance(1);
                m
            })
            .collect();
        crate::module::release_pool_read_buffers();
        // Back to input order: `read[k]` belongs at `order[k]`.
        let mut read: Vec<(usize, LoadedModule)> = order.into_iter().zip(read).collect();
        read.sort_unstable_by_key(|&(i, _)| i);
        read.into_iter().map(|(_, t)| t).collect()
    };
    let modules = crate::jobs::run_with_jobs(jobs, work);
    progress.finish();
    modules
}
