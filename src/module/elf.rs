//! Bounds-checked ELF reading for any class and byte order (spec §5.2).
//!
//! Only what kmod reads is read: the identification, `e_machine`, the
//! section header table and the section-name string table. Every offset and
//! size taken from the file is checked with checked arithmetic before use;
//! nothing is allocated from an untrusted size.

use super::sparse::Loaded;
use super::{ElfClass, ElfIdent, Endian, ModuleError};

/// `e_machine` of SPARC (32-bit).
pub const EM_SPARC: u16 = 2;
/// `e_machine` of SPARC V9 (64-bit).
pub const EM_SPARCV9: u16 = 43;
/// `st_shndx` of an undefined symbol.
pub const SHN_UNDEF: u16 = 0;
/// `st_shndx` of an absolute symbol.
pub const SHN_ABS: u16 = 0xfff1;

const EI_NIDENT: usize = 16;
const EHDR32_SIZE: usize = 52;
const EHDR64_SIZE: usize = 64;

/// A validated view of an ELF image.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    data: &'a [u8],
    ident: ElfIdent,
    shoff: u64,
    shnum: u16,
    /// The section-name string table: non-empty, ends in NUL.
    shstrtab: &'a [u8],
    /// For a sparsely read image: the ranges holding file data, which
    /// note any use of bytes outside them.
    sparse: Option<&'a Loaded>,
}

/// One section whose header and data are inside the image.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    /// `sh_offset`.
    pub offset: u64,
    /// The section's bytes (`sh_offset .. sh_offset + sh_size`).
    pub data: &'a [u8],
}

/// A symbol table entry, fields widened to the largest class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sym {
    pub name: u32,
    pub value: u64,
    pub info: u8,
    pub shndx: u16,
}

impl Sym {
    /// `ELF_ST_BIND`.
    pub fn bind(&self) -> u8 {
        self.info >> 4
    }
    /// `ELF_ST_TYPE`.
    pub fn kind(&self) -> u8 {
        self.info & 0xf
    }
}

/// The name of an ELF `e_machine` value, as `modinfo --json` prints it
/// (`machine_name`): the `EM_` constant without its prefix, for every
/// machine Linux runs (or ran) on, and `EM_UNKNOWN` for any other value.
/// The names are those the goblin crate used before this table replaced it
/// (LoongArch, C-SKY and Alpha, which goblin did not know, stay
/// `EM_UNKNOWN` so the outputs do not change).
pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        2 => "SPARC",
        3 => "386",
        4 => "68K",
        8 => "MIPS",
        10 => "MIPS_RS3_LE",
        15 => "PARISC",
        18 => "SPARC32PLUS",
        20 => "PPC",
        21 => "PPC64",
        22 => "S390",
        40 => "ARM",
        42 => "SH",
        43 => "SPARCV9",
        45 => "ARC",
        46 => "H8_300",
        50 => "IA_64",
        62 => "X86_64",
        76 => "CRIS",
        88 => "M32R",
        89 => "MN10300",
        92 => "OPENRISC",
        93 => "ARC_COMPACT",
        94 => "XTENSA",
        106 => "BLACKFIN",
        110 => "UNICORE",
        113 => "ALTERA_NIOS2",
        135 => "SCORE7",
        164 => "QDSP6",
        167 => "NDS32",
        174 => "METAG",
        183 => "AARCH64",
        185 => "AVR32",
        188 => "TILEPRO",
        189 => "MICROBLAZE",
        191 => "TILEGX",
        195 => "ARC_COMPACT2",
        243 => "RISCV",
        247 => "BPF",
        _ => "EM_UNKNOWN",
    }
}

fn bad(msg: &'static str) -> ModuleError {
    ModuleError::BadElf(msg)
}

impl ElfIdent {
    /// Class, byte order and machine of the ELF header at the start of
    /// `data`, checked in kmod's order (only its first 20 bytes are read).
    pub(super) fn of(data: &[u8]) -> Result<ElfIdent, ModuleError> {
        if data.len() <= EI_NIDENT || &data[..4] != b"\x7fELF" {
            return Err(ModuleError::NotElf);
        }
        let class = match data[4] {
            1 if data.len() > EHDR32_SIZE => ElfClass::Elf32,
            2 if data.len() > EHDR64_SIZE => ElfClass::Elf64,
            1 | 2 => return Err(bad("file smaller than its ELF header")),
            _ => return Err(bad("unknown ELF class")),
        };
        let endian = match data[5] {
            1 => Endian::Little,
            2 => Endian::Big,
            _ => return Err(bad("unknown ELF byte order")),
        };
        let mut ident = ElfIdent {
            class,
            endian,
            machine: 0,
        };
        ident.machine = ident.uint(data, 18, 2).unwrap_or(0) as u16;
        Ok(ident)
    }

