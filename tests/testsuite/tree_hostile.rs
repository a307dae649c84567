//! Hostile module trees: a directory named like a module, a FIFO, a
//! dangling symlink, symlink loops (directory and file), a 0-byte module, a
//! text file named `.ko`, non-UTF-8 file names. Each run ends (a hang would
//! be caught by the deadline below, which no passing run comes near), names
//! the file and the reason, and never panics.

use crate::common;

use common::elf::{build, ModuleSpec};
use common::kmod::kmodtree_bin;
use common::write_file;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

const VER: &str = "1.0";
const DIR: &str = "lib/modules/1.0";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs kmodtree with `args`; a run still going after 120 s is killed and
/// fails the test (it would otherwise hang CI).
fn kmodtree(args: &[&OsStr]) -> Out {
    let child = Command::new(kmodtree_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_err()
        {
            // SAFETY: kills our own child, which has not been waited for.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    watchdog.join().unwrap();
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(out.status.code().is_some(), "killed (hang?): {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    o
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn module(alias: &str) -> Vec<u8> {
    build(&ModuleSpec::with_modinfo(&[&format!("alias={alias}")]))
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// A tree holding one good module and every hostile entry that still lets
/// depmod finish.
fn hostile_tree(root: &Path) {
    write_file(root, &format!("{DIR}/kernel/good.ko"), &module("good"));
    // A directory named like a module: walked into, like kmod does.
    write_file(
        root,
        &format!("{DIR}/kernel/dir.ko/inner.ko"),
        &module("inner"),
    );
    let k = root.join(DIR).join("kernel");
    mkfifo(&k.join("fifo.ko"));
    std::os::unix::fs::symlink("/nonexistent/x.ko", k.join("dangling.ko")).unwrap();
    std::os::unix::fs::symlink("..", k.join("loop")).unwrap();
    std::os::unix::fs::symlink("b.ko", k.join("a.ko")).unwrap();
    std::os::unix::fs::symlink("a.ko", k.join("b.ko")).unwrap();
    write_file(root, &format!("{DIR}/kernel/empty.ko"), b"");
    write_file(
        root,
        &format!("{DIR}/kernel/text.ko"),
        b"this is not an ELF file\n",
    );
}

#[test]
fn depmod_reports_each_hostile_entry_and_finishes() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    hostile_tree(root);
    let k = root.join(DIR).join("kernel");
    let k = k.to_str().unwrap();
    let r = kmodtree(&[
        os("depmod"),
        os("-C"),
        os("/dev/null"),
        os("-b"),
        root.as_os_str(),
        os(VER),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in [
        format!("depmod: ERROR: unsupported file type {k}/fifo.ko: 10000"),
        format!("depmod: ERROR: could not open {k}/dangling.ko: No such file or directory"),
        format!("depmod: ERROR: could not open {k}/loop: Too many levels of symbolic links"),
        format!("depmod: ERROR: could not open {k}/a.ko: Too many levels of symbolic links"),
        format!("depmod: ERROR: could not open {k}/b.ko: Too many levels of symbolic links"),
        format!("depmod: ERROR: failed to load symbols from {k}/empty.ko: Invalid argument"),
        format!("depmod: ERROR: failed to load symbols from {k}/text.ko: Exec format error"),
    ] {
        assert!(
            r.stderr.contains(&line),
            "missing {line:?} in\n{}",
            r.stderr
        );
    }
    let dep = std::fs::read_to_string(root.join(DIR).join("modules.dep")).unwrap();
    let mut lines: Vec<&str> = dep.lines().collect();
    lines.sort();
    // kmod lists unreadable modules too (without dependencies).
    assert_eq!(
        lines,
        [
            "kernel/dir.ko/inner.ko:",
            "kernel/empty.ko:",
            "kernel/good.ko:",
            "kernel/text.ko:"
        ]
    );
}

#[test]
fn modinfo_refuses_fifo_directory_and_dangling_link_without_blocking() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    hostile_tree(root);
    let k = root.join(DIR).join("kernel");
    for (name, reason) in [
        ("fifo.ko", "not a regular file"),
        ("dir.ko", "Is a directory"),
        ("dangling.ko", "No such file or directory"),
        ("a.ko", "Too many levels of symbolic links"),
    ] {
        let p = k.join(name);
        let r = kmodtree(&[os("modinfo"), p.as_os_str()]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("Module {} not found.", p.display())),
            "{name}: {}",
            r.stderr
        );
        let r = kmodtree(&[os("modinfo"), os("--json"), p.as_os_str()]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(r.stdout.contains(reason), "{name}: {}", r.stdout);
    }
}

#[test]
fn non_utf8_file_names_are_refused_by_name() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    write_file(root, &format!("{DIR}/kernel/good.ko"), &module("good"));
    let bad = root
        .join(DIR)
        .join("kernel")
        .join(OsStr::from_bytes(b"bad\xffname.ko"));
    std::fs::write(&bad, module("bad")).unwrap();
    let before = common::kmod::databases(&root.join(DIR));
    let r = kmodtree(&[
        os("depmod"),
        os("-C"),
        os("/dev/null"),
        os("-b"),
        root.as_os_str(),
        os(VER),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("kernel/bad\u{fffd}name.ko: file name is not valid UTF-8"),
        "{}",
        r.stderr
    );
    assert_eq!(before, common::kmod::databases(&root.join(DIR)));
    let r = kmodtree(&[
        os("modinfo"),
        os("--json"),
        os("--tree"),
        os("-b"),
        root.as_os_str(),
        os(VER),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not valid UTF-8"), "{}", r.stderr);
}

#[test]
fn union_of_an_input_with_a_symlink_loop_fails_and_leaves_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let input = root.join("in");
    write_file(&input, &format!("{DIR}/kernel/good.ko"), &module("good"));
    std::fs::create_dir_all(input.join("other")).unwrap();
    write_file(&input, "other/x", b"x");
    let second = root.join("in2");
    write_file(&second, "other/y", b"y");
    // in2/other/loop -> in2/other, merged with in/other (a directory), so
    // the union descends into it.
    std::os::unix::fs::symlink(second.join("other"), second.join("other/loop")).unwrap();
    write_file(&input, "other/loop/z", b"z");
    let out = root.join("out");
    let r = kmodtree(&[
        os("union"),
        out.as_os_str(),
        input.as_os_str(),
        second.as_os_str(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("other/loop' is reached again through a symlink loop"),
        "{}",
        r.stderr
    );
    let left: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".") || n == "out")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn non_ascii_alias_fails_with_kmods_message_and_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    write_file(root, &format!("{DIR}/kernel/good.ko"), &module("good"));
    let args = [
        os("depmod"),
        os("-C"),
        os("/dev/null"),
        os("-b"),
        root.as_os_str(),
        os(VER),
    ];
    assert_eq!(kmodtree(&args).code, 0);
    let before = common::kmod::databases(&root.join(DIR));
    write_file(
        root,
        &format!("{DIR}/kernel/accent.ko"),
        &module("usb:caf\u{e9}*"),
    );
    let r = kmodtree(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "Module index: bad character '\u{c3}'=0xffffffc3 - only 7-bit ASCII is supported:"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(before, common::kmod::databases(&root.join(DIR)));
    // The databases rendered before the refused one were written to
    // temporaries as they were rendered: all removed.
    let temporaries: Vec<String> = std::fs::read_dir(root.join(DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".kmodtree-"))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
}
