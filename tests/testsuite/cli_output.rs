//! The command line's process behaviour: stdout into a closed pipe (`| head
//! -c 10`) or a full disk (`> /dev/full`) never panics and ends with the
//! command's failure status (quietly for a closed pipe, with one message
//! naming what was lost otherwise); usage errors exit with the status each
//! command's help gives.

use crate::common;

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TREE: &str = "amd64-6.1-ko";
const VER: &str = "6.1.0-56-amd64";
const OTHER_TREE: &str = "amd64-6.12-xz";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kmodtree")
}

fn tree(name: &str) -> PathBuf {
    common::fixtures_dir().join("trees").join(name)
}

/// A scratch copy of the 6.1 tree's databases (written by kmodtree depmod
/// -o), for the commands that read them.
struct Indexed {
    _dir: tempfile::TempDir,
    base: PathBuf,
}

fn indexed() -> Indexed {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    let out = Command::new(bin())
        .args(["depmod", "-C", "/dev/null", "-b"])
        .arg(tree(TREE))
        .arg("-o")
        .arg(&base)
        .arg(VER)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    Indexed { _dir: dir, base }
}

/// The commands under test: (arguments, failure status, what the message
/// names).
fn commands(ix: &Indexed) -> Vec<(Vec<String>, i32, &'static str)> {
    let t = tree(TREE).display().to_string();
    let t2 = tree(OTHER_TREE).display().to_string();
    let b = ix.base.display().to_string();
    let dir = format!("{b}/lib/modules/{VER}");
    let module = format!("{t}/lib/modules/{VER}/kernel/fs/ext4/ext4.ko");
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        (s(&["diff", &t, &t2]), 2, "the differences"),
        (s(&["audit", "--json", &t]), 2, "the manifest"),
        (s(&["audit", &t]), 2, "the summary"),
        (s(&["verify", "-b", &t, VER]), 2, "the report"),
        (
            s(&["dump", &format!("{dir}/modules.alias.bin")]),
            2,
            "the index's entries",
        ),
        (
            s(&["dump", &format!("{dir}/modules.dep.bin"), "--exact", "ext4"]),
            2,
            "the values",
        ),
        (s(&["match", "-b", &b, VER, "ext4"]), 2, "the module names"),
        (
            s(&["show-depends", "-b", &b, VER, "ext4"]),
            1,
            "the dependency lines",
        ),
        (
            s(&["depmod", "-n", "-C", "/dev/null", "-b", &t, VER]),
            1,
            "the databases",
        ),
        (s(&["depmod", "-V"]), 1, "the version"),
        (s(&["modinfo", &module]), 1, "modinfo's output"),
        (s(&["modinfo", "--json", &module]), 1, "the JSON lines"),
        (
            s(&["modinfo", "--tree", "--json", "-b", &t, VER]),
            1,
            "the JSON lines",
        ),
        (s(&["--help"]), 1, "the help"),
        (s(&["diff", "--help"]), 2, "the help"),
    ]
}

fn describe(args: &[String], out: &Output) -> String {
    format!(
        "kmodtree {}: {:?}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_into(args: &[String], stdout: Stdio) -> Output {
    Command::new(bin())
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// A pipe whose reading end is already closed: every write fails with
/// EPIPE, as when `head` has gone.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe fills in two new descriptors, owned below.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned by nobody
    // else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_failure_status() {
    let ix = indexed();
    for (args, failure, _) in commands(&ix) {
        let out = run_into(&args, closed_pipe());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(failure),
            "{}",
            describe(&args, &out)
        );
        assert!(!stderr.contains("panicked"), "{}", describe(&args, &out));
        assert!(!stderr.contains("stdout"), "{}", describe(&args, &out));
    }
}

#[test]
fn a_full_disk_is_one_message_and_the_failure_status() {
    if !Path::new("/dev/full").exists() {
        eprintln!("note: no /dev/full, skipped");
        return;
    }
    let ix = indexed();
    for (args, failure, what) in commands(&ix) {
        let full = File::options().write(true).open("/dev/full").unwrap();
        let out = run_into(&args, Stdio::from(full));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(failure),
            "{}",
            describe(&args, &out)
        );
        let message =
            format!("kmodtree: error: could not write {what} to stdout: No space left on device\n");
        assert!(stderr.ends_with(&message), "{}", describe(&args, &out));
        assert_eq!(
            stderr.matches("stdout").count(),
            1,
            "{}",
            describe(&args, &out)
        );
    }
}

/// `kmodtree ARGS | head -c 10`, through a real `head`: (kmodtree's
/// output, its stderr, what head printed).
fn into_head(args: &[String]) -> (Output, Vec<u8>) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let head = Command::new("head")
        .args(["-c", "10"])
        .stdin(child.stdout.take().unwrap())
        .output()
        .unwrap();
    (child.wait_with_output().unwrap(), head.stdout)
}

