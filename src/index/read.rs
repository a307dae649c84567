//! Bounds-checked reader for untrusted index bytes (§9.9).
//!
//! Every read is checked against the buffer, every node reference must point
//! inside the file, and whole-subtree walks refuse to visit a node twice
//! (which catches reference loops and shared subtrees, neither of which kmod
//! ever writes). Walks are iterative, so hostile depth cannot overflow the
//! stack, and keys are capped at [`MAX_KEY_LEN`] bytes.

use super::fnmatch::fnmatch;
use super::{
    FLAG_CHILDS, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, INDEX_MAGIC, INDEX_VERSION_MAJOR,
    OFFSET_MASK,
};

/// Longest key (or wildcard pattern) a walk will build. kmod never writes
/// keys anywhere near this long; the cap bounds memory on hostile input.
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// Why index bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// 0 bytes: depmod writes this when a builtin input is missing (§8.3).
    #[error("empty file (0 bytes): not an index")]
    Empty,
    /// Shorter than the 12-byte header.
    #[error("truncated header: {len} bytes, an index starts with 12")]
    TruncatedHeader { len: usize },
    #[error("bad magic 0x{found:08x} at offset 0 (expected 0xb007f457)")]
    BadMagic { found: u32 },
    #[error("unsupported index version 0x{version:08x} at offset 4 (major version must be 2)")]
    UnsupportedVersion { version: u32 },
    /// A node reference whose offset lies beyond the end of the file.
    #[error(
        "node reference 0x{reference:08x} read at offset {at} points to offset {target}, \
         beyond the end of the file ({len} bytes)"
    )]
    OffsetOutOfRange {
        at: usize,
        reference: u32,
        target: usize,
        len: usize,
    },
    /// The same node was reached twice in one walk.
    #[error("reference loop: node at offset {offset} reached twice")]
    ReferenceLoop { offset: usize },
    /// A node field runs past the end of the file.
    #[error("truncated node at offset {offset}: {field} runs past the end of the file")]
    TruncatedNode { offset: usize, field: &'static str },
    /// A prefix or value without its terminating NUL.
    #[error("unterminated string at offset {offset}")]
    UnterminatedString { offset: usize },
    /// A child table whose last character is below its first.
    #[error("bad child range at offset {offset}: last 0x{last:02x} < first 0x{first:02x}")]
    BadChildRange { offset: usize, first: u8, last: u8 },
    /// A walk built a key longer than [`MAX_KEY_LEN`].
    #[error("key longer than {MAX_KEY_LEN} bytes below the node at offset {offset}")]
    KeyTooLong { offset: usize },
}

/// One (key, value, priority) triple of an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub priority: u32,
}

/// A value found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexValue {
    pub priority: u32,
    pub value: Vec<u8>,
}

/// A parsed index over borrowed bytes. Parsing only checks the header; nodes
/// are read (and checked) by the walks.
#[derive(Debug, Clone, Copy)]
pub struct Index<'a> {
    data: &'a [u8],
    root: u32,
}

/// One decoded node.
pub(crate) struct Node<'a> {
    pub(crate) offset: usize,
    /// Offset just past the node's last byte.
    pub(crate) end: usize,
    prefix: &'a [u8],
    first: u8,
    /// The raw child table (4 bytes per character `first..=last`); empty if
    /// the node has no children.
    children: &'a [u8],
    children_at: usize,
    values: Vec<(u32, &'a [u8])>,
}

impl Node<'_> {
    /// The characters and references of the present children, ascending.
    fn children(&self) -> impl DoubleEndedIterator<Item = (u8, u32, usize)> + '_ {
        self.children
            .chunks_exact(4)
            .enumerate()
            .filter_map(move |(k, c)| {
                let r = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                // first + k <= last <= 255, checked when the node was read.
                let ch = self.first.wrapping_add(k as u8);
                (r & OFFSET_MASK != 0).then_some((ch, r, self.children_at + 4 * k))
            })
    }

    /// The reference of child `ch` (and where it was read), if present.
    fn child(&self, ch: u8) -> Option<(u32, usize)> {
        let (_, r, at) = self.children().find(|&(c, ..)| c == ch)?;
        Some((r, at))
    }
}

