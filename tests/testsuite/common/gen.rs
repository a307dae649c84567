//! A seeded generator of random synthetic module trees for depmod tests.
//!
//! [`Tree::generate`] draws, from one seed, a complete `lib/modules/VERSION`
//! tree: modules with random names (dashes, same-hash-bucket names, an odd
//! dotted file name), exports through `__ksymtab_strings` or `__crc_`
//! symbols, weak/strong/unknown undefined symbols, `__versions`, aliases
//! (dashes, brackets, unmatched brackets, `devname:`, `char-major-M-N`),
//! softdeps and weakdeps; a partial `modules.order` with duplicates and
//! junk; optional `modules.builtin` and `modules.builtin.modinfo`; a
//! System.map and a Module.symvers; duplicates across `kernel/`, `extra/`
//! and `updates/`; plain, xz and zstd files, an ignored `.ko.gz`, broken
//! files, skipped `build`/`source` directories and symlinked modules.
//!
//! Duplicate module names are generated only where kmod's winner does not
//! depend on directory-read order (spec §3.3, no configuration): exactly
//! one copy under `updates/`, every other copy outside it. Dependencies
//! point from earlier to later generated modules, so there are no cycles
//! unless [`Tree::cycle`] is set (a back edge was added on purpose).

use super::elf::{self, Class, CrcPlacement, ModuleSpec, Order};
use std::path::Path;

/// SplitMix64: small, seedable, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// One entry of a generated tree, relative to the tree root (the
/// directory that contains `lib/`).
#[derive(Clone, Debug)]
pub enum Entry {
    File(String, Vec<u8>),
    /// A symbolic link and its (relative) target.
    Symlink(String, String),
    Dir(String),
}

impl Entry {
    pub fn path(&self) -> &str {
        match self {
            Entry::File(p, _) | Entry::Symlink(p, _) | Entry::Dir(p) => p,
        }
    }
}

/// A generated tree.
#[derive(Clone, Debug)]
pub struct Tree {
    pub version: String,
    pub entries: Vec<Entry>,
    /// A dependency cycle was added on purpose.
    pub cycle: bool,
    /// Several files give the same module name (all tie-free).
    pub duplicates: bool,
}

const SYLLABLES: &[&str] = &[
    "snd", "hda", "usb", "net", "ext", "fs", "i2c", "crc", "nf", "xt", "foo", "bar", "a", "b",
    "ab", "mod", "loop", "x", "intel", "core", "virtio", "blk", "hid", "tun", "can", "raw",
];
const SUBDIRS: &[&str] = &[
    "kernel/drivers/net",
    "kernel/drivers/usb/core",
    "kernel/fs/ext4",
    "kernel/sound/core",
    "kernel/net/netfilter",
    "kernel/crypto",
    "kernel/lib",
    "kernel",
];
/// Kernel (vmlinux) symbols in System.map / Module.symvers.
const KERNEL_SYMS: &[&str] = &["vm_a", "vm_b", "vm_common", "vm_unused", "printk"];

struct Module {
    name: String,
    exports: Vec<(String, u32)>,
    crc_style: bool,
    placement_abs: bool,
    /// Names in `__ksymtab_strings` that vanish because `__crc_` exists.
    hidden: Vec<String>,
    imports: Vec<(String, bool)>,
    versions: Vec<(u64, Vec<u8>)>,
    modinfo: Vec<String>,
    class: Class,
    endian: Order,
}

