//! Building an index in bounded memory: the same bytes as
//! [`super::IndexBuilder`], whatever the number of entries, with a fixed
//! amount of memory.
//!
//! kmod's trie is the radix trie of its keys: a node wherever a key ends
//! or two keys part, and a prefix on every edge (§9.3). It depends only on
//! the set of keys and each key's values, so it can be built from the keys
//! in sorted order with only the path to the latest key held in memory.
//! The entries are therefore
//!
//! 1. collected in runs of at most a budget's bytes, each sorted and, once
//!    full, spilled to a temporary file ([`crate::spill`]);
//! 2. merged back in sorted order: by key, then priority, then latest
//!    inserted first, which is the order §9.4 gives a key's values;
//! 3. turned into nodes as each key arrives: a node is finished once the
//!    keys have moved past it, and goes to a spool (in memory up to a
//!    block, then in the temporary);
//! 4. written from the spool: in finishing order for the post-order
//!    layout, whose children precede their parent; backwards for the
//!    pre-order one, whose keys were sorted in descending order so that
//!    the reverse of the finishing order is "each node, then its children
//!    in ascending order".
//!
//! A child's reference holds its offset in the file. In post-order it is
//! known when the child is finished; in pre-order it depends on the size
//! of the whole file, so the spool holds the child's end in the spool and
//! the references are corrected as the file is written.

use super::{
    IndexTooLarge, Layout, FLAG_CHILDS, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, INDEX_MAGIC,
    INDEX_VERSION, OFFSET_MASK,
};
use crate::spill::{Spill, SpillRef};
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::io::{self, Write};
use std::ops::Range;

/// Bytes of entries held in memory before a run is spilled.
pub const DEFAULT_BUDGET: usize = 1 << 20;

/// Size of the blocks in which runs and the spool go to the temporary.
const BLOCK: usize = 64 * 1024;

/// Smallest read from a spilled run while merging.
const MIN_READ: usize = 4 * 1024;

/// Entry header: key length, value length, priority, sequence number
/// (native-endian `u32`s: entries never leave the process).
const ENTRY_HEADER: usize = 16;

/// Bytes after each node in a pre-order spool: the node's length and the
/// offset of its child table in it (`NO_TABLE`: none).
const TRAILER: usize = 8;
const NO_TABLE: u32 = u32::MAX;

/// A value that was already stored under its key when it was inserted
/// (depmod `-w` warns about these; the value is stored anyway, as kmod
/// does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// The entry's number in insertion order (from 0).
    pub seq: u32,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Why an index could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    TooLarge(#[from] IndexTooLarge),
    /// The temporary file did not give back what was written to it.
    #[error("could not read back its sorted entries from a temporary file in TMPDIR: {0}")]
    LostTemporary(String),
}