    /// The unsigned integer of `n` (at most 8) bytes at `off` of `data`, in
    /// this byte order; `None` out of bounds.
    pub(super) fn uint(&self, data: &[u8], off: u64, n: u64) -> Option<u64> {
        let start = usize::try_from(off).ok()?;
        let bytes = data.get(start..start.checked_add(usize::try_from(n).ok()?)?)?;
        let push = |acc: u64, &b: &u8| acc << 8 | u64::from(b);
        Some(match self.endian {
            Endian::Little => bytes.iter().rev().fold(0, push),
            Endian::Big => bytes.iter().fold(0, push),
        })
    }

    /// The size of an address or offset: 4 bytes for ELF32, 8 for ELF64.
    pub fn word(&self) -> u64 {
        match self.class {
            ElfClass::Elf32 => 4,
            ElfClass::Elf64 => 8,
        }
    }

    /// The size of a section header of this class: four 4-byte fields
    /// and six words (40 bytes for ELF32, 64 for ELF64).
    pub(super) fn shdr_size(&self) -> u64 {
        16 + 6 * self.word()
    }

    /// `(e_shoff, e_shentsize, e_shnum, e_shstrndx)` of the ELF header at
    /// the start of `data`.
    pub(super) fn section_table(&self, data: &[u8]) -> Option<(u64, u64, u16, u16)> {
        // e_shoff follows e_entry and e_phoff; then come e_flags (4 bytes),
        // e_ehsize, e_phentsize and e_phnum (2 each), then the three wanted.
        let (w, at) = (self.word(), 24 + 2 * self.word());
        let half = |off| self.uint(data, at + w + off, 2);
        Some((
            self.uint(data, at, w)?,
            half(10)?,
            half(12)? as u16,
            half(14)? as u16,
        ))
    }

    /// `(sh_name, sh_offset, sh_size)` of the section header at `base` of
    /// `data`.
    pub(super) fn section_fields(&self, data: &[u8], base: u64) -> Option<(u32, u64, u64)> {
        // sh_name and sh_type (4 bytes each), sh_flags and sh_addr (a word
        // each), then sh_offset and sh_size.
        let w = self.word();
        Some((
            self.uint(data, base, 4)? as u32,
            self.uint(data, base + 8 + 2 * w, w)?,
            self.uint(data, base + 8 + 3 * w, w)?,
        ))
    }
}

impl<'a> Elf<'a> {
    /// Validates the image as kmod's `kmod_elf_new` does.
    pub fn parse(data: &'a [u8]) -> Result<Self, ModuleError> {
        Self::parse_in(data, None)
    }

    /// [`Elf::parse`], of a sparsely read image when `sparse` says which
    /// bytes hold file data (it notes every section or string used outside
    /// them: the result is then not the file's).
    pub(super) fn parse_in(
        data: &'a [u8],
        sparse: Option<&'a Loaded>,
    ) -> Result<Self, ModuleError> {
        if let Some(loaded) = sparse {
            loaded.need(0, (data.len() as u64).min(EHDR64_SIZE as u64));
        }
        let ident = ElfIdent::of(data)?;
        // The header is inside the image (checked above), so this read
        // cannot fail; `unwrap_or_default` keeps that a non-panicking
        // assumption.
        let (shoff, shentsize, shnum, shstrndx) = ident.section_table(data).unwrap_or_default();
        if shentsize != ident.shdr_size() {
            return Err(bad("unexpected section header entry size"));
        }
        let table_end = (u64::from(shnum) * shentsize).checked_add(shoff);
        if table_end.map_or(true, |end| end > data.len() as u64) {
            return Err(bad("section header table out of bounds"));
        }
        let mut elf = Elf {
            data,
            ident,
            shoff,
            shnum,
            shstrtab: &[],
            sparse,
        };
        elf.check_loaded(shoff, table_end.unwrap_or(shoff));
        let names = elf
            .section(shstrndx)
            .ok_or_else(|| bad("section name table out of bounds"))?;
        if names.data.last() != Some(&0) {
            return Err(bad("section name table empty or not NUL-terminated"));
        }
        elf.shstrtab = names.data;
        Ok(elf)
    }

    /// In a sparse image, notes a use of `[start, end)`.
    fn check_loaded(&self, start: u64, end: u64) {
        if let Some(loaded) = self.sparse {
            loaded.need(start, end);
        }
    }

    /// Class, byte order and machine.
    pub fn ident(&self) -> ElfIdent {
        self.ident
    }

    /// The whole image.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The unsigned integer of `n` (at most 8) bytes at `off`, in the
    /// file's byte order; `None` out of bounds.
    pub fn uint(&self, off: u64, n: u64) -> Option<u64> {
        self.ident.uint(self.data, off, n)
    }

    /// Header fields `(sh_name, sh_offset, sh_size)` of section `idx`, if
    /// `idx` is neither 0 nor past the table.
    fn section_header(&self, idx: u16) -> Option<(u32, u64, u64)> {
        if idx == 0 || idx >= self.shnum {
            return None;
        }
        let base = self.shoff + u64::from(idx) * self.ident.shdr_size();
        self.ident.section_fields(self.data, base)
    }

