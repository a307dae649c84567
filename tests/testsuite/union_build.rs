//! `kmodtree union`: unions of the fixture kernel with an `updates/` and an
//! `extra/` tree, every link mode and collision rule, read-only, symlinked
//! and nested inputs; Guix's `union-build` is the reference for symlink
//! mode (same links, same warnings) when `KMODTREE_GUIX_SRC` is set.

use crate::common;

use common::guix::{
    guix_src, kernel_tree, make_extra_tree, make_updates_tree, run_guix_script, tree_listing,
    KERNEL_VERSION,
};
use kmodtree::union::{union_build, CollisionRule, LinkMode, UnionError, UnionOptions};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn opts(mode: LinkMode, collisions: CollisionRule) -> UnionOptions {
    UnionOptions {
        mode,
        collisions,
        ..Default::default()
    }
}

/// (kernel, updates, extra) inputs; the last two made in `tmp`.
fn three_inputs(tmp: &Path) -> Vec<PathBuf> {
    let updates = tmp.join("updates-pkg");
    let extra = tmp.join("extra-pkg");
    make_updates_tree(&updates);
    make_extra_tree(&extra);
    vec![kernel_tree(), updates, extra]
}

/// Every file of every input, relative to the input.
fn input_files(inputs: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for i in inputs {
        for e in walkdir::WalkDir::new(i).follow_links(true).min_depth(1) {
            let e = e.unwrap();
            if !e.file_type().is_dir() {
                let rel = e.path().strip_prefix(i).unwrap().display().to_string();
                out.push((i.clone(), rel));
            }
        }
    }
    out
}

