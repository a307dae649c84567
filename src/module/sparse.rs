//! Reading only what depmod needs from a plain (uncompressed) module file.
//!
//! kmod maps module files and touches only the pages of the sections it
//! reads. kmodtree does the same with positioned reads into a reused buffer:
//! the ELF header, the section header table, and the data of every section
//! except code (`SHF_EXECINSTR`), relocations (`SHT_REL`, `SHT_RELA`) and
//! `SHT_NOBITS`. Those skipped bytes (typically most of a module) are
//! zero-filled, so whatever the parser might read there is deterministic.
//! The appended signature is not read: callers that need it read the whole
//! file.

use std::fs::File;
use std::os::unix::fs::FileExt;

const SHT_RELA: u32 = 4;
const SHT_NOBITS: u32 = 8;
const SHT_REL: u32 = 9;
const SHF_EXECINSTR: u64 = 4;
/// Gaps smaller than this between wanted ranges are read rather than
/// skipped (one read is cheaper than two).
const MERGE_GAP: u64 = 4096;

/// Fills `image` (exactly the file's length) from `file`. Returns false
/// when the file does not start with a well-formed plain ELF header and
/// section table; the caller then reads the whole file.
pub fn read_plain_elf_sparse(file: &File, image: &mut [u8]) -> std::io::Result<bool> {
    let len = image.len() as u64;
    let head = (len as usize).min(64);
    file.read_exact_at(&mut image[..head], 0)?;
    let Some(layout) = Layout::of(&image[..head]) else {
        return Ok(false);
    };
    let Some((shoff, shnum)) = layout.section_table(&image[..head]) else {
        return Ok(false);
    };
    let table_len = u64::from(shnum) * layout.shdr_size;
    let Some(table_end) = shoff.checked_add(table_len).filter(|&e| e <= len) else {
        return Ok(false);
    };
    if shoff < head as u64 {
        return Ok(false);
    }
    file.read_exact_at(&mut image[shoff as usize..table_end as usize], shoff)?;

    let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(shnum as usize);
    for i in 1..u64::from(shnum) {
        let h = &image[(shoff + i * layout.shdr_size) as usize..][..layout.shdr_size as usize];
        let (kind, flags, offset, size) = layout.section_fields(h);
        if kind == SHT_NOBITS || kind == SHT_REL || kind == SHT_RELA || flags & SHF_EXECINSTR != 0 {
            continue;
        }
        match offset.checked_add(size) {
            Some(end) if end <= len && size > 0 => ranges.push((offset, end)),
            _ => {}
        }
    }
    ranges.push((0, head as u64));
    ranges.push((shoff, table_end));
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1.saturating_add(MERGE_GAP) => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut pos = 0u64;
    for &(s, e) in &merged {
        image[pos as usize..s as usize].fill(0);
        // Header and table were read already; re-reading them is harmless.
        file.read_exact_at(&mut image[s as usize..e as usize], s)?;
        pos = e;
    }
    image[pos as usize..].fill(0);
    Ok(true)
}

/// Class and byte order of an ELF header.
struct Layout {
    is64: bool,
    big: bool,
    shdr_size: u64,
}

impl Layout {
    fn of(h: &[u8]) -> Option<Layout> {
        if h.len() < 64 || &h[..4] != b"\x7fELF" {
            return None;
        }
        let is64 = match h[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big = match h[5] {
            1 => false,
            2 => true,
            _ => return None,
        };
        Some(Layout {
            is64,
            big,
            shdr_size: if is64 { 64 } else { 40 },
        })
    }

    fn u16(&self, b: &[u8]) -> u64 {
        let a = [b[0], b[1]];
        u64::from(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }

    fn u32(&self, b: &[u8]) -> u64 {
        let a = [b[0], b[1], b[2], b[3]];
        u64::from(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn u64(&self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }

    /// `(e_shoff, e_shnum)` when `e_shentsize` is the class's size.
    fn section_table(&self, h: &[u8]) -> Option<(u64, u16)> {
        let (shoff, shentsize, shnum) = if self.is64 {
            (self.u64(&h[40..]), self.u16(&h[58..]), self.u16(&h[60..]))
        } else {
            (self.u32(&h[32..]), self.u16(&h[46..]), self.u16(&h[48..]))
        };
        (shentsize == self.shdr_size).then_some((shoff, shnum as u16))
    }

    /// `(sh_type, sh_flags, sh_offset, sh_size)` of one section header.
    fn section_fields(&self, s: &[u8]) -> (u32, u64, u64, u64) {
        if self.is64 {
            (
                self.u32(&s[4..]) as u32,
                self.u64(&s[8..]),
                self.u64(&s[24..]),
                self.u64(&s[32..]),
            )
        } else {
            (
                self.u32(&s[4..]) as u32,
                self.u32(&s[8..]),
                self.u32(&s[16..]),
                self.u32(&s[20..]),
            )
        }
    }
}