impl Module {
    fn spec(&self) -> ModuleSpec {
        let mut spec = ModuleSpec {
            class: self.class,
            endian: self.endian,
            machine: match (self.class, self.endian) {
                (Class::Elf64, Order::Little) => 62,
                (Class::Elf64, Order::Big) => 22,
                (Class::Elf32, Order::Little) => 3,
                (Class::Elf32, Order::Big) => 20,
            },
            modinfo: self.modinfo.clone(),
            undefined: self.imports.clone(),
            versions: self.versions.clone(),
            ..ModuleSpec::default()
        };
        let strings = |names: &mut dyn Iterator<Item = &String>| {
            let mut b = Vec::new();
            for n in names {
                b.extend_from_slice(n.as_bytes());
                b.push(0);
            }
            b
        };
        if self.crc_style {
            spec.crcs = self
                .exports
                .iter()
                .map(|(n, c)| {
                    let p = if self.placement_abs {
                        CrcPlacement::Abs(u64::from(*c))
                    } else {
                        CrcPlacement::Word(*c)
                    };
                    (n.clone(), p)
                })
                .collect();
            if !self.hidden.is_empty() {
                let mut all = self.exports.iter().map(|(n, _)| n).chain(&self.hidden);
                spec.ksymtab_strings = Some(strings(&mut all));
            }
        } else if !self.exports.is_empty() {
            spec.ksymtab_strings = Some(strings(&mut self.exports.iter().map(|(n, _)| n)));
        }
        spec
    }
}

fn hex_word(rng: &mut Rng) -> u32 {
    *rng.pick(&[0x1111_1111, 0x2222_2222, 0xdead_beef, 0x0000_0042]) ^ (rng.below(3) as u32)
}

fn spell(rng: &mut Rng, name: &str) -> String {
    name.chars()
        .map(|c| if c == '_' && rng.chance(40) { '-' } else { c })
        .collect()
}

fn alias(rng: &mut Rng, name: &str, majors: &mut u32) -> Vec<String> {
    let dashed = name.replace('_', "-");
    match rng.below(14) {
        0 => vec![format!(
            "pci:v{:08X}d{:08X}sv*sd*bc*sc*i*",
            0x8086,
            rng.below(0x10000)
        )],
        1 => vec![format!(
            "usb:v{:04X}p{:04X}d*dc*dsc*dp*ic*isc*ip*in*",
            rng.below(0x10000),
            rng.below(0x10000)
        )],
        2 => vec![format!("of:N*T*Cvendor,{dashed}-{}", rng.below(4))],
        3 => vec![format!("acpi*:PNP0[Cc]0{}:*", rng.below(10))],
        4 => vec![format!("platform:{dashed}")],
        5 => vec![format!("fs-{}", rng.pick(SYLLABLES))],
        6 => vec!["common-alias".to_string()],
        7 => vec![format!("crypto-{}-[0-9]x", rng.pick(SYLLABLES))],
        8 => {
            *majors += 1;
            let mut v = vec![format!("devname:{}{}", rng.pick(SYLLABLES), *majors)];
            match rng.below(4) {
                0 => v.push(format!("char-major-{}-{}", 10 + *majors, rng.below(300))),
                1 => v.insert(0, format!("block-major-{}-{}", 200 + *majors, rng.below(8))),
                2 => v.push(format!("char-major-0{}-00{}", 10 + *majors, rng.below(9))),
                _ => {} // devname without major/minor: kmod complains
            }
            v
        }
        9 => vec![format!("char-major-{}-*", 50 + rng.below(5))],
        10 => vec![format!("bad[bracket-{}", rng.below(3))],
        11 => vec![format!("bad]bracket_{}", rng.below(3))],
        12 => vec![format!("i2c:{dashed}"), format!("of:N*T*C{dashed}[ab]")],
        _ => vec![format!("symbol:{}_hook", rng.pick(SYLLABLES))],
    }
}

