//! The read-only modprobe surface compared with the real kmod 34
//! (`modprobe34`) and kmod 30 (`/usr/sbin/modprobe`) when installed:
//! kernel command-line options, empty indexes, `-R` on an alias nothing
//! matches, `-c`, `--show-exports`, `--dump-modversions` and kmodtree run
//! through a symlink named `modprobe`. modprobe always reads
//! `/proc/cmdline`; the comparisons give it a chosen one by bind-mounting
//! a file over it in a private mount namespace (`unshare -m`), and skip
//! with a note where that is not allowed. Fixed expectations (taken from
//! kmod) keep the checks when the tools are absent.

use crate::common;

use common::elf::simple_module;
use common::kmod::kmodtree_bin;
use common::kmod::{installed_kmod_tools, run_text, TextRun};
use common::write_file;
use std::path::Path;
use std::process::Command;

const VER: &str = "1.0";

/// True when this process may bind-mount over /proc/cmdline in a new
/// mount namespace.
fn can_fake_cmdline() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let ok = Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount --bind /dev/null /proc/cmdline && test ! -s /proc/cmdline",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("note: cannot bind-mount over /proc/cmdline; kmod comparisons skipped");
        }
        ok
    })
}

/// `tool args...` run with `cmdline` as its /proc/cmdline.
fn under_cmdline(cmdline: &Path, tool: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /proc/cmdline && exec \"$@\"",
    ])
    .arg(cmdline)
    .arg(tool)
    .args(args)
    .env("LC_ALL", "C");
    c
}

fn kmodtree(args: &[&str]) -> TextRun {
    run_text(Command::new(kmodtree_bin()).args(args).env("LC_ALL", "C"))
}

/// A small tree with its databases: mod-simple (alias simple-alias, uses
/// mod_dep's symbol), mod_dep, mod_other (alias pci:v*d0001*).
fn synthetic_tree(root: &Path) {
    let dir = format!("lib/modules/{VER}");
    write_file(
        root,
        &format!("{dir}/kernel/mod-simple.ko"),
        &simple_module(
            &["alias=simple-alias", "license=GPL", "parm=foo:a flag"],
            &["simple_fn"],
            &[("dep_fn", false)],
        ),
    );
    write_file(
        root,
        &format!("{dir}/kernel/lib/mod_dep.ko"),
        &simple_module(&["license=GPL"], &["dep_fn"], &[]),
    );
    write_file(
        root,
        &format!("{dir}/kernel/mod_other.ko"),
        &simple_module(&["alias=pci:v*d0001*", "softdep=pre: mod_dep"], &[], &[]),
    );
    write_file(
        root,
        &format!("{dir}/modules.builtin"),
        b"kernel/fs/ext4.ko\n",
    );
    write_file(
        root,
        &format!("{dir}/modules.builtin.modinfo"),
        b"ext4.alias=fs-ext4\0ext4.license=GPL\0",
    );
    let r = kmodtree(&[
        "depmod",
        "-C",
        "/dev/null",
        "-b",
        root.to_str().unwrap(),
        VER,
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

/// Runs kmodtree's `ours` args and, when possible, each modprobe's
/// `theirs` args under `cmdline`; asserts they print the same. Returns
/// kmodtree's output.
fn compare(ours: &[&str], theirs: &[&str], cmdline: &Path, what: &str) -> TextRun {
    let got = kmodtree(ours);
    if can_fake_cmdline() {
        for (label, tool) in installed_kmod_tools("modprobe") {
            let want = run_text(&mut under_cmdline(cmdline, &tool, theirs));
            assert_eq!(got, want, "{what}: kmodtree vs {label}");
        }
    }
    got
}

#[test]
fn kernel_cmdline_options_with_and_without_values() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let r = root.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "mod_simple.foo mod_simple.bar=1\n",
            "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko \ninsmod @R@/lib/modules/1.0/kernel/mod-simple.ko foo bar=1 \n",
        ),
        (
            "quiet mod-simple.a=1 mod_simple.b.c=2 mod_simple=3 x=mod_simple.d \"mod_simple.e=f g\" mod_simple.h=\"i j\"\tmod_simple.k=l.m mod_dep.n\n",
            "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko n \ninsmod @R@/lib/modules/1.0/kernel/mod-simple.ko a=1 e=\"f g\" h=\"i j\" k=l.m \n",
        ),
        (
            "mod_simple.c= mod_simple.=d .e=1 mod_simple.f mod_simple.a\"b=1 mod_simple.g",
            "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko \ninsmod @R@/lib/modules/1.0/kernel/mod-simple.ko c= =d f \n",
        ),
    ];
    for (i, (line, expected)) in cases.iter().enumerate() {
        let f = tmp.path().join(format!("cmdline{i}"));
        std::fs::write(&f, line).unwrap();
        let got = compare(
            &[
                "show-depends",
                "-C",
                "/dev/null",
                "--kernel-cmdline",
                f.to_str().unwrap(),
                "-b",
                r,
                VER,
                "mod_simple",
            ],
            &[
                "-C",
                "/dev/null",
                "-d",
                r,
                "-S",
                VER,
                "--show-depends",
                "mod_simple",
            ],
            &f,
            &format!("cmdline {line:?}"),
        );
        assert_eq!(got.stdout.replace(r, "@R@"), *expected, "{line:?}: {got:?}");
    }
}

