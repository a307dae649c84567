//! The module reader on synthetic modules (built with `common::elf`), on the
//! synthetic edge-case fixtures, and under random input (proptest).

use crate::common;

use common::elf::{build, versions_bytes, Class, CrcPlacement, Damage, ModuleSpec, Order};
use kmodtree::kmod::Errno;
use kmodtree::module::{
    parse_module, read_module_file, Compression, ElfClass, Endian, Export, Import, Limits,
    ModuleError, ModuleMeta,
};

fn parse(data: &[u8]) -> Result<ModuleMeta, ModuleError> {
    parse_module(data, &Limits::default())
}

fn ok(data: &[u8]) -> ModuleMeta {
    parse(data).unwrap_or_else(|e| panic!("parse failed: {e}"))
}

fn kv(meta: &ModuleMeta) -> Vec<(String, String)> {
    meta.modinfo
        .iter()
        .map(|e| {
            (
                String::from_utf8(e.key.clone()).unwrap(),
                String::from_utf8(e.value.clone()).unwrap(),
            )
        })
        .collect()
}

fn exp(name: &str, crc: u64) -> Export {
    Export {
        name: name.as_bytes().to_vec(),
        crc,
    }
}

fn imp(name: &str, weak: bool, crc: u64) -> Import {
    Import {
        name: name.as_bytes().to_vec(),
        weak,
        crc,
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

/// A module with a bit of everything.
fn full_spec(class: Class, endian: Order) -> ModuleSpec {
    ModuleSpec {
        class,
        endian,
        machine: 0x1234,
        modinfo: vec![
            s("license=GPL"),
            s("alias=pci:v00008086d*"),
            s("depends=a,b"),
            s("alias=second"),
            s("noequals"),
        ],
        ksymtab_strings: Some(b"\0exp_one\0exp_two\0".to_vec()),
        undefined: vec![
            (s("printk"), false),
            (s("maybe_there"), true),
            (s("no_version"), false),
        ],
        versions: vec![
            (0x1111, b"maybe_there".to_vec()),
            (0x2222, b"module_layout".to_vec()),
            (0x3333, b"printk".to_vec()),
            (0x4444, b"printk".to_vec()),
        ],
        ..ModuleSpec::default()
    }
}

fn check_full(meta: &ModuleMeta, class: ElfClass, endian: Endian) {
    assert_eq!(meta.ident.class, class);
    assert_eq!(meta.ident.endian, endian);
    assert_eq!(meta.ident.machine, 0x1234);
    assert!(meta.has_modinfo);
    assert_eq!(
        kv(meta),
        vec![
            (s("license"), s("GPL")),
            (s("alias"), s("pci:v00008086d*")),
            (s("depends"), s("a,b")),
            (s("alias"), s("second")),
            (s("noequals"), s("")),
        ]
    );
    assert_eq!(
        meta.values(b"alias").collect::<Vec<_>>(),
        vec![&b"pci:v00008086d*"[..], b"second"]
    );
    assert_eq!(meta.exports, vec![exp("exp_one", 0), exp("exp_two", 0)]);
    assert_eq!(meta.exports_error, None);
    assert_eq!(
        meta.imports,
        vec![
            imp("printk", false, 0x3333),
            imp("maybe_there", true, 0x1111),
            imp("no_version", false, 0),
            imp("module_layout", false, 0x2222),
            // The second "printk" record was not matched (first one wins).
            imp("printk", false, 0x4444),
        ]
    );
    assert_eq!(meta.signature, None);
}

#[test]
fn all_classes_and_byte_orders() {
    for (class, endian, c, e) in [
        (Class::Elf64, Order::Little, ElfClass::Elf64, Endian::Little),
        (Class::Elf64, Order::Big, ElfClass::Elf64, Endian::Big),
        (Class::Elf32, Order::Little, ElfClass::Elf32, Endian::Little),
        (Class::Elf32, Order::Big, ElfClass::Elf32, Endian::Big),
    ] {
        let meta = ok(&build(&full_spec(class, endian)));
        check_full(&meta, c, e);
        assert_eq!(meta.compression, Compression::None);
    }
}

#[test]
fn versions_crc_width_follows_class() {
    // A 64-bit CRC survives in ELF64; ELF32 records hold 32 bits.
    for (class, want) in [(Class::Elf64, 0x1_0000_0002u64), (Class::Elf32, 2)] {
        let meta = ok(&build(&ModuleSpec {
            class,
            endian: Order::Big,
            versions: vec![(0x1_0000_0002, b"sym".to_vec())],
            undefined: vec![(s("sym"), false)],
            ..ModuleSpec::default()
        }));
        assert_eq!(meta.imports, vec![imp("sym", false, want)]);
    }
}

#[test]
fn crc_symbols_replace_ksymtab_strings() {
    for (class, endian) in [
        (Class::Elf64, Order::Little),
        (Class::Elf32, Order::Big),
        (Class::Elf64, Order::Big),
    ] {
        let meta = ok(&build(&ModuleSpec {
            class,
            endian,
            ksymtab_strings: Some(b"a\0b\0c\0hidden\0".to_vec()),
            crcs: vec![
                (s("a"), CrcPlacement::Word(0xdeadbeef)),
                (s("b"), CrcPlacement::Abs(0x22222222)),
                (s("c"), CrcPlacement::Undef(0x33)),
                (s("d"), CrcPlacement::OutOfRange),
            ],
            ..ModuleSpec::default()
        }));
        assert_eq!(
            meta.exports,
            vec![
                exp("a", 0xdeadbeef),
                exp("b", 0x22222222),
                exp("c", 0x33),
                exp("d", u64::MAX),
            ],
            "{class:?} {endian:?}"
        );
        // An undefined __crc_ symbol is also an undefined symbol.
        assert_eq!(meta.imports, vec![imp("__crc_c", false, 0)]);
    }
}

#[test]
fn weak_undefined_symbols() {
    let meta = ok(&build(&ModuleSpec {
        undefined: vec![(s("strong"), false), (s("weakling"), true)],
        ..ModuleSpec::default()
    }));
    assert_eq!(
        meta.imports,
        vec![imp("strong", false, 0), imp("weakling", true, 0)]
    );
}

#[test]
fn sparc_register_symbols_are_skipped_only_on_sparc() {
    // STT_REGISTER (13) cannot be written by `object`; patch st_info.
    let spec = ModuleSpec {
        undefined: vec![(s("reg"), false), (s("fn"), false)],
        ..ModuleSpec::default()
    };
    let mut bytes = build(&spec);
    let (h, _) = common::elf::section_headers(&bytes)
        .into_iter()
        .find(|(_, n)| n == b".symtab")
        .unwrap();
    let symoff = u64::from_le_bytes(bytes[h + 24..h + 32].try_into().unwrap()) as usize;
    // Entries are 24 bytes; find the one named "reg" by order: the
    // undefined globals come last, "reg" first of them.
    let symsize = u64::from_le_bytes(bytes[h + 32..h + 40].try_into().unwrap()) as usize;
    let count = symsize / 24;
    let reg = symoff + (count - 2) * 24;
    bytes[reg + 4] = (1 << 4) | 13; // GLOBAL, STT_REGISTER
    let meta = ok(&bytes);
    assert_eq!(
        meta.imports,
        vec![imp("reg", false, 0), imp("fn", false, 0)]
    );
    for machine in [2u16, 43] {
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        let meta = ok(&bytes);
        assert_eq!(meta.imports, vec![imp("fn", false, 0)], "machine {machine}");
    }
}

#[test]
fn modinfo_without_final_nul_and_padding() {
    let meta = ok(&build(&ModuleSpec {
        modinfo_raw: Some(b"\0\0\0a=1\0\0b=2=3\0last=x".to_vec()),
        ..ModuleSpec::default()
    }));
    assert_eq!(
        kv(&meta),
        vec![(s("a"), s("1")), (s("b"), s("2=3")), (s("last"), s("x"))]
    );
    let meta = ok(&build(&ModuleSpec {
        modinfo_raw: Some(b"\0\0z".to_vec()),
        ..ModuleSpec::default()
    }));
    assert!(meta.has_modinfo);
    assert!(
        meta.modinfo.is_empty(),
        "one byte left after padding: no entries"
    );
}

#[test]
fn missing_modinfo_is_reported() {
    let meta = ok(&build(&ModuleSpec::default()));
    assert!(!meta.has_modinfo);
    assert!(meta.modinfo.is_empty());
}

#[test]
fn unterminated_ksymtab_strings_keeps_the_rest() {
    let meta = ok(&build(&ModuleSpec {
        ksymtab_strings: Some(b"\0one\0two".to_vec()),
        ..full_spec(Class::Elf64, Order::Little)
    }));
    assert_eq!(meta.exports, vec![]);
    assert_eq!(meta.exports_error, Some(ModuleError::UnterminatedKsymtab));
    assert_eq!(meta.exports_error.as_ref().unwrap().errno(), Errno::Inval);
    assert_eq!(meta.modinfo.len(), 5);
    assert_eq!(meta.imports.len(), 5);
    // A single non-NUL byte after the padding is "no exports", not an error.
    let meta = ok(&build(&ModuleSpec {
        ksymtab_strings: Some(b"\0\0x".to_vec()),
        ..ModuleSpec::default()
    }));
    assert_eq!((meta.exports.len(), meta.exports_error), (0, None));
}

#[test]
fn versions_of_odd_size_are_ignored() {
    let mut raw = versions_bytes(Class::Elf64, Order::Little, &[(7, b"printk".to_vec())]);
    raw.push(0);
    let meta = ok(&build(&ModuleSpec {
        versions_raw: Some(raw),
        undefined: vec![(s("printk"), false)],
        ..ModuleSpec::default()
    }));
    assert_eq!(meta.imports, vec![imp("printk", false, 0)]);
}

#[test]
fn versions_name_without_nul_drops_all_imports() {
    // 56 bytes fill an ELF64 name field completely.
    let long = vec![b'x'; 56];
    let meta = ok(&build(&ModuleSpec {
        versions: vec![(1, b"printk".to_vec()), (2, long.clone())],
        undefined: vec![(s("printk"), false)],
        ..ModuleSpec::default()
    }));
    assert_eq!(meta.imports, vec![]);
    // 55 bytes leave room for the NUL.
    let meta = ok(&build(&ModuleSpec {
        versions: vec![(1, b"printk".to_vec()), (2, long[..55].to_vec())],
        undefined: vec![(s("printk"), false)],
        ..ModuleSpec::default()
    }));
    assert_eq!(meta.imports.len(), 2);
    // ELF32: the field is 60 bytes.
    let meta = ok(&build(&ModuleSpec {
        class: Class::Elf32,
        versions: vec![(2, vec![b'y'; 59])],
        ..ModuleSpec::default()
    }));
    assert_eq!(meta.imports, vec![imp(&"y".repeat(59), false, 2)]);
}

#[test]
fn missing_or_bad_symbol_tables() {
    let base = full_spec(Class::Elf64, Order::Little);
    for damage in [
        Damage::Hide(s(".symtab")),
        Damage::Hide(s(".strtab")),
        Damage::SetSize(s(".symtab"), 24 * 3 + 1),
    ] {
        let meta = ok(&build(&ModuleSpec {
            damage: vec![damage.clone()],
            crcs: vec![(s("crc_export"), CrcPlacement::Abs(5))],
            ..base.clone()
        }));
        assert_eq!(meta.imports, vec![], "{damage:?}");
        // Exports fall back to __ksymtab_strings.
        assert_eq!(
            meta.exports,
            vec![exp("exp_one", 0), exp("exp_two", 0)],
            "{damage:?}"
        );
        assert_eq!(meta.modinfo.len(), 5);
    }
}

#[test]
fn out_of_bounds_sections_are_ignored() {
    let meta = ok(&build(&ModuleSpec {
        damage: vec![Damage::SetOffset(s(".modinfo"), u64::MAX - 2)],
        ..full_spec(Class::Elf64, Order::Little)
    }));
    assert!(!meta.has_modinfo);
    let meta = ok(&build(&ModuleSpec {
        damage: vec![Damage::SetSize(s("__versions"), 1 << 40)],
        ..full_spec(Class::Elf32, Order::Big)
    }));
    assert_eq!(meta.imports.len(), 3, "no __versions: symtab only");
    assert!(meta.imports.iter().all(|i| i.crc == 0));
}

#[test]
fn broken_headers_are_einval() {
    let good = build(&full_spec(Class::Elf64, Order::Little));
    let shstrndx = u16::from_le_bytes([good[62], good[63]]);
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("class 3", Box::new(|b| b[4] = 3)),
        ("data 0", Box::new(|b| b[5] = 0)),
        ("shentsize", Box::new(|b| b[58] = 40)),
        (
            "shoff past end",
            Box::new(|b| b[40..48].copy_from_slice(&u64::MAX.to_le_bytes())),
        ),
        (
            "shnum too big",
            Box::new(|b| b[60..62].copy_from_slice(&0xffffu16.to_le_bytes())),
        ),
        (
            "shstrndx 0",
            Box::new(|b| b[62..64].copy_from_slice(&0u16.to_le_bytes())),
        ),
        (
            "shstrndx past table",
            Box::new(|b| b[62..64].copy_from_slice(&0x7fffu16.to_le_bytes())),
        ),
        ("truncated", Box::new(|b| b.truncate(100))),
        ("header only", Box::new(|b| b.truncate(64))),
    ];
    for (what, damage) in cases {
        let mut b = good.clone();
        damage(&mut b);
        let err = parse(&b).unwrap_err();
        assert!(matches!(err, ModuleError::BadElf(_)), "{what}: {err:?}");
        assert_eq!(err.errno(), Errno::Inval, "{what}");
    }
    // Name table not NUL-terminated.
    let mut b = good.clone();
    let (h, _) = common::elf::section_headers(&b)[shstrndx as usize].clone();
    let off = u64::from_le_bytes(b[h + 24..h + 32].try_into().unwrap()) as usize;
    let size = u64::from_le_bytes(b[h + 32..h + 40].try_into().unwrap()) as usize;
    b[off + size - 1] = b'x';
    assert!(matches!(parse(&b), Err(ModuleError::BadElf(_))));
}

#[test]
fn tiny_and_foreign_files() {
    assert_eq!(parse(b"").unwrap_err(), ModuleError::TooShort(0));
    assert_eq!(parse(b"\x7fEL").unwrap_err(), ModuleError::TooShort(3));
    assert_eq!(parse(b"\x7fEL").unwrap_err().errno(), Errno::Inval);
    let err = parse(b"#!/bin/sh\necho not a module\n").unwrap_err();
    assert_eq!(err, ModuleError::NotElf);
    assert_eq!(err.errno(), Errno::NoExec);
    // ELF magic but nothing more than e_ident: still "not ELF", as kmod.
    assert_eq!(
        parse(b"\x7fELF\x02\x01\x01").unwrap_err(),
        ModuleError::NotElf
    );
}

#[test]
fn compressed_variants_read_the_same() {
    let plain = build(&full_spec(Class::Elf32, Order::Big));
    let want = ok(&plain);
    for (data, c) in [
        (common::xz(&plain), Compression::Xz),
        (common::zstd(&plain), Compression::Zstd),
        (common::gzip(&plain), Compression::Gzip),
    ] {
        let mut got = ok(&data);
        assert_eq!(got.compression, c);
        got.compression = Compression::None;
        assert_eq!(got, want, "{c:?}");
    }
}

#[test]
fn truncated_and_corrupt_streams() {
    let plain = build(&full_spec(Class::Elf64, Order::Little));
    let xz = common::xz(&plain);
    let err = parse(&xz[..xz.len() - 10]).unwrap_err();
    assert_eq!(
        err,
        ModuleError::Decompress {
            format: Compression::Xz,
            reason: "Unexpected end of input".into()
        }
    );
    assert_eq!(err.errno(), Errno::Inval);
    let mut bad = xz.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    assert!(matches!(
        parse(&bad),
        Err(ModuleError::Decompress {
            format: Compression::Xz,
            ..
        })
    ));
    let mut bad = xz.clone();
    bad[7] = 0xff; // stream flags
    assert!(matches!(
        parse(&bad),
        Err(ModuleError::Decompress {
            format: Compression::Xz,
            ..
        })
    ));

    let zst = common::zstd(&plain);
    assert!(matches!(
        parse(&zst[..zst.len() - 5]),
        Err(ModuleError::Decompress {
            format: Compression::Zstd,
            ..
        })
    ));
    // Without a content size in the frame header kmod refuses the file.
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    std::io::Write::write_all(&mut enc, &plain).unwrap();
    let no_size = enc.finish().unwrap();
    assert_eq!(
        parse(&no_size).unwrap_err(),
        ModuleError::Decompress {
            format: Compression::Zstd,
            reason: "Failed to determine decompression size".into()
        }
    );

    let gz = common::gzip(&plain);
    assert!(matches!(
        parse(&gz[..gz.len() - 12]),
        Err(ModuleError::Decompress {
            format: Compression::Gzip,
            ..
        })
    ));
}

#[test]
fn decompression_bombs_are_refused() {
    let big = vec![0u8; 8 << 20];
    let limits = Limits {
        max_image_size: 1 << 20,
    };
    for data in [common::xz(&big), common::zstd(&big), common::gzip(&big)] {
        assert!(data.len() < 64 << 10);
        assert_eq!(
            parse_module(&data, &limits).unwrap_err(),
            ModuleError::TooLarge { limit: 1 << 20 }
        );
    }
    // Exactly at the limit is fine (then fails as non-ELF).
    let exact = vec![0u8; 1 << 20];
    for data in [
        common::xz(&exact),
        common::zstd(&exact),
        common::gzip(&exact),
    ] {
        assert_eq!(
            parse_module(&data, &limits).unwrap_err(),
            ModuleError::NotElf
        );
    }
    // A plain file over the limit too.
    assert_eq!(
        parse_module(&big, &limits).unwrap_err(),
        ModuleError::TooLarge { limit: 1 << 20 }
    );
}

/// Found by the `module_file` fuzz target: a zstd frame whose content is
/// not the size it declares decoded differently after a larger module had
/// been read on the same thread (the reused buffer had more room than the
/// declared size): two concatenated frames even decoded as one module,
/// where kmod (and a fresh read) fail.
#[test]
fn zstd_result_does_not_depend_on_the_module_read_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| camino::Utf8PathBuf::from_path_buf(dir.path().join(name)).unwrap();
    // A module with a large decompressed image, read first.
    let long = format!("description={}", "x".repeat(512 << 10));
    let big = build(&ModuleSpec::with_modinfo(&[&long]));
    std::fs::write(path("big.ko.xz"), common::xz(&big)).unwrap();
    // A module split over two zstd frames: the first declares only half.
    let image = build(&ModuleSpec::with_modinfo(&["alias=split"]));
    let (a, b) = image.split_at(image.len() / 2);
    let mut split = common::zstd(a);
    split.extend(common::zstd(b));
    std::fs::write(path("split.ko.zst"), &split).unwrap();
    let regression = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/module_file/zstd-size-mismatch"
    ))
    .unwrap();
    std::fs::write(path("fuzz.ko.zst"), &regression).unwrap();
    let limits = Limits::default();
    for (name, data) in [("split.ko.zst", &split), ("fuzz.ko.zst", &regression)] {
        let fresh = parse_module(data, &limits);
        assert!(
            matches!(
                fresh,
                Err(ModuleError::Decompress {
                    format: Compression::Zstd,
                    ..
                })
            ),
            "{name}: {fresh:?}"
        );
        for read in [
            read_module_file,
            kmodtree::module::read_module_file_for_depmod,
        ] {
            assert!(read(&path("big.ko.xz"), &limits).is_ok());
            let after_big = read(&path(name), &limits).map(|mut m| {
                m.signature = None;
                m
            });
            assert_eq!(after_big, fresh, "{name} after a larger module");
        }
    }
}

