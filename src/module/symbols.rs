//! Exported and undefined symbols (spec §5.4, §5.5).

use super::elf::{Elf, Section, EM_SPARC, EM_SPARCV9, SHN_ABS, SHN_UNDEF};
use super::symbol_list::SymbolList;
use super::ModuleError;

/// `STB_WEAK`.
const STB_WEAK: u8 = 2;
/// `STT_REGISTER` (SPARC only).
const STT_REGISTER: u8 = 13;
/// Size of one `__versions` record.
pub(crate) const MODVERSION_SIZE: usize = 64;
const CRC_PREFIX: &[u8] = b"__crc_";

/// The names of the sections [`Tables`] holds, in its destructuring order
/// (the sections a sparse read loads).
pub(crate) const SECTIONS: [&[u8]; 5] = [
    b".modinfo",
    b"__ksymtab_strings",
    b".symtab",
    b".strtab",
    b"__versions",
];

/// The sections `.modinfo` and the symbols are read from (first
/// occurrence by name each).
#[derive(Clone, Copy, Debug)]
pub struct Tables<'a> {
    pub modinfo: Option<Section<'a>>,
    pub symtab: Option<Section<'a>>,
    pub strtab: Option<Section<'a>>,
    pub ksymtab_strings: Option<Section<'a>>,
    pub versions: Option<Section<'a>>,
}

impl<'a> Tables<'a> {
    pub fn of(elf: &Elf<'a>) -> Self {
        let [modinfo, ksymtab_strings, symtab, strtab, versions] = elf.find_sections(SECTIONS);
        Tables {
            modinfo,
            symtab,
            strtab,
            ksymtab_strings,
            versions,
        }
    }
}

/// How many bytes of names one list may hold. Names are copied out of
/// `.strtab`, where many symbols can share one long string: without a
/// bound, a small hostile module could ask for gigabytes. Real modules stay
/// far below the size of their own image.
fn name_budget(elf: &Elf<'_>) -> usize {
    elf.data().len().saturating_mul(4).saturating_add(1 << 16)
}

/// A usable `.symtab`/`.strtab` pair: both present and the symbol table a
/// whole number of entries.
fn symtab_pair<'a>(elf: &Elf<'a>, t: &Tables<'a>) -> Option<(Section<'a>, Section<'a>, usize)> {
    let (symtab, strtab) = (t.symtab?, t.strtab?);
    let size = elf.sym_size();
    if symtab.data.len() % size != 0 {
        return None;
    }
    Some((symtab, strtab, symtab.data.len() / size))
}

/// The exports of a module (spec §5.4): the `__crc_` symbols if there are
/// any, else the strings of `__ksymtab_strings`, else none. Errors only for
/// an unterminated `__ksymtab_strings`.
pub fn exports(elf: &Elf<'_>, t: &Tables<'_>) -> Result<SymbolList, ModuleError> {
    if let Some(found) = crc_exports(elf, t) {
        return Ok(found);
    }
    let rest = t
        .ksymtab_strings
        .map_or(&[][..], |s| super::modinfo::strings_area(s.data));
    if rest.is_empty() {
        return Ok(SymbolList::default());
    }
    if rest.last() != Some(&0) {
        return Err(ModuleError::UnterminatedKsymtab);
    }
    // Disjoint pieces of the section: they always fit the budget.
    let budget = name_budget(elf);
    let (out, ()) = SymbolList::build(|out| {
        for name in super::modinfo::strings(rest) {
            if out.push(name, 0, false, budget).is_err() {
                break;
            }
        }
    });
    Ok(out)
}