const TARGETS: &[&str] = &[
    "mod_simple",
    "mod-simple",
    "simple-alias",
    "ext4",
    "fs-ext4",
    "pci:v00001234d00000001",
    "pci:nothing",
    "symbol:dep_fn",
    "symbol:nosuch",
    "nosuch",
];

/// `show-depends` and `match` of every target, one target per run (as
/// modprobe takes one module and its parameters), against
/// `--show-depends` and `-R`.
fn compare_targets(root: &Path, what: &str) -> Vec<TextRun> {
    let r = root.to_str().unwrap();
    let empty = Path::new("/dev/null");
    let mut outs = Vec::new();
    for t in TARGETS {
        for (ours, theirs) in [("show-depends", "--show-depends"), ("match", "-R")] {
            outs.push(compare(
                &[ours, "-C", "/dev/null", "-b", r, VER, t],
                &["-C", "/dev/null", "-d", r, "-S", VER, theirs, t],
                empty,
                &format!("{what}: {ours} {t}"),
            ));
        }
    }
    outs
}

#[test]
fn targets_of_a_whole_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let outs = compare_targets(&root, "whole tree");
    // -R on an alias nothing matches: modprobe's FATAL line, exit 1.
    let r = root.to_str().unwrap();
    let no_match = &outs[2 * TARGETS.iter().position(|t| *t == "pci:nothing").unwrap() + 1];
    assert_eq!(
        (
            no_match.stdout.as_str(),
            no_match.stderr.replace(r, "@R@"),
            no_match.code
        ),
        (
            "",
            "modprobe: FATAL: Module pci:nothing not found in directory @R@/lib/modules/1.0\n"
                .to_string(),
            1
        )
    );
}