// ---------------------------------------------------------------------
// Edge-case fixtures

fn edge(case: &str, rel: &str) -> Result<ModuleMeta, ModuleError> {
    let p = common::fixtures_dir()
        .join("edge")
        .join(case)
        .join("lib/modules/0.0")
        .join(rel);
    read_module_file(camino::Utf8Path::from_path(&p).unwrap(), &Limits::default())
}

#[test]
fn edge_bad_files() {
    assert_eq!(
        edge("bad-files", "kernel/bad/empty.ko").unwrap_err(),
        ModuleError::TooShort(0)
    );
    assert_eq!(
        edge("bad-files", "kernel/bad/short.ko").unwrap_err(),
        ModuleError::TooShort(3)
    );
    assert_eq!(
        edge("bad-files", "kernel/bad/nonelf.ko").unwrap_err(),
        ModuleError::NotElf
    );
    assert_eq!(
        edge("bad-files", "kernel/bad/trunc.ko.xz").unwrap_err(),
        ModuleError::Decompress {
            format: Compression::Xz,
            reason: "Unexpected end of input".into()
        }
    );
    let good = edge("bad-files", "kernel/bad/good.ko").unwrap();
    assert_eq!(
        kv(&good),
        vec![(s("license"), s("GPL")), (s("alias"), s("good-one"))]
    );
    // Debian's kmod ignores .ko.gz; we read it.
    assert_eq!(
        edge("bad-files", "kernel/bad/ignored.ko.gz")
            .unwrap()
            .compression,
        Compression::Gzip
    );
}