impl From<BuildError> for io::Error {
    fn from(e: BuildError) -> io::Error {
        let kind = match e {
            BuildError::TooLarge(_) => io::ErrorKind::InvalidData,
            BuildError::LostTemporary(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Collects entries and builds the index in bounded memory (see the
/// module documentation). Keys and values are byte strings without NUL.
pub struct BoundedIndexBuilder {
    layout: Layout,
    budget: usize,
    find_duplicates: bool,
    /// The current run's entries: header, key, value.
    run: Vec<u8>,
    /// Where each entry of the current run starts.
    starts: Vec<u32>,
    /// The spilled runs, each a list of blocks.
    runs: Vec<Vec<SpillRef>>,
    /// The temporary, made when a first run or block is spilled.
    spill: OnceCell<Spill>,
    next_seq: u32,
}

impl BoundedIndexBuilder {
    /// An empty index for `layout`, holding up to [`DEFAULT_BUDGET`] bytes
    /// of entries in memory.
    pub fn new(layout: Layout) -> Self {
        Self::with_budget(layout, DEFAULT_BUDGET)
    }

    /// An empty index for `layout`, holding up to `budget` bytes of
    /// entries in memory (at least one entry is always held).
    pub fn with_budget(layout: Layout, budget: usize) -> Self {
        BoundedIndexBuilder {
            layout,
            budget,
            find_duplicates: false,
            run: Vec::new(),
            starts: Vec::new(),
            runs: Vec::new(),
            spill: OnceCell::new(),
            next_seq: 0,
        }
    }

    /// Also lists the values that were already under their key when
    /// inserted ([`BuiltIndex::take_duplicates`]).
    pub fn find_duplicates(mut self, yes: bool) -> Self {
        self.find_duplicates = yes;
        self
    }

    /// Number of entries inserted so far: the sequence number the next
    /// one gets.
    pub fn len(&self) -> u32 {
        self.next_seq
    }

    /// True when nothing has been inserted.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Inserts `value` with `priority` under `key`, as
    /// [`super::IndexBuilder::insert`] does.
    ///
    /// # Panics
    /// If a key or value reaches 4 GiB, or after 2³² entries (module
    /// trees are read with a size limit far below either).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) {
        let size = ENTRY_HEADER + key.len() + value.len();
        let held = self.run.len() + 4 * self.starts.len();
        if !self.starts.is_empty() && held + size + 4 > self.budget {
            self.spill_run();
        }
        self.starts.push(to_u32(self.run.len()));
        for n in [
            to_u32(key.len()),
            to_u32(value.len()),
            priority,
            self.next_seq,
        ] {
            self.run.extend_from_slice(&n.to_ne_bytes());
        }
        self.run.extend_from_slice(key);
        self.run.extend_from_slice(value);
        self.next_seq = self
            .next_seq
            .checked_add(1)
            .expect("fewer than 2^32 index entries");
    }

    fn spill(&self) -> &Spill {
        self.spill.get_or_init(Spill::in_temp_dir)
    }

    /// Sorts the current run in merging order.
    fn sort_run(&mut self) {
        let run = &self.run;
        let descending = self.layout == Layout::PreOrder;
        self.starts
            .sort_unstable_by(|&a, &b| entry_order(entry_at(run, a), entry_at(run, b), descending));
    }

    /// Sorts the current run and moves it to the temporary, in blocks.
    fn spill_run(&mut self) {
        self.sort_run();
        let run = std::mem::take(&mut self.run);
        let starts = std::mem::take(&mut self.starts);
        let mut blocks = Vec::new();
        let mut block = Vec::with_capacity(BLOCK);
        for &s in &starts {
            let e = entry_at(&run, s);
            block.extend_from_slice(&run[s as usize..s as usize + e.size()]);
            if block.len() >= BLOCK {
                blocks.push(self.spill().put(&block));
                block.clear();
            }
        }
        if !block.is_empty() {
            blocks.push(self.spill().put(&block));
        }
        self.runs.push(blocks);
        // Reuse the allocations for the next run.
        self.run = run;
        self.run.clear();
        self.starts = starts;
        self.starts.clear();
    }

    /// Merges the entries and builds the trie's nodes. The result fails
    /// to write if a spilled run cannot be read back or the file would
    /// need offsets beyond 28 bits; its duplicates are then those found
    /// before the failure.
    pub fn finish(mut self) -> BuiltIndex {
        self.sort_run();
        let descending = self.layout == Layout::PreOrder;
        let spill = std::mem::take(&mut self.spill);
        let mut trie = TrieWriter::new(self.layout, self.find_duplicates);
        let merged = merge(
            &self.run,
            &self.starts,
            &self.runs,
            spill.get(),
            self.budget,
            descending,
            |e| trie.add(e, &spill),
        );
        let result = merged.and_then(|()| trie.finish(&spill));
        trie.duplicates.sort_unstable_by_key(|d| d.seq);
        BuiltIndex {
            layout: self.layout,
            spool: trie.spool,
            spill,
            root: trie.root,
            written: trie.written,
            result,
            duplicates: trie.duplicates,
        }
    }
}

/// An entry as stored in a run.
#[derive(Clone, Copy)]
struct Entry<'a> {
    key: &'a [u8],
    value: &'a [u8],
    priority: u32,
    seq: u32,
}

impl Entry<'_> {
    fn size(&self) -> usize {
        ENTRY_HEADER + self.key.len() + self.value.len()
    }
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut n = [0; 4];
    n.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(n)
}

/// The entry starting at `start` in `run` (written by `insert`).
fn entry_at(run: &[u8], start: u32) -> Entry<'_> {
    decode_entry(&run[start as usize..]).expect("entries in memory are whole")
}

/// The entry at the start of `b`, if it is there whole.
fn decode_entry(b: &[u8]) -> Option<Entry<'_>> {
    if b.len() < ENTRY_HEADER {
        return None;
    }
    let klen = read_u32(b, 0) as usize;
    let vlen = read_u32(b, 4) as usize;
    let key_end = ENTRY_HEADER.checked_add(klen)?;
    let end = key_end.checked_add(vlen)?;
    if b.len() < end {
        return None;
    }
    Some(Entry {
        key: &b[ENTRY_HEADER..key_end],
        value: &b[key_end..end],
        priority: read_u32(b, 8),
        seq: read_u32(b, 12),
    })
}

