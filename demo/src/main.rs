//! The README's first command, `cargo run --release -p kmodtree-demo
//! [OUT]`: writes a small tree of synthetic modules (ELF files made with
//! the `object` crate, some compressed) into OUT (default:
//! `target/example-tree` of this checkout), writes its `modules.*`
//! databases through kmodtree's library ([`kmodtree::depmod::Depmod`], what
//! `kmodtree depmod` runs), shows them, and prints the commands to run the
//! tool itself on the tree next.
//!
//! A package of its own in the workspace, so that it builds only the
//! library and `object`, not the test suite's dev-dependencies.

// The test suite's module builder; the demo needs only part of it.
#[path = "../../tests/testsuite/common/elf.rs"]
#[allow(dead_code)]
mod elf;

use elf::ModuleSpec;
use std::fmt::Write as _;
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

/// `path` relative to `base` when it is below it.
fn shown<'a>(path: &'a Path, base: &Path) -> &'a Path {
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
}

/// Writes the synthetic modules and kmod's input files into `moddir`.
fn write_tree(moddir: &Path) {
    let mut order = String::new();
    for m in MODULES {
        let mut spec = ModuleSpec::with_modinfo(m.modinfo);
        let file = m.path.rsplit('/').next().unwrap_or(m.path);
        let name = file.split('.').next().unwrap_or(file);
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
            std::io::Write::write_all(&mut enc, &image).expect("xz in memory");
            enc.finish().expect("xz in memory")
        } else if m.path.ends_with(".zst") {
            zstd::bulk::compress(&image, 3).expect("zstd in memory")
        } else {
            image
        };
        let path = moddir.join(m.path);
        write(&path, &bytes);
        let plain = m.path.trim_end_matches(".xz").trim_end_matches(".zst");
        order.push_str(plain);
        order.push('\n');
    }
    write(&moddir.join("modules.order"), order.as_bytes());
    write(&moddir.join("modules.builtin"), b"kernel/fs/fuse/fuse.ko\n");
    write(
        &moddir.join("modules.builtin.modinfo"),
        b"fuse.alias=fs-fuse\0fuse.alias=devname:fuse\0fuse.license=GPL\0",
    );
}

/// Writes a file (and its folders), or stops the demo naming it.
fn write(path: &Path, bytes: &[u8]) {
    let parent = path.parent().unwrap_or(Path::new("."));
    if let Err(e) = std::fs::create_dir_all(parent).and_then(|()| std::fs::write(path, bytes)) {
        eprintln!("kmodtree-demo: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
}

fn main() {
    // This checkout: the demo's manifest is in its demo/.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("demo/ has a parent")
        .to_path_buf();
    let cwd = std::env::current_dir().unwrap_or_default();
    let out = match std::env::args_os().nth(1) {
        Some(dir) => cwd.join(dir),
        None => checkout.join("target/example-tree"),
    };
    let moddir = out.join("lib/modules").join(VERSION);
    // Replace an earlier demo tree, nothing else.
    if out.exists() {
        let earlier = std::fs::read_dir(&out)
            .map(|d| d.flatten().all(|e| e.file_name() == "lib"))
            .unwrap_or(false)
            && moddir.is_dir();
        if !earlier {
            eprintln!(
                "kmodtree-demo: {} exists and is not an earlier demo tree; give another folder",
                out.display()
            );
            std::process::exit(1);
        }
        if let Err(e) = std::fs::remove_dir_all(&out) {
            eprintln!("kmodtree-demo: cannot remove {}: {e}", out.display());
            std::process::exit(1);
        }
    }
    write_tree(&moddir);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "wrote {} synthetic modules into {}",
        MODULES.len(),
        shown(&moddir, &cwd).display()
    );

    // What `kmodtree depmod -C /dev/null -b OUT VERSION` runs.
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
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&moddir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let len = e.metadata().ok()?.len();
            name.starts_with("modules.").then_some((name, len))
        })
        .collect();
    files.sort();
    let _ = writeln!(
        text,
        "then its databases through kmodtree's library (kmodtree::depmod::Depmod):"
    );
    for (f, len) in &files {
        let _ = writeln!(text, "  {f:28} {len:6} bytes");
    }
    for f in ["modules.dep", "modules.softdep", "modules.devname"] {
        let _ = writeln!(text, "\n--- {f}");
        let _ = write!(
            text,
            "{}",
            std::fs::read_to_string(moddir.join(f)).unwrap_or_default()
        );
    }

    // The tool on the same tree: from the checkout, cargo builds and runs
    // it; once installed (`cargo install --path .`) it is plain `kmodtree`.
    let tool = if cwd == checkout {
        "cargo run --release --".to_string()
    } else {
        let manifest = checkout.join("Cargo.toml");
        format!(
            "cargo run --release --manifest-path {} --",
            manifest.display()
        )
    };
    let base = shown(&out, &cwd).display().to_string();
    let dir = shown(&moddir, &cwd).display().to_string();
    let _ = writeln!(
        text,
        "\nNext, the kmodtree tool on this tree (after `cargo install --path .`, write"
    );
    let _ = writeln!(text, "`kmodtree` for `{tool}`):");
    let _ = writeln!(
        text,
        "  {tool} depmod -C /dev/null -b {base} {VERSION}   # the same databases"
    );
    let _ = writeln!(
        text,
        "  {tool} show-depends -b {base} {VERSION} usb-storage"
    );
    let _ = writeln!(text, "  {tool} audit {dir}");
    // Into a closed pipe (`| head`) the rest is dropped, without a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
}