    /// Section `idx` if its header and data are in bounds (kmod's
    /// `elf_get_section_info`).
    pub fn section(&self, idx: u16) -> Option<Section<'a>> {
        let (_, offset, size) = self.section_header(idx)?;
        let end = offset.checked_add(size)?;
        if end > self.data.len() as u64 {
            return None;
        }
        self.check_loaded(offset, end);
        Some(Section {
            offset,
            data: &self.data[offset as usize..end as usize],
        })
    }

    /// The name of section `idx` (bytes up to the NUL), if the section is
    /// in bounds and its name offset is inside the name table.
    fn section_name(&self, idx: u16) -> Option<&'a [u8]> {
        let (name, offset, size) = self.section_header(idx)?;
        offset
            .checked_add(size)
            .filter(|&end| end <= self.data.len() as u64)?;
        let rest = self.shstrtab.get(name as usize..)?;
        Some(std::ffi::CStr::from_bytes_until_nul(rest).ok()?.to_bytes())
    }

    /// Finds several sections in one pass over the headers: the result has
    /// one slot per name, holding its first occurrence (from index 1),
    /// ignoring any section whose header, data or name is out of bounds.
    pub fn find_sections<const N: usize>(&self, names: [&[u8]; N]) -> [Option<Section<'a>>; N] {
        let mut found = [None; N];
        for i in 1..self.shnum {
            if found.iter().all(Option::is_some) {
                break;
            }
            let name = self.section_name(i);
            if let Some(k) = names.iter().position(|&want| Some(want) == name) {
                if found[k].is_none() {
                    found[k] = self.section(i);
                }
            }
        }
        found
    }

    /// Size of one symbol table entry for this class: 8 bytes of name,
    /// info, other and section index, and two words (value, size).
    pub fn sym_size(&self) -> usize {
        8 + 2 * self.ident.word() as usize
    }

    /// Reads symbol `idx` of a symbol table whose bytes are `symtab`
    /// (already in bounds); `None` past its end.
    pub fn sym(&self, symtab: &Section<'a>, idx: usize) -> Option<Sym> {
        let size = self.sym_size();
        let start = idx.checked_mul(size)?;
        if start.checked_add(size)? > symtab.data.len() {
            return None;
        }
        let base = symtab.offset.checked_add(start as u64)?;
        let at = |off, n| self.uint(base + off, n);
        match self.ident.class {
            ElfClass::Elf32 => Some(Sym {
                name: at(0, 4)? as u32,
                value: at(4, 4)?,
                info: at(12, 1)? as u8,
                shndx: at(14, 2)? as u16,
            }),
            ElfClass::Elf64 => Some(Sym {
                name: at(0, 4)? as u32,
                info: at(4, 1)? as u8,
                shndx: at(6, 2)? as u16,
                value: at(8, 8)?,
            }),
        }
    }

    /// A C string starting at `strtab.offset + off`: the bytes up to the
    /// first NUL. Like kmod, the string may run past the table into the
    /// rest of the image (never past the image's end). `None` if `off` is
    /// not inside the table.
    pub fn str_in(&self, strtab: &Section<'a>, off: u32) -> Option<&'a [u8]> {
        if off as usize >= strtab.data.len() {
            return None;
        }
        let start = usize::try_from(strtab.offset)
            .ok()?
            .checked_add(off as usize)?;
        let rest = self.data.get(start..)?;
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if off as usize + len >= strtab.data.len() {
            // The string runs past its table, into bytes a sparse read may
            // not have loaded.
            self.check_loaded(start as u64, (start + len + 1).min(self.data.len()) as u64);
        }
        Some(&rest[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_are_goblins() {
        for (machine, name) in [
            (62, "X86_64"),
            (3, "386"),
            (183, "AARCH64"),
            (40, "ARM"),
            (22, "S390"),
            (20, "PPC"),
            (21, "PPC64"),
            (8, "MIPS"),
            (243, "RISCV"),
            (2, "SPARC"),
            (43, "SPARCV9"),
            (258, "EM_UNKNOWN"),
            (0, "EM_UNKNOWN"),
        ] {
            assert_eq!(machine_name(machine), name, "machine {machine}");
        }
    }

    #[test]
    fn identification() {
        assert_eq!(Elf::parse(b"").unwrap_err(), ModuleError::NotElf);
        assert_eq!(
            Elf::parse(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").unwrap_err(),
            ModuleError::NotElf,
            "16 bytes are not more than e_ident"
        );
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        assert!(matches!(Elf::parse(&h), Err(ModuleError::BadElf(_))));
        h[4] = 3;
        h.resize(100, 0);
        assert!(matches!(Elf::parse(&h), Err(ModuleError::BadElf(_))));
        h[4] = 1;
        h[5] = 0;
        assert!(matches!(Elf::parse(&h), Err(ModuleError::BadElf(_))));
        h[5] = 1;
        // e_shentsize 0.
        assert!(matches!(Elf::parse(&h), Err(ModuleError::BadElf(_))));
    }
}
