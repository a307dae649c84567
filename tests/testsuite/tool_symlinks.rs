//! kmodtree run through symlinks named as kmod's tools: `modinfo` behaves
//! as `kmodtree modinfo`, `modprobe` as the read-only modprobe (refusing
//! to load or remove, with a message and status 1), and the `-V` lines
//! of depmod, modprobe and modinfo read as kmod's do (`kmod version N`,
//! then the feature line), compared with kmod 34 and kmod 30 when
//! installed.

use crate::common;

use common::elf::simple_module;
use common::kmod::{installed_kmod_tools, kmodtree_bin, run_text, TextRun};
use common::write_file;
use std::path::{Path, PathBuf};
use std::process::Command;

const VER: &str = "1.0";

fn link(dir: &Path, name: &str) -> PathBuf {
    let l = dir.join(name);
    std::os::unix::fs::symlink(kmodtree_bin(), &l).unwrap();
    l
}

fn tree(root: &Path) {
    write_file(
        root,
        &format!("lib/modules/{VER}/kernel/mod-a.ko"),
        &simple_module(
            &["alias=a-alias", "license=GPL"],
            &["a_fn"],
            &[("b_fn", false)],
        ),
    );
    write_file(
        root,
        &format!("lib/modules/{VER}/kernel/mod_b.ko"),
        &simple_module(&["license=GPL"], &["b_fn"], &[]),
    );
    let o = run_text(Command::new(kmodtree_bin()).args([
        "depmod",
        "-C",
        "/dev/null",
        "-b",
        root.to_str().unwrap(),
        VER,
    ]));
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn modinfo_symlink_is_kmodtree_modinfo() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    tree(&root);
    let modinfo = link(tmp.path(), "modinfo");
    let r = root.to_str().unwrap();
    let file = root.join(format!("lib/modules/{VER}/kernel/mod_b.ko"));
    for args in [
        vec!["-b", r, "-k", VER, "a-alias"],
        vec!["-b", r, "-k", VER, "-F", "license", "mod_a"],
        vec![file.to_str().unwrap()],
        vec!["-b", r, "-k", VER, "nosuch"],
        vec!["-V"],
    ] {
        let via = run_text(Command::new(&modinfo).args(&args));
        let direct = run_text(Command::new(kmodtree_bin()).arg("modinfo").args(&args));
        assert_eq!(via, direct, "{args:?}");
    }
    let via = run_text(Command::new(&modinfo).args(["-b", r, "-k", VER, "a-alias"]));
    assert!(via.stdout.starts_with(&format!(
        "filename:       {r}/lib/modules/1.0/kernel/mod-a.ko\nalias:          a-alias\n"
    )));
}

#[test]
fn modprobe_symlink_is_read_only_modprobe() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    tree(&root);
    let modprobe = link(tmp.path(), "modprobe");
    let r = root.to_str().unwrap();
    let base = [
        "--kernel-cmdline",
        "/dev/null",
        "-C",
        "/dev/null",
        "-d",
        r,
        "-S",
        VER,
    ];
    let run = |extra: &[&str]| run_text(Command::new(&modprobe).args(base).args(extra));
    let d = run(&["--show-depends", "a-alias"]);
    assert_eq!(
        (d.stdout.replace(r, "@R@"), d.code),
        (
            "insmod @R@/lib/modules/1.0/kernel/mod_b.ko \ninsmod @R@/lib/modules/1.0/kernel/mod-a.ko \n"
                .to_string(),
            0
        )
    );
    assert_eq!(run(&["-R", "a-alias"]).stdout, "mod_a\n");
    assert!(run(&["-c"]).stdout.contains("alias symbol:a_fn mod_a\n"));
    let f = root.join(format!("lib/modules/{VER}/kernel/mod_b.ko"));
    assert_eq!(
        run(&["--show-exports", f.to_str().unwrap()]).stdout,
        "0x00000000\tb_fn\n"
    );
    // Loading and removal are refused.
    for extra in [
        &["mod_a"][..],
        &["-a", "mod_a", "mod_b"],
        &["-r", "mod_a"],
        &["-n", "mod_a"],
    ] {
        let o = run(extra);
        assert_eq!(o.code, 1, "{extra:?}: {o:?}");
        assert_eq!(o.stdout, "");
        assert!(
            o.stderr
                .starts_with("modprobe: ERROR: kmodtree's modprobe is read-only")
                || o.stderr.contains("unexpected argument"),
            "{extra:?}: {}",
            o.stderr
        );
    }
    let o = run(&["mod_a"]);
    assert_eq!(
        o.stderr,
        "modprobe: ERROR: kmodtree's modprobe is read-only: it does not load modules \
         (use --show-depends or --resolve-alias)\n"
    );
    let o = run(&["-r", "mod_a"]);
    assert_eq!(
        o.stderr,
        "modprobe: ERROR: kmodtree's modprobe is read-only: it does not remove modules\n"
    );
    // The symlink and the subcommand agree.
    let direct = run_text(
        Command::new(kmodtree_bin())
            .arg("modprobe")
            .args(base)
            .args(["--show-depends", "a-alias"]),
    );
    assert_eq!(d, direct);
}

