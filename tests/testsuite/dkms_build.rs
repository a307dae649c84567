//! `kmodtree dkms plan` and `kmodtree dkms build` on small out-of-tree
//! module sources, against Debian's kernel headers (tests/dkms/setup.sh);
//! the build tests skip with a note when the headers are missing.

use crate::common;

use common::dkms::*;
use std::path::Path;

fn plan(src: &Path, v: &str) -> serde_json::Value {
    let out = kmodtree(&["dkms", "plan", src.to_str().unwrap(), "-k", v]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn plan_evaluates_with_bash_and_dkms_variables() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("s");
    write(
        &src.join("dkms.conf"),
        r#"PACKAGE_NAME=demo
PACKAGE_VERSION="3.$((1+1))"
if [[ $kernelver == 6.* ]]; then extra=new; else extra=old; fi
MAKE[0]="make KVER=$kernelver SRC=$source_tree DT=$dkms_tree MOD=$module-$module_version E=$extra"
MAKE[1]="make special"
MAKE_MATCH[1]="^6\.1\."
MAKE[2]="make never"
MAKE_MATCH[2]="^2\.6"
CLEAN="make mrproper"
BUILT_MODULE_NAME[0]=a
BUILT_MODULE_LOCATION[0]=sub
DEST_MODULE_LOCATION[0]=/kernel/drivers/misc
BUILT_MODULE_NAME[1]=b
DEST_MODULE_NAME[1]=b_renamed
DEST_MODULE_LOCATION[1]=/updates
STRIP[0]=no
PATCH[0]=one.patch
PATCH[1]=two.patch
PATCH_MATCH[1]="^5"
PRE_BUILD="prep.sh arg"
POST_INSTALL=whatever.sh
BUILD_EXCLUSIVE_ARCH="x86_64|aarch64"
"#,
    );
    let p = plan(&src, "6.1.0-56-amd64");
    assert_eq!(p["package_name"], "demo");
    assert_eq!(p["package_version"], "3.2");
    assert_eq!(p["make_index"], 1);
    assert_eq!(p["make_command"], "make special");
    assert_eq!(p["clean_command"], "make mrproper");
    assert_eq!(p["patches"], serde_json::json!(["one.patch"]));
    assert_eq!(p["pre_build"], "prep.sh arg");
    assert_eq!(p["ignored_directives"], serde_json::json!(["POST_INSTALL"]));
    let m = &p["modules"];
    assert_eq!(m[0]["built_location"], "sub/");
    assert_eq!(m[0]["strip"], false);
    assert_eq!(m[1]["dest_name"], "b_renamed");
    assert_eq!(m[1]["strip"], false, "STRIP[0] is the default");
    assert_eq!(p["build_dir"], "/var/lib/dkms/demo/3.2/build");
    if std::env::consts::ARCH == "x86_64" {
        assert!(p["excluded"].is_null());
    }

    // Without a matching MAKE_MATCH: MAKE[0], with the DKMS variables set.
    let p = plan(&src, "5.10.0-1-amd64");
    assert_eq!(
        p["make_command"],
        "make KVER=5.10.0-1-amd64 SRC=/usr/src DT=/var/lib/dkms MOD=demo-3.2 E=old"
    );
    assert_eq!(p["patches"], serde_json::json!(["one.patch", "two.patch"]));

    // No MAKE at all: DKMS's default make line.
    write(
        &src.join("dkms.conf"),
        "PACKAGE_NAME=x\nPACKAGE_VERSION=1\nDEST_MODULE_LOCATION[0]=/extra\nBUILD_EXCLUSIVE_KERNEL='^4\\.'\n",
    );
    let p = plan(&src, "6.1.0-56-amd64");
    assert_eq!(
        p["make_command"],
        "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/x/1/build"
    );
    assert_eq!(
        p["modules"][0]["built_name"], "x",
        "PACKAGE_NAME by default"
    );
    assert_eq!(p["excluded"]["directive"], "BUILD_EXCLUSIVE_KERNEL");
}

#[test]
fn malformed_dkms_conf_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let cases = [
        ("PACKAGE_NAME=x\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=x\n", "no DEST_MODULE_LOCATION"),
        ("PACKAGE_VERSION=1\nDEST_MODULE_LOCATION[0]=/extra\nBUILT_MODULE_NAME[0]=x\n", "no PACKAGE_NAME"),
        ("PACKAGE_NAME=x\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=x.ko\nDEST_MODULE_LOCATION[0]=/extra\n", "ends in '.o' or '.ko'"),
        ("PACKAGE_NAME=x\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=x\nDEST_MODULE_LOCATION[0]=/opt\n", "does not begin with"),
        ("PACKAGE_NAME=x\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\nDEST_MODULE_LOCATION[0]=/extra\n", "record #1"),
        ("PACKAGE_NAME=(x\n", "evaluating dkms.conf failed"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let src = t.path().join(i.to_string());
        write(&src.join("dkms.conf"), text);
        let out = kmodtree(&["dkms", "plan", src.to_str().unwrap(), "-k", "6.1.0-1-amd64"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} accepted");
        assert!(err.contains(want), "case {i}: {err}");
        assert!(err.contains("dkms.conf"), "case {i} names the file: {err}");
    }
    let out = kmodtree(&[
        "dkms",
        "plan",
        t.path().join("none").to_str().unwrap(),
        "-k",
        "6.1.0-1-amd64",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read dkms.conf"));
}

fn build(srcs: &[&Path], out: &Path, k: &Path, v: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "dkms".to_string(),
        "build".into(),
        "--kernel-build".into(),
        k.display().to_string(),
        "-k".into(),
        v.into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(srcs.iter().map(|s| s.display().to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    kmodtree(&args)
}

fn sandbox_flag() -> &'static str {
    // Namespaces need root; elsewhere the build runs without them.
    if unsafe_is_root() {
        "require"
    } else {
        "auto"
    }
}

fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn kernel_tree(v: &str) -> Option<std::path::PathBuf> {
    let base = common::fixtures_dir().join("trees/amd64-6.1-ko");
    let dir = base.join("lib/modules").join(v);
    dir.is_dir().then_some(base)
}

#[test]
fn one_module_builds_in_the_sandbox_with_logs() {
    let Some((v, k)) = kernel() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("hello");
    one_module(&src);
    // PRE_BUILD shows the network namespace and tries to write outside.
    let outside = t.path().join("outside-marker");
    executable(
        &src.join("pre.sh"),
        &format!(
            "#!/bin/bash\necho network:; cat /proc/net/dev\nif touch '{}' 2>/dev/null; then echo WROTE-OUTSIDE; else echo write-blocked; fi\necho HOME=$HOME\ntouch in-build && echo wrote-build\n",
            outside.display()
        ),
    );
    std::fs::write(
        src.join("dkms.conf"),
        std::fs::read_to_string(src.join("dkms.conf")).unwrap() + "PRE_BUILD=pre.sh\n",
    )
    .unwrap();
    let out = t.path().join("out");
    let mut extra = vec!["--sandbox", sandbox_flag()];
    let kmods;
    if let Some(tree) = kernel_tree(&v) {
        kmods = tree.join("lib/modules").join(&v).display().to_string();
        extra.extend(["--kernel-modules", kmods.as_str()]);
    }
    let r = build(&[&src], &out, &k, &v, &extra);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        format!("hello-1.0: built lib/modules/{v}/updates/hello.ko\n")
    );
    let ko = out.join(format!("lib/modules/{v}/updates/hello.ko"));
    let info = modinfo(&ko);
    let vermagic = &info.iter().find(|(k, _)| k == "vermagic").unwrap().1;
    assert!(vermagic.starts_with(&format!("{v} ")), "{vermagic}");
    if let Some(tree) = kernel_tree(&v) {
        let order =
            std::fs::read_to_string(tree.join("lib/modules").join(&v).join("modules.order"))
                .unwrap();
        let first = tree
            .join("lib/modules")
            .join(&v)
            .join(order.lines().next().unwrap());
        let kinfo = modinfo(&first);
        let kv = &kinfo.iter().find(|(k, _)| k == "vermagic").unwrap().1;
        assert_eq!(vermagic, kv, "vermagic equals the kernel's");
    }
    // kmod-compatible modinfo reads it.
    let mi = kmodtree(&["modinfo", "-F", "description", ko.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&mi.stdout), "kmodtree dkms test\n");

    let logs = out.join("share/kmodtree/dkms/hello-1.0");
    let names = files(&logs);
    for want in [
        "01-pre_build.log",
        "02-clean.log",
        "03-make.log",
        "04-strip-hello.log",
        "check.txt",
        "plan.json",
        "result.json",
    ] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
    let pre = std::fs::read_to_string(logs.join("01-pre_build.log")).unwrap();
    assert!(pre.contains("HOME=/"), "{pre}");
    assert!(
        pre.contains("wrote-build"),
        "the build folder is writable: {pre}"
    );
    if sandbox_flag() == "require" {
        let ifaces: Vec<&str> = pre
            .lines()
            .filter_map(|l| l.split_once(':').map(|(a, _)| a.trim()))
            .filter(|n| {
                !n.is_empty()
                    && !n.contains(' ')
                    && !n.starts_with("network")
                    && !n.starts_with("HOME")
                    && !n.starts_with("Inter")
                    && !n.starts_with('[')
            })
            .collect();
        assert_eq!(
            ifaces,
            vec!["lo"],
            "only loopback in the build's network namespace: {pre}"
        );
        assert!(pre.contains("write-blocked"), "{pre}");
        assert!(!outside.exists());
        assert!(pre.contains("network namespace: true; read-only host: true"));
    }
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(logs.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["status"], "built");
    // No temporaries left beside OUT.
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kmodtree"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn two_modules_depend_on_each_other_in_depmod() {
    let Some((v, k)) = kernel() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("pair");
    two_modules(&src);
    let out = t.path().join("out");
    let r = build(
        &[&src],
        &out,
        &k,
        &v,
        &["--compress", "xz", "--sandbox", sandbox_flag()],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let mods = files(&out.join("lib/modules").join(&v));
    assert_eq!(
        mods,
        vec!["extra/kmt_base.ko.xz", "extra/pair/kmt_user2.ko.xz"]
    );
    let user = out.join(format!("lib/modules/{v}/extra/pair/kmt_user2.ko.xz"));
    let info = modinfo(&user);
    assert!(
        info.contains(&("name".into(), "kmt_user".into())),
        "{info:?}"
    );

    // depmod over the kernel's tree plus OUT shows the dependency.
    let Some(tree) = kernel_tree(&v) else {
        eprintln!("note: no amd64-6.1-ko fixture tree: depmod part skipped");
        return;
    };
    let merged = t.path().join("merged");
    let r = kmodtree(&[
        "make-module-directory",
        merged.to_str().unwrap(),
        &v,
        tree.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let dep =
        std::fs::read_to_string(merged.join("lib/modules").join(&v).join("modules.dep")).unwrap();
    assert!(
        dep.lines()
            .any(|l| l == "extra/pair/kmt_user2.ko.xz: extra/kmt_base.ko.xz"),
        "{dep}"
    );
    assert!(dep.lines().any(|l| l == "extra/kmt_base.ko.xz:"), "{dep}");
}

#[test]
fn patch_exclusive_and_glep33_build_together_in_order() {
    let Some((v, k)) = kernel() else { return };
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        t.path().join("patched"),
        t.path().join("oldie"),
        t.path().join("g33-0.5"),
    );
    patched(&a);
    exclusive(&b);
    glep33(&c);
    let out = t.path().join("out");
    let r = build(
        &[&c, &a, &b],
        &out,
        &k,
        &v,
        &["--compress", "zst", "--sandbox", sandbox_flag(), "--json"],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let outcomes: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let order: Vec<&str> = outcomes
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["package"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec!["g33-0.5", "patched-1.0", "oldie-0.1"]);
    assert_eq!(outcomes[2]["status"], "skipped");
    assert!(outcomes[2]["reason"]
        .as_str()
        .unwrap()
        .contains("BUILD_EXCLUSIVE_KERNEL"));
    assert_eq!(
        files(&out.join("lib/modules").join(&v)),
        vec!["extra/g33.ko.zst", "updates/patched.ko.zst"]
    );
    let info = modinfo(&out.join(format!("lib/modules/{v}/updates/patched.ko.zst")));
    assert!(
        info.contains(&("description".into(), "after the patch".into())),
        "{info:?}"
    );
    assert!(out
        .join("share/kmodtree/dkms/oldie-0.1/result.json")
        .is_file());
    assert!(out
        .join("share/kmodtree/dkms/patched-1.0/01-patch-fix.patch.log")
        .is_file());
    assert!(out
        .join("share/kmodtree/dkms/g33-0.5/02-make.log")
        .is_file());

    // Only the exclusive package: a clear "skipped", OUT holds the logs.
    let out2 = t.path().join("out2");
    let r = build(&[&b], &out2, &k, &v, &[]);
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stdout)
        .starts_with("oldie-0.1: skipped: BUILD_EXCLUSIVE_KERNEL"));
    assert!(!out2.join("lib").exists());
}

#[test]
fn broken_sources_fail_naming_module_and_cause_leaving_no_output() {
    let Some((v, k)) = kernel() else { return };
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("hello");
    one_module(&good);

    // A compile error.
    let bad = t.path().join("bad");
    write(&bad.join("bad.c"), "this is not C;\n");
    write(&bad.join("Makefile"), "obj-m := bad.o\n");
    write(&bad.join("dkms.conf"), "PACKAGE_NAME=bad\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=bad\nDEST_MODULE_LOCATION[0]=/extra\n");
    // A BUILT_MODULE_NAME that make does not produce.
    let missing = t.path().join("missing");
    one_module(&missing);
    write(&missing.join("dkms.conf"), "PACKAGE_NAME=missing\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=hello\nBUILT_MODULE_NAME[1]=nothere\nDEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n");
    // A module needing a symbol nothing provides (modpost only warns).
    let unres = t.path().join("unres");
    write(&unres.join("needy.c"), &module_c("needy", "needy", "extern int kmt_nobody_exports_this(void);\nint needy_value(void) { return kmt_nobody_exports_this(); }\nEXPORT_SYMBOL(needy_value);"));
    write(&unres.join("Makefile"), "obj-m := needy.o\n");
    write(&unres.join("dkms.conf"), "PACKAGE_NAME=unres\nPACKAGE_VERSION=1\nMAKE[0]=\"make -C $kernel_source_dir M=$dkms_tree/unres/1/build KBUILD_MODPOST_WARN=1\"\nBUILT_MODULE_NAME[0]=needy\nDEST_MODULE_LOCATION[0]=/extra\n");

    let cases: [(&Path, &[&str]); 3] = [
        (&bad, &["bad-1: make failed", "bad.c"]),
        (
            &missing,
            &["missing-1: module nothere: not built", "nothere.ko"],
        ),
        (
            &unres,
            &[
                "unres-1: module needy: unknown symbols",
                "kmt_nobody_exports_this",
            ],
        ),
    ];
    for (src, wants) in cases {
        let out = t.path().join("out");
        let r = build(&[&good, src], &out, &k, &v, &[]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{}: accepted", src.display());
        for w in wants {
            assert!(err.contains(w), "{}: want {w:?} in {err}", src.display());
        }
        assert!(!out.exists(), "OUT left behind");
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("kmodtree"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn guile_build_dkms_module_runs_kmodtree() {
    let Some((v, k)) = kernel() else { return };
    if !has("guile") {
        eprintln!("note: skipping: guile not found");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("hello");
    one_module(&src);
    let out = t.path().join("out");
    let program = format!(
        "(use-modules (kmodtree linux-modules)) (build-dkms-module {:?} {:?} #:kernel-build {:?} #:kernel-version {:?} #:compress \"gz\")",
        src.display().to_string(),
        out.display().to_string(),
        k.display().to_string(),
        v
    );
    let r = std::process::Command::new("guile")
        .args([
            "--no-auto-compile",
            "-L",
            concat!(env!("CARGO_MANIFEST_DIR"), "/guix"),
            "-c",
            &program,
        ])
        .env("KMODTREE", bin())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out
        .join(format!("lib/modules/{v}/updates/hello.ko.gz"))
        .is_file());
}

#[test]
fn progress_ticks_every_step_and_names_the_package() {
    let Some((v, k)) = kernel() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("hello");
    one_module(&src);
    let out = t.path().join("out");
    // Into a pipe with `always`: one line at the end, clean, make and
    // strip counted.
    let extra = ["--sandbox", sandbox_flag(), "--progress", "always"];
    let r = build(&[&src], &out, &k, &v, &extra);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.starts_with("kmodtree: dkms build steps: 3 done\n"),
        "{stderr}"
    );
    // In a terminal: the package and its step beside the counter.
    if !has("script") {
        eprintln!("note: no util-linux script: progress in a terminal not checked");
        return;
    }
    std::fs::remove_dir_all(&out).unwrap();
    let line = format!(
        "{} dkms build --kernel-build {} -k {v} --out {} --sandbox {} {} >/dev/null",
        env!("CARGO_BIN_EXE_kmodtree"),
        k.display(),
        out.display(),
        sandbox_flag(),
        src.display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{line}");
    let terminal = String::from_utf8_lossy(&o.stdout);
    assert!(terminal.contains("hello-1.0: make"), "{terminal:?}");
}