impl Tree {
    /// The whole tree drawn from `seed`.
    pub fn generate(seed: u64) -> Tree {
        let mut rng = Rng::new(seed);
        let version = rng
            .pick(&["0.0", "6.1.0-rc1", "5.10.0-1-amd64"])
            .to_string();
        let moddir = format!("lib/modules/{version}");
        let n = rng.between(3, 14);

        // Names, unique after dash normalisation; some share a hash bucket.
        let mut names: Vec<String> = Vec::new();
        while names.len() < n {
            let cand = if !names.is_empty() && rng.chance(20) {
                let target = bucket(rng.pick(names.as_slice()).as_str());
                let mut k = rng.below(1000);
                loop {
                    let c = format!("{}_{k}", rng.pick(SYLLABLES));
                    if bucket(&c) == target {
                        break c;
                    }
                    k += 1;
                }
            } else {
                let parts = rng.between(1, 3);
                let mut c: Vec<String> = (0..parts)
                    .map(|_| rng.pick(SYLLABLES).to_string())
                    .collect();
                if rng.chance(30) {
                    c.push(rng.below(10).to_string());
                }
                c.join("_")
            };
            if !names.contains(&cand) && !KERNEL_SYMS.contains(&cand.as_str()) {
                names.push(cand);
            }
        }

        let kernel_crc: Vec<u32> = KERNEL_SYMS.iter().map(|_| hex_word(&mut rng)).collect();
        let shared_from = (2 * n).div_ceil(3);
        let mut modules: Vec<Module> = Vec::new();
        let mut majors = 0;
        for (i, name) in names.iter().enumerate() {
            let mut exports: Vec<(String, u32)> = (0..rng.below(4))
                .map(|j| (format!("{name}_fn{j}"), hex_word(&mut rng)))
                .collect();
            if i >= shared_from && rng.chance(50) {
                exports.push((format!("shared_sym{}", rng.below(2)), hex_word(&mut rng)));
            }
            // Only the last module may replace the kernel's vm_common:
            // anybody importing it then depends on it without a cycle.
            if i + 1 == n && rng.chance(40) {
                exports.push(("vm_common".into(), hex_word(&mut rng)));
            }
            let crc_style = rng.chance(25);
            let hidden = if crc_style && rng.chance(30) {
                vec![format!("{name}_nocrc")]
            } else {
                Vec::new()
            };
            let mut modinfo = vec!["license=GPL".to_string()];
            for _ in 0..rng.below(4) {
                modinfo.extend(
                    alias(&mut rng, name, &mut majors)
                        .into_iter()
                        .map(|a| format!("alias={a}")),
                );
            }
            if rng.chance(40) {
                modinfo.push(format!("name={name}"));
            }
            if rng.chance(15) {
                let a = rng.pick(&names).replace('_', "-");
                let b = rng.pick(&names).clone();
                modinfo.push(format!("softdep=pre: {a} post: {b}"));
            }
            if rng.chance(10) {
                modinfo.push(format!("weakdep={}", rng.pick(&names)));
            }
            if rng.chance(30) {
                modinfo.push("vermagic=6.1.0 SMP mod_unload modversions".into());
            }
            rng.shuffle(&mut modinfo);
            let (class, endian) = match rng.below(20) {
                0 => (Class::Elf32, Order::Little),
                1 => (Class::Elf64, Order::Big),
                _ => (Class::Elf64, Order::Little),
            };
            modules.push(Module {
                name: name.clone(),
                exports,
                crc_style,
                placement_abs: rng.chance(30),
                hidden,
                imports: Vec::new(),
                versions: Vec::new(),
                modinfo,
                class,
                endian,
            });
        }

        // Imports: only from later modules (no cycles), kernel symbols,
        // unknown symbols; then __versions.
        for i in 0..n {
            let mut pool: Vec<(String, u32)> = Vec::new();
            for m in &modules[i + 1..] {
                for e in &m.exports {
                    if e.0.starts_with("shared_sym") && i >= shared_from {
                        continue;
                    }
                    pool.push(e.clone());
                }
            }
            let mut imports: Vec<(String, bool)> = Vec::new();
            let mut crcs: Vec<u32> = Vec::new();
            let mut add = |imports: &mut Vec<(String, bool)>, s: String, weak: bool, crc: u32| {
                if !imports.iter().any(|(n, _)| *n == s) {
                    imports.push((s, weak));
                    crcs.push(crc);
                }
            };
            for _ in 0..rng.below(5) {
                if pool.is_empty() {
                    break;
                }
                let (s, c) = rng.pick(&pool).clone();
                let weak = rng.chance(20);
                add(&mut imports, s, weak, c);
            }
            if rng.chance(40) && i + 1 < n {
                let k = rng.below(KERNEL_SYMS.len());
                add(
                    &mut imports,
                    KERNEL_SYMS[k].into(),
                    rng.chance(15),
                    kernel_crc[k],
                );
            }
            if rng.chance(20) {
                add(
                    &mut imports,
                    format!("unk_{}", rng.below(3)),
                    rng.chance(30),
                    7,
                );
            }
            if rng.chance(5) {
                add(&mut imports, "_GLOBAL_OFFSET_TABLE_".into(), false, 0);
            }
            let mut versions: Vec<(u64, Vec<u8>)> = Vec::new();
            if rng.chance(50) {
                for (k, (s, _)) in imports.iter().enumerate() {
                    if rng.chance(70) {
                        let crc = if rng.chance(80) { crcs[k] } else { 0x0bad_0bad };
                        versions.push((u64::from(crc), s.clone().into_bytes()));
                    }
                }
                if rng.chance(50) {
                    versions.push((u64::from(kernel_crc[0] ^ 1), b"module_layout".to_vec()));
                }
                if rng.chance(30) {
                    rng.shuffle(&mut versions);
                }
            }
            modules[i].imports = imports;
            modules[i].versions = versions;
        }

        // A cycle on purpose, now and then: a later module imports from
        // an earlier one that (directly) imports from it.
        let mut cycle = false;
        if rng.chance(12) {
            'found: for i in 0..n {
                for j in i + 1..n {
                    let uses = modules[i].imports.iter().any(|(s, _)| {
                        modules[j].exports.iter().any(|(e, _)| e == s)
                            && !s.starts_with("shared_sym")
                            && s != "vm_common"
                    });
                    if uses {
                        let sym = format!("{}_cyc", modules[i].name);
                        modules[i].exports.push((sym.clone(), 5));
                        let weak = rng.chance(30);
                        modules[j].imports.push((sym, weak));
                        cycle = true;
                        break 'found;
                    }
                }
            }
        }

