//! Imported symbols shared by all the modules of a tree.
//!
//! A Debian kernel's modules import about 50 symbols each, nearly all from
//! the same few thousand kernel symbols, each with the same CRC everywhere
//! (the kernel's). Instead of a copy of every name and CRC in every module,
//! a tree's modules hold [`SymbolId`]s: 4 bytes per import, given out by
//! one [`SymbolInterner`] that the reading threads share. An id stands for
//! a (name, CRC) pair; each distinct name is stored once, each distinct
//! pair once.
//!
//! Ids are handed out in whatever order the threads get there, so they
//! differ from run to run: they identify symbols and nothing more. Nothing
//! observable may depend on an id's value or on the order of ids; results
//! are always produced in the modules' order and by name.
//!
//! Once the tree is read, [`SymbolInterner::freeze`] turns the interner
//! into a read-only [`InternedSymbols`] (the lookup tables are dropped): it
//! gives each id's name and CRC, and numbers the ids densely so per-symbol
//! results can be kept in a plain `Vec`.

use super::symbol_list::{IndexedStrings, ListFull, SymbolList, SymbolRef};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;
use std::sync::{Mutex, PoisonError};

/// Bits of an id that select its shard.
const SHARD_BITS: u32 = 6;
/// Number of independently locked shards.
const SHARDS: usize = 1 << SHARD_BITS;
/// Symbols one shard can hold: ids leave their top bit free (for
/// [`ImportList`]'s weak flag).
const MAX_PER_SHARD: usize = 1 << (31 - SHARD_BITS);
/// "No older name with the same hash" in a shard's hash chains.
const NONE: u32 = u32::MAX;

/// The id of an interned (name, CRC) pair: `local index << 6 | shard`,
/// the shard being chosen by the name.
///
/// Only meaningful with the interner that made it (and its frozen
/// [`InternedSymbols`]); values depend on thread timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SymbolId(u32);

impl SymbolId {
    fn new(shard: usize, local: usize) -> SymbolId {
        // Both parts are in range (see `Shard::intern`).
        SymbolId(((local as u32) << SHARD_BITS) | shard as u32)
    }

    fn shard(self) -> usize {
        (self.0 as usize) & (SHARDS - 1)
    }

    fn local(self) -> usize {
        (self.0 >> SHARD_BITS) as usize
    }
}

/// The interner cannot take another symbol (a shard would hold more than
/// 2^25 symbols or 4 GiB of names: far beyond any real tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many distinct symbols")]
pub struct InternerFull;

/// The symbols of one shard, as kept after freezing: each name once, and
/// each symbol as its name's index and its CRC.
#[derive(Clone, Debug, Default)]
struct Frozen {
    names: IndexedStrings,
    /// Per symbol: the index of its name in `names`.
    name_of: Vec<u32>,
    /// Per symbol: its CRC.
    crc_of: Vec<u64>,
}

impl Frozen {
    fn len(&self) -> usize {
        self.name_of.len()
    }

    fn get(&self, local: usize) -> Option<(&[u8], u64)> {
        let name = self.names.get(*self.name_of.get(local)? as usize)?;
        Some((name, *self.crc_of.get(local)?))
    }

    /// Drops a symbol left half-added (only a panic while a shard was
    /// locked could leave one), so that every index below `len()` has a
    /// name and a CRC, then releases spare capacity.
    fn settle(&mut self) {
        let n = self.name_of.len().min(self.crc_of.len());
        self.name_of.truncate(n);
        self.crc_of.truncate(n);
        self.names.shrink_to_fit();
        self.name_of.shrink_to_fit();
        self.crc_of.shrink_to_fit();
    }
}

/// One shard while interning: its symbols and the tables to find them.
///
/// Names are found by their 64-bit hash alone, so that each is stored only
/// once (in `symbols.names`); names whose hashes are equal are chained
/// through `older`.
#[derive(Debug, Default)]
struct Shard {
    symbols: Frozen,
    /// Name hash → the newest name index with that hash.
    newest: FxHashMap<u64, u32>,
    /// Per name index: the next older name index with the same hash, or
    /// [`NONE`].
    older: Vec<u32>,
    /// (name index, CRC) → symbol index.
    pairs: FxHashMap<(u32, u64), u32>,
}

impl Shard {
    /// The index of the name `name`, whose hash is `hash`, if present.
    fn find_name(&self, hash: u64, name: &[u8]) -> Option<u32> {
        let mut next = self.newest.get(&hash).copied();
        while let Some(i) = next {
            if self.symbols.names.get(i as usize) == Some(name) {
                return Some(i);
            }
            next = match self.older.get(i as usize) {
                Some(&NONE) | None => None,
                Some(&older) => Some(older),
            };
        }
        None
    }

