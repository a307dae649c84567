//! `kmodtree depmod` command-line behaviour, compared with the real kmod
//! 34 and kmod 30 `depmod` when they are installed (stdout, stderr with
//! the root replaced by `@ROOT@`, exit code, every database and every
//! directory entry), and always checked against fixed expectations:
//! `-n`, `-A`, `-o`, `-m`, `-P`, bad versions, a missing module
//! directory, `-e` alone, `-v`, module files on the command line, `-w`,
//! invocation through a symlink named `depmod`, invalid options and an
//! output that cannot be written.

use crate::common;

use common::kmod::{
    compare_databases, compare_runs, databases, entries, kmodtree_bin, real_depmod_or_note,
    run_command, run_kmodtree, run_tool, Kmod, Run,
};
use common::write_file;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const VER: &str = "1.0";
const DIR: &str = "lib/modules/1.0";

use common::elf::simple_module as module;

/// The small tree most tests use, under `root/moddir`: a needs b (strong)
/// and c (weak), b needs c; an alias shared by a and c (for `-w`); a
/// devname; a partial modules.order; builtin inputs.
fn small_tree(root: &Path, moddir: &str) {
    let f = |rel: &str, bytes: Vec<u8>| write_file(root, &format!("{moddir}/{rel}"), &bytes);
    f(
        "kernel/drivers/a-mod.ko",
        module(
            &["alias=shared-alias", "alias=pci:v00001234d*sv*"],
            &["a_fn"],
            &[("b_fn", false), ("c_fn", true), ("printk", false)],
        ),
    );
    f(
        "kernel/drivers/b.ko",
        module(&["softdep=pre: c"], &["b_fn"], &[("c_fn", false)]),
    );
    f(
        "kernel/lib/c.ko",
        module(
            &[
                "alias=shared-alias",
                "alias=devname:cdev",
                "alias=char-major-10-1",
            ],
            &["c_fn"],
            &[],
        ),
    );
    f(
        "modules.order",
        b"kernel/lib/c.ko\nkernel/drivers/b.ko\n".to_vec(),
    );
    f("modules.builtin", b"kernel/fs/ext4.ko\n".to_vec());
    f("modules.builtin.modinfo", b"ext4.alias=fs-ext4\0".to_vec());
}

/// What one run left behind.
#[derive(Debug)]
struct Seen {
    run: Run,
    /// Databases per inspected directory (relative to the root).
    dbs: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    entries: BTreeMap<String, Vec<String>>,
}

fn look(root: &Path, run: Run, inspect: &[&str]) -> Seen {
    Seen {
        run: run.unrooted(root),
        dbs: inspect
            .iter()
            .map(|d| (d.to_string(), databases(&root.join(d))))
            .collect(),
        entries: inspect
            .iter()
            .map(|d| (d.to_string(), entries(&root.join(d))))
            .collect(),
    }
}

fn fill(args: &[&str], root: &Path) -> Vec<String> {
    let r = root.to_str().unwrap();
    args.iter().map(|a| a.replace("{ROOT}", r)).collect()
}

/// Two copies of a tree: ours and (when the real tool exists) kmod's.
struct Pair {
    _scratch: tempfile::TempDir,
    ours: PathBuf,
    theirs: PathBuf,
    kmod: Kmod,
    tool: Option<PathBuf>,
}

impl Pair {
    fn new(kmod: Kmod, tree: impl Fn(&Path)) -> Pair {
        let scratch = tempfile::tempdir().unwrap();
        let ours = scratch.path().join("ours");
        let theirs = scratch.path().join("kmod");
        tree(&ours);
        tree(&theirs);
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        Pair {
            _scratch: scratch,
            ours,
            theirs,
            kmod,
            tool: real_depmod_or_note(kmod, "depmod_cli"),
        }
    }

