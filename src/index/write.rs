//! Trie construction (§9.3, §9.4) and serialisation in both layouts (§9.5,
//! §9.6).
//!
//! Nodes live in one arena (`Vec<Node>`) and refer to each other by index;
//! prefixes and values are ranges into one shared byte buffer, children form
//! a sibling list sorted by character, and values a linked list sorted per
//! §9.4. Inserting therefore allocates nothing per node, and splitting a node
//! never copies bytes (both halves are sub-ranges of the old prefix).

use super::{
    Layout, FLAG_CHILDS, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, INDEX_MAGIC, INDEX_VERSION,
    OFFSET_MASK,
};

/// Sentinel for "no node" / "no value" in the arena links.
const NONE: u32 = u32::MAX;

/// Largest offset a node reference can hold (28 bits).
const MAX_OFFSET: usize = 0x0FFF_FFFF;

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Prefix: `bytes[prefix_start .. prefix_start + prefix_len]`.
    prefix_start: u32,
    prefix_len: u32,
    /// First child (lowest character), or `NONE`.
    first_child: u32,
    /// Next sibling in the parent's child list (higher character), or `NONE`.
    next_sibling: u32,
    /// First value (lowest priority), or `NONE`.
    values: u32,
    /// The character leading from the parent to this node (unused for root).
    ch: u8,
}

impl Node {
    /// A node without children or values.
    fn new(prefix_start: u32, prefix_len: u32, ch: u8) -> Node {
        Node {
            prefix_start,
            prefix_len,
            first_child: NONE,
            next_sibling: NONE,
            values: NONE,
            ch,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Value {
    priority: u32,
    /// Bytes `bytes[start .. start + len]`.
    start: u32,
    len: u32,
    next: u32,
}

/// The serialised index would need offsets beyond 28 bits (≥ 256 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("index too large: {size} bytes, node offsets are limited to 28 bits")]
pub struct IndexTooLarge {
    /// Size in bytes the file would have.
    pub size: usize,
}

/// Builds a kmod index in memory, then writes it in either layout.
///
/// Keys and values are byte strings without NUL; the builder stores any
/// other byte (kmod 34's refusal of bytes ≥ 0x80 is the renderer's).
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    nodes: Vec<Node>,
    values: Vec<Value>,
    bytes: Vec<u8>,
    /// The bytes of the last value stored (`start`, `len`): a value equal
    /// to it is not stored again. Callers insert runs of keys with one
    /// value (a module's aliases, all naming the module).
    last_value: Option<(u32, u32)>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    /// An empty index: a root with no prefix, no children and no values.
    pub fn new() -> Self {
        IndexBuilder {
            nodes: vec![Node::new(0, 0, 0)],
            values: Vec::new(),
            bytes: Vec::new(),
            last_value: None,
        }
    }

    fn push_bytes(&mut self, b: &[u8]) -> u32 {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        to_u32(start)
    }

    fn prefix(&self, n: u32) -> &[u8] {
        let node = &self.nodes[n as usize];
        let s = node.prefix_start as usize;
        &self.bytes[s..s + node.prefix_len as usize]
    }

    fn new_node(&mut self, prefix_start: u32, prefix_len: u32, ch: u8) -> u32 {
        let idx = to_u32(self.nodes.len());
        self.nodes.push(Node::new(prefix_start, prefix_len, ch));
        idx
    }

    /// Inserts `value` with `priority` under `key` (§9.3): the value goes
    /// before the first existing value of that key whose priority is ≥
    /// `priority` (§9.4). Returns true if an identical value was already
    /// stored under `key` (depmod `-w` warns about duplicates); the duplicate
    /// is stored anyway, as kmod does.
    ///
    /// Keys and values should not contain NUL bytes (they are written
    /// NUL-terminated).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> bool {
        let mut node = 0u32;
        let mut i = 0usize;
        loop {
            // 1. Make the node's prefix a prefix of key[i..], splitting if not.
            let plen = self.nodes[node as usize].prefix_len as usize;
            let common = (self.prefix(node).iter().zip(&key[i..]))
                .take_while(|(a, b)| a == b)
                .count();
            if common < plen {
                self.split(node, common);
            }
            // 2. Consume the (possibly shortened) prefix.
            i += common;
            if i == key.len() {
                return self.add_value(node, value, priority);
            }
            // 3. Descend or create a child for key[i].
            let c = key[i];
            match self.find_or_link_child(node, c) {
                Ok(child) => {
                    node = child;
                    i += 1;
                }
                Err((prev, next)) => {
                    let start = self.push_bytes(&key[i + 1..]);
                    let child = self.new_node(start, to_u32(key.len() - i - 1), c);
                    self.nodes[child as usize].next_sibling = next;
                    if prev == NONE {
                        self.nodes[node as usize].first_child = child;
                    } else {
                        self.nodes[prev as usize].next_sibling = child;
                    }
                    self.add_value(child, value, priority);
                    return false;
                }
            }
        }
    }

    /// Splits `node` at prefix position `j`: a new node takes
    /// `prefix[j+1..]`, the children and the values; `node` keeps
    /// `prefix[..j]` and gets the new node as its only child at `prefix[j]`.
    fn split(&mut self, node: u32, j: usize) {
        let old = self.nodes[node as usize];
        let split_ch = self.bytes[old.prefix_start as usize + j];
        let tail_start = old.prefix_start + to_u32(j) + 1;
        let tail_len = old.prefix_len - to_u32(j) - 1;
        let tail = self.new_node(tail_start, tail_len, split_ch);
        self.nodes[tail as usize].first_child = old.first_child;
        self.nodes[tail as usize].values = old.values;
        let n = &mut self.nodes[node as usize];
        n.prefix_len = to_u32(j);
        n.first_child = tail;
        n.values = NONE;
    }

    /// Finds child `c` of `node`: `Ok(child)`, or `Err((prev, next))`, the
    /// siblings between which a new child `c` belongs (`prev == NONE`: at the
    /// head of the list).
    fn find_or_link_child(&self, node: u32, c: u8) -> Result<u32, (u32, u32)> {
        let mut prev = NONE;
        for cur in self.children(node) {
            match self.nodes[cur as usize].ch.cmp(&c) {
                std::cmp::Ordering::Less => prev = cur,
                std::cmp::Ordering::Equal => return Ok(cur),
                std::cmp::Ordering::Greater => return Err((prev, cur)),
            }
        }
        Err((prev, NONE))
    }

    /// Adds a value per §9.4; returns whether an identical value existed.
    fn add_value(&mut self, node: u32, value: &[u8], priority: u32) -> bool {
        let duplicate = self.value_list(node).any(|v| self.data(v) == value);
        // The list is sorted by priority: the new value goes after the last
        // one of a lower priority.
        let after = self
            .value_ids(node)
            .take_while(|&i| self.values[i as usize].priority < priority)
            .last();
        let len = to_u32(value.len());
        let start = match self.last_value {
            Some((s, l)) if &self.bytes[s as usize..(s + l) as usize] == value => s,
            _ => self.push_bytes(value),
        };
        self.last_value = Some((start, len));
        let idx = to_u32(self.values.len());
        let next = match after {
            None => std::mem::replace(&mut self.nodes[node as usize].values, idx),
            Some(a) => std::mem::replace(&mut self.values[a as usize].next, idx),
        };
        self.values.push(Value {
            priority,
            start,
            len,
            next,
        });
        duplicate
    }

    /// The bytes of `v`.
    fn data(&self, v: &Value) -> &[u8] {
        let s = v.start as usize;
        &self.bytes[s..s + v.len as usize]
    }

    /// The list linked from `first` by `next`.
    fn linked(first: u32, next: impl Fn(u32) -> u32) -> impl Iterator<Item = u32> {
        let some = |i| (i != NONE).then_some(i);
        std::iter::successors(some(first), move |&i| some(next(i)))
    }

    fn children(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.nodes[node as usize].first_child;
        Self::linked(first, |c| self.nodes[c as usize].next_sibling)
    }

    fn value_ids(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        Self::linked(self.nodes[node as usize].values, |v| {
            self.values[v as usize].next
        })
    }

    fn value_list(&self, node: u32) -> impl Iterator<Item = &Value> + '_ {
        self.value_ids(node).map(|i| &self.values[i as usize])
    }