#[test]
fn two_and_three_trees_in_symlink_mode_link_every_file_absolutely() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = three_inputs(tmp.path());
    for n in [2, 3] {
        let out = tmp.path().join(format!("out{n}"));
        let report =
            union_build(&out, &inputs[..n], &UnionOptions::default()).expect("union succeeds");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let files = input_files(&inputs[..n]);
        assert_eq!(report.files, files.len());
        for (input, rel) in files {
            let link = out.join(&rel);
            let meta = fs::symlink_metadata(&link).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(meta.file_type().is_symlink(), "{rel} is a symlink");
            assert_eq!(fs::read_link(&link).unwrap(), input.join(&rel));
        }
        // Directories are real.
        let moddir = out.join("lib/modules").join(KERNEL_VERSION);
        assert!(!fs::symlink_metadata(&moddir)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(!fs::symlink_metadata(moddir.join("kernel"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
    assert!(tmp
        .path()
        .join("out3/lib/modules")
        .join(KERNEL_VERSION)
        .join("extra/kmt-extra.ko")
        .exists());
    // No temporary sibling left behind.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn copy_and_hardlink_modes_give_the_same_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = three_inputs(tmp.path());
    for (mode, name) in [(LinkMode::Copy, "copy"), (LinkMode::Hardlink, "hard")] {
        let out = tmp.path().join(name);
        union_build(&out, &inputs, &opts(mode, CollisionRule::First)).unwrap();
        for (input, rel) in input_files(&inputs) {
            let o = out.join(&rel);
            let meta = fs::symlink_metadata(&o).unwrap();
            assert!(meta.file_type().is_file(), "{rel} is a regular file");
            assert_eq!(
                fs::read(&o).unwrap(),
                fs::read(input.join(&rel)).unwrap(),
                "{rel}"
            );
            if mode == LinkMode::Hardlink {
                let src = fs::metadata(input.join(&rel)).unwrap();
                if src.dev() == meta.dev() {
                    assert_eq!(src.ino(), meta.ino(), "{rel} is a hard link");
                }
            }
        }
    }
}

/// Two small inputs: `a/share/x` differs, `a/share/same` is identical,
/// `a/share/mixed` is a file in one and a directory in the other (only
/// when `mixed`).
fn colliding_inputs(tmp: &Path, mixed: bool) -> Vec<PathBuf> {
    let mut inputs = Vec::new();
    for (i, name) in ["one", "two", "three"].iter().enumerate() {
        let share = tmp.join(name).join("share");
        fs::create_dir_all(&share).unwrap();
        fs::write(share.join("x"), format!("content {i}\n")).unwrap();
        fs::write(share.join("same"), "identical\n").unwrap();
        if mixed && i == 1 {
            fs::create_dir_all(share.join("mixed")).unwrap();
        } else if mixed {
            fs::write(share.join("mixed"), "file\n").unwrap();
        }
        inputs.push(tmp.join(name));
    }
    inputs
}

#[test]
fn identical_files_are_not_a_collision() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = colliding_inputs(tmp.path(), false);
    fs::remove_file(inputs[1].join("share/x")).unwrap();
    fs::remove_file(inputs[2].join("share/x")).unwrap();
    for rule in [
        CollisionRule::First,
        CollisionRule::Last,
        CollisionRule::Error,
    ] {
        let out = tmp.path().join(format!("out-{rule:?}"));
        let report = union_build(&out, &inputs, &opts(LinkMode::Symlink, rule)).unwrap();
        assert!(report.warnings.is_empty());
        assert_eq!(
            fs::read_link(out.join("share/same")).unwrap(),
            inputs[0].join("share/same")
        );
    }
}

#[test]
fn collision_rules_first_last_error() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = colliding_inputs(tmp.path(), false);
    let x = |i: usize| inputs[i].join("share/x");
    let warning = |chosen: usize| {
        format!(
            "\nwarning: collision encountered:\n  {}\n  {}\n  {}\nwarning: choosing {}\n",
            x(0).display(),
            x(1).display(),
            x(2).display(),
            x(chosen).display()
        )
    };

    let out = tmp.path().join("first");
    let r = union_build(
        &out,
        &inputs,
        &opts(LinkMode::Symlink, CollisionRule::First),
    )
    .unwrap();
    assert_eq!(r.warnings, vec![warning(0)]);
    assert_eq!(fs::read_link(out.join("share/x")).unwrap(), x(0));

    let out = tmp.path().join("last");
    let r = union_build(&out, &inputs, &opts(LinkMode::Copy, CollisionRule::Last)).unwrap();
    assert_eq!(r.warnings, vec![warning(2)]);
    assert_eq!(
        fs::read_to_string(out.join("share/x")).unwrap(),
        "content 2\n"
    );

    let out = tmp.path().join("error");
    let e = union_build(
        &out,
        &inputs,
        &opts(LinkMode::Symlink, CollisionRule::Error),
    )
    .unwrap_err();
    assert!(matches!(e, UnionError::Collision { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "collision between `{}' and `{}'",
            x(1).display(),
            x(0).display()
        )
    );
    assert!(!out.exists(), "no output after a failure");
}

#[test]
fn a_file_against_a_directory_is_an_error_under_every_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = colliding_inputs(tmp.path(), true);
    for rule in [
        CollisionRule::First,
        CollisionRule::Last,
        CollisionRule::Error,
    ] {
        let out = tmp.path().join(format!("out-{rule:?}"));
        let e = union_build(&out, &inputs, &opts(LinkMode::Symlink, rule)).unwrap_err();
        assert!(matches!(e, UnionError::FileAgainstDirectory { .. }), "{e}");
        assert!(e.to_string().contains("share/mixed"), "{e}");
        assert!(!out.exists());
    }
}

/// A fingerprint of a tree: listing plus every file's bytes and mode.
fn fingerprint(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        let m = fs::symlink_metadata(e.path()).unwrap();
        let bytes = if m.is_file() {
            fs::read(e.path()).unwrap()
        } else {
            Vec::new()
        };
        out.push((e.path().display().to_string(), m.mode(), bytes));
    }
    out
}

#[test]
fn read_only_inputs_are_read_and_never_written() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = three_inputs(tmp.path());
    // Read-only store-like copies of the two made trees.
    for i in &inputs[1..] {
        for e in walkdir::WalkDir::new(i).contents_first(true) {
            let e = e.unwrap();
            let mut p = fs::metadata(e.path()).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(
                &mut p,
                if e.file_type().is_dir() { 0o555 } else { 0o444 },
            );
            fs::set_permissions(e.path(), p).unwrap();
        }
    }
    let before: Vec<_> = inputs.iter().map(|i| fingerprint(i)).collect();
    for (mode, name) in [
        (LinkMode::Symlink, "s"),
        (LinkMode::Copy, "c"),
        (LinkMode::Hardlink, "h"),
    ] {
        let out = tmp.path().join(name);
        union_build(&out, &inputs, &opts(mode, CollisionRule::First)).unwrap();
        // The output can be modified (its directories are ours).
        fs::remove_file(
            out.join("lib/modules")
                .join(KERNEL_VERSION)
                .join("modules.order"),
        )
        .unwrap();
    }
    let after: Vec<_> = inputs.iter().map(|i| fingerprint(i)).collect();
    assert!(before == after, "inputs unchanged");
    // Let tempfile clean up.
    for i in &inputs[1..] {
        for e in walkdir::WalkDir::new(i) {
            let e = e.unwrap();
            let mut p = fs::metadata(e.path()).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
            fs::set_permissions(e.path(), p).unwrap();
        }
    }
}