/// Merging order: keys ascending (descending for a pre-order build), then
/// priorities ascending, then the latest inserted first.
fn entry_order(a: Entry, b: Entry, descending: bool) -> Ordering {
    let keys = if descending {
        b.key.cmp(a.key)
    } else {
        a.key.cmp(b.key)
    };
    keys.then(a.priority.cmp(&b.priority))
        .then(b.seq.cmp(&a.seq))
}

/// Where the merge takes entries from: the run still in memory, or a
/// spilled one read back a piece at a time.
enum Source<'a> {
    Memory {
        run: &'a [u8],
        starts: &'a [u32],
        next: usize,
    },
    Spilled {
        blocks: &'a [SpillRef],
        /// The block being read and the offset in it.
        block: usize,
        offset: u64,
        /// Bytes read and not yet consumed start at `pos`.
        buf: Vec<u8>,
        pos: usize,
        /// Size of each read.
        read: usize,
        scratch: Vec<u8>,
    },
}

impl Source<'_> {
    /// The current entry, if any.
    fn current(&self) -> Option<Entry<'_>> {
        match self {
            Source::Memory { run, starts, next } => starts.get(*next).map(|&s| entry_at(run, s)),
            Source::Spilled { buf, pos, .. } => decode_entry(&buf[*pos..]),
        }
    }

    /// Moves past the current entry.
    fn advance(&mut self, spill: Option<&Spill>) -> Result<(), BuildError> {
        match self {
            Source::Memory { next, .. } => {
                *next += 1;
                Ok(())
            }
            Source::Spilled { buf, pos, .. } => {
                let size = decode_entry(&buf[*pos..]).map_or(0, |e| e.size());
                *pos += size;
                self.fill(spill)
            }
        }
    }

    /// Reads from a spilled run until its current entry is whole or the
    /// run is at its end.
    fn fill(&mut self, spill: Option<&Spill>) -> Result<(), BuildError> {
        let Source::Spilled {
            blocks,
            block,
            offset,
            buf,
            pos,
            read,
            scratch,
        } = self
        else {
            return Ok(());
        };
        loop {
            let rest = &buf[*pos..];
            let needed = if rest.len() < ENTRY_HEADER {
                ENTRY_HEADER
            } else {
                ENTRY_HEADER + read_u32(rest, 0) as usize + read_u32(rest, 4) as usize
            };
            if rest.len() >= needed {
                return Ok(());
            }
            // Skip finished blocks.
            while *block < blocks.len() && *offset == blocks[*block].len() {
                *block += 1;
                *offset = 0;
            }
            if *block == blocks.len() {
                if rest.is_empty() {
                    return Ok(());
                }
                return Err(BuildError::LostTemporary(
                    "a sorted run ends inside an entry".into(),
                ));
            }
            let r = blocks[*block];
            let len = (r.len() - *offset).min(*read as u64);
            let spill = spill.ok_or_else(|| BuildError::LostTemporary("no temporary".into()))?;
            if !spill.read(r, *offset, len, scratch) {
                return Err(lost(spill));
            }
            *offset += len;
            buf.drain(..*pos);
            *pos = 0;
            buf.extend_from_slice(scratch);
        }
    }
}

/// The error for a temporary that failed to give its bytes back.
fn lost(spill: &Spill) -> BuildError {
    BuildError::LostTemporary(spill.failure().unwrap_or_else(|| "read failed".into()))
}

