//! The documentation the tool generates from its clap definitions: every
//! command is in each shell's completions and has a manual page with
//! examples and exit statuses; every `--help` ends with examples and the
//! exit statuses, and a usage error exits with the status that help gives.

use std::process::{Command, Output};

fn kmodtree(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(args: &[&str]) -> String {
    let out = kmodtree(args);
    assert_eq!(out.status.code(), Some(0), "kmodtree {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `help` lists under "Commands:" (but `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command as its argument path: `["depmod"]`, `["dkms", "plan"]`.
fn commands() -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for name in subcommands(&stdout(&["--help"])) {
        let nested = subcommands(&stdout(&[&name, "--help"]));
        all.push(vec![name.clone()]);
        for sub in nested {
            all.push(vec![name.clone(), sub]);
        }
    }
    all
}

#[test]
fn every_command_is_listed() {
    let all = commands();
    for expected in ["depmod", "closure", "diff", "completions", "man"] {
        assert!(all.iter().any(|c| c == &[expected]), "{expected}: {all:?}");
    }
    assert!(all.iter().any(|c| c == &["dkms", "build"]), "{all:?}");
}

#[test]
fn every_command_is_in_every_shells_completions() {
    let all = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&["completions", shell]);
        for command in &all {
            let name = command.last().unwrap();
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
        // And a flag of a command.
        assert!(
            script.contains("load-scripts"),
            "{shell}: no --load-scripts"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = kmodtree(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn every_command_has_a_manual_page_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    stdout(&["man", "--out", out.to_str().unwrap()]);
    let mut pages = vec!["kmodtree.1".to_owned()];
    pages.extend(
        commands()
            .iter()
            .map(|c| format!("kmodtree-{}.1", c.join("-"))),
    );
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    pages.sort();
    assert_eq!(written, pages);
    for page in &pages {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        let title = page.strip_suffix(".1").unwrap().to_uppercase();
        assert!(text.contains(&format!(".TH {title} 1 ")), "{page}");
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH EXAMPLES",
            ".SH EXIT STATUS",
        ] {
            assert!(text.contains(section), "{page}: no {section}");
        }
        // One preamble, at the start.
        assert_eq!(text.matches(".ds Aq").count(), 2, "{page}");
    }
    // Without --out: one page on stdout, the same bytes.
    let depmod = stdout(&["man", "depmod"]);
    assert_eq!(
        depmod,
        std::fs::read_to_string(out.join("kmodtree-depmod.1")).unwrap()
    );
    assert!(depmod.contains("kmodtree depmod \\-b /tmp/root"));
    let plan = stdout(&["man", "dkms", "plan"]);
    assert!(plan.starts_with(".ie") && plan.contains("KMODTREE-DKMS-PLAN"));
}

#[test]
fn a_manual_page_of_no_command_is_a_usage_error() {
    let out = kmodtree(&["man", "no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no manual page for 'no-such-command'"),
        "{err}"
    );
}

/// The status `help`'s "Exit status:" line gives usage errors.
fn usage_status(help: &str) -> i32 {
    let line = help
        .lines()
        .find(|l| l.starts_with("Exit status:"))
        .unwrap_or_else(|| panic!("no exit statuses in\n{help}"));
    // The last number before "usage error" ("0 ok, 1 problems, 2 error or
    // usage error"; "1 failure, refused loading, or usage error").
    let before = &line[..line.find("usage error").expect("no usage error status")];
    before
        .split(|c: char| !c.is_ascii_digit())
        .rev()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line}"))
}

#[test]
fn every_help_has_examples_and_a_usage_error_exits_as_it_says() {
    for command in commands() {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let help = stdout(&[&args[..], &["--help"]].concat());
        if command == ["dkms"] {
            // A command of commands: examples, its subcommands' statuses.
            assert!(help.contains("\nExamples:\n"), "{command:?}");
            continue;
        }
        assert!(help.contains("\nExamples:\n  # "), "{command:?}: {help}");
        let examples = help.split("\nExamples:\n").nth(1).unwrap();
        assert!(
            examples.contains(&format!("  kmodtree {}", command.join(" "))),
            "{command:?}'s examples do not run it"
        );
        let status = usage_status(&help);
        let out = kmodtree(&[&args[..], &["--no-such-flag"]].concat());
        assert_eq!(out.status.code(), Some(status), "{command:?}");
        assert!(out.stdout.is_empty(), "{command:?}");
    }
}

#[test]
fn a_failure_exits_as_each_commands_help_says() {
    let t = tempfile::tempdir().unwrap();
    let out = |name: &str| t.path().join(name).to_str().unwrap().to_owned();
    let n = "/nonexistent";
    let cases: Vec<(Vec<String>, i32, &str)> = [
        (vec!["depmod", "-b", n, "1.0"], 1, "1 failure"),
        (vec!["modinfo", "/nonexistent/x.ko"], 1, "1 otherwise"),
        (vec!["dump", n], 2, "2 error"),
        (vec!["show-depends", "-b", n, "1.0", "x"], 1, "1 otherwise"),
        (vec!["match", "-b", n, "1.0", "x"], 1, "1 one did not"),
        (
            vec!["closure", "-b", n, "-o", &out("c"), "1.0", "ext4"],
            1,
            "1 failure",
        ),
        (vec!["union", &out("u"), n], 1, "1 failure"),
        (
            vec!["make-module-directory", &out("m"), "1.0", n],
            1,
            "1 failure",
        ),
        (vec!["guix-db", n], 1, "1 failure"),
        (vec!["flat", "-b", n, &out("f"), "1.0", "m"], 1, "1 failure"),
        (vec!["audit", n], 2, "2 error"),
        (vec!["diff", n, n], 2, "2 error"),
        (vec!["verify", "-b", n, "1.0"], 2, "2 error"),
        (vec!["dkms", "plan", "-k", "1.0", n], 1, "1 failure"),
        (vec!["man", "--out", "/proc/no-such-dir"], 1, "1 failure"),
    ]
    .into_iter()
    .map(|(a, s, p)| (a.into_iter().map(str::to_owned).collect(), s, p))
    .collect();
    for (args, status, phrase) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let command: Vec<&str> = args
            .iter()
            .take_while(|a| !a.starts_with('-') && !a.starts_with('/'))
            .copied()
            .collect();
        let help = stdout(&[&command[..], &["--help"]].concat());
        let exit = help
            .lines()
            .find(|l| l.starts_with("Exit status:"))
            .unwrap();
        assert!(exit.contains(phrase), "{command:?}: {exit}");
        let o = kmodtree(&args);
        assert_eq!(o.status.code(), Some(status), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}: no message");
    }
}
