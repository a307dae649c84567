//! A builder of synthetic kernel modules (relocatable ELF files), for tests
//! and synthetic trees.
//!
//! [`ModuleSpec`] describes what depmod/modinfo read from a module;
//! [`build`] writes it with the `object` crate's ELF writer and then applies
//! the byte-level damage asked for (hidden sections, patched sizes), so
//! malformed modules can be made as easily as good ones.
//!
//! ```ignore
//! let ko = elf::build(&ModuleSpec {
//!     modinfo: vec!["license=GPL".into(), "alias=foo".into()],
//!     undefined: vec![("printk".into(), false)],
//!     ..ModuleSpec::default()
//! });
//! ```
//!
//! Symbol table order: the writer puts the null symbol first, then local
//! symbols, then global ones in the order they were added: here the `__crc_`
//! symbols (in `crcs` order), then the `undefined` ones (in order).

use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

/// ELF class of the module to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

/// Byte order of the module to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Little,
    Big,
}

/// Where the CRC of an exported symbol lives (the `__crc_NAME` symbol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrcPlacement {
    /// A 4-byte word (file byte order) in a section `___kcrctab+NAME`, the
    /// symbol pointing at it (how kernels since 5.x do it).
    Word(u32),
    /// `SHN_ABS` symbol whose value is the CRC (older kernels).
    Abs(u64),
    /// `SHN_UNDEF` symbol whose value is the CRC.
    Undef(u64),
    /// Symbol in a 4-byte section but with a value past its end: kmod reads
    /// all-ones.
    OutOfRange,
}

/// A byte-level change applied after writing, to the first section header
/// with that name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Point `sh_name` at the empty name: the section is no longer found.
    Hide(String),
    /// Overwrite `sh_size`.
    SetSize(String, u64),
    /// Overwrite `sh_offset`.
    SetOffset(String, u64),
}

/// What to put in a synthetic module. Every field has a harmless default
/// (`ModuleSpec::default()`: ELF64 little-endian x86-64, no sections).
#[derive(Clone, Debug)]
pub struct ModuleSpec {
    pub class: Class,
    pub endian: Order,
    /// `e_machine` (written over whatever the writer chose).
    pub machine: u16,
    /// `.modinfo` entries (`key=value`), each NUL-terminated. Ignored when
    /// `modinfo_raw` is set; no `.modinfo` section when both are empty.
    pub modinfo: Vec<String>,
    /// Exact `.modinfo` bytes (e.g. without the final NUL).
    pub modinfo_raw: Option<Vec<u8>>,
    /// Exact `__ksymtab_strings` bytes (names separated by NULs).
    pub ksymtab_strings: Option<Vec<u8>>,
    /// `__crc_NAME` symbols.
    pub crcs: Vec<(String, CrcPlacement)>,
    /// Undefined symbols: name and weak flag.
    pub undefined: Vec<(String, bool)>,
    /// `__versions` records: CRC and name. A name of 56 (ELF64) / 60
    /// (ELF32) bytes or more fills its field without a NUL.
    pub versions: Vec<(u64, Vec<u8>)>,
    /// Exact `__versions` bytes (e.g. an odd size); overrides `versions`.
    pub versions_raw: Option<Vec<u8>>,
    /// Further sections: name and contents.
    pub extra_sections: Vec<(String, Vec<u8>)>,
    /// Bytes appended after the ELF image (e.g. a module signature).
    pub trailer: Vec<u8>,
    /// Byte-level damage applied after writing.
    pub damage: Vec<Damage>,
}

impl Default for ModuleSpec {
    fn default() -> Self {
        ModuleSpec {
            class: Class::Elf64,
            endian: Order::Little,
            machine: 62, // EM_X86_64
            modinfo: Vec::new(),
            modinfo_raw: None,
            ksymtab_strings: None,
            crcs: Vec::new(),
            undefined: Vec::new(),
            versions: Vec::new(),
            versions_raw: None,
            extra_sections: Vec::new(),
            trailer: Vec::new(),
            damage: Vec::new(),
        }
    }
}

impl ModuleSpec {
    /// A spec with these `.modinfo` entries.
    pub fn with_modinfo(entries: &[&str]) -> Self {
        ModuleSpec {
            modinfo: entries.iter().map(|s| s.to_string()).collect(),
            ..ModuleSpec::default()
        }
    }
}

fn u32_bytes(v: u32, order: Order) -> [u8; 4] {
    match order {
        Order::Little => v.to_le_bytes(),
        Order::Big => v.to_be_bytes(),
    }
}