    /// The index of the symbol (`name`, `crc`), adding it if new.
    fn intern(&mut self, hash: u64, name: &[u8], crc: u64) -> Result<usize, InternerFull> {
        let known = self.find_name(hash, name);
        if let Some(&s) = known.and_then(|i| self.pairs.get(&(i, crc))) {
            return Ok(s as usize);
        }
        let local = self.symbols.len();
        if local >= MAX_PER_SHARD {
            return Err(InternerFull);
        }
        let index = match known {
            Some(i) => i,
            None => {
                // Never more names than symbols: the index fits.
                let i = self.symbols.names.len() as u32;
                self.symbols
                    .names
                    .push(name)
                    .map_err(|ListFull| InternerFull)?;
                let older = self.newest.insert(hash, i);
                self.older.push(older.unwrap_or(NONE));
                i
            }
        };
        self.pairs.insert((index, crc), local as u32);
        self.symbols.name_of.push(index);
        self.symbols.crc_of.push(crc);
        Ok(local)
    }
}

/// Interns imported symbols from many threads at once: 64 shards, each
/// behind its own lock, chosen by the name's hash.
#[derive(Debug)]
pub struct SymbolInterner {
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for SymbolInterner {
    fn default() -> Self {
        SymbolInterner {
            shards: std::array::from_fn(|_| Mutex::default()),
        }
    }
}

fn hash_name(name: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(name);
    h.finish()
}

impl SymbolInterner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of the symbol `name` with CRC `crc`, the same for every call
    /// with the same bytes and CRC.
    pub fn intern(&self, name: &[u8], crc: u64) -> Result<SymbolId, InternerFull> {
        let hash = hash_name(name);
        // The top bits: the shard's own table uses the low ones.
        let shard = (hash >> (64 - SHARD_BITS)) as usize;
        let local = self.shards[shard]
            .lock()
            // Nothing panics while holding the lock (a failed allocation
            // aborts); a shard left half-updated would still be read
            // safely: every index is checked.
            .unwrap_or_else(PoisonError::into_inner)
            .intern(hash, name, crc)?;
        Ok(SymbolId::new(shard, local))
    }

    /// Interns a list's symbols, keeping their order and weak flags.
    pub fn intern_imports(&self, list: &SymbolList) -> Result<ImportList, InternerFull> {
        let mut out = ImportList::with_capacity(list.len());
        for s in list.iter() {
            out.push(self.intern(s.name, s.crc)?, s.weak);
        }
        Ok(out)
    }

    /// The read-only view of every symbol interned so far.
    pub fn freeze(self) -> InternedSymbols {
        let mut offsets = Vec::with_capacity(SHARDS + 1);
        let mut total = 0usize;
        let shards: Vec<Frozen> = self
            .shards
            .into_iter()
            .map(|m| {
                let mut symbols = m
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .symbols;
                symbols.settle();
                offsets.push(total);
                total += symbols.len();
                symbols
            })
            .collect();
        offsets.push(total);
        InternedSymbols { shards, offsets }
    }
}

/// The symbols of a frozen [`SymbolInterner`], read-only and lock-free.
/// They are also numbered densely (`0..len()`, see
/// [`InternedSymbols::index`]).
#[derive(Clone, Debug, Default)]
pub struct InternedSymbols {
    shards: Vec<Frozen>,
    /// Dense index of each shard's first symbol, then the total.
    offsets: Vec<usize>,
}

impl InternedSymbols {
    /// Number of distinct (name, CRC) pairs.
    pub fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name and CRC of `id`; None for an id this interner did not make.
    pub fn get(&self, id: SymbolId) -> Option<(&[u8], u64)> {
        self.shards.get(id.shard())?.get(id.local())
    }

    /// The dense index of `id`, in `0..len()`; None for an id this
    /// interner did not make.
    pub fn index(&self, id: SymbolId) -> Option<usize> {
        let shard = self.shards.get(id.shard())?;
        (id.local() < shard.len()).then(|| self.offsets[id.shard()] + id.local())
    }

    /// Every symbol's name and CRC, in dense-index order (each shard is
    /// settled: none is skipped).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.shards
            .iter()
            .flat_map(|s| (0..s.len()).filter_map(move |i| s.get(i)))
    }

    /// A list's entries with their names and CRCs (None if an id is not
    /// from this interner).
    pub fn resolve<'a>(
        &'a self,
        list: &'a ImportList,
    ) -> impl ExactSizeIterator<Item = Option<SymbolRef<'a>>> + 'a {
        list.iter().map(|i| {
            self.get(i.id).map(|(name, crc)| SymbolRef {
                name,
                crc,
                weak: i.weak,
            })
        })
    }

    /// A list's entries as a [`SymbolList`]; None if an id is not from this
    /// interner.
    pub fn to_symbol_list(&self, list: &ImportList) -> Option<SymbolList> {
        let mut out = SymbolList::new();
        for s in self.resolve(list) {
            let s = s?;
            out.push(s.name, s.crc, s.weak, usize::MAX).ok()?;
        }
        Some(out)
    }
}

/// The top bit of an [`ImportList`] entry is its weak flag.
const WEAK: u32 = 1 << 31;