    /// Character range `(first, last)` of the node's children, if any.
    fn child_range(&self, node: u32) -> Option<(u8, u8)> {
        let first = self.children(node).next()?;
        let last = self.children(node).last()?;
        Some((self.nodes[first as usize].ch, self.nodes[last as usize].ch))
    }

    /// A node's reference flags (§9.2).
    fn flags(&self, n: u32) -> u32 {
        let n = &self.nodes[n as usize];
        let flag = |present: bool, flag: u32| if present { flag } else { 0 };
        flag(n.prefix_len > 0, FLAG_PREFIX)
            | flag(n.first_child != NONE, FLAG_CHILDS)
            | flag(n.values != NONE, FLAG_VALUES)
    }

    /// Nodes in the order they are written for `layout`: pre-order with
    /// ascending children, or the reverse of "node, then children in
    /// descending order".
    fn write_order(&self, layout: Layout) -> Vec<u32> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0u32];
        while let Some(n) = stack.pop() {
            order.push(n);
            let first = stack.len();
            stack.extend(self.children(n));
            if layout == Layout::PreOrder {
                // The lowest character pops first.
                stack[first..].reverse();
            }
        }
        if layout == Layout::PostOrder {
            order.reverse();
        }
        order
    }

    /// Serialises the index in `layout`, failing if offsets overflow 28 bits.
    pub fn try_to_bytes(&self, layout: Layout) -> Result<Vec<u8>, IndexTooLarge> {
        let order = self.write_order(layout);
        // Offsets and flags of every node, from the sizes along `order`.
        let mut refs = vec![0u32; self.nodes.len()];
        let mut pos = HEADER_LEN;
        for &n in &order {
            let size = self.node_size(n);
            if pos > MAX_OFFSET {
                return Err(IndexTooLarge { size: pos + size });
            }
            refs[n as usize] = to_u32(pos) | self.flags(n);
            pos += size;
        }
        let mut out = Vec::with_capacity(pos);
        out.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        out.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        out.extend_from_slice(&refs[0].to_be_bytes());
        for &n in &order {
            debug_assert_eq!(out.len(), (refs[n as usize] & OFFSET_MASK) as usize);
            self.write_node(n, &refs, &mut out);
        }
        Ok(out)
    }

    /// The number of bytes [`write_node`](Self::write_node) appends for
    /// node `n` (which does not depend on the references it holds).
    fn node_size(&self, n: u32) -> usize {
        let node = &self.nodes[n as usize];
        let prefix = match node.prefix_len {
            0 => 0,
            len => len as usize + 1,
        };
        let children = self
            .child_range(n)
            .map_or(0, |(first, last)| 2 + 4 * (usize::from(last - first) + 1));
        let values = match node.values {
            NONE => 0,
            _ => {
                4 + self
                    .value_list(n)
                    .map(|v| 4 + v.len as usize + 1)
                    .sum::<usize>()
            }
        };
        prefix + children + values
    }

    /// Appends node `n`'s bytes (§9.2) to `out`.
    fn write_node(&self, n: u32, refs: &[u32], out: &mut Vec<u8>) {
        let node = &self.nodes[n as usize];
        if node.prefix_len > 0 {
            out.extend_from_slice(self.prefix(n));
            out.push(0);
        }
        if let Some((first, last)) = self.child_range(n) {
            out.push(first);
            out.push(last);
            let table_start = out.len();
            out.resize(table_start + 4 * (usize::from(last - first) + 1), 0);
            for c in self.children(n) {
                let slot = table_start + 4 * usize::from(self.nodes[c as usize].ch - first);
                out[slot..slot + 4].copy_from_slice(&refs[c as usize].to_be_bytes());
            }
        }
        if node.values != NONE {
            let count = self.value_list(n).count();
            out.extend_from_slice(&to_u32(count).to_be_bytes());
            for v in self.value_list(n) {
                out.extend_from_slice(&v.priority.to_be_bytes());
                out.extend_from_slice(self.data(v));
                out.push(0);
            }
        }
    }
}

