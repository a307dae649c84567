//! The same sources built by real DKMS (`dkms add` + `dkms install` with
//! `--dkmstree`, `--sourcetree`, `--installtree` in a temporary folder and
//! `-k V --kernelsourcedir DIR`) and by `kmodtree dkms build`: the same
//! module files (names, destination paths, modinfo). DKMS on Debian puts
//! every module under `/updates/dkms` whatever DEST_MODULE_LOCATION says;
//! kmodtree is given that with `--location-override`. DKMS signs the modules
//! when it finds sign-file and can make a key; the signature is not part of
//! modinfo's `.modinfo` pairs compared here.

use crate::common;

use common::dkms::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dkms_program() -> Option<PathBuf> {
    for p in ["/usr/sbin/dkms", "/usr/bin/dkms", "/sbin/dkms"] {
        if Path::new(p).is_file() {
            return Some(PathBuf::from(p));
        }
    }
    eprintln!("note: skipping: dkms is not installed (run tests/dkms/setup.sh)");
    None
}

/// Installs `src` (package NAME-VER) with real dkms; returns the install tree's
/// `V` folder.
fn real_dkms(
    dkms: &Path,
    src: &Path,
    name: &str,
    ver: &str,
    v: &str,
    k: &Path,
    tmp: &Path,
) -> PathBuf {
    let sources = tmp.join("usr-src");
    let tree = tmp.join("var-lib-dkms");
    let inst = tmp.join("lib-modules");
    std::fs::create_dir_all(inst.join(v)).unwrap();
    std::fs::create_dir_all(&tree).unwrap();
    let copy = sources.join(format!("{name}-{ver}"));
    std::fs::create_dir_all(&sources).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let common = [
        "--dkmstree".to_string(),
        tree.display().to_string(),
        "--sourcetree".into(),
        sources.display().to_string(),
        "--installtree".into(),
        inst.display().to_string(),
    ];
    let run = |args: &[&str]| {
        let out = Command::new(dkms)
            .args(args)
            .args(&common)
            .env(
                "PATH",
                format!(
                    "{}:/usr/sbin:/sbin",
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dkms {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["add", "-m", name, "-v", ver]);
    run(&[
        "install",
        "-m",
        name,
        "-v",
        ver,
        "-k",
        v,
        "--kernelsourcedir",
        k.to_str().unwrap(),
        "--no-depmod",
    ]);
    inst.join(v)
}

#[test]
fn kmodtree_installs_the_same_modules_as_dkms() {
    let Some((v, k)) = kernel() else { return };
    let Some(dkms) = dkms_program() else { return };
    let t = tempfile::tempdir().unwrap();
    type Case = (&'static str, &'static str, &'static str, fn(&Path));
    let cases: [Case; 3] = [
        ("hello", "hello", "1.0", one_module),
        ("pair", "pair", "2.0", two_modules),
        ("patched", "patched", "1.0", patched),
    ];
    for (dir, name, ver, make) in cases {
        let src = t.path().join("src").join(dir);
        make(&src);
        let theirs = real_dkms(
            &dkms,
            &src,
            name,
            ver,
            &v,
            &k,
            &t.path().join(format!("dkms-{dir}")),
        );
        let their_files = files(&theirs);
        assert!(!their_files.is_empty(), "dkms installed nothing for {name}");
        // DKMS's distribution override: every module in one folder.
        let location = Path::new(&their_files[0])
            .parent()
            .unwrap()
            .display()
            .to_string();
        let out = t.path().join(format!("out-{dir}"));
        let r = kmodtree(&[
            "dkms",
            "build",
            "--kernel-build",
            k.to_str().unwrap(),
            "-k",
            &v,
            "--out",
            out.to_str().unwrap(),
            "--location-override",
            &format!("/{location}"),
            src.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let ours = out.join("lib/modules").join(&v);
        assert_eq!(files(&ours), their_files, "{name}: same files");
        for f in &their_files {
            assert_eq!(
                modinfo(&ours.join(f)),
                modinfo(&theirs.join(f)),
                "{name}: {f}: same modinfo"
            );
        }
    }
}
