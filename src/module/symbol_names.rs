//! Symbol names shared by all the modules of a tree.
//!
//! A Debian kernel's modules import about 100 symbols each, nearly all from
//! the same few thousand kernel symbols. Instead of a copy of every name in
//! every module, a tree's modules hold [`SymbolId`]s: 4 bytes each, given
//! out by one [`SymbolInterner`] that the reading threads share and that
//! stores each distinct name once.
//!
//! Ids are handed out in whatever order the threads get there, so they
//! differ from run to run: they identify names and nothing more. Nothing
//! observable may depend on an id's value or on the order of ids; results
//! are always produced in the modules' order and by name.
//!
//! Once the tree is read, [`SymbolInterner::freeze`] turns the interner
//! into a read-only [`SymbolNames`] (the lookup tables are dropped): it
//! gives each id's name, and numbers the names densely so per-name results
//! can be kept in a plain `Vec`.

use super::symbol_list::{ListFull, StringList, SymbolList};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;
use std::sync::{Mutex, PoisonError};

/// Bits of an id that select its shard.
const SHARD_BITS: u32 = 6;
/// Number of independently locked shards.
const SHARDS: usize = 1 << SHARD_BITS;
/// Names one shard can hold: ids leave their top bit free (for
/// [`ImportList`]'s weak flag).
const MAX_PER_SHARD: usize = 1 << (31 - SHARD_BITS);
/// "No older name with the same hash" in a shard's hash chains.
const NONE: u32 = u32::MAX;

/// The id of an interned symbol name: `local index << 6 | shard`.
///
/// Only meaningful with the interner that made it (and its frozen
/// [`SymbolNames`]); values depend on thread timing.
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

/// The interner cannot take another name (a shard would hold more than
/// 2^25 names or 4 GiB of them: far beyond any real tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many distinct symbol names")]
pub struct InternerFull;

/// One shard: its names, and a hash table from a name's 64-bit hash to its
/// local index. The table is keyed by the hash alone so that each name is
/// stored only once (in `names`); names whose hashes are equal are chained
/// through `older`.
#[derive(Debug, Default)]
struct Shard {
    names: StringList,
    /// Hash → the newest local index with that hash.
    newest: FxHashMap<u64, u32>,
    /// Per local index: the next older local index with the same hash, or
    /// [`NONE`].
    older: Vec<u32>,
}

impl Shard {
    /// The local index of `name`, adding it if new.
    fn intern(&mut self, hash: u64, name: &[u8]) -> Result<usize, InternerFull> {
        let head = self.newest.get(&hash).copied();
        let mut next = head;
        while let Some(i) = next {
            if self.names.get(i as usize) == Some(name) {
                return Ok(i as usize);
            }
            next = match self.older.get(i as usize) {
                Some(&NONE) | None => None,
                Some(&older) => Some(older),
            };
        }
        let local = self.names.len();
        if local >= MAX_PER_SHARD {
            return Err(InternerFull);
        }
        self.names.push(name).map_err(|ListFull| InternerFull)?;
        self.older.push(head.unwrap_or(NONE));
        self.newest.insert(hash, local as u32);
        Ok(local)
    }
}

/// Interns symbol names from many threads at once: 64 shards, each behind
/// its own lock, chosen by the name's hash.
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

    /// The id of `name`, the same for every call with the same bytes.
    pub fn intern(&self, name: &[u8]) -> Result<SymbolId, InternerFull> {
        let hash = hash_name(name);
        // The top bits: the shard's own table uses the low ones.
        let shard = (hash >> (64 - SHARD_BITS)) as usize;
        let local = self.shards[shard]
            .lock()
            // A panic while the lock was held cannot leave a shard
            // inconsistent in a way that matters here: every push is
            // checked before anything is changed.
            .unwrap_or_else(PoisonError::into_inner)
            .intern(hash, name)?;
        Ok(SymbolId::new(shard, local))
    }

    /// Interns a list's names, keeping its order, weak flags and CRCs.
    pub fn intern_imports(&self, list: &SymbolList) -> Result<ImportList, InternerFull> {
        let mut out = ImportList::with_capacity(list.len());
        for s in list.iter() {
            out.push(self.intern(s.name)?, s.crc, s.weak);
        }
        Ok(out)
    }

    /// The read-only view of every name interned so far.
    pub fn freeze(self) -> SymbolNames {
        let mut offsets = Vec::with_capacity(SHARDS + 1);
        let mut total = 0usize;
        let shards: Vec<StringList> = self
            .shards
            .into_iter()
            .map(|m| {
                let mut names = m.into_inner().unwrap_or_else(PoisonError::into_inner).names;
                names.shrink_to_fit();
                offsets.push(total);
                total += names.len();
                names
            })
            .collect();
        offsets.push(total);
        SymbolNames { shards, offsets }
    }
}

/// The names of a frozen [`SymbolInterner`], read-only and lock-free. Names
/// are also numbered densely (`0..len()`, see [`SymbolNames::index`]).
#[derive(Clone, Debug, Default)]
pub struct SymbolNames {
    shards: Vec<StringList>,
    /// Dense index of each shard's first name, then the total.
    offsets: Vec<usize>,
}

