//! What depmod keeps of each module between reading and rendering, and
//! where: in memory ([`LoadedTree`], which `verify` and the `--manifest`
//! cache use) or in a [`Spill`] ([`SpilledTree`], which `depmod` uses, so
//! that its peak memory does not grow with the tree).

use super::{read_largest_first, LoadedModule, LoadedTree};
use crate::module::symbol_list::ListFull;
use crate::module::SymbolInterner;
use crate::module::{ImportList, InternedSymbols, Limits, ModuleError, StringList, SymbolList};
use crate::render::{ListKind, ModuleSource, RenderModule};
use crate::resolve::DepLists;
use crate::spill::{Spill, SpillRef};
use crate::tree::walk::Candidate;
use std::borrow::Cow;

/// The modules of a tree as resolving and rendering read them; `i` is
/// the index in the candidates the tree was read from.
pub trait ModuleRecords: Sync {
    /// Why module `i` could not be read at all, and why its exports could
    /// not be read (the rest being valid).
    fn load_errors(&self, i: usize) -> (Option<&ModuleError>, Option<&ModuleError>);

    /// Module `i`'s exported symbols.
    fn exports(&self, i: usize) -> Cow<'_, SymbolList>;

    /// Module `i`'s imported symbols, ids into [`ModuleRecords::symbols`].
    fn imports(&self, i: usize) -> Cow<'_, ImportList>;

    /// Module `i`'s `kind` list.
    fn list(&self, i: usize, kind: ListKind) -> Cow<'_, StringList>;

    /// The names and CRCs behind the imports.
    fn symbols(&self) -> &InternedSymbols;
}

impl ModuleRecords for LoadedTree {
    fn load_errors(&self, i: usize) -> (Option<&ModuleError>, Option<&ModuleError>) {
        match self.modules.get(i) {
            Some(m) => (m.error.as_deref(), m.exports_error.as_deref()),
            None => (None, None),
        }
    }

    fn exports(&self, i: usize) -> Cow<'_, SymbolList> {
        self.modules
            .get(i)
            .map_or_else(Cow::default, |m| Cow::Borrowed(&m.exports))
    }

    fn imports(&self, i: usize) -> Cow<'_, ImportList> {
        self.modules
            .get(i)
            .map_or_else(Cow::default, |m| Cow::Borrowed(&m.imports))
    }

    fn list(&self, i: usize, kind: ListKind) -> Cow<'_, StringList> {
        let Some(m) = self.modules.get(i) else {
            return Cow::default();
        };
        Cow::Borrowed(match kind {
            ListKind::Aliases => &m.aliases,
            ListKind::Softdeps => &m.softdeps,
            ListKind::Weakdeps => &m.weakdeps,
        })
    }

    fn symbols(&self) -> &InternedSymbols {
        &self.symbols
    }
}

/// Largest record buffer a reading thread keeps between modules.
const RECORD_BUFFER_KEPT: usize = 1 << 20;

/// One module whose lists are in the spill: its record holds the aliases,
/// softdeps and weakdeps (packed), the exports and the imports (encoded),
/// back to back; `ends` are where the first four end.
#[derive(Debug)]
pub struct SpilledModule {
    record: SpillRef,
    ends: [u32; 4],
    error: Option<Box<ModuleError>>,
    exports_error: Option<Box<ModuleError>>,
}