/// Hands every entry of the runs to `sink` in merging order.
fn merge(
    run: &[u8],
    starts: &[u32],
    spilled: &[Vec<SpillRef>],
    spill: Option<&Spill>,
    budget: usize,
    descending: bool,
    mut sink: impl FnMut(Entry),
) -> Result<(), BuildError> {
    // Each spilled run's reads share the budget.
    let read = (budget / spilled.len().max(1)).clamp(MIN_READ, BLOCK);
    let mut sources: Vec<Source> = spilled
        .iter()
        .map(|blocks| Source::Spilled {
            blocks,
            block: 0,
            offset: 0,
            buf: Vec::new(),
            pos: 0,
            read,
            scratch: Vec::new(),
        })
        .collect();
    sources.push(Source::Memory {
        run,
        starts,
        next: 0,
    });
    for s in &mut sources {
        s.fill(spill)?;
    }
    let less = |sources: &[Source], a: usize, b: usize| -> bool {
        match (sources[a].current(), sources[b].current()) {
            (Some(x), Some(y)) => entry_order(x, y, descending) == Ordering::Less,
            _ => false,
        }
    };
    // A binary min-heap of the sources that have entries left.
    let mut heap: Vec<usize> = (0..sources.len())
        .filter(|&i| sources[i].current().is_some())
        .collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, |a, b| less(&sources, a, b));
    }
    while let Some(&top) = heap.first() {
        match sources[top].current() {
            Some(e) => sink(e),
            None => unreachable!("only sources with an entry are in the heap"),
        }
        sources[top].advance(spill)?;
        if sources[top].current().is_none() {
            heap.swap_remove(0);
        }
        sift_down(&mut heap, 0, |a, b| less(&sources, a, b));
    }
    Ok(())
}

/// Restores the heap order below position `i`.
fn sift_down(heap: &mut [usize], mut i: usize, less: impl Fn(usize, usize) -> bool) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut least = i;
        if l < heap.len() && less(heap[l], heap[least]) {
            least = l;
        }
        if r < heap.len() && less(heap[r], heap[least]) {
            least = r;
        }
        if least == i {
            return;
        }
        heap.swap(i, least);
        i = least;
    }
}

/// A node on the path to the latest key, not finished yet.
#[derive(Default)]
struct OpenNode {
    /// The node's prefix is `key[start..end]` of any key below it; its
    /// values are those of the key of length `end`.
    start: usize,
    end: usize,
    /// The character leading to it from its parent (unused for the root).
    ch: u8,
    /// Finished children: character and reference (in pre-order builds,
    /// the child's end in the spool instead of its offset).
    children: Vec<(u8, u32)>,
    /// The value list as written: priority, bytes, NUL per value.
    values: Vec<u8>,
    value_count: u32,
}

/// Where finished nodes go: in memory up to a block, then the temporary.
#[derive(Default)]
struct Spool {
    blocks: Vec<SpillRef>,
    tail: Vec<u8>,
}

impl Spool {
    /// Appends `bytes`, moving a full block to the temporary.
    fn push(&mut self, bytes: &[u8], spill: &OnceCell<Spill>) {
        self.tail.extend_from_slice(bytes);
        if self.tail.len() >= BLOCK {
            let r = spill.get_or_init(Spill::in_temp_dir).put(&self.tail);
            self.blocks.push(r);
            self.tail.clear();
        }
    }
}

/// Builds the trie's nodes from entries in merging order.
struct TrieWriter {
    layout: Layout,
    find_duplicates: bool,
    /// The path to the key last added; `path[0]` is the root.
    path: Vec<OpenNode>,
    /// Finished nodes' buffers, for reuse.
    free: Vec<OpenNode>,
    /// The key last added to the trie (the open nodes' prefixes are
    /// ranges of it), if any.
    prev: Option<Vec<u8>>,
    /// The key whose entries are being collected, its values (as
    /// written) and, when looking for duplicates, each value's sequence
    /// number and place in `values`.
    key: Vec<u8>,
    values: Vec<u8>,
    value_count: u32,
    seqs: Vec<(u32, Range<usize>)>,
    spool: Spool,
    /// Bytes of the nodes finished so far (without trailers).
    written: u64,
    /// Size of the first node finished (the last in a pre-order file).
    first_size: u64,
    /// Set when a reference (an offset, or in pre-order a spool end) would
    /// not fit in 28 bits.
    too_large: bool,
    node: Vec<u8>,
    duplicates: Vec<Duplicate>,
    /// The root's reference, once finished.
    root: u32,
}

impl TrieWriter {
    fn new(layout: Layout, find_duplicates: bool) -> Self {
        TrieWriter {
            layout,
            find_duplicates,
            path: vec![OpenNode::default()],
            free: Vec::new(),
            prev: None,
            key: Vec::new(),
            values: Vec::new(),
            value_count: 0,
            seqs: Vec::new(),
            spool: Spool::default(),
            written: 0,
            first_size: 0,
            too_large: false,
            node: Vec::new(),
            duplicates: Vec::new(),
            root: 0,
        }
    }

