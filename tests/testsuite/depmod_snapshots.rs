//! Snapshots of every database `kmodtree depmod` writes for three small
//! fixed synthetic trees, for kmod 34 and kmod 30 (text files verbatim,
//! `.bin` indexes as hex dumps, plus stderr and the exit code), stored in
//! the top-level `snapshots/` folder.
//!
//! * `deps`: a dependency chain and a diamond, a partial modules.order, a
//!   symbol exported twice, a weak import, CRC exports;
//! * `softdeps`: softdep and weakdep, devnames (char and block, one
//!   lacking major/minor), aliases with dashes, brackets and an unmatched
//!   bracket, an alias shared by two modules; no modules.order;
//! * `builtin`: modules.builtin and modules.builtin.modinfo (aliases with
//!   brackets, equal-priority duplicates), an xz and a zstd module.
//!
//! The snapshots were checked against real kmod 34.2 (Debian trixie
//! 34.2-2) and kmod 30 (Debian bookworm 30+20221128-1) output on
//! 2026-11-21: byte-identical. The test also compares with the real tools
//! whenever they are installed, so a snapshot can never drift from kmod
//! unnoticed. A missing or different snapshot fails (CI runs with
//! `INSTA_UPDATE=no`); accept new ones with `cargo insta accept` or
//! `INSTA_UPDATE=always`.

use crate::common;

use common::elf::{build, CrcPlacement, ModuleSpec};
use common::kmod::{
    compare_databases, compare_runs, databases, real_depmod_or_note, run_kmodtree, run_tool, Kmod,
    Run,
};
use common::write_file;
use std::collections::BTreeMap;
use std::path::Path;

const VERSION: &str = "1.0";

use common::elf::simple_module as module;

/// Writes one of the fixed trees under `root`.
fn write_tree(name: &str, root: &Path) {
    let m = |rel: &str, bytes: Vec<u8>| {
        write_file(root, &format!("lib/modules/{VERSION}/{rel}"), &bytes);
    };
    match name {
        "deps" => {
            // Chain: chain_a -> chain_b -> chain_c.
            m(
                "kernel/chain/chain-a.ko",
                module(&["license=GPL"], &[], &[("b_fn", false)]),
            );
            m(
                "kernel/chain/chain_b.ko",
                module(&["license=GPL"], &["b_fn"], &[("c_fn", false)]),
            );
            m("kernel/chain/chain_c.ko", module(&[], &["c_fn"], &[]));
            // Diamond: top -> left, right; left, right -> bottom. top uses
            // right first (symtab order), left through a weak symbol.
            m(
                "kernel/diamond/top.ko",
                module(&[], &[], &[("right_fn", false), ("left_fn", true)]),
            );
            m(
                "kernel/diamond/left.ko",
                module(&[], &["left_fn"], &[("bottom_fn", false)]),
            );
            m(
                "kernel/diamond/right.ko",
                module(&[], &["right_fn", "twice"], &[("bottom_fn", false)]),
            );
            let mut bottom = ModuleSpec::with_modinfo(&["alias=bottom-alias"]);
            bottom.crcs = vec![
                ("bottom_fn".into(), CrcPlacement::Word(0x1234_5678)),
                ("twice".into(), CrcPlacement::Abs(7)),
            ];
            m("updates/bottom.ko", build(&bottom));
            // A module nobody orders: hash order after the listed ones.
            m(
                "extra/loner.ko",
                module(&["alias=loner"], &[], &[("unknown_fn", false)]),
            );
            m(
                "modules.order",
                b"kernel/diamond/top.ko\nkernel/chain/chain-a.ko\nkernel/chain/chain_b.ko\n\
                  kernel/chain/chain_c.ko\nkernel/diamond/left.ko\nkernel/diamond/right.ko\n\
                  kernel/missing.ko\n"
                    .to_vec(),
            );
            m("modules.builtin", b"kernel/lib/crc32.ko\n".to_vec());
            m("modules.builtin.modinfo", b"crc32.license=GPL\0".to_vec());
        }
        "softdeps" => {
            m(
                "kernel/fs/fuse.ko",
                module(
                    &[
                        "alias=fs-fuse",
                        "alias=devname:fuse",
                        "alias=char-major-10-229",
                        "alias=fs-fuseblk",
                        "softdep=pre: cuse-helper post: virtio_fs",
                    ],
                    &["fuse_fn"],
                    &[],
                ),
            );
            m(
                "kernel/fs/cuse-helper.ko",
                module(
                    &[
                        "alias=devname:cuse",
                        "alias=char-major-010-0203",
                        "alias=common-alias",
                        "weakdep=fuse",
                    ],
                    &[],
                    &[("fuse_fn", false)],
                ),
            );
            m(
                "kernel/block/loop.ko",
                module(
                    &[
                        "alias=block-major-7-*",
                        "alias=block-major-7-0",
                        "alias=devname:loop-control",
                        "alias=char-major-10-237",
                    ],
                    &[],
                    &[],
                ),
            );
            m(
                "kernel/misc/nodev.ko",
                module(
                    &[
                        "alias=devname:nomajor",
                        "alias=acpi*:PNP0[Cc]0[0-9]:*",
                        "alias=of:N*T*Cfoo-bar[ab-c]x",
                        "alias=usb:v1234p*d*dc*dsc*dp*ic*isc*ip*in*",
                        "alias=broken[bracket",
                        "alias=common-alias",
                        "weakdep=loop cuse-helper",
                        "softdep=platform:pre-x",
                    ],
                    &[],
                    &[],
                ),
            );
        }
        "builtin" => {
            let a = module(
                &["alias=pci:v00008086d000015B8sv*sd*bc*sc*i*"],
                &["xa"],
                &[],
            );
            m("kernel/drivers/net/e1000e.ko.xz", common::xz(&a));
            let b = module(&["alias=of:N*T*Cvendor,thing"], &[], &[("xa", false)]);
            m("kernel/drivers/misc/thing.ko.zst", common::zstd(&b));
            m(
                "modules.builtin",
                b"kernel/fs/ext4/ext4.ko\nkernel/crypto/crc32c_generic.ko\n\
                  kernel/drivers/char/mem-dev.ko\nkernel/fs/ext4/ext4.ko\n"
                    .to_vec(),
            );
            m(
                "modules.builtin.modinfo",
                b"ext4.alias=fs-ext4\0ext4.license=GPL\0ext4.alias=ext3\0\
                  crc32c_generic.alias=crypto-crc32c\0crc32c_generic.alias=crc32c-generic\0\
                  mem_dev.alias=char-major-1-[0-9]\0ext4.alias=fs-ext4\0\
                  crc32c_generic.alias=crypto-crc32c\0"
                    .to_vec(),
            );
        }
        _ => unreachable!("no tree {name}"),
    }
}