#[test]
fn symlinked_inputs_and_symlink_farms_are_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = three_inputs(tmp.path());
    // An input given through a symlink.
    let alias = tmp.path().join("kernel-link");
    std::os::unix::fs::symlink(&inputs[0], &alias).unwrap();
    // A symlink farm: the union of updates and extra, used as an input.
    let farm = tmp.path().join("farm");
    union_build(&farm, &inputs[1..], &UnionOptions::default()).unwrap();
    // A tree whose lib/modules/VERSION/extra is a symlink to a directory.
    let linked = tmp.path().join("linked-pkg");
    fs::create_dir_all(linked.join("lib/modules").join(KERNEL_VERSION)).unwrap();
    std::os::unix::fs::symlink(
        inputs[2]
            .join("lib/modules")
            .join(KERNEL_VERSION)
            .join("extra"),
        linked
            .join("lib/modules")
            .join(KERNEL_VERSION)
            .join("extra2"),
    )
    .unwrap();

    let out = tmp.path().join("out");
    union_build(
        &out,
        &[alias.clone(), farm.clone(), linked.clone()],
        &UnionOptions::default(),
    )
    .unwrap();
    let moddir = out.join("lib/modules").join(KERNEL_VERSION);
    // Links name the inputs as given.
    assert_eq!(
        fs::read_link(moddir.join("modules.order")).unwrap(),
        alias
            .join("lib/modules")
            .join(KERNEL_VERSION)
            .join("modules.order")
    );
    // Through the farm: a link to the farm's link.
    let rel = format!("lib/modules/{KERNEL_VERSION}/updates/loop.ko");
    assert_eq!(fs::read_link(out.join(&rel)).unwrap(), farm.join(&rel));
    // The symlinked directory became a real directory.
    assert!(fs::symlink_metadata(moddir.join("extra2"))
        .unwrap()
        .is_dir());
    assert!(moddir.join("extra2/kmt-extra.ko").is_file());

    // The same union in copy mode holds the same bytes.
    let copy = tmp.path().join("copy");
    union_build(
        &copy,
        &[alias, farm, linked],
        &opts(LinkMode::Copy, CollisionRule::First),
    )
    .unwrap();
    assert_eq!(
        fs::read(copy.join(&rel)).unwrap(),
        fs::read(inputs[1].join(&rel)).unwrap()
    );
}

#[test]
fn an_output_inside_an_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir_all(input.join("sub")).unwrap();
    fs::write(input.join("sub/f"), "x").unwrap();
    for out in [input.join("out"), input.join("sub/out")] {
        let e =
            union_build(&out, std::slice::from_ref(&input), &UnionOptions::default()).unwrap_err();
        assert!(matches!(e, UnionError::OutputInsideInput { .. }), "{e}");
        assert!(!out.exists());
    }
    // Through a symlinked input too.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let out = input.join("out2");
    let e = union_build(&out, &[link], &UnionOptions::default()).unwrap_err();
    assert!(matches!(e, UnionError::OutputInsideInput { .. }), "{e}");
    // A symlink inside an input leading to the output's parent.
    let other = tmp.path().join("other");
    fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(tmp.path(), other.join("up")).unwrap();
    let out = tmp.path().join("out3");
    let e = union_build(&out, &[other], &UnionOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            UnionError::OutputInsideInput { .. } | UnionError::SymlinkLoop(_)
        ),
        "{e}"
    );
    assert!(!out.exists());
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().starts_with('.')),
        "{names:?}"
    );
}

