//! Differential test: kmodtree's `modinfo` rendering against the real kmod
//! 34 `modinfo` on synthetic modules (odd keys, parameters, missing or
//! damaged sections, signatures) and on the bad-files edge case: stdout,
//! stderr and exit status must be identical.
//!
//! Needs kmod 34's modinfo: `$KMODTREE_MODINFO34`, else
//! `/opt/kmod34/bin/modinfo34`. Without it the test prints a note and
//! passes (the fixture tests still cover kmod's output).

use crate::common;

use common::elf::{build, Damage, ModuleSpec};
use kmodtree::modinfo::{render, Options};
use kmodtree::module::{read_module_file, Limits};
use std::path::{Path, PathBuf};
use std::process::Command;

fn modinfo34() -> Option<PathBuf> {
    let p = std::env::var_os("KMODTREE_MODINFO34")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/kmod34/bin/modinfo34"));
    p.exists().then_some(p)
}

/// The option sets compared for every module.
const VARIANTS: &[&[&str]] = &[
    &[],
    &["-F", "alias"],
    &["-F", "parm"],
    &["-p"],
    &["-F", ""],
    &["-F", "signer"],
    &["-F", "signature"],
    &["-F", "filename"],
    &["-0"],
];

fn ours(path: &Path, args: &[&str]) -> (Vec<u8>, Vec<u8>, bool) {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "-F" => opts.field = Some(it.next().unwrap()),
            "-p" => opts.field = Some("parm"),
            "-0" => opts.separator = 0,
            _ => unreachable!(),
        }
    }
    let utf8 = camino::Utf8Path::from_path(path).unwrap();
    let result = read_module_file(utf8, &Limits::default());
    let out = render(path.to_str().unwrap(), result.as_ref(), &opts);
    (out.stdout, out.stderr, out.success)
}

fn theirs(bin: &Path, path: &Path, args: &[&str]) -> (Vec<u8>, Vec<u8>, bool) {
    let out = Command::new(bin).args(args).arg(path).output().unwrap();
    (out.stdout, out.stderr, out.status.success())
}

fn compare(bin: &Path, path: &Path) {
    for args in VARIANTS {
        let a = ours(path, args);
        let b = theirs(bin, path, args);
        assert!(
            a == b,
            "{} {args:?}:\n ours: {:?}\n      {:?} {}\nkmod: {:?}\n      {:?} {}",
            path.display(),
            String::from_utf8_lossy(&a.0),
            String::from_utf8_lossy(&a.1),
            a.2,
            String::from_utf8_lossy(&b.0),
            String::from_utf8_lossy(&b.1),
            b.2
        );
    }
}

/// The signature trailer (signature data, `struct module_signature`, magic)
/// of a real signed module.
fn real_signature() -> Option<Vec<u8>> {
    let dir = common::fixtures_dir().join("trees/amd64-6.1-ko");
    let rel = common::module_files(&dir).into_iter().next()?;
    let data = std::fs::read(dir.join(rel)).ok()?;
    let magic = b"~Module signature appended~\n";
    let body = &data[..data.len() - magic.len()];
    let modsig = &body[body.len() - 12..];
    let sig_len = u32::from_be_bytes(modsig[8..12].try_into().unwrap()) as usize;
    Some(data[data.len() - magic.len() - 12 - sig_len..].to_vec())
}

fn s(x: &str) -> String {
    x.to_string()
}