    /// Takes the next entry in merging order.
    fn add(&mut self, e: Entry, spill: &OnceCell<Spill>) {
        if self.value_count > 0 && e.key != &self.key[..] {
            self.add_key(spill);
        }
        if self.value_count == 0 {
            self.key.clear();
            self.key.extend_from_slice(e.key);
        }
        self.values.extend_from_slice(&e.priority.to_be_bytes());
        let start = self.values.len();
        self.values.extend_from_slice(e.value);
        if self.find_duplicates {
            self.seqs.push((e.seq, start..self.values.len()));
        }
        self.values.push(0);
        self.value_count += 1;
    }

    /// Lists the duplicates among the current key's values: each value
    /// equal to one inserted before it.
    fn note_duplicates(&mut self) {
        let values = &self.values;
        let bytes = |r: &Range<usize>| &values[r.clone()];
        self.seqs
            .sort_unstable_by(|a, b| bytes(&a.1).cmp(bytes(&b.1)).then(a.0.cmp(&b.0)));
        for pair in self.seqs.windows(2) {
            if bytes(&pair[0].1) == bytes(&pair[1].1) {
                self.duplicates.push(Duplicate {
                    seq: pair[1].0,
                    key: self.key.clone(),
                    value: bytes(&pair[1].1).to_vec(),
                });
            }
        }
        self.seqs.clear();
    }

    /// Adds the current key and its values to the trie: finishes the
    /// nodes the keys have moved past, splits the node where the key
    /// parts from the previous one, and opens the key's node (or gives
    /// its values to the node where it ends).
    fn add_key(&mut self, spill: &OnceCell<Spill>) {
        if self.find_duplicates {
            self.note_duplicates();
        }
        let key = std::mem::take(&mut self.key);
        let common = match &self.prev {
            Some(prev) => prev.iter().zip(&key).take_while(|(a, b)| a == b).count(),
            None => 0,
        };
        // Nodes whose edge lies at or past the parting point are off the
        // key's path: their subtrees are complete.
        while self.path.len() > 1 && self.path[self.path.len() - 1].start > common {
            self.finish_top(spill);
        }
        let top = self.path.len() - 1;
        if self.path[top].end > common {
            // The top node's prefix runs past the parting point: a new
            // node takes the common part, the old one the rest.
            let mut upper = self.free.pop().unwrap_or_default();
            upper.start = self.path[top].start;
            upper.end = common;
            upper.ch = self.path[top].ch;
            self.path.insert(top, upper);
            let lower = &mut self.path[top + 1];
            // `prev` goes on past `common`: it is `lower`'s key.
            lower.ch = self.prev.as_ref().map_or(0, |p| p[common]);
            lower.start = common + 1;
            self.finish_top(spill);
        }
        if common < key.len() {
            let mut leaf = self.free.pop().unwrap_or_default();
            leaf.start = common + 1;
            leaf.end = key.len();
            leaf.ch = key[common];
            self.path.push(leaf);
        }
        let node = self.path.last_mut().expect("the root is always open");
        std::mem::swap(&mut node.values, &mut self.values);
        node.value_count = self.value_count;
        self.values.clear();
        self.value_count = 0;
        // The old previous key's buffer takes the next key.
        self.key = self.prev.replace(key).unwrap_or_default();
    }

    /// Writes the top node of the path to the spool and hands its
    /// reference to its parent.
    fn finish_top(&mut self, spill: &OnceCell<Spill>) {
        let mut n = self.path.pop().expect("the root is always open");
        self.node.clear();
        let mut flags = 0;
        if n.end > n.start {
            let prev = self.prev.as_deref().unwrap_or_default();
            self.node.extend_from_slice(&prev[n.start..n.end]);
            self.node.push(0);
            flags |= FLAG_PREFIX;
        }
        let mut table_at = NO_TABLE;
        if let (Some(first), Some(last)) = (
            n.children.iter().map(|c| c.0).min(),
            n.children.iter().map(|c| c.0).max(),
        ) {
            table_at = to_u32(self.node.len());
            self.node.push(first);
            self.node.push(last);
            let table = self.node.len();
            self.node
                .resize(table + 4 * (usize::from(last - first) + 1), 0);
            for &(c, r) in &n.children {
                let slot = table + 4 * usize::from(c - first);
                self.node[slot..slot + 4].copy_from_slice(&r.to_be_bytes());
            }
            flags |= FLAG_CHILDS;
        }
        if n.value_count > 0 {
            self.node.extend_from_slice(&n.value_count.to_be_bytes());
            self.node.extend_from_slice(&n.values);
            flags |= FLAG_VALUES;
        }
        let size = self.node.len() as u64;
        let reference = match self.layout {
            Layout::PostOrder => {
                self.spool.push(&self.node, spill);
                HEADER_LEN as u64 + self.written
            }
            Layout::PreOrder => {
                if self.written == 0 {
                    self.first_size = size;
                }
                self.spool.push(&self.node, spill);
                let mut trailer = [0; TRAILER];
                trailer[..4].copy_from_slice(&to_u32(self.node.len()).to_ne_bytes());
                trailer[4..].copy_from_slice(&table_at.to_ne_bytes());
                self.spool.push(&trailer, spill);
                // Corrected to the offset when the file is written.
                self.written + size
            }
        };
        self.written += size;
        if reference > u64::from(OFFSET_MASK) {
            self.too_large = true;
        }
        let reference = (reference as u32 & OFFSET_MASK) | flags;
        match self.path.last_mut() {
            Some(parent) => parent.children.push((n.ch, reference)),
            None => self.root = reference,
        }
        n.children.clear();
        n.values.clear();
        n.value_count = 0;
        self.free.push(n);
    }