        // Files.
        let mut entries: Vec<Entry> = Vec::new();
        let mut winners: Vec<(String, usize)> = Vec::new(); // (relpath, name len)
        let mut losers: Vec<String> = Vec::new();
        let mut duplicates = false;
        for m in &modules {
            let image = elf::build(&m.spec());
            let dup = rng.chance(15);
            let base = if dup {
                duplicates = true;
                format!("updates/{}", rng.pick(&["", "drivers/", "x/y/"]))
            } else {
                match rng.below(10) {
                    0 => "extra/".to_string(),
                    1 => "updates/".to_string(),
                    _ => format!("{}/", rng.pick(SUBDIRS)),
                }
            };
            let mut stem = spell(&mut rng, &m.name);
            if rng.chance(4) {
                stem = format!("{stem}.{}", rng.pick(SYLLABLES));
            }
            let rel = file_name(
                &mut rng,
                &format!("{base}{stem}"),
                &image,
                &mut entries,
                &moddir,
            );
            winners.push((rel, m.name.len()));
            if dup {
                for _ in 0..rng.between(1, 2) {
                    let loser = elf::build(&ModuleSpec::with_modinfo(&[&format!(
                        "alias=loser:{}",
                        m.name
                    )]));
                    let where_ = if rng.chance(50) {
                        format!("{}/", rng.pick(SUBDIRS))
                    } else {
                        "extra/".to_string()
                    };
                    let stem = spell(&mut rng, &m.name);
                    let rel = file_name(
                        &mut rng,
                        &format!("{where_}{stem}"),
                        &loser,
                        &mut entries,
                        &moddir,
                    );
                    losers.push(rel);
                }
            }
        }
        if rng.chance(10) {
            // Debian's kmod has no zlib: never a module.
            let ghost = elf::build(&ModuleSpec::with_modinfo(&["alias=gz-ghost"]));
            entries.push(Entry::File(
                format!("{moddir}/kernel/gz/gzghost.ko.gz"),
                super::gzip(&ghost),
            ));
        }
        if rng.chance(8) {
            entries.push(Entry::File(
                format!("{moddir}/kernel/bad/notelf.ko"),
                b"this is not an ELF file\n".to_vec(),
            ));
            entries.push(Entry::File(
                format!("{moddir}/kernel/bad/tiny.ko"),
                b"\x7fEL".to_vec(),
            ));
        }
        if rng.chance(8) {
            let skipped = elf::build(&ModuleSpec::with_modinfo(&["alias=skipped"]));
            entries.push(Entry::File(
                format!("{moddir}/build/skipped.ko"),
                skipped.clone(),
            ));
            entries.push(Entry::File(
                format!("{moddir}/kernel/source/skipped2.ko"),
                skipped,
            ));
        }
        if rng.chance(10) {
            entries.push(Entry::File(
                format!("{moddir}/kernel/README"),
                b"hello\n".to_vec(),
            ));
            entries.push(Entry::Dir(format!("{moddir}/kernel/empty")));
        }