#[test]
fn edge_elf32_big_endian() {
    let prov = edge("elf32-be", "kernel/be/beprov.ko").unwrap();
    assert_eq!(prov.ident.class, ElfClass::Elf32);
    assert_eq!(prov.ident.endian, Endian::Big);
    assert_eq!(prov.ident.machine, 20); // EM_PPC
    assert_eq!(prov.exports, vec![exp("be_fn", 0x01020304)]);
    let user = edge("elf32-be", "kernel/be/beuser.ko").unwrap();
    assert_eq!(
        user.imports,
        vec![
            imp("be_fn", false, 0x01020304),
            imp("vm_be", false, 0xbeef),
            imp("module_layout", false, 0xc0ffee),
        ]
    );
    let plain = edge("elf32-be", "kernel/be/beplain.ko").unwrap();
    assert_eq!(plain.exports, vec![exp("be_other", 0)]);
    assert_eq!(plain.imports, vec![]);
}

#[test]
fn edge_crc() {
    let prov = edge("crc", "kernel/crc/prov.ko").unwrap();
    assert_eq!(
        prov.exports,
        vec![exp("prov_a", 0x11111111), exp("prov_b", 0x22222222)]
    );
    let prov2 = edge("crc", "kernel/crc/prov2.ko").unwrap();
    assert_eq!(prov2.exports, vec![exp("prov_c", 0), exp("prov_d", 0)]);
    let user = edge("crc", "kernel/crc/user.ko").unwrap();
    let names: Vec<_> = user
        .imports
        .iter()
        .map(|i| (String::from_utf8(i.name.clone()).unwrap(), i.crc))
        .collect();
    assert_eq!(
        names,
        vec![
            (s("prov_a"), 0x11111111),
            (s("prov_b"), 0x22222223),
            (s("prov_c"), 0),
            (s("prov_hidden"), 0),
            (s("vm_ok"), 0x1234),
            (s("vm_bad"), 0x99999999),
            (s("vm_missing"), 0),
            (s("module_layout"), 0x0badcafe),
        ]
    );
}