impl SymbolNames {
    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of `id`; None for an id this interner did not make.
    pub fn get(&self, id: SymbolId) -> Option<&[u8]> {
        self.shards.get(id.shard())?.get(id.local())
    }

    /// The dense index of `id`, in `0..len()`; None for an id this
    /// interner did not make.
    pub fn index(&self, id: SymbolId) -> Option<usize> {
        let shard = self.shards.get(id.shard())?;
        (id.local() < shard.len()).then(|| self.offsets[id.shard()] + id.local())
    }

    /// Every name, in dense-index order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.shards.iter().flat_map(StringList::iter)
    }

    /// A list's entries with their names (None if an id is not from this
    /// interner).
    pub fn resolve<'a>(
        &'a self,
        list: &'a ImportList,
    ) -> impl ExactSizeIterator<Item = Option<super::SymbolRef<'a>>> + 'a {
        list.iter().map(|i| {
            self.get(i.id).map(|name| super::SymbolRef {
                name,
                crc: i.crc,
                weak: i.weak,
            })
        })
    }

    /// A list's entries as a [`SymbolList`] of names; None if an id is not
    /// from this interner.
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

/// A module's undefined symbols in order: an interned name, a CRC and a
/// weak flag each (12 bytes per symbol).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImportList {
    /// The id of each name, with [`WEAK`] or-ed in.
    ids: Vec<u32>,
    crcs: Vec<u64>,
}

/// One entry of an [`ImportList`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportRef {
    pub id: SymbolId,
    pub crc: u64,
    pub weak: bool,
}

impl ImportList {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        ImportList {
            ids: Vec::with_capacity(n),
            crcs: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, id: SymbolId, crc: u64, weak: bool) {
        self.ids.push(id.0 | if weak { WEAK } else { 0 });
        self.crcs.push(crc);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = ImportRef> + '_ {
        self.ids
            .iter()
            .zip(&self.crcs)
            .map(|(&id, &crc)| ImportRef {
                id: SymbolId(id & !WEAK),
                crc,
                weak: id & WEAK != 0,
            })
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.crcs.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id_from_many_threads() {
        let interner = SymbolInterner::new();
        let names: Vec<Vec<u8>> = (0..2000).map(|i| format!("sym_{i}").into_bytes()).collect();
        let ids: Vec<Vec<SymbolId>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (interner, names) = (&interner, &names);
                    s.spawn(move || {
                        // Each thread in another order.
                        let mut order: Vec<usize> = (0..names.len()).collect();
                        if t % 2 == 1 {
                            order.reverse();
                        }
                        let mut ids = vec![SymbolId(0); names.len()];
                        for i in order {
                            ids[i] = interner.intern(&names[i]).unwrap();
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
        assert_eq!(frozen.len(), names.len());
        let mut seen = vec![false; frozen.len()];
        for (name, &id) in names.iter().zip(&ids[0]) {
            assert_eq!(frozen.get(id), Some(name.as_slice()));
            let i = frozen.index(id).unwrap();
            assert!(!seen[i], "dense indexes are distinct");
            seen[i] = true;
            assert_eq!(frozen.iter().nth(i), Some(name.as_slice()));
        }
    }

    #[test]
    fn equal_hashes_are_told_apart() {
        let mut shard = Shard::default();
        assert_eq!(shard.intern(7, b"a"), Ok(0));
        assert_eq!(shard.intern(7, b"b"), Ok(1));
        assert_eq!(shard.intern(7, b""), Ok(2));
        assert_eq!(shard.intern(7, b"a"), Ok(0));
        assert_eq!(shard.intern(7, b"b"), Ok(1));
        assert_eq!(shard.intern(7, b""), Ok(2));
        assert_eq!(shard.intern(8, b"a"), Ok(3), "the hash is trusted");
    }

    #[test]
    fn import_lists_keep_order_flags_and_crcs() {
        let mut list = SymbolList::new();
        list.push(b"printk", 7, false, usize::MAX).unwrap();
        list.push(b"", 0, true, usize::MAX).unwrap();
        list.push(b"kfree", u64::MAX, true, usize::MAX).unwrap();
        list.push(b"printk", 9, true, usize::MAX).unwrap();
        let interner = SymbolInterner::new();
        let imports = interner.intern_imports(&list).unwrap();
        assert_eq!(imports.len(), 4);
        let ids: Vec<SymbolId> = imports.iter().map(|i| i.id).collect();
        assert_eq!(ids[0], ids[3]);
        let names = interner.freeze();
        assert_eq!(names.len(), 3);
        assert_eq!(names.to_symbol_list(&imports), Some(list));
    }

    #[test]
    fn foreign_ids_are_refused() {
        let names = SymbolInterner::new().freeze();
        let other = SymbolInterner::new();
        let id = other.intern(b"x").unwrap();
        assert_eq!(names.get(id), None);
        assert_eq!(names.index(id), None);
        let mut list = ImportList::new();
        list.push(id, 0, false);
        assert_eq!(names.to_symbol_list(&list), None);
    }
}