        // modules.order: partial, shuffled, with junk.
        if !rng.chance(10) {
            let mut lines: Vec<String> = Vec::new();
            let mut ordered = winners.clone();
            rng.shuffle(&mut ordered);
            let keep = rng.between(0, ordered.len());
            for (rel, namelen) in &ordered[..keep] {
                let (dirpart, base) = rel.rsplit_once('/').unwrap_or(("", rel));
                let cut = (namelen + 3).min(base.len());
                let line = if rng.chance(90) {
                    format!("{dirpart}/{}", &base[..cut])
                } else {
                    rel.clone()
                };
                lines.push(line);
            }
            for _ in 0..rng.below(4) {
                let junk = match rng.below(5) {
                    0 => "kernel/nowhere/ghost.ko".to_string(),
                    1 => "# a comment".to_string(),
                    2 => String::new(),
                    3 if !losers.is_empty() => {
                        let l = rng.pick(&losers).clone();
                        let (d, b) = l.rsplit_once('/').unwrap();
                        format!("{d}/{}.ko", b.split('.').next().unwrap())
                    }
                    _ if !lines.is_empty() => rng.pick(&lines).clone(),
                    _ => "kernel/x.ko".to_string(),
                };
                let at = rng.below(lines.len() + 1);
                lines.insert(at, junk);
            }
            let mut text = lines.join("\n");
            if !rng.chance(5) && !lines.is_empty() {
                text.push('\n');
            }
            entries.push(Entry::File(
                format!("{moddir}/modules.order"),
                text.into_bytes(),
            ));
        }

        // Builtin modules.
        let builtins: Vec<String> = (0..rng.below(4))
            .map(|k| format!("{}{}_bi{k}", rng.pick(SYLLABLES), k))
            .collect();
        if !rng.chance(15) {
            let mut text = String::new();
            for b in &builtins {
                text.push_str(&format!("kernel/drivers/bi/{}.ko\n", spell(&mut rng, b)));
            }
            if rng.chance(10) {
                const ODD: [&str; 4] = [
                    "\n",
                    "1bad.ko\n",
                    "kernel/nodot\n",
                    "kernel/x/dup.ko\nkernel/y/dup.ko\n",
                ];
                let odd = ODD[rng.below(ODD.len())];
                text.push_str(odd);
            }
            entries.push(Entry::File(
                format!("{moddir}/modules.builtin"),
                text.into_bytes(),
            ));
        }
        if !rng.chance(15) {
            let mut data = Vec::new();
            for b in &builtins {
                for _ in 0..rng.below(3) {
                    let a = match rng.below(4) {
                        0 => format!("pci:v*d{:04X}sv*", rng.below(0x10000)),
                        1 => format!("{}-alias", b.replace('_', "-")),
                        2 => "common-alias".to_string(),
                        _ => format!("acpi*:ABC[0-9]{}:*", rng.below(10)),
                    };
                    data.extend_from_slice(format!("{b}.alias={a}\0").as_bytes());
                }
                data.extend_from_slice(format!("{b}.license=GPL\0").as_bytes());
            }
            entries.push(Entry::File(
                format!("{moddir}/modules.builtin.modinfo"),
                data,
            ));
        }