    /// Runs both with `args` (`{ROOT}` = the copy), compares, and returns
    /// our result for the fixed expectations.
    fn run(&self, args: &[&str], inspect: &[&str]) -> Seen {
        let a = fill(args, &self.ours);
        let got = run_kmodtree(self.kmod, &a.iter().map(String::as_str).collect::<Vec<_>>());
        let ours = look(&self.ours, got, inspect);
        if let Some(tool) = &self.tool {
            let b = fill(args, &self.theirs);
            let want = run_tool(tool, &b.iter().map(String::as_str).collect::<Vec<_>>());
            let mut theirs = look(&self.theirs, want, inspect);
            // Modules outside the module directory appear with absolute
            // paths in the databases: the copies' roots have equal length,
            // so swapping them keeps every offset.
            for dbs in theirs.dbs.values_mut() {
                for bytes in dbs.values_mut() {
                    *bytes = swap_root(bytes, &self.theirs, &self.ours);
                }
            }
            self.assert_same(args, &ours, &theirs);
        }
        ours
    }

    fn assert_same(&self, args: &[&str], ours: &Seen, theirs: &Seen) {
        let mut p = compare_runs(&ours.run, &theirs.run);
        for (d, dbs) in &ours.dbs {
            p.extend(
                compare_databases(dbs, &theirs.dbs[d])
                    .into_iter()
                    .map(|x| format!("{d}/{x}")),
            );
            if ours.entries[d] != theirs.entries[d] {
                p.push(format!(
                    "{d}: entries {:?} vs kmod's {:?}",
                    ours.entries[d], theirs.entries[d]
                ));
            }
        }
        assert!(
            p.is_empty(),
            "{} {args:?}: kmodtree differs from kmod:\n{}",
            self.kmod.label(),
            p.join("\n")
        );
    }

    /// Applies `f` to both copies (e.g. to change a file).
    fn both(&self, f: impl Fn(&Path)) {
        f(&self.ours);
        if self.tool.is_some() {
            f(&self.theirs);
        }
    }
}