    /// Adds the last key and finishes every open node; the root's
    /// reference is then known.
    fn finish(&mut self, spill: &OnceCell<Spill>) -> Result<(), BuildError> {
        if self.value_count > 0 {
            self.add_key(spill);
        }
        while !self.path.is_empty() {
            self.finish_top(spill);
        }
        let total = HEADER_LEN as u64 + self.written;
        if self.layout == Layout::PreOrder {
            // The root comes first; the largest offset is that of the
            // first node finished, the last in the file (in post-order,
            // every offset was checked as it was given).
            self.root = HEADER_LEN as u32 | (self.root & !OFFSET_MASK);
            if total - self.first_size > u64::from(OFFSET_MASK) {
                self.too_large = true;
            }
        }
        if self.too_large {
            return Err(BuildError::TooLarge(IndexTooLarge {
                size: usize::try_from(total).unwrap_or(usize::MAX),
            }));
        }
        Ok(())
    }
}

/// An index built by [`BoundedIndexBuilder::finish`], ready to be written
/// (its nodes are in its temporary and, the last block, in memory).
pub struct BuiltIndex {
    layout: Layout,
    spool: Spool,
    spill: OnceCell<Spill>,
    root: u32,
    /// Bytes of the nodes.
    written: u64,
    result: Result<(), BuildError>,
    duplicates: Vec<Duplicate>,
}

impl BuiltIndex {
    /// The values that were already under their key when inserted, in
    /// insertion order (only when asked for with
    /// [`BoundedIndexBuilder::find_duplicates`]).
    pub fn take_duplicates(&mut self) -> Vec<Duplicate> {
        std::mem::take(&mut self.duplicates)
    }

    /// The file's size, or why it cannot be written.
    pub fn size(&self) -> Result<u64, BuildError> {
        self.result.clone()?;
        Ok(HEADER_LEN as u64 + self.written)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BuildError> {
        let mut out = Vec::with_capacity(usize::try_from(self.size()?).unwrap_or(0));
        match self.write(&mut out) {
            Ok(()) => Ok(out),
            Err(Failure::Build(e)) => Err(e),
            Err(Failure::Io(e)) => unreachable!("writing into a Vec failed: {e}"),
        }
    }

    /// Writes the file to `out`, a node at a time; fails as `out` does,
    /// or (before writing anything) with kind `InvalidData` for an index
    /// too large for 28-bit offsets, or with kind `Other` when its
    /// temporary does not give back what was written to it.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        self.write(out).map_err(|e| match e {
            Failure::Build(b) => b.into(),
            Failure::Io(e) => e,
        })
    }

    fn write(&self, out: &mut dyn Write) -> Result<(), Failure> {
        self.result.clone()?;
        let mut header = [0; HEADER_LEN];
        header[..4].copy_from_slice(&INDEX_MAGIC.to_be_bytes());
        header[4..8].copy_from_slice(&INDEX_VERSION.to_be_bytes());
        header[8..].copy_from_slice(&self.root.to_be_bytes());
        out.write_all(&header)?;
        let spill = self.spill.get();
        match self.layout {
            Layout::PostOrder => {
                let mut block = Vec::new();
                for &r in &self.spool.blocks {
                    read_block(spill, r, &mut block)?;
                    out.write_all(&block)?;
                }
                out.write_all(&self.spool.tail)?;
            }
            Layout::PreOrder => {
                let mut back = Backward {
                    blocks: &self.spool.blocks,
                    spill,
                    buf: self.spool.tail.clone(),
                    piece: Vec::new(),
                };
                let mut node = Vec::new();
                let total = HEADER_LEN as u64 + self.written;
                while !back.is_empty() {
                    back.take(TRAILER, &mut node)?;
                    let len = read_u32(&node, 0) as usize;
                    let table_at = read_u32(&node, 4);
                    back.take(len, &mut node)?;
                    if table_at != NO_TABLE {
                        correct_references(&mut node, table_at as usize, total)?;
                    }
                    out.write_all(&node)?;
                }
            }
        }
        Ok(())
    }
}