#[test]
fn edge_weak() {
    let user = edge("weak", "kernel/weak/weakuser.ko").unwrap();
    assert!(user.imports.iter().any(|i| i.weak), "{:?}", user.imports);
    assert!(user
        .imports
        .iter()
        .any(|i| i.name == b"nowhere_fn" && i.weak));
}

/// Every export of every edge module is in kmod's modules.symbols, and every
/// symbol there is exported by the module it names.
#[test]
fn edge_exports_match_depmod_symbols() {
    let edge_dir = common::fixtures_dir().join("edge");
    let mut checked = 0;
    for case in std::fs::read_dir(&edge_dir).unwrap() {
        let case = case.unwrap().path();
        let symbols_file = ["plain", "noconfig"]
            .iter()
            .map(|m| case.join("expected/kmod34").join(m).join("modules.symbols"))
            .find(|p| p.exists());
        let Some(symbols_file) = symbols_file else {
            continue;
        };
        let moddir = case.join("lib/modules/0.0");
        let mut ours: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for rel in common::module_files(&moddir) {
            if rel.ends_with(".ko.gz") {
                continue; // Debian's depmod does not see these.
            }
            let path = moddir.join(&rel);
            let Ok(meta) = read_module_file(
                camino::Utf8Path::from_path(&path).unwrap(),
                &Limits::default(),
            ) else {
                continue;
            };
            let name = kmodtree::module::name_from_file_name(&rel);
            for e in meta.exports {
                ours.entry(String::from_utf8(e.name).unwrap())
                    .or_default()
                    .push(name.clone());
            }
        }
        let text = std::fs::read_to_string(&symbols_file).unwrap();
        let mut theirs = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let rest = line.strip_prefix("alias symbol:").unwrap();
            let (sym, module) = rest.split_once(' ').unwrap();
            assert!(
                ours.get(sym).is_some_and(|m| m.iter().any(|x| x == module)),
                "{}: {module} should export {sym}",
                case.display()
            );
            theirs.insert(sym.to_string());
        }
        // dup-names has several modules of one name; only winners count.
        if !case.ends_with("dup-names") {
            let ours_set: std::collections::BTreeSet<String> = ours.keys().cloned().collect();
            assert_eq!(ours_set, theirs, "{}", case.display());
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} edge cases checked");
}