fn value(priority: u32, v: &[u8]) -> IndexValue {
    IndexValue {
        priority,
        value: v.to_vec(),
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Values collected by a wildcard lookup, in the order modprobe gets them
/// from libkmod's `index_searchwild` (the `FILE *` reader modprobe uses).
///
/// That reader re-inserts a node's values into a list when it reads the node
/// (§9.4 rule: reverses each run of equal priorities), then adds them to the
/// result list with the same rule (reverses them back, ahead of equal
/// priorities already collected). Net effect: ascending priority; among
/// equal priorities, nodes matched later first, and within one node the
/// stored order. (libkmod's mmap reader, used only after
/// `kmod_load_resources`, skips the first re-insertion and so reverses each
/// node's equal-priority run.)
#[derive(Default)]
struct Collected {
    /// (priority, node sequence number, position in node, value)
    items: Vec<(u32, usize, usize, IndexValue)>,
    nodes: usize,
}

impl Collected {
    fn add(&mut self, node: &Node<'_>) {
        let seq = self.nodes;
        self.nodes += 1;
        for (pos, &(priority, v)) in node.values.iter().enumerate() {
            self.items.push((priority, seq, pos, value(priority, v)));
        }
    }

    fn finish(mut self) -> Vec<IndexValue> {
        self.items
            .sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        self.items.into_iter().map(|(_, _, _, v)| v).collect()
    }
}

impl<'a> Index<'a> {
    /// Checks the header (magic, major version 2) of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self, IndexError> {
        if data.is_empty() {
            return Err(IndexError::Empty);
        }
        if data.len() < HEADER_LEN {
            return Err(IndexError::TruncatedHeader { len: data.len() });
        }
        let magic = be32(data, 0).unwrap_or(0);
        if magic != INDEX_MAGIC {
            return Err(IndexError::BadMagic { found: magic });
        }
        let version = be32(data, 4).unwrap_or(0);
        if version >> 16 != u32::from(INDEX_VERSION_MAJOR) {
            return Err(IndexError::UnsupportedVersion { version });
        }
        let root = be32(data, 8).unwrap_or(0);
        Ok(Index { data, root })
    }

    /// The raw root reference (offset | flags) from the header.
    pub fn root_reference(&self) -> u32 {
        self.root
    }

    /// Reads the node `reference` points to (`None` for offset 0, "no
    /// node"); `at` is where the reference was read, for error messages.
    pub(crate) fn node(&self, reference: u32, at: usize) -> Result<Option<Node<'a>>, IndexError> {
        let offset = (reference & OFFSET_MASK) as usize;
        if offset == 0 {
            return Ok(None);
        }
        let data = self.data;
        if offset > data.len() {
            return Err(IndexError::OffsetOutOfRange {
                at,
                reference,
                target: offset,
                len: data.len(),
            });
        }
        let mut p = offset;
        let read_str = |p: &mut usize| -> Result<&'a [u8], IndexError> {
            let rest = &data[*p..];
            let n = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(IndexError::UnterminatedString { offset: *p })?;
            *p += n + 1;
            Ok(&rest[..n])
        };
        let truncated = |field| IndexError::TruncatedNode { offset, field };

        let prefix = if reference & FLAG_PREFIX != 0 {
            read_str(&mut p)?
        } else {
            &[]
        };

        let (first, children, children_at) = if reference & FLAG_CHILDS != 0 {
            let fl = data.get(p..p + 2).ok_or_else(|| truncated("child range"))?;
            let (first, last) = (fl[0], fl[1]);
            if last < first {
                return Err(IndexError::BadChildRange {
                    offset,
                    first,
                    last,
                });
            }
            p += 2;
            let n = 4 * (usize::from(last - first) + 1);
            let table = data.get(p..p + n).ok_or_else(|| truncated("child table"))?;
            p += n;
            (first, table, p - n)
        } else {
            (0, &[][..], p)
        };

        let mut values = Vec::new();
        if reference & FLAG_VALUES != 0 {
            let count = be32(data, p).ok_or_else(|| truncated("value count"))?;
            p += 4;
            for _ in 0..count {
                let priority = be32(data, p).ok_or_else(|| truncated("value priority"))?;
                p += 4;
                values.push((priority, read_str(&mut p)?));
            }
        }

        Ok(Some(Node {
            offset,
            end: p,
            prefix,
            first,
            children,
            children_at,
            values,
        }))
    }

    /// Calls `f(key, value, priority)` for every entry in trie order:
    /// ascending key bytes, each key's values in stored order.
    pub fn for_each_entry(
        &self,
        mut f: impl FnMut(&[u8], &'a [u8], u32),
    ) -> Result<(), IndexError> {
        self.walk(self.root, 8, 0, None, false, |node, key| {
            for &(priority, v) in &node.values {
                f(key, v, priority);
            }
        })
    }

    /// Every entry in trie order (see [`Index::for_each_entry`]).
    pub fn entries(&self) -> Result<Vec<Entry>, IndexError> {
        let mut out = Vec::new();
        self.for_each_entry(|key, value, priority| {
            out.push(Entry {
                key: key.to_vec(),
                value: value.to_vec(),
                priority,
            })
        })?;
        Ok(out)
    }

    /// All values stored under exactly `key`, in stored order (ascending
    /// priority); libkmod's `index_search` returns element 0. A NUL byte
    /// ends `key`, as in C.
    pub fn lookup_exact(&self, key: &[u8]) -> Result<Vec<IndexValue>, IndexError> {
        let key = key.split(|&c| c == 0).next().unwrap_or_default();
        let (mut r, mut at, mut i) = (self.root, 8usize, 0usize);
        // Each round consumes at least one key byte, so this terminates.
        loop {
            let Some(node) = self.node(r, at)? else {
                return Ok(Vec::new());
            };
            if !key[i..].starts_with(node.prefix) {
                return Ok(Vec::new());
            }
            i += node.prefix.len();
            let Some(&c) = key.get(i) else {
                return Ok(node.values.iter().map(|&(p, v)| value(p, v)).collect());
            };
            match node.child(c) {
                Some((cr, cat)) => (r, at, i) = (cr, cat, i + 1),
                None => return Ok(Vec::new()),
            }
        }
    }

    /// Wildcard lookup as libkmod's `index_searchwild` (what modprobe does
    /// for `modules.alias.bin` and `modules.builtin.alias.bin`): stored keys
    /// are `fnmatch` patterns; returns the values of every key matching
    /// `query`, merged by priority the way libkmod merges them (ascending
    /// priority; among equal priorities, keys reached later in the walk
    /// first, each key's values in stored order). A NUL byte ends `query`.
    pub fn lookup_wildcard(&self, query: &[u8]) -> Result<Vec<IndexValue>, IndexError> {
        let key = query.split(|&c| c == 0).next().unwrap_or_default();
        let mut out = Collected::default();
        // libkmod's "searchwild_all": a node's values are collected (after
        // its children's) if its pattern matches `subkey`.
        let wild = |r, at, skip, lead, subkey: &[u8], out: &mut Collected| {
            self.walk(r, at, skip, lead, true, |node, pattern| {
                if !node.values.is_empty() && fnmatch(pattern, subkey) {
                    out.add(node);
                }
            })
        };
        let (mut r, mut at, mut i) = (self.root, 8usize, 0usize);
        // Descend literally until a wildcard; each round consumes a key byte.
        while let Some(node) = self.node(r, at)? {
            for (j, &ch) in node.prefix.iter().enumerate() {
                if matches!(ch, b'*' | b'?' | b'[') {
                    wild(r, at, j, None, &key[i + j..], &mut out)?;
                    return Ok(out.finish());
                }
                if key.get(i + j) != Some(&ch) {
                    return Ok(out.finish());
                }
            }
            i += node.prefix.len();
            for wc in [b'*', b'?', b'['] {
                if let Some((cr, cat)) = node.child(wc) {
                    wild(cr, cat, 0, Some(wc), &key[i..], &mut out)?;
                }
            }
            let Some(&c) = key.get(i) else {
                out.add(&node);
                break;
            };
            match node.child(c) {
                Some((cr, cat)) => (r, at, i) = (cr, cat, i + 1),
                None => break,
            }
        }
        Ok(out.finish())
    }

    /// Walks the subtree at `reference` (read at `at`) in ascending
    /// character order, building each node's key from `lead` (the edge
    /// character), the node's prefix from `skip` on, and everything below;
    /// calls `visit(node, key)` before the node's children, or after them
    /// when `post`.
    fn walk(
        &self,
        reference: u32,
        at: usize,
        skip: usize,
        lead: Option<u8>,
        post: bool,
        mut visit: impl FnMut(&Node<'a>, &[u8]),
    ) -> Result<(), IndexError> {
        enum Step<'n> {
            Enter(u32, usize, usize, Option<u8>, usize),
            Leave(Node<'n>, usize),
        }
        // Offsets already visited (a bitmap over the file).
        let mut visited = vec![0u64; self.data.len() / 64 + 1];
        let mut key: Vec<u8> = Vec::new();
        let mut stack = vec![Step::Enter(reference, at, 0, lead, skip)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(r, at, base, ch, skip) => {
                    let Some(node) = self.node(r, at)? else {
                        continue;
                    };
                    let offset = node.offset;
                    // offset <= len: the bitmap covers it.
                    let (word, bit) = (&mut visited[offset / 64], 1u64 << (offset % 64));
                    if *word & bit != 0 {
                        return Err(IndexError::ReferenceLoop { offset });
                    }
                    *word |= bit;
                    key.truncate(base);
                    key.extend(ch);
                    let tail = node.prefix.get(skip..).unwrap_or_default();
                    if key.len() + tail.len() > MAX_KEY_LEN {
                        return Err(IndexError::KeyTooLong { offset });
                    }
                    key.extend_from_slice(tail);
                    let len = key.len();
                    let kids: Vec<Step> = (node.children().rev())
                        .map(|(c, cr, cat)| Step::Enter(cr, cat, len, Some(c), 0))
                        .collect();
                    if post {
                        stack.push(Step::Leave(node, len));
                    } else {
                        visit(&node, &key);
                    }
                    stack.extend(kids);
                }
                Step::Leave(node, len) => {
                    key.truncate(len);
                    visit(&node, &key);
                }
            }
        }
        Ok(())
    }
}