/// Replaces the spool ends in the child table at `table_at` of a
/// pre-order node by the children's offsets in a file of `total` bytes.
fn correct_references(node: &mut [u8], table_at: usize, total: u64) -> Result<(), BuildError> {
    let bad = || BuildError::LostTemporary("a node's child table is out of place".into());
    let (first, last) = match node.get(table_at..table_at + 2) {
        Some(&[f, l]) if f <= l => (f, l),
        _ => return Err(bad()),
    };
    let table = table_at + 2;
    let count = usize::from(last - first) + 1;
    let slots = node.get_mut(table..table + 4 * count).ok_or_else(bad)?;
    for slot in slots.chunks_exact_mut(4) {
        let r = u32::from_be_bytes([slot[0], slot[1], slot[2], slot[3]]);
        if r == 0 {
            continue;
        }
        let end = u64::from(r & OFFSET_MASK);
        let offset = total.checked_sub(end).ok_or_else(bad)?;
        let fixed = (offset as u32 & OFFSET_MASK) | (r & !OFFSET_MASK);
        slot.copy_from_slice(&fixed.to_be_bytes());
    }
    Ok(())
}

/// Why writing failed: the index (its temporary) or the writer.
enum Failure {
    Build(BuildError),
    Io(io::Error),
}

impl From<BuildError> for Failure {
    fn from(e: BuildError) -> Self {
        Failure::Build(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Reads spool block `r` into `buf`.
fn read_block(spill: Option<&Spill>, r: SpillRef, buf: &mut Vec<u8>) -> Result<(), BuildError> {
    let spill = spill.ok_or_else(|| BuildError::LostTemporary("no temporary".into()))?;
    if spill.read(r, 0, r.len(), buf) {
        Ok(())
    } else {
        Err(lost(spill))
    }
}

/// Reads a spool from its end.
struct Backward<'a> {
    /// The blocks not read yet.
    blocks: &'a [SpillRef],
    spill: Option<&'a Spill>,
    /// Bytes read and not yet taken (they end where the last taken began).
    buf: Vec<u8>,
    piece: Vec<u8>,
}

impl Backward<'_> {
    fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.blocks.is_empty()
    }

    /// Takes the last `n` bytes not yet taken into `out`.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), BuildError> {
        while self.buf.len() < n {
            let Some((&r, rest)) = self.blocks.split_last() else {
                return Err(BuildError::LostTemporary(
                    "the index's nodes end early".into(),
                ));
            };
            self.blocks = rest;
            read_block(self.spill, r, &mut self.piece)?;
            self.piece.extend_from_slice(&self.buf);
            std::mem::swap(&mut self.piece, &mut self.buf);
        }
        let at = self.buf.len() - n;
        out.clear();
        out.extend_from_slice(&self.buf[at..]);
        self.buf.truncate(at);
        Ok(())
    }
}