#[test]
fn empty_or_missing_indexes_are_skipped_silently() {
    for (file, empty) in [
        ("modules.builtin.bin", true),
        ("modules.builtin.alias.bin", true),
        ("modules.alias.bin", true),
        ("modules.symbols.bin", true),
        ("modules.dep.bin", true),
        ("modules.dep.bin", false),
        ("modules.builtin.bin", false),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        synthetic_tree(&root);
        let path = root.join(format!("lib/modules/{VER}/{file}"));
        if empty {
            std::fs::write(&path, b"").unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let what = format!("{} {file}", if empty { "empty" } else { "missing" });
        for o in compare_targets(&root, &what) {
            assert!(!o.stderr.contains("could not"), "{what}: {o:?}");
        }
    }
}

/// Runs `kmodtree modprobe ARGS` (with `--kmod-version`) and each
/// installed modprobe with the same ARGS under `cmdline`, comparing
/// stdout and the exit status, and stderr too for kmod 34 (kmod 30's
/// libkmod messages carry source positions). Returns kmodtree's output.
fn compare_modprobe(args: &[&str], cmdline: &Path, what: &str) -> TextRun {
    let mut last = None;
    for (label, tool) in installed_kmod_tools("modprobe") {
        let kmod = if label == "kmod34" { "34" } else { "30" };
        let mut ours = Command::new(kmodtree_bin());
        ours.args(["modprobe", "--kmod-version", kmod, "--kernel-cmdline"])
            .arg(cmdline)
            .args(args)
            .env("LC_ALL", "C");
        let got = run_text(&mut ours);
        if can_fake_cmdline() {
            let want = run_text(&mut under_cmdline(cmdline, &tool, args));
            assert_eq!(
                (&got.stdout, got.code),
                (&want.stdout, want.code),
                "{what}: kmodtree vs {label}"
            );
            if label == "kmod34" {
                assert_eq!(got.stderr, want.stderr, "{what}: stderr vs {label}");
            }
        }
        last = Some(got);
    }
    last.unwrap_or_else(|| {
        run_text(
            Command::new(kmodtree_bin())
                .args(["modprobe", "--kernel-cmdline"])
                .arg(cmdline)
                .args(args),
        )
    })
}

const CONFIG: &str = "\
# comment
alias my-alias mod-simple
alias pci:v0000*d* mod_other
options mod-simple  a=1\tb=2 
options   mod_dep x
blacklist mod_other
blacklist some-thing
install mod_simple /bin/true $CMDLINE_OPTS
remove mod-dep /bin/false
softdep mod_simple pre: mod_dep mod-other post: mod_x
softdep mod_dep post: mod_simple
softdep mod-other pre: a
softdep lonely
";

#[test]
fn showconfig_matches_modprobe_c() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let r = root.to_str().unwrap();
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("b.conf"), CONFIG).unwrap();
    std::fs::write(
        conf.join("a.conf"),
        "options mod_dep first=1\nalias zz-x mod_dep\n",
    )
    .unwrap();
    std::fs::write(conf.join("ignored.txt"), "options mod_dep never=1\n").unwrap();
    let cmdline = tmp.path().join("cmdline");
    std::fs::write(
        &cmdline,
        "mod_dep.c=1 modprobe.blacklist=x-y,z mod_simple.flag\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let got = compare_modprobe(&["-C", c, "-d", r, "-S", VER, "-c"], &cmdline, "-c");
    let head = got.stdout.split("\n# End").next().unwrap();
    assert_eq!(
        head,
        "blacklist mod_other\nblacklist some_thing\nblacklist x-y\nblacklist z\n\
         install mod_simple /bin/true $CMDLINE_OPTS\nremove mod_dep /bin/false\n\
         alias zz_x mod_dep\nalias my_alias mod_simple\nalias pci:v0000*d* mod_other\n\
         options mod_dep first=1\noptions mod_simple  a=1 b=2 \noptions mod_dep x\n\
         options mod_dep c=1\noptions mod_simple flag\n\
         softdep mod_simple pre: mod_dep mod-otherpost: mod_x\nsoftdep mod_dep post: mod_simple\n\
         softdep mod_other pre: a\nsoftdep mod_other pre: mod_dep\n",
        "{}",
        got.stdout
    );
    assert!(got.stdout.contains(
        "\n# End of configuration files. Dumping indexes now:\n\nalias pci:v*d0001* mod_other\n"
    ));
    assert!(got.stdout.ends_with("alias symbol:simple_fn mod_simple\n"));
    // Same through --show-config, -q, and with indexes missing.
    compare_modprobe(
        &["-C", c, "-d", r, "-S", VER, "--show-config", "-q"],
        &cmdline,
        "--show-config",
    );
    for f in ["modules.alias.bin", "modules.symbols.bin"] {
        std::fs::remove_file(root.join(format!("lib/modules/{VER}/{f}"))).unwrap();
        compare_modprobe(
            &["-C", c, "-d", r, "-S", VER, "-c"],
            &cmdline,
            &format!("-c without {f}"),
        );
    }
}

#[test]
fn weakdeps_in_showconfig_of_kmod34() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let conf = tmp.path().join("w.conf");
    std::fs::write(&conf, "weakdep mod_simple mod_dep mod-other\n").unwrap();
    let got = run_text(Command::new(kmodtree_bin()).args([
        "modprobe",
        "--kernel-cmdline",
        "/dev/null",
        "-C",
        conf.to_str().unwrap(),
        "-d",
        root.to_str().unwrap(),
        "-S",
        VER,
        "-c",
    ]));
    assert!(
        got.stdout
            .starts_with("softdep mod_other pre: mod_dep\nweakdep mod_simple mod_dep mod-other\n"),
        "{}",
        got.stdout
    );
    if can_fake_cmdline() {
        if let Some((_, tool)) = installed_kmod_tools("modprobe")
            .into_iter()
            .find(|(l, _)| *l == "kmod34")
        {
            let want = run_text(&mut under_cmdline(
                Path::new("/dev/null"),
                &tool,
                &[
                    "-C",
                    conf.to_str().unwrap(),
                    "-d",
                    root.to_str().unwrap(),
                    "-S",
                    VER,
                    "-c",
                ],
            ));
            assert_eq!(got, want);
        }
    }
}