        // Kernel symbol maps.
        let mut map = String::new();
        let mut symvers = String::new();
        for (k, s) in KERNEL_SYMS.iter().enumerate() {
            map.push_str(&format!("ffffffff8100{k:04x} T {s}\n"));
            map.push_str(&format!("ffffffff8110{k:04x} r __ksymtab_{s}\n"));
            symvers.push_str(&format!(
                "0x{:08x}\t{s}\tvmlinux\tEXPORT_SYMBOL\t\n",
                kernel_crc[k]
            ));
        }
        symvers.push_str(&format!(
            "0x{:08x}\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n",
            kernel_crc[0]
        ));
        symvers.push_str("0x00000001\tsome_mod_sym\tkernel/x/y\tEXPORT_SYMBOL\t\n");
        if rng.chance(10) {
            map.push_str("garbage-line\n");
            symvers.push_str("0xZZZZ\tbroken\tvmlinux\tEXPORT_SYMBOL\t\n");
        }
        entries.push(Entry::File("System.map".into(), map.into_bytes()));
        entries.push(Entry::File("Module.symvers".into(), symvers.into_bytes()));

        Tree {
            version,
            entries,
            cycle,
            duplicates,
        }
    }

    /// The module directory below `root`.
    pub fn moddir(&self, root: &Path) -> std::path::PathBuf {
        root.join("lib/modules").join(&self.version)
    }

    /// Writes the tree under `root`, entries in the given order.
    pub fn write(&self, root: &Path, reverse: bool) {
        let mut list: Vec<&Entry> = self.entries.iter().collect();
        if reverse {
            list.reverse();
        }
        for e in list {
            let p = root.join(e.path());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            match e {
                Entry::File(_, bytes) => std::fs::write(&p, bytes).unwrap(),
                Entry::Symlink(_, target) => std::os::unix::fs::symlink(target, &p).unwrap(),
                Entry::Dir(_) => std::fs::create_dir_all(&p).unwrap(),
            }
        }
    }
}

fn bucket(name: &str) -> u32 {
    kmodtree::kmod_hash::superfast_hash(name.as_bytes()) & 511
}

/// Adds the file `moddir/stem.ko[.xz|.zst]` (sometimes as a symlink into
/// `store/`) and returns its path relative to the module directory.
fn file_name(
    rng: &mut Rng,
    stem: &str,
    image: &[u8],
    entries: &mut Vec<Entry>,
    moddir: &str,
) -> String {
    let (suffix, bytes) = match rng.below(10) {
        0 | 1 => (".ko.xz", super::xz(image)),
        2 | 3 => (".ko.zst", super::zstd(image)),
        _ => (".ko", image.to_vec()),
    };
    let rel = format!("{stem}{suffix}");
    let full = format!("{moddir}/{rel}");
    if rng.chance(6) {
        let store = format!("store/{}{}", rng.below(1000), rel.replace('/', "_"));
        let depth = full.matches('/').count();
        let target = format!("{}{store}", "../".repeat(depth));
        entries.push(Entry::File(store, bytes));
        entries.push(Entry::Symlink(full, target));
    } else {
        entries.push(Entry::File(full, bytes));
    }
    rel
}