/// A classic hex dump: offset, 16 bytes, printable characters.
fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x} ", i * 16));
        for k in 0..16 {
            match chunk.get(k) {
                Some(b) => out.push_str(&format!(" {b:02x}")),
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        for &b in chunk {
            out.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    out
}

/// The snapshot text: exit code, stdout, stderr, then every database.
fn render(run: &Run, dbs: &BTreeMap<String, Vec<u8>>) -> String {
    let mut s = format!(
        "exit code: {}\n==> stdout <==\n{}==> stderr <==\n{}",
        run.code,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for (name, bytes) in dbs {
        s.push_str(&format!("==> {name} ({} bytes) <==\n", bytes.len()));
        if name.ends_with(".bin") {
            s.push_str(&hexdump(bytes));
        } else {
            s.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    s
}

fn snapshot(tree: &str) {
    for kmod in Kmod::ALL {
        let scratch = tempfile::tempdir().unwrap();
        let ours = scratch.path().join("ours");
        write_tree(tree, &ours);
        let dir = ours.join("lib/modules").join(VERSION);
        let root = ours.to_str().unwrap();
        let args = ["-C", "/dev/null", "-b", root, VERSION];
        let got = run_kmodtree(kmod, &args).unrooted(&ours);
        let dbs = databases(&dir);

        if let Some(tool) = real_depmod_or_note(kmod, "depmod_snapshots") {
            let theirs = scratch.path().join("theirs");
            write_tree(tree, &theirs);
            let r = theirs.to_str().unwrap();
            let want = run_tool(&tool, &["-C", "/dev/null", "-b", r, VERSION]).unrooted(&theirs);
            let mut problems = compare_runs(&got, &want);
            problems.extend(compare_databases(
                &dbs,
                &databases(&theirs.join("lib/modules").join(VERSION)),
            ));
            assert!(
                problems.is_empty(),
                "{tree}/{}: kmodtree differs from real kmod:\n{}",
                kmod.label(),
                problems.join("\n")
            );
        }

        let text = render(&got, &dbs);
        insta::with_settings!({
            snapshot_path => "../../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("depmod-{tree}-{}", kmod.label()), text);
        });
    }
}

#[test]
fn snapshot_deps() {
    snapshot("deps");
}

#[test]
fn snapshot_softdeps() {
    snapshot("softdeps");
}

#[test]
fn snapshot_builtin() {
    snapshot("builtin");
}
