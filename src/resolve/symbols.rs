//! The symbol table (spec §6): kernel symbols and fake symbols first, then
//! every module's exports in array order, the last one winning.

use crate::kmod_hash::{iteration_key, SYMBOL_BUCKETS};
use crate::tree::kernel_symbols::KernelSymbol;
use rustc_hash::FxHashMap;

/// Who provides a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolEntry {
    /// Index of the owning module in the array, or None for the kernel.
    pub owner: Option<u32>,
    pub crc: u64,
}

/// Symbol name → provider.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    map: FxHashMap<Vec<u8>, SymbolEntry>,
    prefix: Option<u8>,
}

impl SymbolTable {
    /// A table holding the kernel's symbols, if a map was given (then the
    /// fake symbols `__this_module`, `_GLOBAL_OFFSET_TABLE_` and `TOC.` are
    /// added too, as kmod does).
    pub fn new(kernel: Option<&[KernelSymbol]>, prefix: Option<u8>) -> Self {
        let mut t = SymbolTable {
            map: FxHashMap::default(),
            prefix,
        };
        if let Some(kernel) = kernel {
            let kernel_entry = |crc| SymbolEntry { owner: None, crc };
            t.map.reserve(kernel.len() + 3);
            for s in kernel {
                t.map.insert(s.name.clone(), kernel_entry(s.crc));
            }
            t.map.insert(b"__this_module".to_vec(), kernel_entry(0));
            t.map
                .insert(b"_GLOBAL_OFFSET_TABLE_".to_vec(), kernel_entry(0));
            if t.find(b"TOC.").is_none() {
                t.map.insert(b"TOC.".to_vec(), kernel_entry(0));
            }
        }
        t
    }

    /// Adds a module's export, replacing any earlier provider.
    pub fn add_export(&mut self, name: &[u8], crc: u64, owner: u32) {
        let name = self.unprefixed(name);
        let entry = SymbolEntry {
            owner: Some(owner),
            crc,
        };
        match self.map.get_mut(name) {
            Some(e) => *e = entry,
            None => _ = self.map.insert(name.to_vec(), entry),
        }
    }

    /// Looks an undefined symbol up: one leading `.` (PPC64) and then one
    /// prefix character are stripped first.
    pub fn find(&self, name: &[u8]) -> Option<&SymbolEntry> {
        self.map
            .get(self.unprefixed(name.strip_prefix(b".").unwrap_or(name)))
    }

    /// `name` without the architecture's symbol prefix character, if it
    /// starts with it.
    fn unprefixed<'n>(&self, name: &'n [u8]) -> &'n [u8] {
        (self.prefix)
            .and_then(|p| name.strip_prefix(&[p][..]))
            .unwrap_or(name)
    }

    /// Module-owned symbols in kmod's hash-table iteration order
    /// (`modules.symbols` order).
    pub fn module_symbols(&self) -> Vec<(&[u8], u32)> {
        let mut v: Vec<(&[u8], u32)> = self
            .map
            .iter()
            .filter_map(|(k, e)| e.owner.map(|o| (k.as_slice(), o)))
            .collect();
        // Names are unique, so an unstable sort on (bucket, name) is exact.
        v.sort_by_cached_key(|&(name, _)| iteration_key(name, SYMBOL_BUCKETS));
        v
    }
}