fn swap_root(bytes: &[u8], from: &Path, to: &Path) -> Vec<u8> {
    let (f, t) = (
        from.as_os_str().as_encoded_bytes(),
        to.as_os_str().as_encoded_bytes(),
    );
    assert_eq!(f.len(), t.len());
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + f.len() <= out.len() {
        if &out[i..i + f.len()] == f {
            out[i..i + f.len()].copy_from_slice(t);
            i += f.len();
        } else {
            i += 1;
        }
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn dry_run_prints_text_databases_and_writes_nothing() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| small_tree(r, DIR));
        let seen = p.run(&["-n", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        assert!(
            seen.dbs[DIR].is_empty(),
            "-n wrote {:?}",
            seen.dbs[DIR].keys()
        );
        let out = text(&seen.run.stdout);
        assert!(out.starts_with("kernel/lib/c.ko:\nkernel/drivers/b.ko: kernel/lib/c.ko\n"));
        assert!(out.contains("# Aliases extracted from modules themselves.\n"));
        assert!(out.contains("softdep b pre: c\n"));
        assert!(
            out.ends_with("# Device nodes to trigger on-demand module loading.\nc cdev c10:1\n")
        );
        assert_eq!(
            out.contains("# Weak dependencies"),
            kmod == Kmod::V34,
            "modules.weakdep is kmod 34's"
        );
        // -n reads no builtin input: no warning even when they are missing.
        p.both(|r| {
            std::fs::remove_file(r.join(DIR).join("modules.builtin")).unwrap();
        });
        let seen = p.run(&["-n", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(text(&seen.run.stderr), "");
    }
}

fn set_mtime(path: &Path, t: SystemTime) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}

#[test]
fn quick_mode_skips_an_up_to_date_tree() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| small_tree(r, DIR));
        // No modules.dep yet: an error, then a full run.
        let seen = p.run(&["-A", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        assert!(text(&seen.run.stderr).starts_with(
            "depmod: ERROR: could not fstatat(@ROOT@/lib/modules/1.0, modules.dep): No such file or directory\n"
        ));
        assert_eq!(seen.dbs[DIR].len(), if kmod == Kmod::V34 { 11 } else { 10 });

        // Up to date (modules older than modules.dep): nothing is done.
        let now = SystemTime::now();
        p.both(|r| {
            let d = r.join(DIR);
            for m in [
                "kernel/drivers/a-mod.ko",
                "kernel/drivers/b.ko",
                "kernel/lib/c.ko",
            ] {
                set_mtime(&d.join(m), now - Duration::from_secs(100));
            }
            set_mtime(&d.join("modules.dep"), now - Duration::from_secs(10));
            std::fs::remove_file(d.join("modules.alias")).unwrap();
        });
        let seen = p.run(&["-A", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        assert_eq!(text(&seen.run.stderr), "");
        assert!(
            !seen.dbs[DIR].contains_key("modules.alias"),
            "-A wrote files"
        );

        // -A -n does nothing either, even when outdated.
        p.both(|r| {
            set_mtime(
                &r.join(DIR).join("kernel/lib/c.ko"),
                now + Duration::from_secs(100),
            )
        });
        let seen = p.run(
            &["-A", "-n", "-C", "/dev/null", "-b", "{ROOT}", VER],
            &[DIR],
        );
        assert_eq!((seen.run.code, seen.run.stdout.len()), (0, 0));
        assert!(!seen.dbs[DIR].contains_key("modules.alias"));

        // A newer module: full run.
        let seen = p.run(&["-A", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        assert!(
            seen.dbs[DIR].contains_key("modules.alias"),
            "-A did not run"
        );
    }
}

#[test]
fn outdir_is_created_and_inputs_come_from_the_module_dir() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| small_tree(r, DIR));
        let out = "out/deep/lib/modules/1.0";
        let args = [
            "-C",
            "/dev/null",
            "-b",
            "{ROOT}",
            "-o",
            "{ROOT}/out/deep",
            VER,
        ];
        let seen = if kmod == Kmod::V34 {
            p.run(&args, &[DIR, out])
        } else {
            // kmod 30 has no -o (invalid option); kmodtree accepts it in
            // both modes: fixed expectations only.
            let a = fill(&args, &p.ours);
            let r = run_kmodtree(kmod, &a.iter().map(String::as_str).collect::<Vec<_>>());
            look(&p.ours, r, &[DIR, out])
        };
        assert_eq!(seen.run.code, 0, "{}", seen.run.describe());
        assert!(seen.dbs[DIR].is_empty(), "wrote into the module directory");
        let dep = text(&seen.dbs[out]["modules.dep"]);
        assert!(
            dep.starts_with("kernel/lib/c.ko:\nkernel/drivers/b.ko:"),
            "{dep}"
        );
        assert!(!seen.dbs[out]["modules.builtin.bin"].is_empty());
    }
}

#[test]
fn moduledir_option() {
    for kmod in Kmod::ALL {
        let moddir = "usr/lib/modules/1.0";
        let p = Pair::new(kmod, |r| small_tree(r, moddir));
        let args = [
            "-C",
            "/dev/null",
            "-b",
            "{ROOT}",
            "-m",
            "/usr/lib/modules",
            VER,
        ];
        let seen = if kmod == Kmod::V34 {
            p.run(&args, &[moddir])
        } else {
            // kmod 30's -m is a deprecated flag without argument; kmodtree
            // takes kmod 34's -m DIR in both modes: fixed expectations.
            let a = fill(&args, &p.ours);
            let r = run_kmodtree(kmod, &a.iter().map(String::as_str).collect::<Vec<_>>());
            look(&p.ours, r, &[moddir])
        };
        assert_eq!(seen.run.code, 0, "{}", seen.run.describe());
        assert_eq!(text(&seen.run.stderr), "");
        assert!(text(&seen.dbs[moddir]["modules.dep"]).starts_with("kernel/lib/c.ko:\n"));
    }
}

#[test]
fn argument_errors() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| small_tree(r, DIR));
        for (args, stderr) in [
            (
                &["-P", "ab", "-C", "/dev/null", "-b", "{ROOT}", VER][..],
                "depmod: FATAL: -P only takes a single char\n".to_string(),
            ),
            (
                &["-P", "", "-C", "/dev/null", "-b", "{ROOT}", VER][..],
                "depmod: FATAL: -P only takes a single char\n".to_string(),
            ),
            (
                &["-C", "/dev/null", "-b", "{ROOT}", "foo"][..],
                "depmod: ERROR: Bad version passed foo\n".to_string(),
            ),
            // -A -n does nothing, but only after the arguments are checked.
            (
                &["-A", "-n", "-C", "/dev/null", "-b", "{ROOT}", "foo"][..],
                "depmod: ERROR: Bad version passed foo\n".to_string(),
            ),
            (
                &["-A", "-n", "-P", "ab", "-C", "/dev/null", "-b", "{ROOT}", VER][..],
                "depmod: FATAL: -P only takes a single char\n".to_string(),
            ),
            (
                &["-C", "/dev/null", "-b", "{ROOT}", "9.9"][..],
                "depmod: ERROR: could not open directory @ROOT@/lib/modules/9.9: No such file or directory\n\
                 depmod: FATAL: could not search modules: No such file or directory\n"
                    .to_string(),
            ),
            (
                &["-C", "/dev/null", "-b", "{ROOT}", VER, "kernel/lib/c.ko"][..],
                "depmod: FATAL: kernel/lib/c.ko: not absolute path.\n".to_string(),
            ),
            (
                &["-C", "/dev/null", "-e", "-F", "{ROOT}/nowhere.map", "-b", "{ROOT}", VER][..],
                "depmod: FATAL: could not load @ROOT@/nowhere.map: No such file or directory\n"
                    .to_string(),
            ),
        ] {
            let seen = p.run(args, &[DIR]);
            assert_eq!(seen.run.code, 1, "{args:?}");
            assert_eq!(text(&seen.run.stderr), stderr, "{args:?}");
            assert!(seen.dbs[DIR].is_empty(), "{args:?} wrote files");
        }
    }
}