impl SpilledModule {
    /// Moves `m`'s lists into `spill`.
    fn spill(m: LoadedModule, spill: &Spill) -> SpilledModule {
        thread_local! {
            /// The record being encoded (one per reading thread, reused).
            static RECORD: std::cell::RefCell<Vec<u8>> = const {
                std::cell::RefCell::new(Vec::new())
            };
        }
        RECORD.with_borrow_mut(|buf| {
            buf.clear();
            let mut ends = [0u32; 4];
            let end = |buf: &Vec<u8>| buf.len().try_into().unwrap_or(u32::MAX);
            buf.extend_from_slice(m.aliases.as_packed());
            ends[0] = end(buf);
            buf.extend_from_slice(m.softdeps.as_packed());
            ends[1] = end(buf);
            buf.extend_from_slice(m.weakdeps.as_packed());
            ends[2] = end(buf);
            m.exports.encode(buf);
            ends[3] = end(buf);
            m.imports.encode(buf);
            let record = if u32::try_from(buf.len()).is_ok() {
                spill.put(buf)
            } else {
                // Beyond what a record holds (4 GiB of lists, from an image
                // the size limit lets through): the module is refused, as
                // a list that full is.
                return SpilledModule {
                    record: SpillRef::default(),
                    ends: [0; 4],
                    error: Some(Box::new(ModuleError::from(ListFull))),
                    exports_error: None,
                };
            };
            if buf.capacity() > RECORD_BUFFER_KEPT {
                *buf = Vec::new();
            }
            SpilledModule {
                record,
                ends,
                error: m.error,
                exports_error: m.exports_error,
            }
        })
    }

    /// Byte range `(start, len)` of part `k` (0–3: the lists and the
    /// exports; 4: the imports) in the record.
    fn part(&self, k: usize) -> (u64, u64) {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        let end = match self.ends.get(k) {
            Some(&e) => u64::from(e),
            None => self.record.len(),
        };
        (u64::from(start), end.saturating_sub(u64::from(start)))
    }
}

/// The modules of a tree, read, with their lists in a [`Spill`]: about 50
/// bytes per module stay in memory.
pub struct SpilledTree {
    /// `modules[i]` belongs to the i-th module file given to the reader.
    modules: Vec<SpilledModule>,
    symbols: InternedSymbols,
    spill: Spill,
}

impl SpilledTree {
    /// Reads every module in parallel, as [`super::read_modules`] does,
    /// each module's lists going to `spill` as soon as it is read.
    pub fn read(
        modules: &[Candidate],
        limits: &Limits,
        jobs: Option<usize>,
        spill: Spill,
        progress: &dyn crate::progress::Progress,
    ) -> SpilledTree {
        let interner = SymbolInterner::new();
        progress.start("reading modules", modules.len() as u64);
        let modules = read_largest_first(modules, jobs, |c| {
            let m = LoadedModule::read(c.path(), limits, &interner);
            let spilled = SpilledModule::spill(m, &spill);
            progress.advance(1);
            spilled
        });
        progress.finish();
        spill.test_hook_lose_records();
        SpilledTree {
            modules,
            symbols: interner.freeze(),
            spill,
        }
    }

    /// Moves a tree read into memory into `spill`, one module at a time
    /// (for tests, which compare the two).
    #[cfg(test)]
    pub fn from_loaded(tree: LoadedTree, spill: Spill) -> SpilledTree {
        SpilledTree {
            modules: tree
                .modules
                .into_iter()
                .map(|m| SpilledModule::spill(m, &spill))
                .collect(),
            symbols: tree.symbols,
            spill,
        }
    }

    /// Frees the interned symbol names, once the tree is resolved.
    pub fn release_symbols(&mut self) {
        self.symbols = InternedSymbols::default();
    }

    /// Why reading the lists back failed, if it did: the lists concerned
    /// were read as empty, so nothing rendered from them may be written.
    pub fn failure(&self) -> Option<String> {
        self.spill.failure()
    }

    fn read_part(&self, i: usize, k: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Some(m) = self.modules.get(i) {
            let (start, len) = m.part(k);
            self.spill.read(m.record, start, len, &mut buf);
        }
        buf
    }
}

impl ModuleRecords for SpilledTree {
    fn load_errors(&self, i: usize) -> (Option<&ModuleError>, Option<&ModuleError>) {
        match self.modules.get(i) {
            Some(m) => (m.error.as_deref(), m.exports_error.as_deref()),
            None => (None, None),
        }
    }