#[test]
fn module_names_from_file_names() {
    use kmodtree::module::name_from_file_name as n;
    assert_eq!(n("kernel/sound/snd-hda-intel.ko.xz"), "snd_hda_intel");
    assert_eq!(n("dot.ted.ko"), "dot");
    assert_eq!(n("/a/b-c/x-y.ko"), "x_y");
    assert_eq!(n("plain"), "plain");
}

// ---------------------------------------------------------------------
// Never panic

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn small_limits() -> Limits {
        Limits {
            max_image_size: 4 << 20,
        }
    }

    fn seeds() -> Vec<Vec<u8>> {
        let mut v = vec![
            build(&full_spec(Class::Elf64, Order::Little)),
            build(&full_spec(Class::Elf32, Order::Big)),
            build(&ModuleSpec {
                crcs: vec![
                    (s("a"), CrcPlacement::Word(1)),
                    (s("b"), CrcPlacement::Abs(2)),
                ],
                ..full_spec(Class::Elf32, Order::Little)
            }),
        ];
        for rel in ["kernel/be/beprov.ko", "kernel/be/beuser.ko"] {
            if let Ok(b) = std::fs::read(
                common::fixtures_dir()
                    .join("edge/elf32-be/lib/modules/0.0")
                    .join(rel),
            ) {
                v.push(b);
            }
        }
        // A real, signed module (smallest of the plain tree).
        let dir = common::fixtures_dir().join("trees/amd64-6.1-ko");
        if dir.exists() {
            let mut files: Vec<_> = walkdir::WalkDir::new(&dir)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ko"))
                .map(|e| e.path().to_path_buf())
                .collect();
            files.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(u64::MAX));
            if let Some(p) = files.first() {
                v.push(std::fs::read(p).unwrap());
            }
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_module(&data, &small_limits());
        }

        #[test]
        fn arbitrary_bytes_with_elf_header(tail in proptest::collection::vec(any::<u8>(), 0..1024),
                                           class in 1u8..3, data in 1u8..3) {
            let mut b = b"\x7fELF".to_vec();
            b.push(class);
            b.push(data);
            b.extend_from_slice(&tail);
            let _ = parse_module(&b, &small_limits());
        }

        #[test]
        fn mutated_modules(seed in any::<prop::sample::Index>(),
                           edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..32),
                           cut in proptest::option::of(any::<prop::sample::Index>())) {
            let seeds = seeds();
            let mut b = seed.get(&seeds).clone();
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            if let Some(cut) = cut {
                let n = cut.index(b.len() + 1);
                b.truncate(n);
            }
            let _ = parse_module(&b, &small_limits());
            // Damaged headers, focused: the first 64 bytes and the section table.
            let _ = kmodtree::modinfo::render("x.ko", parse_module(&b, &small_limits()).as_ref(), &Default::default());
        }

        #[test]
        fn mutated_compressed(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                              which in 0usize..3) {
            let plain = build(&full_spec(Class::Elf64, Order::Little));
            let mut b = match which { 0 => common::xz(&plain), 1 => common::zstd(&plain), _ => common::gzip(&plain) };
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            let _ = parse_module(&b, &small_limits());
        }
    }
}