/// Arena sizes are far below 4 GiB for any module tree; a larger input is a
/// programming error, not a data error.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("index arena exceeds 4 GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_equal_values_is_stored_once() {
        let keys = [&b"pci:v1"[..], b"pci:v2", b"usb:v3"];
        let mut same = IndexBuilder::new();
        let mut distinct = IndexBuilder::new();
        for (key, value) in keys.iter().zip([&b"e1000a"[..], b"e1000b", b"e1000c"]) {
            same.insert(key, b"e1000e", 1);
            distinct.insert(key, value, 1);
        }
        // Same trie; the equal values take one copy instead of three.
        assert_eq!(distinct.bytes.len() - same.bytes.len(), 2 * "e1000e".len());
        // Only a run is shared: x, y, x takes three copies (one-byte keys
        // leave no prefix bytes).
        let mut again = IndexBuilder::new();
        for (key, value) in [(&b"a"[..], &b"x"[..]), (b"b", b"y"), (b"c", b"x")] {
            again.insert(key, value, 0);
        }
        assert_eq!(again.bytes.len(), 3);
    }

    #[test]
    fn empty_index_is_12_bytes_in_both_layouts() {
        let b = IndexBuilder::new();
        let want = [0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0, 0x0c];
        assert_eq!(b.try_to_bytes(Layout::PreOrder).unwrap(), want);
        assert_eq!(b.try_to_bytes(Layout::PostOrder).unwrap(), want);
    }

    #[test]
    fn value_order_and_duplicates() {
        let mut b = IndexBuilder::new();
        assert!(!b.insert(b"q_r", b"m3", 0));
        assert!(b.insert(b"q_r", b"m3", 0));
        assert!(!b.insert(b"q_r", b"m1", 0));
        assert!(!b.insert(b"q_r", b"m0", 5));
        assert!(!b.insert(b"q_r", b"m9", 1));
        let got: Vec<(u32, &[u8])> = b.value_list(1).map(|v| (v.priority, b.data(v))).collect();
        let want: Vec<(u32, &[u8])> =
            vec![(0, b"m1"), (0, b"m3"), (0, b"m3"), (1, b"m9"), (5, b"m0")];
        assert_eq!(got, want);
    }

    #[test]
    fn split_keeps_identity_of_old_node() {
        let mut b = IndexBuilder::new();
        b.insert(b"abcd", b"1", 0);
        b.insert(b"abxy", b"2", 0);
        b.insert(b"ab", b"3", 0);
        // root -a-> "b" (value 3) with children 'c' -> "d", 'x' -> "y".
        let a = b.nodes[0].first_child;
        assert_eq!(b.prefix(a), b"b");
        let kids: Vec<(u8, &[u8])> = b
            .children(a)
            .map(|c| (b.nodes[c as usize].ch, b.prefix(c)))
            .collect();
        assert_eq!(kids, vec![(b'c', &b"d"[..]), (b'x', &b"y"[..])]);
    }
}
