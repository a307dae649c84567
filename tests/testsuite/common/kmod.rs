//! Running `kmodtree depmod` and the real kmod `depmod` side by side, and
//! reading what they wrote.
//!
//! Real tools: kmod 34 is `$KMODTREE_DEPMOD34`, else `depmod34` from
//! `/opt/kmod34/bin` or `PATH`; kmod 30 is `$KMODTREE_DEPMOD30`, else
//! `/usr/sbin/depmod` (set a variable to `none` to run without that tool). A tool is used only if its `-V` reports the
//! expected version; otherwise [`real_depmod`] returns None and the
//! caller skips the comparison with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Which kmod to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kmod {
    V34,
    V30,
}

impl Kmod {
    pub const ALL: [Kmod; 2] = [Kmod::V34, Kmod::V30];

    /// The value of `--kmod-version`.
    pub fn flag(self) -> &'static str {
        match self {
            Kmod::V34 => "34",
            Kmod::V30 => "30",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kmod::V34 => "kmod34",
            Kmod::V30 => "kmod30",
        }
    }
}

fn find_tool(env: &str, candidates: &[&str], want: &str) -> Option<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let from_env = std::env::var_os(env);
    if let Some(p) = &from_env {
        // Set: only that tool (e.g. `none` to test without it).
        paths.push(PathBuf::from(p));
    }
    for c in candidates.iter().filter(|_| from_env.is_none()) {
        if c.contains('/') {
            paths.push(PathBuf::from(c));
        } else if let Some(path) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&path).map(|d| d.join(c)));
        }
    }
    paths.into_iter().find(|p| {
        p.is_file()
            && Command::new(p)
                .arg("-V")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with(want))
    })
}

/// The real depmod of that kmod version, if installed.
pub fn real_depmod(kmod: Kmod) -> Option<PathBuf> {
    static V34: OnceLock<Option<PathBuf>> = OnceLock::new();
    static V30: OnceLock<Option<PathBuf>> = OnceLock::new();
    match kmod {
        Kmod::V34 => V34
            .get_or_init(|| {
                find_tool(
                    "KMODTREE_DEPMOD34",
                    &["/opt/kmod34/bin/depmod34", "depmod34"],
                    "kmod version 34",
                )
            })
            .clone(),
        Kmod::V30 => V30
            .get_or_init(|| {
                find_tool(
                    "KMODTREE_DEPMOD30",
                    &["/usr/sbin/depmod", "/sbin/depmod"],
                    "kmod version 30\n",
                )
            })
            .clone(),
    }
}

/// Like [`real_depmod`], printing a note when the tool is missing.
pub fn real_depmod_or_note(kmod: Kmod, test: &str) -> Option<PathBuf> {
    let r = real_depmod(kmod);
    if r.is_none() {
        eprintln!(
            "note: {test}: no {} depmod found; comparison with it skipped",
            kmod.label()
        );
    }
    r
}

/// What a run printed and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Run {
    /// stdout, stderr and code with `root` replaced by `@ROOT@`.
    pub fn unrooted(&self, root: &Path) -> Run {
        let r = root.to_str().unwrap();
        Run {
            stdout: super::unroot(&self.stdout, r),
            stderr: super::unroot(&self.stderr, r),
            code: self.code,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// What a run printed (as text, lossily) and returned: for tests that
/// search or compare the output as strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRun {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs `cmd` as [`run_command`] does, its output as text.
pub fn run_text(cmd: &mut Command) -> TextRun {
    let r = run(cmd);
    TextRun {
        stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
        code: r.code,
    }
}

/// kmod's `tool` (`depmod`, `modprobe`, `modinfo`) as installed here, each
/// checked by its version line: kmod 34's (`kmod34-setup.sh`) and kmod
/// 30's (Debian's), as `(label, path)` with label `kmod34` or `kmod30`. A
/// missing one is noted on stderr.
pub fn installed_kmod_tools(tool: &str) -> Vec<(&'static str, PathBuf)> {
    let mut found = Vec::new();
    for (label, path, want) in [
        (
            "kmod34",
            format!("/opt/kmod34/bin/{tool}34"),
            "kmod version 34",
        ),
        ("kmod30", format!("/usr/sbin/{tool}"), "kmod version 30\n"),
    ] {
        let ok = Command::new(&path)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with(want));
        if ok {
            found.push((label, PathBuf::from(path)));
        } else {
            eprintln!("note: no {label} {tool} at {path}; comparison skipped");
        }
    }
    found
}

/// Runs `cmd` (with `LC_ALL=C` unless the command sets LC_ALL itself).
fn run(cmd: &mut Command) -> Run {
    if !cmd.get_envs().any(|(k, _)| k == "LC_ALL") {
        cmd.env("LC_ALL", "C");
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    Run {
        stdout: out.stdout,
        stderr: out.stderr,
        code: out.status.code().unwrap_or(-1),
    }
}

/// The kmodtree binary under test.
pub fn kmodtree_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kmodtree")
}

/// `kmodtree depmod --kmod-version V --without-zlib ARGS...`.
pub fn kmodtree_cmd(kmod: Kmod, args: &[&str]) -> Command {
    let mut c = Command::new(kmodtree_bin());
    c.args(["depmod", "--kmod-version", kmod.flag(), "--without-zlib"])
        .args(args);
    c
}

pub fn run_kmodtree(kmod: Kmod, args: &[&str]) -> Run {
    run(&mut kmodtree_cmd(kmod, args))
}

pub fn run_tool(tool: &Path, args: &[&str]) -> Run {
    run(Command::new(tool).args(args))
}

pub fn run_command(cmd: &mut Command) -> Run {
    run(cmd)
}

/// The inputs depmod reads from the module directory (never written).
pub const INPUTS: &[&str] = &[
    "modules.order",
    "modules.builtin",
    "modules.builtin.modinfo",
];

/// Every `modules.*` file in `dir` except the inputs: name → bytes.
pub fn databases(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("modules.") && !INPUTS.contains(&name.as_str()) {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// Every entry name in `dir` (sorted), to see stray temporary files.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Differences between two sets of databases, one line per file.
pub fn compare_databases(
    got: &BTreeMap<String, Vec<u8>>,
    want: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let names: std::collections::BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    for n in names {
        match (got.get(n), want.get(n)) {
            (Some(g), Some(w)) if g == w => {}
            (Some(g), Some(w)) => problems.push(format!("{n}: {}", super::first_difference(g, w))),
            (Some(_), None) => problems.push(format!("{n}: written by kmodtree only")),
            (None, Some(_)) => problems.push(format!("{n}: written by kmod only")),
            (None, None) => unreachable!(),
        }
    }
    problems
}

/// Differences between two runs' output (already unrooted).
pub fn compare_runs(got: &Run, want: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    if got.code != want.code {
        problems.push(format!("exit code {} vs kmod's {}", got.code, want.code));
    }
    if got.stdout != want.stdout {
        problems.push(format!(
            "stdout: {}",
            super::first_difference(&got.stdout, &want.stdout)
        ));
    }
    if got.stderr != want.stderr {
        problems.push(format!(
            "stderr differs:\n--- kmodtree\n{}--- kmod\n{}",
            String::from_utf8_lossy(&got.stderr),
            String::from_utf8_lossy(&want.stderr)
        ));
    }
    problems
}
