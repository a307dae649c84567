//! Reading only what depmod needs from a plain (uncompressed) module file.
//!
//! kmod maps module files and touches only the pages of the sections it
//! reads. kmodtree does the same with positioned reads into a reused buffer:
//! the ELF header, the section header table, the section-name table, and
//! the sections depmod's parser looks up by name (`.modinfo`,
//! `__ksymtab_strings`, `.symtab`, `.strtab`, `__versions`, and the
//! `__kcrctab*` tables that hold export CRCs). On a Debian kernel that is
//! about an eighth of the bytes.
//!
//! The rest of the buffer is not cleared: it may hold bytes of an earlier
//! module. The parser is told which ranges were read ([`Loaded`]) and
//! reports any use of bytes outside them (a hostile `__crc_` symbol in an
//! unexpected section, a string running off the end of `.strtab`); the
//! caller then reads the whole file and parses again, so the result is
//! always the whole-file result. The appended signature is not read.

use super::symbols::SECTIONS;
use super::ElfIdent;
use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Gaps smaller than this between wanted ranges are read rather than
/// skipped (one read is cheaper than two).
const MERGE_GAP: u64 = 4096;
/// How far before the section header table the first table read starts,
/// to catch the section-name table that linkers place just before it.
const TABLE_LOOKBEHIND: u64 = 4096;

/// Prefixes of the sections holding export CRCs: `__kcrctab`,
/// `__kcrctab_gpl`, and the per-symbol `___kcrctab+NAME` of older kernels.
const CRC_TABLES: [&[u8]; 2] = [b"__kcrctab", b"___kcrctab"];

/// The byte ranges `[start, end)` of the image that hold file data, sorted
/// and disjoint, and whether the parser used bytes outside them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    ranges: Vec<(u64, u64)>,
    pub(super) missed: Cell<bool>,
}

impl Loaded {
    /// Whether `[start, end)` was read (an empty range always was).
    pub fn contains(&self, start: u64, end: u64) -> bool {
        // Ranges are few (typically two to four): a linear scan.
        start >= end || self.ranges.iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// Notes a use of `[start, end)`: a miss unless it was read.
    pub(super) fn need(&self, start: u64, end: u64) {
        if !self.contains(start, end) {
            self.missed.set(true);
        }
    }

    fn add(&mut self, start: u64, end: u64) {
        self.ranges.push((start, end));
    }

    /// Sorts and merges ranges closer than `gap`.
    fn normalize(&mut self, gap: u64) {
        self.ranges.sort_unstable();
        self.ranges.dedup_by(|next, last| {
            let close = next.0 <= last.1.saturating_add(gap);
            if close {
                last.1 = last.1.max(next.1);
            }
            close
        });
    }
}

/// Where a sparse read takes an image's bytes from: a plain file, or an
/// image held in compressed chunks ([`super::decompress::Chunked`]).
pub trait Source {
    /// Fills `buf` with the image's bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl Source for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

/// Reads into `image` (exactly the file's length) the header, the section
/// tables and the sections depmod needs, and returns what was read. `None`
/// when the file does not start with a well-formed ELF header and section
/// table; the caller then reads the whole file. `file` is a plain file or
/// an image held in chunks.
pub fn read_elf_sparse(file: &impl Source, image: &mut [u8]) -> std::io::Result<Option<Loaded>> {
    let len = image.len() as u64;
    if len < 64 {
        return Ok(None);
    }
    file.read_exact_at(&mut image[..64], 0)?;
    // Only the first 64 bytes are read yet: all these look at.
    let Ok(ident) = ElfIdent::of(image) else {
        return Ok(None);
    };
    let shdr_size = ident.shdr_size();
    let Some((shoff, _, shnum, shstrndx)) = ident
        .section_table(&image[..64])
        .filter(|t| t.1 == shdr_size)
    else {
        return Ok(None);
    };
    let table_len = u64::from(shnum) * shdr_size;
    let Some(table_end) = shoff.checked_add(table_len).filter(|&e| e <= len) else {
        return Ok(None);
    };
    if shoff < 64 {
        return Ok(None);
    }
    let mut done = Loaded::default();
    done.add(0, 64);
    let table_start = shoff.saturating_sub(TABLE_LOOKBEHIND).max(64);
    file.read_exact_at(
        &mut image[table_start as usize..table_end as usize],
        table_start,
    )?;
    done.add(table_start, table_end);
    done.normalize(0);

    // The table is in the file (checked above): the fields are always read.
    let header = |image: &[u8], i: u64| -> (u32, u64, u64) {
        ident
            .section_fields(image, shoff + i * shdr_size)
            .unwrap_or_default()
    };
    let in_file = |offset: u64, size: u64| offset.checked_add(size).filter(|&e| e <= len);

    // The section-name table, unless the first read caught it.
    let names = (shstrndx != 0 && shstrndx < shnum)
        .then(|| header(image, u64::from(shstrndx)))
        .and_then(|(_, offset, size)| Some((offset, in_file(offset, size)?)))
        .unwrap_or_default();
    if !done.contains(names.0, names.1) {
        file.read_exact_at(&mut image[names.0 as usize..names.1 as usize], names.0)?;
        done.add(names.0, names.1);
        done.normalize(0);
    }
    let shstrtab = &image[names.0 as usize..names.1 as usize];
    let name_of = |name_off: u32| -> Option<&[u8]> {
        let rest = shstrtab.get(name_off as usize..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    };

    let wanted_name =
        |n: &[u8]| SECTIONS.contains(&n) || CRC_TABLES.iter().any(|p| n.starts_with(p));
    let mut wanted = Loaded::default();
    for i in 1..u64::from(shnum) {
        let (name_off, offset, size) = header(image, i);
        if size == 0 || !name_of(name_off).is_some_and(wanted_name) {
            continue;
        }
        if let Some(end) = in_file(offset, size).filter(|&end| !done.contains(offset, end)) {
            wanted.add(offset, end);
        }
    }
    wanted.normalize(MERGE_GAP);
    for &(s, e) in &wanted.ranges {
        file.read_exact_at(&mut image[s as usize..e as usize], s)?;
        done.add(s, e);
    }
    done.normalize(0);
    Ok(Some(done))
}

/// Also reads the bytes [`super::signature::parse`] looks at: the appended
/// signature, or only the last bytes when there is none.
pub fn read_signature_sparse(
    file: &impl Source,
    image: &mut [u8],
    loaded: &mut Loaded,
) -> std::io::Result<()> {
    let len = image.len() as u64;
    let trailer = super::signature::TRAILER_LEN.min(len);
    file.read_exact_at(&mut image[(len - trailer) as usize..], len - trailer)?;
    let extent = super::signature::extent(&image[(len - trailer) as usize..]).min(len);
    file.read_exact_at(&mut image[(len - extent) as usize..], len - extent)?;
    loaded.add(len - extent.max(trailer), len);
    loaded.normalize(0);
    Ok(())
}