#[test]
fn show_depends_with_parameters_quiet_and_all() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let r = root.to_str().unwrap();
    let conf = tmp.path().join("c.conf");
    std::fs::write(&conf, "options mod_dep x=1\n").unwrap();
    let c = conf.to_str().unwrap();
    let none = Path::new("/dev/null");
    let base = ["-C", c, "-d", r, "-S", VER];
    for extra in [
        &["-D", "mod_simple", "p=1", "q"][..],
        &["-D", "mod_dep", "p=1"],
        &["-D", "-a", "mod_simple", "mod_dep", "nosuch"],
        &["-D", "-q", "nosuch"],
        &["-R", "-q", "nosuch"],
        &["-R", "-a", "simple-alias", "nosuch"],
        &["-R", "simple-alias", "ignored"],
        &["-D", "-i", "ext4"],
        &["-q", "-D", "fs-ext4"],
        &["-D"],
        &[],
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        compare_modprobe(&args, none, &format!("{extra:?}"));
    }
    let got = compare_modprobe(
        &[&base[..], &["-D", "mod_simple", "p=1", "q"]].concat(),
        none,
        "params",
    );
    assert_eq!(
        got.stdout.replace(r, "@R@"),
        "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko x=1 \n\
         insmod @R@/lib/modules/1.0/kernel/mod-simple.ko p=1 q\n"
    );
}

/// A few modules of every fixture tree: every architecture, ELF32 and
/// big-endian, plain, xz, zstd (gzip: kmod here is built without zlib,
/// so the .gz tree is checked against the same modules of the xz tree).
#[test]
fn show_exports_and_modversions_of_every_fixture_architecture() {
    let trees = common::fixtures_dir().join("trees");
    let none = Path::new("/dev/null");
    let (mut checked, mut listed) = (0, 0);
    for (name, _, moddir, _) in common::fixture_trees() {
        let files = common::module_files(&moddir);
        for rel in files.iter().step_by(25) {
            let path = moddir.join(rel);
            let p = path.to_str().unwrap();
            for mode in ["--show-exports", "--dump-modversions"] {
                if name.ends_with("-gz") {
                    let got = kmodtree(&["modprobe", "--kernel-cmdline", "/dev/null", mode, p]);
                    let xz_tree = trees.join("amd64-6.12-xz");
                    let xz = xz_tree.join(
                        path.strip_prefix(trees.join(&name))
                            .unwrap()
                            .with_extension("xz"),
                    );
                    let want = kmodtree(&[
                        "modprobe",
                        "--kernel-cmdline",
                        "/dev/null",
                        mode,
                        xz.to_str().unwrap(),
                    ]);
                    let xz_name = xz.to_str().unwrap();
                    assert_eq!(
                        (got.stdout, got.stderr.replace(p, "FILE"), got.code),
                        (want.stdout, want.stderr.replace(xz_name, "FILE"), want.code),
                        "{mode} {rel} (gz vs xz)"
                    );
                } else {
                    let got = compare_modprobe(&[mode, p], none, &format!("{mode} {name}/{rel}"));
                    listed += usize::from(got.code == 0);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20 && listed > 10, "{checked} {listed}");
    // Failures: a missing file, a directory, a file that is not ELF.
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.ko");
    std::fs::write(&junk, "not a module\n").unwrap();
    for f in [
        "/nonexistent/x.ko",
        tmp.path().to_str().unwrap(),
        junk.to_str().unwrap(),
    ] {
        for mode in ["--show-exports", "--dump-modversions"] {
            let got = compare_modprobe(&[mode, f], none, &format!("{mode} {f}"));
            assert_eq!(got.code, 1);
            assert!(got.stderr.starts_with("modprobe: FATAL: "), "{got:?}");
        }
    }
    let got = compare_modprobe(&["--show-exports", "/nonexistent/x.ko"], none, "missing");
    assert_eq!(
        got.stderr,
        "modprobe: FATAL: Module /nonexistent/x.ko not found.\n"
    );
}