#[test]
fn an_existing_output_and_missing_inputs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir_all(&input).unwrap();
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    assert!(matches!(
        union_build(&out, std::slice::from_ref(&input), &UnionOptions::default()),
        Err(UnionError::OutputExists(_))
    ));
    let out2 = tmp.path().join("out2");
    assert!(matches!(
        union_build(
            &out2,
            &[tmp.path().join("missing")],
            &UnionOptions::default()
        ),
        Err(UnionError::BadInput { .. })
    ));
    assert!(matches!(
        union_build(&out2, &[], &UnionOptions::default()),
        Err(UnionError::NoInputs)
    ));
}

#[test]
fn the_same_inputs_give_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = three_inputs(tmp.path());
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    union_build(&a, &inputs, &UnionOptions::default()).unwrap();
    union_build(&b, &inputs, &UnionOptions::default()).unwrap();
    assert_eq!(tree_listing(&a), tree_listing(&b));
}

#[test]
fn cli_union_prints_guix_warnings_and_fails_with_nixpkgs_message() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = colliding_inputs(tmp.path(), false);
    let bin = env!("CARGO_BIN_EXE_kmodtree");
    let out = tmp.path().join("out");
    let r = std::process::Command::new(bin)
        .arg("union")
        .arg(&out)
        .args(&inputs)
        .output()
        .unwrap();
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("warning: collision encountered:"));
    let out = tmp.path().join("out-err");
    let r = std::process::Command::new(bin)
        .args(["union", "--collisions", "error", "--mode", "copy"])
        .arg(&out)
        .args(&inputs)
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("collision between `"));
    assert!(!out.exists());
}

/// Runs Guix's union-build; returns its warnings, sorted (Guix walks a
/// hash table, so their order is not defined).
fn guix_union(src: &Path, out: &Path, inputs: &[PathBuf]) -> Vec<String> {
    let mut args: Vec<&OsStr> = vec![out.as_os_str()];
    args.extend(inputs.iter().map(|p| p.as_os_str()));
    let (ok, stderr) = run_guix_script(src, "union.scm", &args);
    assert!(ok, "Guix union-build failed: {stderr}");
    let mut warnings: Vec<String> = stderr
        .split("\nwarning: collision encountered:\n")
        .filter(|s| !s.is_empty())
        .map(|s| format!("\nwarning: collision encountered:\n{s}"))
        .collect();
    warnings.sort();
    warnings
}

/// Guix's union-build on the same inputs: the same tree of links, the same
/// warnings — except for colliding files of the same size, which Guix's
/// `file=?` takes as identical (it compares the byte counts read, not the
/// bytes): Guix links the first silently, kmodtree links the first and
/// warns.
#[test]
fn symlink_mode_matches_guix_union_build() {
    let Some(src) = guix_src("symlink_mode_matches_guix_union_build") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = three_inputs(tmp.path());
    let colliding = colliding_inputs(tmp.path(), false);
    // Different sizes: a real collision for Guix too.
    fs::write(colliding[1].join("share/x"), "longer content\n").unwrap();
    inputs.extend(colliding.iter().cloned());

    let ours = tmp.path().join("ours");
    let report = union_build(&ours, &inputs, &UnionOptions::default()).unwrap();
    let theirs = tmp.path().join("theirs");
    let theirs_w = guix_union(&src, &theirs, &inputs);
    assert_eq!(tree_listing(&ours), tree_listing(&theirs));
    let mut ours_w = report.warnings.clone();
    ours_w.sort();
    assert_eq!(ours_w.len(), 1);
    assert_eq!(ours_w, theirs_w);

    // Same size, different bytes.
    fs::write(colliding[1].join("share/x"), "content 9\n").unwrap();
    let ours = tmp.path().join("ours2");
    let report = union_build(&ours, &colliding, &UnionOptions::default()).unwrap();
    let theirs = tmp.path().join("theirs2");
    let theirs_w = guix_union(&src, &theirs, &colliding);
    assert_eq!(tree_listing(&ours), tree_listing(&theirs));
    assert!(theirs_w.is_empty(), "Guix does not see this collision");
    assert_eq!(report.warnings.len(), 1);
}

/// Every file below `dir`, links followed: relative path and content.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .min_depth(1)
    {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.push((rel, fs::read(e.path()).unwrap()));
        }
    }
    out
}