/// kmod's other options (verbosity, blacklist, the loading and removal
/// ones) are taken as options, not as module names or parameters; `-b`
/// applies the blacklist to modules named directly; an unknown option is
/// kmod's usage error. Compared with kmod 34's and kmod 30's modprobe when
/// installed, and with fixed expectations taken from them.
#[test]
fn modprobe_symlink_takes_kmods_options() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    tree(&root);
    let conf = tmp.path().join("blacklist.conf");
    std::fs::write(&conf, "blacklist mod_a\n").unwrap();
    let modprobe = link(tmp.path(), "modprobe");
    let r = root.to_str().unwrap();
    let c = conf.to_str().unwrap();
    let base = ["--kernel-cmdline", "/dev/null", "-C", c, "-d", r, "-S", VER];
    let insmod = |m: &str| format!("insmod {r}/lib/modules/1.0/kernel/{m} \n");
    let both = format!("{}{}", insmod("mod_b.ko"), insmod("mod-a.ko"));
    let cases: Vec<(Vec<&str>, String, &str, i32)> = vec![
        (vec!["-D", "-v", "-s", "mod_a"], both.clone(), "", 0),
        (
            vec![
                "-D",
                "-n",
                "-f",
                "--first-time",
                "--force-vermagic",
                "mod_a",
            ],
            both.clone(),
            "",
            0,
        ),
        (
            vec![
                "-D",
                "--force-modversion",
                "-w",
                "10",
                "--remove-holders",
                "--remove-dependencies",
                "mod_a",
            ],
            both.clone(),
            "",
            0,
        ),
        // Blacklisted: skipped through its alias always, by name with -b.
        (vec!["-D", "a-alias"], String::new(), "", 0),
        (vec!["-D", "mod_a"], both.clone(), "", 0),
        (vec!["-D", "-b", "mod_a"], String::new(), "", 0),
        (vec!["-D", "-b", "mod_b"], insmod("mod_b.ko"), "", 0),
        // An option after the module is still an option (getopt permutes).
        (
            vec!["-D", "mod_a", "--bogus"],
            String::new(),
            "modprobe: unrecognized option '--bogus'\n",
            1,
        ),
        (
            vec!["-D", "-Z", "mod_a"],
            String::new(),
            "modprobe: invalid option -- 'Z'\n",
            1,
        ),
    ];
    let real: Vec<PathBuf> = kmod_tools_of_every_kind()
        .into_iter()
        .filter(|(_, p)| p.to_string_lossy().contains("modprobe"))
        .map(|(_, p)| p)
        .collect();
    for (args, stdout, stderr, code) in &cases {
        let got = run_text(Command::new(&modprobe).args(base).args(args));
        let want = TextRun {
            stdout: stdout.clone(),
            stderr: stderr.to_string(),
            code: *code,
        };
        assert_eq!(got, want, "{args:?}");
        for kmod in &real {
            // kmod reads /proc/cmdline (no --kernel-cmdline).
            let mut theirs = run_text(Command::new(kmod).args(&base[2..]).args(args));
            // getopt names the program as it was called (kmod 30: the path).
            theirs.stderr = theirs
                .stderr
                .replace(&format!("{}:", kmod.display()), "modprobe:");
            assert_eq!(got, theirs, "{args:?} against {}", kmod.display());
        }
    }
}

/// kmod's depmod, modprobe and modinfo as installed: `(kmod version, path)`.
fn kmod_tools_of_every_kind() -> Vec<(&'static str, PathBuf)> {
    ["depmod", "modprobe", "modinfo"]
        .into_iter()
        .flat_map(installed_kmod_tools)
        .map(|(label, path)| (label.trim_start_matches("kmod"), path))
        .collect()
}

/// `kmod version N` (N a number, maybe dotted), then a line of `+FEATURE`
/// / `-FEATURE` words.
fn parse_version(text: &str) -> (String, Vec<String>) {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let n = first
        .strip_prefix("kmod version ")
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(n.split('.').all(|p| p.parse::<u32>().is_ok()), "{text:?}");
    let features: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(String::from)
        .collect();
    assert!(
        features
            .iter()
            .all(|f| f.starts_with('+') || f.starts_with('-')),
        "{text:?}"
    );
    (n.to_string(), features)
}

#[test]
fn version_lines_read_like_kmods() {
    let tmp = tempfile::tempdir().unwrap();
    let depmod = link(tmp.path(), "depmod");
    let modprobe = link(tmp.path(), "modprobe");
    let modinfo = link(tmp.path(), "modinfo");
    let mut ours = Vec::new();
    for (cmd, kmod) in [
        (Command::new(&depmod).arg("-V"), "34"),
        (
            Command::new(&depmod).args(["--kmod-version", "30", "-V"]),
            "30",
        ),
        (Command::new(kmodtree_bin()).args(["depmod", "-V"]), "34"),
        (Command::new(&modprobe).arg("-V"), "34"),
        (
            Command::new(&modprobe).args(["--kmod-version", "30", "--version"]),
            "30",
        ),
        (Command::new(&modinfo).arg("-V"), "34"),
        (
            Command::new(kmodtree_bin()).args(["modinfo", "--version"]),
            "34",
        ),
    ] {
        let o = run_text(cmd);
        assert_eq!(o.code, 0, "{o:?}");
        let (n, features) = parse_version(&o.stdout);
        assert_eq!(n.split('.').next().unwrap(), kmod, "{o:?}");
        assert!(features.contains(&"+XZ".to_string()), "{o:?}");
        ours.push((kmod, n, features));
    }
    for (kmod, tool) in kmod_tools_of_every_kind() {
        let o = run_text(Command::new(&tool).arg("-V"));
        let (n, features) = parse_version(&o.stdout);
        let (_, our_n, our_features) = ours.iter().find(|(k, _, _)| *k == kmod).unwrap();
        assert_eq!(&n, our_n, "{}", tool.display());
        // The same features, except zlib (kmodtree reads .ko.gz).
        let strip = |f: &[String]| -> Vec<String> {
            f.iter().filter(|x| !x.ends_with("ZLIB")).cloned().collect()
        };
        assert_eq!(strip(&features), strip(our_features), "{}", tool.display());
    }
}
