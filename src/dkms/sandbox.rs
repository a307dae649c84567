//! Running one build step (a patch, a script, a make line) isolated from the
//! host: a new network namespace (only a downed loopback: no network) and a
//! new mount namespace in which every mount is remounted read-only except
//! the scratch folder (and, for GLEP 33's `make install`, the output being
//! built), which are bind-mounted over themselves first and so stay
//! writable. `/proc`, `/sys` and `/dev` (but not `/dev/shm`) are left as
//! they are. This needs CAP_SYS_ADMIN (root); [`SandboxMode::Auto`] falls
//! back to running without namespaces when they cannot be created (inside
//! Nix's or Guix's build sandbox, which already isolates the build).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

/// How strictly steps are isolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Namespaces when they can be created, else none (with a note in the log).
    Auto,
    /// Namespaces or failure.
    Require,
    /// No namespaces (environment and working folder only).
    None,
}

/// What a step ran under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Enforced {
    /// A private network namespace: no network.
    pub no_network: bool,
    /// Every mount but the writable folders (and /proc, /sys, /dev) read-only.
    pub read_only_host: bool,
}

/// Mount points of this process, from `/proc/self/mountinfo` (field 5,
/// with the octal escapes the kernel writes there, for space, tab, newline
/// and backslash, decoded), deepest last.
fn mount_points() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let escapes = [
        ("\\040", " "),
        ("\\011", "\t"),
        ("\\012", "\n"),
        ("\\134", "\\"),
    ];
    let mut out: Vec<PathBuf> = (text.lines())
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| (escapes.iter()).fold(field.to_string(), |f, (e, c)| f.replace(e, c)))
        .map(PathBuf::from)
        .collect();
    out.sort_by_key(|p| p.components().count());
    out.dedup();
    out
}

fn cstring(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// Prepared arguments for the child (built before fork: no allocation
/// happens between fork and exec).
struct Prepared {
    writable: Vec<CString>,
    read_only: Vec<CString>,
    /// std changes directory before the pre-exec hook runs, so the working
    /// folder would still be the one under the read-only mount: enter it
    /// again once the writable binds exist.
    cwd: CString,
}

fn prepare(writable: &[PathBuf], cwd: &Path) -> Prepared {
    let keep = |p: &Path| {
        (p.starts_with("/proc") || p.starts_with("/sys") || p.starts_with("/dev"))
            && !p.starts_with("/dev/shm")
    };
    let read_only = mount_points()
        .into_iter()
        .filter(|p| !keep(p) && !writable.iter().any(|w| p.starts_with(w)))
        .map(|p| cstring(&p))
        .collect();
    Prepared {
        writable: writable.iter().map(|p| cstring(p)).collect(),
        read_only,
        cwd: cstring(cwd),
    }
}

/// In the child: new namespaces, writable binds, then everything else
/// read-only. Only system calls.
fn enter(prep: &Prepared) -> std::io::Result<()> {
    let err = std::io::Error::last_os_error;
    let null = std::ptr::null();
    // mount(2) without file system type and data.
    let mount = |source: *const libc::c_char, target: &CStr, flags| unsafe {
        libc::mount(source, target.as_ptr(), null, flags, std::ptr::null())
    };
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET) != 0 {
            return Err(err());
        }
        if mount(null, c"/", libc::MS_REC | libc::MS_PRIVATE) != 0 {
            return Err(err());
        }
        for w in &prep.writable {
            if mount(w.as_ptr(), w, libc::MS_BIND | libc::MS_REC) != 0 {
                return Err(err());
            }
        }
        for (i, m) in prep.read_only.iter().enumerate() {
            let mut st: libc::statvfs = std::mem::zeroed();
            let mut flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
            if libc::statvfs(m.as_ptr(), &mut st) == 0 {
                for (s, f) in [
                    (libc::ST_NOSUID, libc::MS_NOSUID),
                    (libc::ST_NODEV, libc::MS_NODEV),
                    (libc::ST_NOEXEC, libc::MS_NOEXEC),
                ] {
                    if st.f_flag & s != 0 {
                        flags |= f;
                    }
                }
            }
            let rc = mount(null, m, flags);
            // The root mount must become read-only; a mount point hidden
            // by another mount cannot be reached and is skipped.
            if rc != 0 && i == 0 {
                return Err(err());
            }
        }
        if libc::chdir(prep.cwd.as_ptr()) != 0 {
            return Err(err());
        }
    }
    Ok(())
}

/// Whether namespaces can be created here (probed once).
pub fn namespaces_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let dir = std::env::temp_dir();
        let prep = prepare(std::slice::from_ref(&dir), &dir);
        let mut cmd = Command::new("true");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || enter(&prep));
        }
        cmd.status().map(|s| s.success()).unwrap_or(false)
    })
}

/// Runs the shell `command` (by `bash -c`, as DKMS `eval`s its make line)
/// in `cwd` with only `env`, its stdout and stderr appended to `log`, under
/// `mode` with `writable` folders writable; returns its exit status and
/// what was enforced.
pub fn run(
    command: &str,
    cwd: &Path,
    env: &[(String, String)],
    log: &Path,
    writable: &[PathBuf],
    mode: SandboxMode,
) -> std::io::Result<(ExitStatus, Enforced)> {
    let isolate = match mode {
        SandboxMode::None => false,
        SandboxMode::Auto => namespaces_available(),
        SandboxMode::Require if namespaces_available() => true,
        SandboxMode::Require => return Err(std::io::Error::other(
            "cannot create network and mount namespaces (needs root or CAP_SYS_ADMIN); use --sandbox auto or none",
        )),
    };
    let log = File::options().create(true).append(true).open(log)?;
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if isolate {
        let prep = prepare(writable, cwd);
        unsafe {
            cmd.pre_exec(move || enter(&prep));
        }
    }
    let enforced = Enforced {
        no_network: isolate,
        read_only_host: isolate,
    };
    Ok((cmd.status()?, enforced))
}