#[test]
fn errsyms_without_a_symbol_map_warns() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| small_tree(r, DIR));
        let seen = p.run(&["-e", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        // No "unknown symbol printk": -e was switched off.
        assert_eq!(
            text(&seen.run.stderr),
            "depmod: WARNING: -e needs -E or -F\n"
        );
        assert!(!seen.dbs[DIR].is_empty());
    }
}

#[test]
fn verbose_prints_each_new_dependency() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| small_tree(r, DIR));
        let seen = p.run(&["-v", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        let d = "@ROOT@/lib/modules/1.0/kernel";
        assert_eq!(
            text(&seen.run.stdout),
            format!(
                "{d}/drivers/b.ko needs \"c_fn\": {d}/lib/c.ko\n\
                 {d}/drivers/a-mod.ko needs \"b_fn\": {d}/drivers/b.ko\n\
                 {d}/drivers/a-mod.ko needs \"c_fn\": {d}/lib/c.ko\n"
            )
        );
    }
}

#[test]
fn module_files_on_the_command_line() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| {
            small_tree(r, DIR);
            // A module outside the module directory.
            write_file(
                r,
                "elsewhere/ext.ko",
                &module(&["alias=ext"], &[], &[("c_fn", false)]),
            );
        });
        let seen = p.run(
            &[
                "-C",
                "/dev/null",
                "-b",
                "{ROOT}",
                VER,
                "{ROOT}/lib/modules/1.0/kernel/lib/c.ko",
                "{ROOT}/elsewhere/ext.ko",
                "{ROOT}/lib/modules/1.0/kernel/drivers/a-mod.ko",
            ],
            &[DIR],
        );
        assert_eq!(seen.run.code, 0, "{}", seen.run.describe());
        let dep = text(&seen.dbs[DIR]["modules.dep"]);
        // Only the three files; b.ko is not scanned, the external module
        // keeps its absolute path.
        assert!(!dep.contains("drivers/b.ko"), "{dep}");
        assert!(
            dep.contains("kernel/drivers/a-mod.ko: kernel/lib/c.ko\n"),
            "{dep}"
        );
        assert!(
            dep.contains("/elsewhere/ext.ko: kernel/lib/c.ko\n"),
            "{dep}"
        );
    }
}