/// depmod's sparse reader leaves bytes of the previous module in the parts
/// of its buffer it does not read. When a module makes the parser use such
/// bytes (a `__crc_` symbol in a section that is not a CRC table, a string
/// running off the end of `.strtab`), the file must be read whole: the
/// result always equals the whole-file parse. (Checked to fail when the
/// fallback is disabled.)
#[test]
fn sparse_reader_falls_back_when_the_parser_needs_unread_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| camino::Utf8PathBuf::from_path_buf(dir.path().join(name)).unwrap();
    const PAD: usize = 512 << 10;
    // Read first: a module whose bytes are 0xAB almost everywhere.
    let filler = ModuleSpec {
        extra_sections: vec![(".text.pad".into(), vec![0xAB; 2 * PAD])],
        ..ModuleSpec::default()
    };
    std::fs::write(path("filler.ko"), build(&filler)).unwrap();
    // The hostile modules: a large section far from everything depmod
    // reads, into which their tables are moved.
    let spec = |pad: Vec<u8>, damage: Vec<Damage>| ModuleSpec {
        modinfo: vec!["license=GPL".into()],
        extra_sections: vec![(".text.pad".into(), pad)],
        crcs: vec![
            ("one".into(), CrcPlacement::Word(0x1234_5678)),
            ("two".into(), CrcPlacement::Word(0x9abc_def0)),
        ],
        undefined: vec![("printk".into(), false), ("last_symbol".into(), false)],
        damage,
        ..ModuleSpec::default()
    };
    let layout = build(&spec(vec![0; PAD], vec![]));
    let pad = common::elf::section_range(&layout, ".text.pad").unwrap().0;
    let (strtab_start, strtab_end) = common::elf::section_range(&layout, ".strtab").unwrap();
    let strtab = &layout[strtab_start..strtab_end];

    // The CRC of `two` read through a table moved into the pad.
    let mut crc_pad = vec![0; PAD];
    crc_pad[PAD / 2..PAD / 2 + 4].copy_from_slice(&0x0bad_cafe_u32.to_le_bytes());
    // `.strtab` moved into the pad without its final NUL: its last string
    // runs on into "xxx".
    let mut str_pad = vec![0; PAD];
    let at = PAD / 2;
    str_pad[at..at + strtab.len() - 1].copy_from_slice(&strtab[..strtab.len() - 1]);
    str_pad[at + strtab.len() - 1..at + strtab.len() + 99].fill(b'x');
    let cases = [
        ("plain", spec(vec![0; PAD], vec![])),
        (
            "crc-table-elsewhere",
            spec(
                crc_pad,
                vec![
                    Damage::SetOffset("___kcrctab+two".into(), (pad + PAD / 2) as u64),
                    Damage::Hide("___kcrctab+two".into()),
                ],
            ),
        ),
        (
            "unterminated-strtab",
            spec(
                str_pad,
                vec![
                    Damage::SetOffset(".strtab".into(), (pad + at) as u64),
                    Damage::SetSize(".strtab".into(), (strtab.len() - 1) as u64),
                ],
            ),
        ),
    ];
    let limits = Limits::default();
    for (name, spec) in cases {
        let image = build(&spec);
        let file = format!("{name}.ko");
        std::fs::write(path(&file), &image).unwrap();
        let whole = parse_module(&image, &limits).map(|mut m| {
            m.signature = None;
            m
        });
        assert!(whole.is_ok(), "{name}: {whole:?}");
        kmodtree::module::read_module_file_for_depmod(&path("filler.ko"), &limits).unwrap();
        let sparse = kmodtree::module::read_module_file_for_depmod(&path(&file), &limits);
        assert_eq!(sparse, whole, "{name}");
    }
}