fn specs() -> Vec<(&'static str, ModuleSpec)> {
    let parms = ModuleSpec::with_modinfo(&[
        "averyveryverylongkeyname=val",
        "exactly15chars_=v15",
        "k14___________=c",
        "=emptykey",
        "noequals",
        "parm=p1:desc one",
        "parmtype=p1:int",
        "parmtype=p2:bool",
        "parm=p3:only desc",
        "parm=nocolon",
        "parm=:x",
        "parmtype=:y",
        "parm=q:",
        "parmtype=q:",
        "parm=p1:desc again",
        "alias=x",
        "signer=fake",
    ]);
    let mut v = vec![
        ("parms.ko", parms),
        (
            "empty-modinfo.ko",
            ModuleSpec {
                modinfo_raw: Some(vec![0, 0, 0]),
                ..ModuleSpec::default()
            },
        ),
        ("no-modinfo.ko", ModuleSpec::default()),
        (
            "unterminated.ko",
            ModuleSpec {
                modinfo_raw: Some(b"\0\0alias=a\0\0\0alias=b".to_vec()),
                ..ModuleSpec::default()
            },
        ),
        (
            "hidden-modinfo.ko",
            ModuleSpec {
                damage: vec![Damage::Hide(s(".modinfo"))],
                ..ModuleSpec::with_modinfo(&["alias=z"])
            },
        ),
        (
            "x509-sig.ko",
            ModuleSpec {
                // signer "me\0x", key id, signature, X509, sha512.
                trailer: [
                    &b"me\0x"[..],
                    &[0xAB, 0xCD, 0xEF],
                    &(0u8..45).collect::<Vec<u8>>(),
                    &[1, 6, 1, 4, 3, 0, 0, 0, 0, 0, 0, 45],
                    b"~Module signature appended~\n",
                ]
                .concat(),
                ..ModuleSpec::with_modinfo(&["license=GPL"])
            },
        ),
        (
            "pgp-empty-sig.ko",
            ModuleSpec {
                trailer: [
                    &[7u8][..],
                    &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    b"~Module signature appended~\n",
                ]
                .concat(),
                ..ModuleSpec::with_modinfo(&["license=GPL"])
            },
        ),
        (
            "bad-sig-hash.ko",
            ModuleSpec {
                trailer: [
                    &[7u8][..],
                    &[0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    b"~Module signature appended~\n",
                ]
                .concat(),
                ..ModuleSpec::with_modinfo(&["license=GPL"])
            },
        ),
    ];
    if let Some(sig) = real_signature() {
        v.push((
            "pkcs7.ko",
            ModuleSpec {
                trailer: sig.clone(),
                ..ModuleSpec::with_modinfo(&["license=GPL", "parm=a:b"])
            },
        ));
        // Damaged DER: OpenSSL (and we) must then show no signature.
        let mut broken = sig.clone();
        broken[1] ^= 0x01;
        v.push((
            "pkcs7-badlen.ko",
            ModuleSpec {
                trailer: broken,
                ..ModuleSpec::with_modinfo(&["license=GPL"])
            },
        ));
        // The signer's CN changed in place (same length).
        let mut renamed = sig.clone();
        let needle = b"Build time autogenerated kernel key";
        if let Some(at) = renamed.windows(needle.len()).position(|w| w == needle) {
            renamed[at..at + 5].copy_from_slice(b"Other");
            v.push((
                "pkcs7-renamed.ko",
                ModuleSpec {
                    trailer: renamed,
                    ..ModuleSpec::with_modinfo(&["license=GPL"])
                },
            ));
        }
    }
    v
}

#[test]
fn synthetic_modules_match_kmod34() {
    let Some(bin) = modinfo34() else {
        eprintln!("note: modinfo34 not found: differential test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let specs = specs();
    assert!(
        specs.iter().any(|(n, _)| *n == "pkcs7-renamed.ko"),
        "the real PKCS#7 signature was not found in the fixtures"
    );
    for (name, spec) in specs {
        let path = dir.path().join(name);
        std::fs::write(&path, build(&spec)).unwrap();
        compare(&bin, &path);
    }
}

#[test]
fn bad_files_match_kmod34() {
    let Some(bin) = modinfo34() else {
        eprintln!("note: modinfo34 not found: differential test skipped");
        return;
    };
    let dir = common::fixtures_dir().join("edge/bad-files/lib/modules/0.0");
    let mut compared = 0;
    for rel in common::module_files(&dir) {
        if rel.ends_with(".gz") {
            continue; // this kmod build has no zlib
        }
        compare(&bin, &dir.join(rel));
        compared += 1;
    }
    assert!(compared > 0, "no bad files in {}", dir.display());
}

/// Many files at once, in a chosen order (shuffled, repeated, missing and
/// damaged ones between), read in parallel: kmod's stdout, stderr and exit
/// status for every thread count, and the same interleaving of the two
/// (`2>&1`) whatever the thread count.
#[test]
fn many_files_in_argument_order_match_kmod34() {
    let Some(bin) = modinfo34() else {
        eprintln!("modinfo34 not found: differential test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, spec) in specs() {
        let path = dir.path().join(name);
        std::fs::write(&path, build(&spec)).unwrap();
        paths.push(path.to_str().unwrap().to_owned());
    }
    paths.push(dir.path().join("missing.ko").to_str().unwrap().to_owned());
    // A fixed permutation, each file five times.
    let n = paths.len();
    let step = if n % 7 == 0 { 5 } else { 7 };
    let order: Vec<String> = (0..n * 5).map(|i| paths[(i * step) % n].clone()).collect();
    let ours_bin = Path::new(env!("CARGO_BIN_EXE_kmodtree"));
    let both = |jobs: &str, args: &[String]| -> Vec<u8> {
        let log = dir.path().join("both.log");
        let file = std::fs::File::create(&log).unwrap();
        Command::new(ours_bin)
            .args(["modinfo", "--jobs", jobs])
            .args(args)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .status()
            .unwrap();
        std::fs::read(&log).unwrap()
    };
    for field in [&[][..], &["-F", "parm"][..]] {
        let mut args: Vec<String> = field.iter().map(|s| s.to_string()).collect();
        args.extend(order.iter().cloned());
        let theirs = Command::new(&bin).args(&args).output().unwrap();
        for jobs in ["1", "3"] {
            let ours = Command::new(ours_bin)
                .args(["modinfo", "--jobs", jobs])
                .args(&args)
                .output()
                .unwrap();
            assert!(
                ours.stdout == theirs.stdout,
                "{field:?} --jobs {jobs}: stdout"
            );
            assert!(
                ours.stderr == theirs.stderr,
                "{field:?} --jobs {jobs}: stderr"
            );
            assert_eq!(ours.status.code(), theirs.status.code());
        }
        assert!(both("1", &args) == both("3", &args), "{field:?}: 2>&1");
    }
}
