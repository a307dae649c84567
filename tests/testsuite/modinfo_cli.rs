//! `kmodtree modinfo` from the command line: `--tree --json` lists every
//! module of a tree in discovery order, carries on past unreadable modules
//! and exits non-zero at the end; `--json` on one file.

use crate::common;

use common::fixtures_dir;
use std::process::Command;

fn kmodtree(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn tree_json_lists_every_module_and_fails_at_the_end_on_bad_ones() {
    let root = fixtures_dir().join("edge/bad-files");
    let out = kmodtree(&[
        "modinfo",
        "--tree",
        "--json",
        "-b",
        root.to_str().unwrap(),
        "0.0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad modules make the exit status 1"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            v["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    // Sorted walk order; the .ko.gz is a module for kmodtree (zlib built in).
    assert_eq!(
        names,
        [
            "empty.ko",
            "good.ko",
            "ignored.ko.gz",
            "nonelf.ko",
            "short.ko",
            "trunc.ko.xz"
        ]
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines[1].get("error").is_none(),
        "good.ko reads: {}",
        lines[1]
    );
    for i in [0, 3, 4, 5] {
        assert!(
            lines[i].get("error").is_some(),
            "line {i} reports its error: {}",
            lines[i]
        );
    }
}

#[test]
fn tree_json_is_the_same_for_any_job_count() {
    let root = fixtures_dir().join("trees/armhf-6.12-xz");
    let version = common::kernel_version_of(&root);
    let version = version.as_str();
    let run = |jobs: &str| {
        let out = kmodtree(&[
            "modinfo",
            "--tree",
            "--json",
            "--jobs",
            jobs,
            "-b",
            root.to_str().unwrap(),
            version,
        ]);
        assert!(out.status.success());
        out.stdout
    };
    let one = run("1");
    assert_eq!(
        one.iter().filter(|&&b| b == b'\n').count(),
        204,
        "armhf fixture has 204 modules"
    );
    assert_eq!(one, run("2"));
    assert_eq!(one, run("8"));
}

#[test]
fn json_of_one_big_endian_module() {
    let dir = fixtures_dir().join("trees/s390x-6.12-xz/lib/modules");
    let version = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let file = dir.join(version).join("kernel/fs/ext4/ext4.ko.xz");
    let out = kmodtree(&["modinfo", "--json", file.to_str().unwrap()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "ext4");
    assert_eq!(v["compression"], "xz");
    assert_eq!(v["elf"]["class"], "ELF64");
    assert_eq!(v["elf"]["byte_order"], "big");
    assert_eq!(v["elf"]["machine"], 22);
    assert_eq!(v["modinfo"][0]["key"], "softdep");
    assert_eq!(v["modinfo"][0]["value"], "pre: crypto-crc32c");
    let imports = v["imports"].as_array().unwrap();
    assert!(imports.iter().any(|i| i["name"] == "jbd2_journal_start"));
}