/// nixpkgs' buildEnv (builder.pl): a directory one input alone holds is
/// one link to it; directories two inputs hold are real; the files seen
/// through the links are those of the symlink mode.
#[test]
fn buildenv_mode_links_directories_that_one_input_holds() {
    use kmodtree::union::{make_module_directory, ModuleDirectoryError, ModuleDirectoryOptions};
    let tmp = tempfile::tempdir().unwrap();
    let all = three_inputs(tmp.path());
    let inputs = vec![all[0].clone(), all[2].clone()]; // kernel, extra
    let env = tmp.path().join("env");
    let report = union_build(
        &env,
        &inputs,
        &opts(LinkMode::BuildEnv, CollisionRule::Error),
    )
    .unwrap();
    let plain = tmp.path().join("plain");
    union_build(
        &plain,
        &inputs,
        &opts(LinkMode::Symlink, CollisionRule::Error),
    )
    .unwrap();
    assert!(contents(&env) == contents(&plain), "same files, same bytes");

    let rel_moddir = Path::new("lib/modules").join(KERNEL_VERSION);
    let is_link = |p: &Path| fs::symlink_metadata(p).unwrap().file_type().is_symlink();
    for real in ["lib", "lib/modules"] {
        assert!(!is_link(&env.join(real)), "{real}: held by both: real");
    }
    assert!(!is_link(&env.join(&rel_moddir)), "held by both: real");
    // Below it: kernel/ and extra/ are links to the one input holding each.
    for (name, input) in [("kernel", &inputs[0]), ("extra", &inputs[1])] {
        let link = env.join(&rel_moddir).join(name);
        assert!(is_link(&link), "{name}");
        assert_eq!(
            fs::read_link(&link).unwrap(),
            input.join(&rel_moddir).join(name)
        );
    }
    assert_eq!(
        fs::read_link(env.join(&rel_moddir).join("modules.order")).unwrap(),
        inputs[0].join(&rel_moddir).join("modules.order")
    );
    // Every entry of the output: a real directory only where two inputs
    // hold a directory; a link to the one input holding it otherwise.
    let mut links = 0;
    for e in walkdir::WalkDir::new(&env).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&env).unwrap();
        let holders: Vec<&PathBuf> = inputs
            .iter()
            .filter(|i| fs::symlink_metadata(i.join(rel)).is_ok())
            .collect();
        if e.file_type().is_dir() {
            assert_eq!(holders.len(), 2, "{}", rel.display());
        } else {
            links += 1;
            let target = fs::read_link(e.path()).unwrap();
            assert!(
                holders.iter().any(|h| h.join(rel) == target),
                "{}",
                rel.display()
            );
        }
    }
    assert_eq!(report.files, links);
    assert!(links < 20, "{links} links");

    // Two inputs resolving to the same directory: it is linked once (to
    // the first that is not itself a symlink).
    let alias = tmp.path().join("kernel-alias");
    std::os::unix::fs::symlink(&inputs[0], &alias).unwrap();
    let same = tmp.path().join("same");
    union_build(
        &same,
        &[alias.clone(), inputs[0].clone()],
        &opts(LinkMode::BuildEnv, CollisionRule::Error),
    )
    .unwrap();
    assert_eq!(fs::read_link(same.join("lib")).unwrap(), alias.join("lib"));

    // make-module-directory refuses a module directory linked to an input
    // (depmod would write into it) and otherwise gives the symlink mode's
    // databases.
    let mmd = |out: &Path, inputs: &[PathBuf], mode| {
        let o = ModuleDirectoryOptions {
            union: opts(mode, CollisionRule::Error),
            ..Default::default()
        };
        make_module_directory(out, KERNEL_VERSION, inputs, &o)
    };
    let e = mmd(&tmp.path().join("alone"), &inputs[..1], LinkMode::BuildEnv).unwrap_err();
    assert!(
        matches!(e, ModuleDirectoryError::LinkedModuleDirectory(_)),
        "{e}"
    );
    assert!(!tmp.path().join("alone").exists());
    let a = tmp.path().join("mmd-env");
    let b = tmp.path().join("mmd-plain");
    mmd(&a, &inputs, LinkMode::BuildEnv).unwrap();
    mmd(&b, &inputs, LinkMode::Symlink).unwrap();
    assert!(contents(&a) == contents(&b), "same databases");
}