/// A module's undefined symbols in order: an interned symbol (name and
/// CRC) and a weak flag each, 4 bytes in all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImportList {
    /// The id of each symbol, with [`WEAK`] or-ed in.
    ids: Vec<u32>,
}

/// One entry of an [`ImportList`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportRef {
    pub id: SymbolId,
    pub weak: bool,
}

impl ImportList {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        ImportList {
            ids: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, id: SymbolId, weak: bool) {
        self.ids.push(id.0 | if weak { WEAK } else { 0 });
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = ImportRef> + '_ {
        self.ids.iter().map(|&id| ImportRef {
            id: SymbolId(id & !WEAK),
            weak: id & WEAK != 0,
        })
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
    }

    /// Appends the entries to `out`, 4 bytes each (little-endian), as
    /// [`ImportList::decode`] reads them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for id in &self.ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }

    /// The list [`ImportList::encode`] wrote (a trailing partial entry is
    /// ignored; an id the interner never made is looked up as nothing).
    pub fn decode(bytes: &[u8]) -> ImportList {
        ImportList {
            ids: bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_symbol_same_id_from_many_threads() {
        let interner = SymbolInterner::new();
        // 2000 names, half of them with a second CRC.
        let symbols: Vec<(Vec<u8>, u64)> = (0..3000)
            .map(|i| (format!("sym_{}", i % 2000).into_bytes(), (i / 2000) as u64))
            .collect();
        let ids: Vec<Vec<SymbolId>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (interner, symbols) = (&interner, &symbols);
                    s.spawn(move || {
                        // Each thread in another order.
                        let mut order: Vec<usize> = (0..symbols.len()).collect();
                        if t % 2 == 1 {
                            order.reverse();
                        }
                        let mut ids = vec![SymbolId(0); symbols.len()];
                        for i in order {
                            let (name, crc) = &symbols[i];
                            ids[i] = interner.intern(name, *crc).unwrap();
                        }
                        ids
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for other in &ids[1..] {
            assert_eq!(other, &ids[0]);
        }
        let frozen = interner.freeze();
        assert_eq!(frozen.len(), symbols.len());
        let names: usize = frozen.shards.iter().map(|s| s.names.len()).sum();
        assert_eq!(names, 2000, "each name is stored once");
        let mut seen = vec![false; frozen.len()];
        for ((name, crc), &id) in symbols.iter().zip(&ids[0]) {
            assert_eq!(frozen.get(id), Some((name.as_slice(), *crc)));
            let i = frozen.index(id).unwrap();
            assert!(!seen[i], "dense indexes are distinct");
            seen[i] = true;
            assert_eq!(frozen.iter().nth(i), Some((name.as_slice(), *crc)));
        }
    }

    #[test]
    fn equal_hashes_are_told_apart() {
        let mut shard = Shard::default();
        assert_eq!(shard.intern(7, b"a", 0), Ok(0));
        assert_eq!(shard.intern(7, b"b", 0), Ok(1));
        assert_eq!(shard.intern(7, b"", 0), Ok(2));
        assert_eq!(shard.intern(7, b"a", 0), Ok(0));
        assert_eq!(shard.intern(7, b"b", 0), Ok(1));
        assert_eq!(shard.intern(7, b"", 0), Ok(2));
        assert_eq!(shard.intern(7, b"a", 1), Ok(3));
        assert_eq!(shard.symbols.names.len(), 3);
        assert_eq!(shard.intern(8, b"a", 0), Ok(4), "the hash is trusted");
    }

    #[test]
    fn import_lists_keep_order_flags_and_crcs() {
        let mut list = SymbolList::new();
        list.push(b"printk", 7, false, usize::MAX).unwrap();
        list.push(b"", 0, true, usize::MAX).unwrap();
        list.push(b"kfree", u64::MAX, true, usize::MAX).unwrap();
        list.push(b"printk", 7, true, usize::MAX).unwrap();
        list.push(b"printk", 9, false, usize::MAX).unwrap();
        let interner = SymbolInterner::new();
        let imports = interner.intern_imports(&list).unwrap();
        assert_eq!(imports.len(), 5);
        let ids: Vec<SymbolId> = imports.iter().map(|i| i.id).collect();
        assert_eq!(ids[0], ids[3]);
        assert_ne!(ids[0], ids[4]);
        let symbols = interner.freeze();
        assert_eq!(symbols.len(), 4);
        assert_eq!(symbols.to_symbol_list(&imports), Some(list));
    }

    #[test]
    fn foreign_ids_are_refused() {
        let symbols = SymbolInterner::new().freeze();
        let other = SymbolInterner::new();
        let id = other.intern(b"x", 0).unwrap();
        assert_eq!(symbols.get(id), None);
        assert_eq!(symbols.index(id), None);
        let mut list = ImportList::new();
        list.push(id, false);
        assert_eq!(symbols.to_symbol_list(&list), None);
    }
}