fn u64_bytes(v: u64, order: Order) -> [u8; 8] {
    match order {
        Order::Little => v.to_le_bytes(),
        Order::Big => v.to_be_bytes(),
    }
}

/// The `__versions` bytes for records `(crc, name)` of this class/order.
pub fn versions_bytes(class: Class, order: Order, records: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (crc, name) in records {
        let mut rec = Vec::with_capacity(64);
        match class {
            Class::Elf32 => rec.extend_from_slice(&u32_bytes(*crc as u32, order)),
            Class::Elf64 => rec.extend_from_slice(&u64_bytes(*crc, order)),
        }
        let room = 64 - rec.len();
        let n = name.len().min(room);
        rec.extend_from_slice(&name[..n]);
        rec.resize(64, 0);
        out.extend_from_slice(&rec);
    }
    out
}

/// Writes the module described by `spec`.
pub fn build(spec: &ModuleSpec) -> Vec<u8> {
    let arch = match (spec.class, spec.endian) {
        (Class::Elf64, Order::Little) => Architecture::X86_64,
        (Class::Elf64, Order::Big) => Architecture::S390x,
        (Class::Elf32, Order::Little) => Architecture::I386,
        (Class::Elf32, Order::Big) => Architecture::PowerPc,
    };
    let endianness = match spec.endian {
        Order::Little => Endianness::Little,
        Order::Big => Endianness::Big,
    };
    let mut obj = Object::new(BinaryFormat::Elf, arch, endianness);

    let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
    obj.append_section_data(text, &[0u8; 16], 16);

    let modinfo = match &spec.modinfo_raw {
        Some(raw) => Some(raw.clone()),
        None if spec.modinfo.is_empty() => None,
        None => {
            let mut b = Vec::new();
            for e in &spec.modinfo {
                b.extend_from_slice(e.as_bytes());
                b.push(0);
            }
            Some(b)
        }
    };
    if let Some(bytes) = modinfo {
        let id = obj.add_section(Vec::new(), b".modinfo".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(id, &bytes, 1);
    }
    if let Some(bytes) = &spec.ksymtab_strings {
        let id = obj.add_section(
            Vec::new(),
            b"__ksymtab_strings".to_vec(),
            SectionKind::ReadOnlyData,
        );
        obj.append_section_data(id, bytes, 1);
    }
    let versions = match &spec.versions_raw {
        Some(raw) => Some(raw.clone()),
        None if spec.versions.is_empty() => None,
        None => Some(versions_bytes(spec.class, spec.endian, &spec.versions)),
    };
    if let Some(bytes) = versions {
        let id = obj.add_section(
            Vec::new(),
            b"__versions".to_vec(),
            SectionKind::ReadOnlyData,
        );
        obj.append_section_data(id, &bytes, 8);
    }
    for (name, bytes) in &spec.extra_sections {
        let id = obj.add_section(
            Vec::new(),
            name.as_bytes().to_vec(),
            SectionKind::ReadOnlyData,
        );
        obj.append_section_data(id, bytes, 1);
    }

    for (name, placement) in &spec.crcs {
        let sym_name = format!("__crc_{name}").into_bytes();
        let (value, section) = match placement {
            CrcPlacement::Word(crc) => {
                let id = obj.add_section(
                    Vec::new(),
                    format!("___kcrctab+{name}").into_bytes(),
                    SectionKind::ReadOnlyData,
                );
                obj.append_section_data(id, &u32_bytes(*crc, spec.endian), 4);
                (0, SymbolSection::Section(id))
            }
            CrcPlacement::OutOfRange => {
                let id = obj.add_section(
                    Vec::new(),
                    format!("___kcrctab+{name}").into_bytes(),
                    SectionKind::ReadOnlyData,
                );
                obj.append_section_data(id, &[0xAA; 4], 4);
                (1, SymbolSection::Section(id))
            }
            CrcPlacement::Abs(v) => (*v, SymbolSection::Absolute),
            CrcPlacement::Undef(v) => (*v, SymbolSection::Undefined),
        };
        obj.add_symbol(Symbol {
            name: sym_name,
            value,
            size: 0,
            kind: SymbolKind::Data,
            scope: SymbolScope::Dynamic,
            weak: false,
            section,
            flags: SymbolFlags::None,
        });
    }
    for (name, weak) in &spec.undefined {
        obj.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size: 0,
            kind: SymbolKind::Unknown,
            scope: SymbolScope::Dynamic,
            weak: *weak,
            section: SymbolSection::Undefined,
            flags: SymbolFlags::None,
        });
    }

    let mut bytes = obj.write().expect("object writes the module");
    set_machine(&mut bytes, spec.machine);
    for d in &spec.damage {
        apply(&mut bytes, d);
    }
    bytes.extend_from_slice(&spec.trailer);
    bytes
}