/// Symbol names are copied out of `.strtab`, where any number of symbols
/// may share one string. 20,000 undefined symbols naming the same 8 KiB
/// string would ask for 160 MB of names from a 500 KB module (and a larger
/// module for terabytes); the reader
/// bounds the names at four times the image (then, as for any unusable
/// symbol table, the module has no imports) and stays small and fast.
#[test]
fn symbols_sharing_one_long_name_do_not_multiply_memory() {
    let long = "n".repeat(8 << 10);
    let image = build(&ModuleSpec {
        modinfo: vec!["license=GPL".into()],
        undefined: vec![(long.clone(), false); 20_000],
        ..ModuleSpec::default()
    });
    assert!(image.len() < 1 << 20, "{}", image.len());
    let meta = parse_module(&image, &Limits::default()).unwrap();
    assert_eq!(meta.imports, vec![]);
    // A few such symbols are within the bound and are all read.
    let image = build(&ModuleSpec {
        undefined: vec![(long.clone(), false); 3],
        ..ModuleSpec::default()
    });
    let meta = parse_module(&image, &Limits::default()).unwrap();
    assert_eq!(meta.imports.len(), 3);
    assert!(meta.imports.iter().all(|i| i.name == long.as_bytes()));
}

/// xz files of 64 KiB or more are decoded while they are read, a chunk at
/// a time: every outcome (valid, truncated, corrupt, trailing bytes,
/// concatenated streams, over the limit) is the in-memory decoder's.
#[test]
fn large_xz_files_read_as_held_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = camino::Utf8PathBuf::from_path_buf(dir.path().join("big.ko.xz")).unwrap();
    // Pseudo-random text: incompressible enough for a file of several chunks.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: String = (0..400_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let long = format!("description={noise}");
    let image = build(&ModuleSpec::with_modinfo(&[&long, "license=GPL"]));
    let xz = common::xz(&image);
    assert!(xz.len() > 3 * (64 << 10), "{}", xz.len());
    let mut variants = vec![
        xz.clone(),
        xz[..xz.len() - 10].to_vec(),
        xz[..xz.len() / 2].to_vec(),
        [xz.as_slice(), &[0; 8]].concat(),
        [xz.as_slice(), b"garbage!"].concat(),
        [xz.as_slice(), &common::xz(b"more")].concat(),
    ];
    let mut bad = xz.clone();
    bad[xz.len() / 2] ^= 0x55;
    variants.push(bad);
    for (i, data) in variants.iter().enumerate() {
        std::fs::write(&path, data).unwrap();
        for limits in [
            Limits::default(),
            Limits {
                max_image_size: image.len() as u64 - 1,
            },
        ] {
            let want = parse_module(data, &limits);
            assert_eq!(read_module_file(&path, &limits), want, "variant {i}");
            let depmod = kmodtree::module::read_module_file_for_depmod(&path, &limits);
            let want = want.map(|mut m| {
                m.signature = None;
                m
            });
            assert_eq!(depmod, want, "variant {i} (depmod)");
        }
    }
    assert!(read_module_file(&path, &Limits::default()).is_err());
}