#[test]
fn warn_option_reports_duplicate_aliases() {
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| {
            small_tree(r, DIR);
            write_file(
                r,
                &format!("{DIR}/kernel/lib/d.ko"),
                &module(&["alias=shared-alias", "alias=shared-alias"], &[], &[]),
            );
            // Unmatched brackets between duplicates, in two modules: the
            // warnings come in the order of the aliases, as kmod gives
            // them while it inserts.
            write_file(
                r,
                &format!("{DIR}/kernel/lib/e.ko"),
                &module(
                    &[
                        "alias=z-late",
                        "alias=bad[one",
                        "alias=z-late",
                        "alias=bad]two",
                        "alias=a-early",
                        "alias=z-late",
                        "alias=a-early",
                    ],
                    &[],
                    &[],
                ),
            );
        });
        let seen = p.run(&["-w", "-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0);
        let stderr = text(&seen.run.stderr);
        assert!(
            stderr.contains("depmod: WARNING: duplicate module alias:\nshared_alias d\n"),
            "{}",
            seen.run.describe()
        );
        // The fixed expectation, whatever kmod is installed: e.ko's
        // warnings in the order of its aliases.
        let e_warnings: Vec<&str> = stderr
            .split("depmod: WARNING: ")
            .filter(|w| w.contains(" e\n") || w.contains("bracket"))
            .collect();
        assert_eq!(
            e_warnings,
            [
                "Unmatched bracket in bad[one\n",
                "duplicate module alias:\nz_late e\n",
                "Unmatched bracket in bad]two\n",
                "duplicate module alias:\nz_late e\n",
                "duplicate module alias:\na_early e\n",
            ],
            "{stderr}"
        );
    }
}

#[test]
fn modinfo_keys_without_a_value_are_listed_with_an_empty_one() {
    // `alias` and `softdep` with no `=`: kmod takes the whole entry as the
    // key and an empty value, and lists it.
    for kmod in Kmod::ALL {
        let p = Pair::new(kmod, |r| {
            write_file(
                r,
                &format!("{DIR}/kernel/lib/e.ko"),
                &module(&["alias", "alias=real", "softdep"], &[], &[]),
            );
        });
        let seen = p.run(&["-C", "/dev/null", "-b", "{ROOT}", VER], &[DIR]);
        assert_eq!(seen.run.code, 0, "{}", seen.run.describe());
        let dbs = &seen.dbs[DIR];
        assert!(
            text(&dbs["modules.alias"]).ends_with("alias  e\nalias real e\n"),
            "{}",
            text(&dbs["modules.alias"])
        );
        assert!(
            text(&dbs["modules.softdep"]).ends_with("\nsoftdep e \n"),
            "{}",
            text(&dbs["modules.softdep"])
        );
    }
}

#[test]
fn invoked_through_a_symlink_named_depmod() {
    let scratch = tempfile::tempdir().unwrap();
    let link = scratch.path().join("depmod");
    std::os::unix::fs::symlink(kmodtree_bin(), &link).unwrap();
    for (kmod, extra) in [
        (Kmod::V34, &[][..]),
        (Kmod::V30, &["--kmod-version", "30"][..]),
    ] {
        let a = scratch.path().join(format!("a{}", kmod.flag()));
        let b = scratch.path().join(format!("b{}", kmod.flag()));
        small_tree(&a, DIR);
        small_tree(&b, DIR);
        // Without modules.order, for a warning.
        std::fs::remove_file(a.join(DIR).join("modules.order")).unwrap();
        std::fs::remove_file(b.join(DIR).join("modules.order")).unwrap();
        let mut cmd = Command::new(&link);
        cmd.args(extra)
            .args(["-C", "/dev/null", "-b", a.to_str().unwrap(), VER]);
        let via_link = run_command(&mut cmd).unrooted(&a);
        let direct =
            run_kmodtree(kmod, &["-C", "/dev/null", "-b", b.to_str().unwrap(), VER]).unrooted(&b);
        assert_eq!(via_link, direct);
        assert!(text(&via_link.stderr).starts_with("depmod: WARNING: could not open modules.order"));
        assert_eq!(databases(&a.join(DIR)), databases(&b.join(DIR)));
        assert_eq!(
            databases(&a.join(DIR)).len(),
            if kmod == Kmod::V34 { 11 } else { 10 }
        );
    }
    // Errors look like depmod's too.
    let r = run_command(Command::new(&link).args(["-C", "/dev/null", "foo"]));
    assert_eq!(
        (r.code, text(&r.stderr)),
        (1, "depmod: ERROR: Bad version passed foo\n".into())
    );
}