/// Lengths and counts are far below 4 GiB for any module tree (its files
/// are read with a size limit); a larger one is a programming error.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("index entry below 4 GiB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexBuilder;
    use proptest::prelude::*;

    /// The in-memory builder's bytes and the sequence numbers of the
    /// entries it called duplicates.
    fn reference(entries: &[(Vec<u8>, Vec<u8>, u32)], layout: Layout) -> (Vec<u8>, Vec<u32>) {
        let mut b = IndexBuilder::new();
        let mut dups = Vec::new();
        for (seq, (k, v, p)) in entries.iter().enumerate() {
            if b.insert(k, v, *p) {
                dups.push(seq as u32);
            }
        }
        (b.to_bytes(layout), dups)
    }

    fn bounded(
        entries: &[(Vec<u8>, Vec<u8>, u32)],
        layout: Layout,
        budget: usize,
    ) -> (Vec<u8>, Vec<u32>) {
        let mut b = BoundedIndexBuilder::with_budget(layout, budget).find_duplicates(true);
        for (k, v, p) in entries {
            b.insert(k, v, *p);
        }
        let mut built = b.finish();
        let dups = built.take_duplicates();
        for d in &dups {
            let (k, v, _) = &entries[d.seq as usize];
            assert_eq!((&d.key, &d.value), (k, v));
        }
        let bytes = built.to_bytes().unwrap();
        assert_eq!(built.size().unwrap(), bytes.len() as u64);
        (bytes, dups.iter().map(|d| d.seq).collect())
    }

    fn entries() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>, u32)>> {
        // Few letters, so keys share prefixes, end inside others and
        // repeat; some values repeat under a key.
        let key = prop::collection::vec(prop::sample::select(&b"abcz:*"[..]), 0..7);
        let value = prop::collection::vec(prop::sample::select(&b"xy"[..]), 0..3);
        prop::collection::vec((key, value, 0u32..3), 0..60)
    }

    proptest! {
        #[test]
        fn same_bytes_and_duplicates_as_the_in_memory_builder(
            entries in entries(),
            budget in prop::sample::select(vec![0usize, 40, 200, 1 << 20]),
        ) {
            for layout in [Layout::PreOrder, Layout::PostOrder] {
                let want = reference(&entries, layout);
                let got = bounded(&entries, layout, budget);
                prop_assert_eq!(got, want, "{:?}, budget {}", layout, budget);
            }
        }
    }

    /// Keys of a real alias index's shapes, enough for several runs and
    /// spool blocks in the temporary.
    fn many_entries() -> Vec<(Vec<u8>, Vec<u8>, u32)> {
        (0..6000u32)
            .map(|i| {
                let key = format!("pci:v{:08X}d{:08X}sv*sd*bc*sc*i*", i % 700, i * 7 % 1300);
                let value = format!("module_{}", i % 450);
                (key.into_bytes(), value.into_bytes(), i % 450)
            })
            .collect()
    }

    #[test]
    fn a_large_index_through_the_temporary_has_the_same_bytes() {
        let entries = many_entries();
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            let (want, want_dups) = reference(&entries, layout);
            assert!(want.len() > 3 * BLOCK);
            let mut b = BoundedIndexBuilder::with_budget(layout, 20_000).find_duplicates(true);
            for (k, v, p) in &entries {
                b.insert(k, v, *p);
            }
            assert!(b.runs.len() > 10);
            let mut built = b.finish();
            assert!(built.spool.blocks.len() >= 3);
            let got_dups: Vec<u32> = built.take_duplicates().iter().map(|d| d.seq).collect();
            assert_eq!(got_dups, want_dups);
            let mut streamed = Vec::new();
            built.write_to(&mut streamed).unwrap();
            assert!(streamed == want, "{layout:?}");
        }
    }

    #[test]
    fn a_lost_temporary_is_an_error_not_a_wrong_index() {
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            // Lost before merging: the runs.
            let mut b = BoundedIndexBuilder::with_budget(layout, 20_000);
            for (k, v, p) in many_entries() {
                b.insert(&k, &v, p);
            }
            b.spill().lose_file_records();
            let built = b.finish();
            let e = built.to_bytes().unwrap_err();
            assert!(matches!(e, BuildError::LostTemporary(_)), "{e}");
            let mut out = Vec::new();
            let e = built.write_to(&mut out).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Other);
            assert!(out.is_empty());
            // Lost after building: the spooled nodes.
            let mut b = BoundedIndexBuilder::with_budget(layout, 1 << 30);
            for (k, v, p) in many_entries() {
                b.insert(&k, &v, p);
            }
            let built = b.finish();
            assert!(built.size().is_ok());
            built.spill.get().unwrap().lose_file_records();
            let e = built.to_bytes().unwrap_err();
            assert!(e.to_string().starts_with("could not read back"), "{e}");
        }
    }

    #[test]
    fn small_indexes_make_no_temporary() {
        let mut b = BoundedIndexBuilder::new(Layout::PreOrder);
        for (k, v, p) in many_entries().into_iter().take(200) {
            b.insert(&k, &v, p);
        }
        let built = b.finish();
        assert!(built.spill.get().is_none());
        assert!(built.size().unwrap() > 1000);
    }

    #[test]
    fn empty_index_is_12_bytes() {
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            let built = BoundedIndexBuilder::new(layout).finish();
            assert_eq!(
                built.to_bytes().unwrap(),
                [0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0, 0x0c]
            );
        }
    }
}