/// An X.509-type signature trailer: signer, key id, signature bytes,
/// `struct module_signature`, magic.
fn x509_trailer(signer: &[u8], key_id: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut t = [signer, key_id, sig].concat();
    t.extend_from_slice(&[0, 4, 1, signer.len() as u8, key_id.len() as u8, 0, 0, 0]);
    t.extend_from_slice(&(sig.len() as u32).to_be_bytes());
    t.extend_from_slice(b"~Module signature appended~\n");
    t
}

/// Images of more than 16 MiB are held as compressed chunks and only what
/// the parser reads is expanded: the result is always the whole image's,
/// also when the parser needs bytes outside the sections it names (then the
/// whole image is expanded), with a signature, truncated or over the limit.
#[test]
fn giant_xz_images_read_as_held_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = camino::Utf8PathBuf::from_path_buf(dir.path().join("giant.ko.xz")).unwrap();
    const PAD: usize = 17 << 20;
    // Partly random, so that the stream's size is a plausible hint.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut pad = |mark: Option<(usize, &[u8])>| {
        let mut v: Vec<u8> = (0..PAD)
            .map(|i| {
                if i % 16 != 0 {
                    return (i / 4096) as u8;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if let Some((at, bytes)) = mark {
            v[at..at + bytes.len()].copy_from_slice(bytes);
        }
        v
    };
    let spec = |pad: Vec<u8>, damage: Vec<Damage>, trailer: Vec<u8>| ModuleSpec {
        modinfo: vec!["license=GPL".into(), "alias=giant".into()],
        extra_sections: vec![(".text.pad".into(), pad)],
        crcs: vec![
            ("one".into(), CrcPlacement::Word(0x1234_5678)),
            ("two".into(), CrcPlacement::Word(0x9abc_def0)),
        ],
        undefined: vec![("printk".into(), false), ("last_symbol".into(), false)],
        damage,
        trailer,
        ..ModuleSpec::default()
    };
    let layout = build(&spec(pad(None), vec![], vec![]));
    let pad_at = common::elf::section_range(&layout, ".text.pad").unwrap().0;
    let signed = x509_trailer(b"Build key", &[0xab; 20], &[0x5a; 300]);
    let cases = [
        ("signed", spec(pad(None), vec![], signed)),
        (
            "crc-table-in-the-pad",
            spec(
                pad(Some((PAD / 2, &0x0bad_cafe_u32.to_le_bytes()))),
                vec![
                    Damage::SetOffset("___kcrctab+two".into(), (pad_at + PAD / 2) as u64),
                    Damage::Hide("___kcrctab+two".into()),
                ],
                vec![],
            ),
        ),
    ];
    for (name, spec) in cases {
        let image = build(&spec);
        let xz = liblzma::encode_all(image.as_slice(), 0).unwrap();
        assert!(image.len() as u64 > 16 << 20 && (xz.len() as u64) * 64 > image.len() as u64);
        let variants = [
            ("whole", xz.clone()),
            ("truncated", xz[..xz.len() - 10].to_vec()),
        ];
        for (variant, data) in variants {
            std::fs::write(&path, &data).unwrap();
            for limits in [
                Limits::default(),
                Limits {
                    max_image_size: image.len() as u64 - 1,
                },
            ] {
                let want = parse_module(&data, &limits);
                if variant == "whole" && limits == Limits::default() {
                    let meta = want.as_ref().unwrap();
                    assert_eq!(meta.signature.is_some(), name == "signed", "{name}");
                }
                let got = read_module_file(&path, &limits);
                assert_eq!(got, want, "{name} {variant}");
                let depmod = kmodtree::module::read_module_file_for_depmod(&path, &limits);
                let want = want.map(|mut m| {
                    m.signature = None;
                    m
                });
                assert_eq!(depmod, want, "{name} {variant} (depmod)");
            }
        }
    }
}