#[test]
fn piped_into_head_no_command_panics() {
    let ix = indexed();
    for (args, failure, _) in commands(&ix) {
        let (out, head) = into_head(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!((1..=10).contains(&head.len()), "{}", describe(&args, &out));
        assert!(!stderr.contains("panicked"), "{}", describe(&args, &out));
        // Either everything fitted in the pipe before head left, or the
        // rest was lost: then the failure status, quietly.
        let code = out.status.code();
        assert!(
            code.is_some(),
            "killed by a signal: {}",
            describe(&args, &out)
        );
        assert_ne!(code, Some(101), "{}", describe(&args, &out));
        if code == Some(failure) {
            assert!(!stderr.contains("stdout"), "{}", describe(&args, &out));
        }
    }
    // More than a pipe holds is always cut short.
    let t = tree(TREE).display().to_string();
    for args in [
        vec!["depmod", "-n", "-C", "/dev/null", "-b", &t, VER],
        vec!["modinfo", "--tree", "--json", "-b", &t, VER],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let (out, _) = into_head(&args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("stdout"),
            "{}",
            describe(&args, &out)
        );
    }
}

#[test]
fn usage_errors_exit_with_each_commands_status() {
    // kmod's commands: 1, as kmod's depmod, modinfo and modprobe.
    // Commands whose 1 is an answer, and the others: 2, clap's.
    for (args, status) in [
        (&["depmod", "--bogus"][..], 1),
        (&["modinfo", "--bogus", "x.ko"], 1),
        (&["modinfo"], 1),
        (&["show-depends", "--bogus", "1.0", "x"], 1),
        (&["match", "--bogus", "1.0", "x"], 2),
        (&["dump"], 2),
        (&["diff", "a"], 2),
        (&["verify", "--kmod-version", "31", "1.0"], 2),
        (&["audit", "--bogus", "dir"], 2),
        (&["closure", "-b", "/", "1.0"], 2),
        (&["union", "out"], 2),
        (&["make-module-directory", "out"], 2),
        (&["guix-db", "--only", "bogus", "dir"], 2),
        (&["flat", "out", "1.0", "m"], 2),
        (&["dkms", "plan"], 2),
        (&["dkms", "build", "--bogus"], 2),
        (&["no-such-command"], 2),
        (&[], 2),
    ] {
        let out = Command::new(bin()).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "kmodtree {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn the_depmod_symlink_exits_1_on_a_usage_error_as_kmod_does() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("depmod");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    for args in [&["--bogus"][..], &["-x"], &["-b"]] {
        let out = Command::new(&link).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        for kmod in ["/usr/sbin/depmod", "/opt/kmod34/bin/depmod34"] {
            if Path::new(kmod).exists() {
                let theirs = Command::new(kmod).args(args).output().unwrap();
                assert_eq!(theirs.status.code(), Some(1), "{kmod} {args:?}");
            }
        }
    }
    // An unknown option is named as kmod 34 names it (getopt_long's texts).
    for (args, message) in [
        (
            &["--bogus", "1.0"][..],
            "depmod: unrecognized option '--bogus'\n",
        ),
        (
            &["--bogus=3", "1.0"],
            "depmod: unrecognized option '--bogus=3'\n",
        ),
        (&["-nx", "1.0"], "depmod: invalid option -- 'x'\n"),
    ] {
        let ours = Command::new(&link).args(args).output().unwrap();
        let sub = Command::new(bin())
            .arg("depmod")
            .args(args)
            .output()
            .unwrap();
        for out in [&ours, &sub] {
            assert_eq!(
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).as_ref()
                ),
                (Some(1), message),
                "{args:?}"
            );
            assert!(out.stdout.is_empty());
        }
        let kmod34 = "/opt/kmod34/bin/depmod34";
        if Path::new(kmod34).exists() {
            let theirs = Command::new(kmod34).args(args).output().unwrap();
            assert_eq!(
                (theirs.status.code(), &theirs.stderr, &theirs.stdout),
                (ours.status.code(), &ours.stderr, &ours.stdout),
                "{args:?}"
            );
        }
    }
    let out = Command::new(&link).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit status: 0 success, 1 failure"));
}

#[test]
fn depmod_takes_long_option_prefixes_as_getopt_long_does() {
    let t = tree(TREE).display().to_string();
    let run = |program: &str, args: &[&str]| Command::new(program).args(args).output().unwrap();
    let full = run(
        bin(),
        &["depmod", "-C", "/dev/null", "--basedir", &t, "--show", VER],
    );
    assert_eq!(full.status.code(), Some(0), "{full:?}");
    let short = run(
        bin(),
        &["depmod", "-C", "/dev/null", "--base", &t, "--sh", VER],
    );
    assert_eq!(
        (short.status.code(), &short.stdout),
        (Some(0), &full.stdout)
    );
    // An ambiguous prefix is a usage error (--ma: --manifest, --max-module-size).
    let ambiguous = run(bin(), &["depmod", "--ma", "x", "-n", VER]);
    assert_eq!(ambiguous.status.code(), Some(1));
    let kmod34 = "/opt/kmod34/bin/depmod34";
    if Path::new(kmod34).exists() {
        let theirs = run(kmod34, &["-C", "/dev/null", "--base", &t, "--sh", VER]);
        assert_eq!(
            (theirs.status.code(), &theirs.stdout),
            (Some(0), &full.stdout)
        );
    }
}
