//! The README's first command: generates a small synthetic module tree (ELF
//! modules written with the `object` crate, some compressed), then runs
//! kmodtree's depmod on it and prints what it wrote.
//!
//! `cargo run --release --example demo [OUT]` (default OUT:
//! `target/example-tree`).

// The test suite's module builder; the demo needs only part of it.
#[path = "../tests/testsuite/common/elf.rs"]
#[allow(dead_code)]
mod elf;

use elf::ModuleSpec;
use std::path::Path;

const VERSION: &str = "0.0-example";

struct Demo {
    path: &'static str,
    modinfo: &'static [&'static str],
    exports: &'static [&'static str],
    imports: &'static [&'static str],
}

const MODULES: &[Demo] = &[
    Demo {
        path: "kernel/drivers/scsi/scsi_mod.ko",
        modinfo: &["license=GPL", "description=SCSI core (example)"],
        exports: &["scsi_add_host", "scsi_remove_host"],
        imports: &[],
    },
    Demo {
        path: "kernel/drivers/usb/core/usbcore.ko",
        modinfo: &["license=GPL", "description=USB core (example)"],
        exports: &["usb_register_driver", "usb_deregister"],
        imports: &[],
    },
    Demo {
        path: "kernel/drivers/usb/storage/usb-storage.ko.xz",
        modinfo: &[
            "license=GPL",
            "alias=usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
            "alias=usb:v*p*d*dc*dsc*dp*ic08isc06ip62in*",
        ],
        exports: &["usb_stor_probe1"],
        imports: &["usb_register_driver", "scsi_add_host", "usb_deregister"],
    },
    Demo {
        path: "kernel/drivers/usb/storage/uas.ko.zst",
        modinfo: &[
            "license=GPL",
            "softdep=pre: usb-storage",
            "alias=usb:v*p*d*dc*dsc*dp*ic08isc06ip62in*",
        ],
        exports: &[],
        imports: &["usb_register_driver", "scsi_add_host"],
    },
    Demo {
        path: "kernel/lib/crc16.ko",
        modinfo: &["license=GPL"],
        exports: &["crc16"],
        imports: &[],
    },
    Demo {
        path: "kernel/fs/jbd2/jbd2.ko",
        modinfo: &["license=GPL"],
        exports: &["jbd2_journal_start"],
        imports: &[],
    },
    Demo {
        path: "kernel/fs/ext4/ext4.ko.xz",
        modinfo: &["license=GPL", "alias=fs-ext4", "softdep=pre: crc32c"],
        exports: &[],
        imports: &["jbd2_journal_start", "crc16"],
    },
    Demo {
        path: "kernel/drivers/char/demo-misc.ko",
        modinfo: &[
            "license=GPL",
            "alias=devname:demo",
            "alias=char-major-10-242",
        ],
        exports: &[],
        imports: &[],
    },
];

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{}/target/example-tree", env!("CARGO_MANIFEST_DIR")));
    let root = Path::new(&out);
    let moddir = root.join("lib/modules").join(VERSION);
    let _ = std::fs::remove_dir_all(root);
    let mut order = String::new();
    for m in MODULES {
        let mut spec = ModuleSpec::with_modinfo(m.modinfo);
        let name = m
            .path
            .rsplit('/')
            .next()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        spec.modinfo
            .push(format!("name={}", name.replace('-', "_")));
        spec.modinfo
            .push(format!("vermagic={VERSION} SMP mod_unload"));
        let mut strings = Vec::new();
        for e in m.exports {
            strings.extend_from_slice(e.as_bytes());
            strings.push(0);
        }
        spec.ksymtab_strings = (!strings.is_empty()).then_some(strings);
        spec.undefined = m.imports.iter().map(|s| (s.to_string(), false)).collect();
        let image = elf::build(&spec);
        let bytes = if m.path.ends_with(".xz") {
            let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
            std::io::Write::write_all(&mut enc, &image).unwrap();
            enc.finish().unwrap()
        } else if m.path.ends_with(".zst") {
            zstd::bulk::compress(&image, 3).unwrap()
        } else {
            image
        };
        let path = moddir.join(m.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let plain = m.path.trim_end_matches(".xz").trim_end_matches(".zst");
        order.push_str(plain);
        order.push('\n');
    }
    std::fs::write(moddir.join("modules.order"), order).unwrap();
    std::fs::write(moddir.join("modules.builtin"), "kernel/fs/fuse/fuse.ko\n").unwrap();
    std::fs::write(
        moddir.join("modules.builtin.modinfo"),
        b"fuse.alias=fs-fuse\0fuse.alias=devname:fuse\0fuse.license=GPL\0",
    )
    .unwrap();

    println!("$ kmodtree depmod -C /dev/null -b {out} {VERSION}");
    let run = kmodtree::depmod::Depmod::new(&out, VERSION)
        .config(kmodtree::depmod::ConfigSource::Paths(vec![
            "/dev/null".into()
        ]))
        .run();
    match run {
        Ok(report) => {
            let shown = report.diagnostics.iter();
            for d in shown.filter(|d| d.level <= kmodtree::kmod::Level::Warning) {
                eprint!("{}", d.render("depmod"));
            }
        }
        Err(failure) => {
            eprint!("{failure}");
            std::process::exit(1);
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(&moddir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("modules."))
        .collect();
    files.sort();
    println!("\nwrote into {}:", moddir.display());
    for f in &files {
        let len = std::fs::metadata(moddir.join(f)).unwrap().len();
        println!("  {f:28} {len:6} bytes");
    }
    for f in ["modules.dep", "modules.softdep", "modules.devname"] {
        println!("\n--- {f}");
        print!("{}", std::fs::read_to_string(moddir.join(f)).unwrap());
    }
}