#[test]
fn invalid_option_exits_1() {
    let r = run_kmodtree(Kmod::V34, &["--no-such-option", "1.0"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    if let Some(tool) = real_depmod_or_note(Kmod::V34, "invalid_option_exits_1") {
        assert_eq!(run_tool(&tool, &["--no-such-option", "1.0"]).code, 1);
    }
    // --help and -V still succeed.
    assert_eq!(run_kmodtree(Kmod::V34, &["--help"]).code, 0);
    assert_eq!(run_kmodtree(Kmod::V34, &["-V"]).code, 0);
}

#[test]
fn output_directory_blocked_by_a_file() {
    // kmod 34 only (kmod 30 has no -o).
    let p = Pair::new(Kmod::V34, |r| {
        small_tree(r, DIR);
        write_file(r, "blocker", b"not a directory\n");
    });
    let seen = p.run(
        &[
            "-C",
            "/dev/null",
            "-b",
            "{ROOT}",
            "-o",
            "{ROOT}/blocker",
            VER,
        ],
        &[DIR],
    );
    assert_eq!(seen.run.code, 1);
    assert!(text(&seen.run.stderr).ends_with(
        "depmod: FATAL: could not create directory @ROOT@/blocker/lib/modules/1.0: Not a directory\n"
    ));
    assert!(seen.dbs[DIR].is_empty());
}

#[test]
fn unwritable_output_leaves_previous_databases_untouched() {
    // A file size limit (ulimit -f, 512-byte blocks) makes writing the
    // larger databases fail with EFBIG (SIGXFSZ ignored so the write
    // returns an error). kmod renames a truncated file in that case; we
    // keep every previous file. Fixed expectations only.
    for kmod in Kmod::ALL {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path();
        small_tree(root, DIR);
        // Bulk up modules.alias beyond one block.
        let aliases: Vec<String> = (0..40).map(|i| format!("alias=usb:v{i:04X}p*d*")).collect();
        let refs: Vec<&str> = aliases.iter().map(String::as_str).collect();
        write_file(
            root,
            &format!("{DIR}/kernel/lib/big.ko"),
            &module(&refs, &[], &[]),
        );
        let r = root.to_str().unwrap();
        let first = run_kmodtree(kmod, &["-C", "/dev/null", "-b", r, VER]);
        assert_eq!(first.code, 0);
        let before = databases(&root.join(DIR));
        let before_entries = entries(&root.join(DIR));
        assert!(before["modules.alias"].len() > 512 && before["modules.dep"].len() < 512);
        // Make the next run produce different bytes.
        std::fs::remove_file(root.join(DIR).join("kernel/lib/c.ko")).unwrap();

        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("trap '' XFSZ; ulimit -f 1 && exec \"$0\" \"$@\"")
            .arg(kmodtree_bin())
            .args(["depmod", "--kmod-version", kmod.flag(), "--without-zlib"])
            .args(["-C", "/dev/null", "-b", r, VER]);
        let run = run_command(&mut cmd);
        assert_eq!(run.code, 1, "{}", run.describe());
        let err = text(&run.stderr);
        assert!(
            err.contains("Could not write index 'modules.alias"),
            "{err}"
        );
        assert!(err.contains("File too large"), "{err}");
        assert!(
            before == databases(&root.join(DIR)),
            "previous databases changed"
        );
        assert_eq!(
            before_entries,
            entries(&root.join(DIR)),
            "temporary files left"
        );
    }
}