    fn exports(&self, i: usize) -> Cow<'_, SymbolList> {
        let bytes = self.read_part(i, 3);
        if bytes.is_empty() {
            return Cow::default();
        }
        Cow::Owned(SymbolList::decode(&bytes).unwrap_or_default())
    }

    fn imports(&self, i: usize) -> Cow<'_, ImportList> {
        Cow::Owned(ImportList::decode(&self.read_part(i, 4)))
    }

    fn list(&self, i: usize, kind: ListKind) -> Cow<'_, StringList> {
        let k = match kind {
            ListKind::Aliases => 0,
            ListKind::Softdeps => 1,
            ListKind::Weakdeps => 2,
        };
        let bytes = self.read_part(i, k);
        Cow::Owned(StringList::from_packed(bytes).unwrap_or_default())
    }

    fn symbols(&self) -> &InternedSymbols {
        &self.symbols
    }
}

/// A tree's modules by array position (`array[pos]` is the module's
/// index in the tree), for the renderers: names and paths from the
/// candidates, dependencies from the resolution, lists from the tree.
pub(super) struct InArrayOrder<'a> {
    pub array: &'a [usize],
    pub candidates: &'a [Candidate],
    pub transitive: &'a DepLists,
    pub tree: &'a dyn ModuleRecords,
}

impl ModuleSource for InArrayOrder<'_> {
    fn len(&self) -> usize {
        self.array.len()
    }

    fn module(&self, pos: usize) -> RenderModule<'_> {
        let c = &self.candidates[self.array[pos]];
        RenderModule {
            name: c.name(),
            db_path: c.db_path(),
            deps: self.transitive.of(pos),
        }
    }

    fn list(&self, pos: usize, kind: ListKind) -> Cow<'_, StringList> {
        match self.array.get(pos) {
            Some(&i) => self.tree.list(i, kind),
            None => Cow::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::SymbolInterner;

    fn sample(interner: &SymbolInterner) -> LoadedModule {
        let mut m = LoadedModule::default();
        m.aliases.push(b"pci:v00008086d*").unwrap();
        m.aliases.push(b"of:N*T*Cfoo").unwrap();
        m.weakdeps.push(b"crc32").unwrap();
        m.exports
            .push(b"e1000_ops", 0x1234, false, usize::MAX)
            .unwrap();
        m.imports
            .push(interner.intern(b"printk", 9).unwrap(), false);
        m.imports.push(interner.intern(b"kfree", 0).unwrap(), true);
        m
    }

    #[test]
    fn spilled_lists_read_back_as_they_were_loaded() {
        let interner = SymbolInterner::new();
        let loaded = LoadedTree {
            modules: vec![sample(&interner), LoadedModule::default()],
            symbols: InternedSymbols::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        for spill in [Spill::in_directory(dir.path()), Spill::in_memory()] {
            let spilled = SpilledTree::from_loaded(loaded.clone(), spill);
            for i in 0..2 {
                assert_eq!(spilled.exports(i), loaded.exports(i));
                assert_eq!(spilled.imports(i), loaded.imports(i));
                for kind in [ListKind::Aliases, ListKind::Softdeps, ListKind::Weakdeps] {
                    assert_eq!(spilled.list(i, kind), loaded.list(i, kind));
                }
            }
            // Out of range: nothing, and no failure.
            assert!(spilled.list(2, ListKind::Aliases).is_empty());
            assert_eq!(spilled.failure(), None);
        }
    }

    #[test]
    fn lists_that_cannot_be_read_back_are_empty_and_reported() {
        let interner = SymbolInterner::new();
        let loaded = LoadedTree {
            modules: vec![sample(&interner)],
            symbols: InternedSymbols::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let spilled = SpilledTree::from_loaded(loaded, Spill::in_directory(dir.path()));
        assert!(spilled.spill.is_on_disk());
        spilled.spill.lose_file_records();
        assert!(spilled.list(0, ListKind::Aliases).is_empty());
        assert!(spilled.exports(0).is_empty());
        assert!(spilled.imports(0).is_empty());
        assert!(spilled.failure().is_some());
    }
}