// ---------------------------------------------------------------------
// Byte-level patching, with a tiny reader independent of the crate.

fn is64(b: &[u8]) -> bool {
    b[4] == 2
}

fn is_be(b: &[u8]) -> bool {
    b[5] == 2
}

fn rd(b: &[u8], off: usize, n: usize) -> u64 {
    let mut v = 0u64;
    for i in 0..n {
        let byte = u64::from(b[off + i]);
        if is_be(b) {
            v = (v << 8) | byte;
        } else {
            v |= byte << (8 * i);
        }
    }
    v
}

fn wr(b: &mut [u8], off: usize, n: usize, v: u64) {
    let be = is_be(b);
    for i in 0..n {
        let shift = if be { 8 * (n - 1 - i) } else { 8 * i };
        b[off + i] = (v >> shift) as u8;
    }
}

fn set_machine(b: &mut [u8], machine: u16) {
    wr(b, 18, 2, u64::from(machine));
}

/// `(header offset, name)` of every section header.
pub fn section_headers(b: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let (shoff, shentsize, shnum, shstrndx) = if is64(b) {
        (rd(b, 40, 8), rd(b, 58, 2), rd(b, 60, 2), rd(b, 62, 2))
    } else {
        (rd(b, 32, 4), rd(b, 46, 2), rd(b, 48, 2), rd(b, 50, 2))
    };
    let hdr = |i: u64| (shoff + i * shentsize) as usize;
    let sec_off = |h: usize| {
        if is64(b) {
            rd(b, h + 24, 8)
        } else {
            rd(b, h + 16, 4)
        }
    } as usize;
    let names = sec_off(hdr(shstrndx));
    (0..shnum)
        .map(|i| {
            let h = hdr(i);
            let start = names + rd(b, h, 4) as usize;
            let end = start + b[start..].iter().position(|&c| c == 0).unwrap();
            (h, b[start..end].to_vec())
        })
        .collect()
}

/// `[sh_offset, sh_offset + sh_size)` of the first section called `name`.
pub fn section_range(b: &[u8], name: &str) -> Option<(usize, usize)> {
    let (h, _) = section_headers(b)
        .into_iter()
        .find(|(_, n)| n == name.as_bytes())?;
    let (off, size) = if is64(b) {
        (rd(b, h + 24, 8), rd(b, h + 32, 8))
    } else {
        (rd(b, h + 16, 4), rd(b, h + 20, 4))
    };
    Some((off as usize, (off + size) as usize))
}

fn apply(b: &mut [u8], d: &Damage) {
    let name = match d {
        Damage::Hide(n) | Damage::SetSize(n, _) | Damage::SetOffset(n, _) => n,
    };
    let (h, _) = section_headers(b)
        .into_iter()
        .find(|(_, n)| n == name.as_bytes())
        .unwrap_or_else(|| panic!("no section {name} to damage"));
    let wide = is64(b);
    match d {
        Damage::Hide(_) => {
            // Offset 0 of the name table is the empty string.
            wr(b, h, 4, 0);
        }
        Damage::SetSize(_, v) => {
            if wide {
                wr(b, h + 32, 8, *v)
            } else {
                wr(b, h + 20, 4, *v)
            }
        }
        Damage::SetOffset(_, v) => {
            if wide {
                wr(b, h + 24, 8, *v)
            } else {
                wr(b, h + 16, 4, *v)
            }
        }
    }
}

/// A little-endian ELF64 module with `modinfo` entries, `exports` in
/// `__ksymtab_strings` and `imports` as undefined symbols `(name, weak)`.
pub fn simple_module(modinfo: &[&str], exports: &[&str], imports: &[(&str, bool)]) -> Vec<u8> {
    let mut spec = ModuleSpec::with_modinfo(modinfo);
    if !exports.is_empty() {
        let mut b = Vec::new();
        for e in exports {
            b.extend_from_slice(e.as_bytes());
            b.push(0);
        }
        spec.ksymtab_strings = Some(b);
    }
    spec.undefined = imports.iter().map(|(s, w)| (s.to_string(), *w)).collect();
    build(&spec)
}
