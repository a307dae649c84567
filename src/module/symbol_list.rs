//! A compact list of symbols: names stored back to back in one buffer, with
//! a CRC and a weak flag each.
//!
//! A Debian kernel's modules import about 400,000 symbols. Held as one
//! `Vec<u8>` per name, that is 400,000 allocations made on the reading
//! threads and freed on another, and about 100 bytes per symbol; here it is
//! three allocations per module and about 30 bytes per symbol.

use super::{Export, Import};
use std::cell::Cell;

/// The top bit of an entry's end offset is its weak flag.
const WEAK: u32 = 1 << 31;
/// Name bytes one list can hold (the end offsets keep a bit for `WEAK`).
pub const MAX_NAME_BYTES: usize = (WEAK - 1) as usize;

/// Symbols in order: `(name, crc, weak)` each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SymbolList {
    names: Vec<u8>,
    /// End of each name in `names`, with [`WEAK`] or-ed in.
    ends: Vec<u32>,
    crcs: Vec<u64>,
}

thread_local! {
    /// [`SymbolList::build`]'s scratch list, kept between modules.
    static SCRATCH: Cell<SymbolList> = const {
        Cell::new(SymbolList {
            names: Vec::new(),
            ends: Vec::new(),
            crcs: Vec::new(),
        })
    };
}

/// The largest scratch list (bytes of names) a thread keeps for the next
/// module; a bigger one is freed.
const RETAINED_SCRATCH_BYTES: usize = 256 * 1024;

/// One entry of a [`SymbolList`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolRef<'a> {
    pub name: &'a [u8],
    pub crc: u64,
    pub weak: bool,
}

/// The list would hold more than [`MAX_NAME_BYTES`] of names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFull;

impl SymbolList {
    /// Appends a symbol; refuses (leaving the list as it was) when the
    /// names would exceed `max_name_bytes` (at most [`MAX_NAME_BYTES`]).
    pub fn push(
        &mut self,
        name: &[u8],
        crc: u64,
        weak: bool,
        max_name_bytes: usize,
    ) -> Result<(), ListFull> {
        let end = self.names.len() + name.len();
        if end > max_name_bytes.min(MAX_NAME_BYTES) {
            return Err(ListFull);
        }
        self.names.extend_from_slice(name);
        self.ends.push(end as u32 | if weak { WEAK } else { 0 });
        self.crcs.push(crc);
        Ok(())
    }

    /// Builds a list with `fill` in the calling thread's reused scratch
    /// list and returns an exactly sized copy (one allocation per vector,
    /// instead of the doublings of growing a new list), with what `fill`
    /// returned.
    pub fn build<R>(fill: impl FnOnce(&mut SymbolList) -> R) -> (SymbolList, R) {
        let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
        scratch.names.clear();
        scratch.ends.clear();
        scratch.crcs.clear();
        let r = fill(&mut scratch);
        // A clone's vectors are allocated at their length.
        let exact = scratch.clone();
        if scratch.names.capacity() <= RETAINED_SCRATCH_BYTES {
            let _ = SCRATCH.try_with(|c| c.set(scratch));
        }
        (exact, r)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = SymbolRef<'_>> + '_ {
        let mut start = 0usize;
        self.ends.iter().zip(&self.crcs).map(move |(&end, &crc)| {
            let stop = (end & !WEAK) as usize;
            let name = &self.names[start..stop];
            start = stop;
            SymbolRef {
                name,
                crc,
                weak: end & WEAK != 0,
            }
        })
    }

    /// Releases spare capacity (lists are built by pushing, then kept).
    pub fn shrink_to_fit(&mut self) {
        self.names.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.crcs.shrink_to_fit();
    }

    /// The entries as [`Export`]s (the weak flag is dropped).
    pub fn to_exports(&self) -> Vec<Export> {
        self.iter()
            .map(|s| Export {
                name: s.name.to_vec(),
                crc: s.crc,
            })
            .collect()
    }

    /// The entries as [`Import`]s.
    pub fn to_imports(&self) -> Vec<Import> {
        self.iter()
            .map(|s| Import {
                name: s.name.to_vec(),
                weak: s.weak,
                crc: s.crc,
            })
            .collect()
    }

    pub fn from_imports(imports: &[Import]) -> Result<Self, ListFull> {
        let mut list = SymbolList::default();
        for i in imports {
            list.push(&i.name, i.crc, i.weak, MAX_NAME_BYTES)?;
        }
        Ok(list)
    }
}

/// Serde (de)serialisation of a list as `[Import]`, the `--manifest`
/// cache's format. An export list, never weak, reads as `[Export]`: `weak`
/// is written only when set.
pub mod as_symbols {
    use super::{Import, SymbolList};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(list: &SymbolList, s: S) -> Result<S::Ok, S::Error> {
        list.to_imports().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SymbolList, D::Error> {
        let v = Vec::<Import>::deserialize(d)?;
        SymbolList::from_imports(&v).map_err(|_| serde::de::Error::custom("symbol list too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut l = SymbolList::default();
        l.push(b"printk", 7, false, usize::MAX).unwrap();
        l.push(b"", 0, true, usize::MAX).unwrap();
        l.push(b"kfree", u64::MAX, true, usize::MAX).unwrap();
        let got: Vec<(&[u8], u64, bool)> = l.iter().map(|s| (s.name, s.crc, s.weak)).collect();
        assert_eq!(
            got,
            vec![
                (&b"printk"[..], 7, false),
                (&b""[..], 0, true),
                (&b"kfree"[..], u64::MAX, true)
            ]
        );
        assert_eq!(l.iter().nth(2).unwrap().name, b"kfree");
        assert_eq!(l.iter().nth(3), None);
        assert_eq!(SymbolList::from_imports(&l.to_imports()).unwrap(), l);
    }

    #[test]
    fn refuses_past_the_cap() {
        let mut l = SymbolList::default();
        l.push(b"abc", 0, false, 5).unwrap();
        assert_eq!(l.push(b"def", 0, false, 5), Err(ListFull));
        assert_eq!(l.len(), 1);
        assert_eq!(l.iter().map(|s| s.name.len()).sum::<usize>(), 3);
    }
}

/// Byte strings stored back to back (a module's aliases, softdeps, ...) in
/// one allocation, each after its length as an LEB128 number (one byte for
/// strings under 128 bytes). An empty list allocates nothing. Read in
/// order only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StringList {
    packed: Vec<u8>,
}

impl StringList {
    /// Appends a string; refuses past `u32::MAX` bytes in all.
    pub fn push(&mut self, s: &[u8]) -> Result<(), ListFull> {
        let mut len = u32::try_from(s.len()).map_err(|_| ListFull)?;
        if self.packed.len() + s.len() + 5 > u32::MAX as usize {
            return Err(ListFull);
        }
        while len >= 0x80 {
            self.packed.push(len as u8 | 0x80);
            len >>= 7;
        }
        self.packed.push(len as u8);
        self.packed.extend_from_slice(s);
        Ok(())
    }

    /// Number of strings (counted: O(n)).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// The strings in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest = &self.packed[..];
        // `push` lets in only whole entries.
        std::iter::from_fn(move || {
            let (s, tail) = split_entry(rest)?;
            rest = tail;
            Some(s)
        })
    }

    pub fn shrink_to_fit(&mut self) {
        self.packed.shrink_to_fit();
    }

    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(<[u8]>::to_vec).collect()
    }