/// Exports from `__crc_` symbols; `None` (fall back) when the symbol table
/// is unusable or has no such symbol (or names past the budget).
fn crc_exports(elf: &Elf<'_>, t: &Tables<'_>) -> Option<SymbolList> {
    let (symtab, strtab, count) = symtab_pair(elf, t)?;
    let budget = name_budget(elf);
    let (out, complete) = SymbolList::build(|out| -> Option<()> {
        for i in 1..count {
            let sym = elf.sym(&symtab, i)?;
            // Any name offset outside .strtab disables this path entirely.
            let name = elf.str_in(&strtab, sym.name)?;
            if let Some(exported) = name.strip_prefix(CRC_PREFIX) {
                let crc = resolve_crc(elf, sym.value, sym.shndx);
                out.push(exported, crc, false, budget).ok()?;
            }
        }
        Some(())
    });
    complete?;
    (!out.is_empty()).then_some(out)
}

/// The CRC of a `__crc_` symbol: its value for `SHN_UNDEF`/`SHN_ABS`,
/// otherwise the 32-bit word at that offset of its section; all-ones when
/// out of range.
fn resolve_crc(elf: &Elf<'_>, value: u64, shndx: u16) -> u64 {
    if shndx == SHN_UNDEF || shndx == SHN_ABS {
        return value;
    }
    let Some(section) = elf.section(shndx) else {
        return u64::MAX;
    };
    let size = section.data.len() as u64;
    if size < 4 || value > size - 4 {
        return u64::MAX;
    }
    elf.uint(section.offset + value, 4).unwrap_or(u64::MAX)
}

/// The `__versions` records, CRC and name field each; none unless the
/// section is a whole number of records.
pub(crate) fn versions<'a>(elf: &Elf<'a>, t: &Tables<'a>) -> Vec<(u64, &'a [u8])> {
    let Some(section) = t.versions.filter(|s| s.data.len() % MODVERSION_SIZE == 0) else {
        return Vec::new();
    };
    let (ident, word) = (elf.ident(), elf.ident().word());
    let records = section.data.chunks_exact(MODVERSION_SIZE);
    let crc = |rec| ident.uint(rec, 0, word).unwrap_or(0);
    records
        .map(|rec| (crc(rec), &rec[word as usize..]))
        .collect()
}

/// The symbols a module needs (spec §5.5): undefined `.symtab` entries in
/// order with the CRC of the first `__versions` record of the same name,
/// then the unmatched `__versions` records. Any problem (including names
/// past the budget) → `None`: no imports.
pub fn imports(elf: &Elf<'_>, t: &Tables<'_>) -> Option<SymbolList> {
    // The bytes before the NUL of each name field; `None` without one.
    let vers: Vec<(u64, Option<&[u8]>)> = versions(elf, t)
        .into_iter()
        .map(|(crc, field)| (crc, field.iter().position(|&b| b == 0).map(|n| &field[..n])))
        .collect();
    let (symtab, strtab, count) = symtab_pair(elf, t)?;
    let skip_register = matches!(elf.ident().machine, EM_SPARC | EM_SPARCV9);
    let mut matched = vec![false; vers.len()];
    // First record of each name (big modules have thousands of both).
    let mut first: rustc_hash::FxHashMap<&[u8], usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(vers.len(), Default::default());
    for (j, &(_, name)) in vers.iter().enumerate() {
        if let Some(n) = name {
            first.entry(n).or_insert(j);
        }
    }
    let budget = name_budget(elf);
    let (out, complete) = SymbolList::build(|out| -> Option<()> {
        for i in 1..count {
            let sym = elf.sym(&symtab, i)?;
            if sym.shndx != SHN_UNDEF || (skip_register && sym.kind() == STT_REGISTER) {
                continue;
            }
            let name = elf.str_in(&strtab, sym.name)?;
            if name.is_empty() {
                continue;
            }
            let crc = first.get(name).map_or(0, |&j| {
                matched[j] = true;
                vers[j].0
            });
            out.push(name, crc, sym.bind() == STB_WEAK, budget).ok()?;
        }
        for (&(crc, name), seen) in vers.iter().zip(&matched) {
            if !seen {
                // A name without NUL in its field fails the whole list.
                out.push(name?, crc, false, budget).ok()?;
            }
        }
        Some(())
    });
    complete.map(|()| out)
}