    pub fn from_vecs(v: &[Vec<u8>]) -> Result<Self, ListFull> {
        let mut list = StringList::default();
        for s in v {
            list.push(s)?;
        }
        Ok(list)
    }
}

/// The first string of packed bytes (its LEB128 length of at most five
/// bytes, then the string) and the bytes after it; None at the end, or if
/// the length is cut short, too long or runs past the bytes.
fn split_entry(packed: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = packed;
    let mut len = 0u64;
    for shift in (0..35).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        rest = tail;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let len = usize::try_from(len).ok()?;
            return rest.get(..len).map(|s| (s, &rest[len..]));
        }
    }
    None
}

/// Serde (de)serialisation of a [`StringList`] as an array of %-escaped
/// byte strings (the `--manifest` cache's format).
pub mod as_escaped_strings {
    use super::StringList;
    use crate::kmod::esc::{encode, Esc};
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &StringList, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(encode))
    }

    struct Strings;

    impl<'de> Visitor<'de> for Strings {
        type Value = StringList;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of %-escaped byte strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
            let mut list = StringList::default();
            while let Some(Esc(s)) = seq.next_element()? {
                list.push(&s)
                    .map_err(|_| A::Error::custom("string list too large"))?;
            }
            Ok(list)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StringList, D::Error> {
        d.deserialize_seq(Strings)
    }
}

#[cfg(test)]
mod string_list_tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        let v = vec![b"pci:v*".to_vec(), Vec::new(), b"of:N*".to_vec()];
        let l = StringList::from_vecs(&v).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            vec![&b"pci:v*"[..], b"", b"of:N*"]
        );
        assert_eq!(l.to_vecs(), v);
        assert!(!l.is_empty());
        assert!(StringList::default().is_empty());
    }

    #[test]
    fn long_strings_round_trip() {
        // Lengths on one, two and three LEB128 bytes, at the boundaries.
        let v: Vec<Vec<u8>> = [0, 1, 127, 128, 300, 16383, 16384, 70000]
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![b'a' + i as u8; n])
            .collect();
        let l = StringList::from_vecs(&v).unwrap();
        assert_eq!(l.len(), v.len());
        assert_eq!(l.to_vecs(), v);
        // One length byte per short string, then the bytes.
        let short = StringList::from_vecs(&[b"ab".to_vec(), b"c".to_vec()]).unwrap();
        assert_eq!(short.packed, b"\x02ab\x01c");
    }
}
