//! Reading a `dkms.conf`: the file is a bash fragment, so bash evaluates it,
//! with the variables DKMS documents (`$kernelver`, `$arch`,
//! `$kernel_source_dir`, `$dkms_tree`, `$source_tree`, `$install_tree`,
//! `$module`, `$module_version`) set as DKMS sets them. A small driver script
//! sources the file in a subshell and prints every directive array as
//! NUL-separated `NAME, INDEX, VALUE` triples, plus the results of the
//! regular-expression matches DKMS makes with bash's `=~` (`MAKE_MATCH`,
//! `PATCH_MATCH`, `BUILD_EXCLUSIVE_*`), so the matching is bash's own. The
//! rest — defaults, checks, the default make line — is done here and the
//! result is a typed [`Plan`].

use crate::kmod::strerror;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The directives DKMS reads from a dkms.conf (its list of accepted
/// variables, space-separated). Only these are taken from the evaluated
/// file.
pub const DIRECTIVES: &str = "CLEAN PACKAGE_NAME PACKAGE_VERSION POST_ADD POST_BUILD POST_INSTALL \
     POST_REMOVE PRE_BUILD PRE_INSTALL BUILD_DEPENDS BUILD_EXCLUSIVE_KERNEL \
     BUILD_EXCLUSIVE_ARCH BUILD_EXCLUSIVE_CONFIG OBSOLETE_BY MAKE \
     MAKE_MATCH PATCH PATCH_MATCH BUILT_MODULE_NAME BUILT_MODULE_LOCATION \
     DEST_MODULE_NAME DEST_MODULE_LOCATION STRIP AUTOINSTALL \
     NO_WEAK_MODULES REMAKE_INITRD MODULES_CONF MODULES_CONF_OBSOLETES \
     MODULES_CONF_ALIAS_TYPE MODULES_CONF_OBSOLETE_ONLY";

/// Directives kmodtree reads but does not act on: they concern a mutable
/// host (install/remove hooks, initrd, modprobe.conf) or signing.
const IGNORED: &str = "POST_ADD POST_INSTALL POST_REMOVE PRE_INSTALL OBSOLETE_BY \
     NO_WEAK_MODULES REMAKE_INITRD MODULES_CONF MODULES_CONF_OBSOLETES \
     MODULES_CONF_ALIAS_TYPE MODULES_CONF_OBSOLETE_ONLY";

/// Where the DKMS variables point while the file is evaluated (and while
/// the build runs).
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    pub kernel_source_dir: PathBuf,
    pub dkms_tree: PathBuf,
    pub source_tree: PathBuf,
    pub install_tree: PathBuf,
}

/// One module of the package (one index of the BUILT_MODULE_* family).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedModule {
    /// `BUILT_MODULE_NAME[n]` (or PACKAGE_NAME for a single module).
    pub built_name: String,
    /// `BUILT_MODULE_LOCATION[n]`, relative to the build folder, empty or
    /// ending in `/`.
    pub built_location: String,
    /// `DEST_MODULE_NAME[n]` (default: the built name).
    pub dest_name: String,
    /// `DEST_MODULE_LOCATION[n]` as written, e.g. `/updates` or `/extra/foo`.
    pub dest_location: String,
    /// `STRIP[n]`: run `strip -g` on the module (DKMS's default: yes).
    pub strip: bool,
}

/// Why the package is not built for this kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    pub directive: String,
    pub value: String,
    pub message: String,
}

/// Everything a build needs, from one evaluated dkms.conf.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub package_name: String,
    pub package_version: String,
    pub kernel_version: String,
    pub arch: String,
    pub layout: Layout,
    /// `$dkms_tree/$module/$module_version/build`: where DKMS builds.
    pub build_dir: PathBuf,
    /// Which `MAKE[n]` was chosen (None: DKMS's default make line).
    pub make_index: Option<usize>,
    /// The make command as DKMS would run it, before DKMS's own
    /// `make -jN KERNELRELEASE=V` substitution.
    pub make_command: String,
    /// The clean command (`CLEAN`, else DKMS's default).
    pub clean_command: String,
    /// Patch file names under `patches/`, in order (after `PATCH_MATCH`).
    pub patches: Vec<String>,
    pub pre_build: Option<String>,
    pub post_build: Option<String>,
    pub modules: Vec<PlannedModule>,
    /// Set when `BUILD_EXCLUSIVE_*` does not match: nothing is built.
    pub excluded: Option<Exclusion>,
    pub autoinstall: bool,
    pub build_depends: Vec<String>,
    /// Directives present in the file that kmodtree does not act on.
    pub ignored_directives: Vec<String>,
}

/// A dkms.conf that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("{path}: cannot read dkms.conf: {}", strerror(.source))]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot run bash to evaluate dkms.conf: {}", strerror(.source))]
    NoBash {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: evaluating dkms.conf failed (bash exit status {status}): {stderr}")]
    Evaluation {
        path: PathBuf,
        status: i32,
        stderr: String,
    },
    #[error("{path}: {}", .problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// The driver: sources the file twice (the first time to learn
/// PACKAGE_NAME and PACKAGE_VERSION, which DKMS knows as `$module` and
/// `$module_version` before it reads the file for a build), then prints the
/// directives and the regex matches. Arguments: conf file, kernelver, arch.
const DRIVER: &str = r#"
conf=$1; kernelver=$2; arch=$3
read -r -d '' kmodtree_names <<'NAMES'
@DIRECTIVES@
NAMES
kmodtree_clear() { local v; for v in $kmodtree_names; do unset "$v"; done; }
kmodtree_clear
module=$( . "$conf" >/dev/null 2>&2 </dev/null; printf '%s' "$PACKAGE_NAME" ) || exit 3
module_version=$( . "$conf" >/dev/null 2>&2 </dev/null; printf '%s' "$PACKAGE_VERSION" ) || exit 3
kmodtree_clear
(
  . "$conf" >/dev/null </dev/null
  kmodtree_emit() { printf '%s\0%s\0%s\0' "$1" "$2" "$3"; }
  for kmodtree_v in $kmodtree_names; do
    eval 'kmodtree_idx=("${!'"$kmodtree_v"'[@]}")'
    for kmodtree_i in "${kmodtree_idx[@]}"; do
      eval 'kmodtree_val=${'"$kmodtree_v"'[$kmodtree_i]}'
      kmodtree_emit "$kmodtree_v" "$kmodtree_i" "$kmodtree_val"
    done
  done
  kmodtree_match() { if [[ $2 =~ $3 ]]; then kmodtree_emit "$1" "$4" 1; else kmodtree_emit "$1" "$4" 0; fi; }
  for kmodtree_i in "${!MAKE_MATCH[@]}"; do
    [[ ${MAKE_MATCH[$kmodtree_i]} ]] && kmodtree_match '=MAKE_MATCH' "$kernelver" "${MAKE_MATCH[$kmodtree_i]}" "$kmodtree_i"
  done
  for kmodtree_i in "${!PATCH_MATCH[@]}"; do
    [[ ${PATCH_MATCH[$kmodtree_i]} ]] && kmodtree_match '=PATCH_MATCH' "$kernelver" "${PATCH_MATCH[$kmodtree_i]}" "$kmodtree_i"
  done
  [[ $BUILD_EXCLUSIVE_KERNEL ]] && kmodtree_match '=BUILD_EXCLUSIVE_KERNEL' "$kernelver" "$BUILD_EXCLUSIVE_KERNEL" 0
  [[ $BUILD_EXCLUSIVE_ARCH ]] && kmodtree_match '=BUILD_EXCLUSIVE_ARCH' "$arch" "$BUILD_EXCLUSIVE_ARCH" 0
  if [[ $BUILD_EXCLUSIVE_CONFIG && -e $kernel_source_dir/.config ]]; then
    for kmodtree_k in $BUILD_EXCLUSIVE_CONFIG; do
      case $kmodtree_k in
        !*) grep -q -E "^${kmodtree_k#!}=[ym]" "$kernel_source_dir/.config" && kmodtree_emit '=BUILD_EXCLUSIVE_CONFIG' "$kmodtree_k" 0 ;;
        *) grep -q -E "^${kmodtree_k}=[ym]" "$kernel_source_dir/.config" || kmodtree_emit '=BUILD_EXCLUSIVE_CONFIG' "$kmodtree_k" 0 ;;
      esac
    done
  fi
  true
) || exit 4
"#;

type Arrays = BTreeMap<String, BTreeMap<usize, String>>;

/// Evaluates `conf` with bash for kernel `kernel_version` / `arch` and
/// returns the typed plan. `cwd` is where bash runs (the source folder).
pub fn evaluate(
    conf: &Path,
    kernel_version: &str,
    arch: &str,
    layout: &Layout,
) -> Result<Plan, ConfError> {
    std::fs::metadata(conf).map_err(|source| ConfError::Unreadable {
        path: conf.to_path_buf(),
        source,
    })?;
    let driver = DRIVER.replace("@DIRECTIVES@", DIRECTIVES);
    let cwd = conf.parent().unwrap_or(Path::new("."));
    let output = Command::new("bash")
        .arg("-c")
        .arg(&driver)
        .arg("kmodtree-dkms-conf")
        .arg(conf)
        .arg(kernel_version)
        .arg(arch)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_ALL", "C")
        .env("kernel_source_dir", &layout.kernel_source_dir)
        .env("dkms_tree", &layout.dkms_tree)
        .env("source_tree", &layout.source_tree)
        .env("install_tree", &layout.install_tree)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ConfError::NoBash {
            path: conf.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(ConfError::Evaluation {
            path: conf.to_path_buf(),
            status: output.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let mut arrays = Arrays::new();
    let mut matches: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    let fields: Vec<&[u8]> = output.stdout.split(|&b| b == 0).collect();
    for triple in fields.chunks_exact(3) {
        let [name, key, value] = [0, 1, 2].map(|i| String::from_utf8_lossy(triple[i]).into_owned());
        if let Some(m) = name.strip_prefix('=') {
            matches
                .entry(m.to_string())
                .or_default()
                .push((key, value == "1"));
        } else if let Ok(i) = key.parse::<usize>() {
            arrays.entry(name).or_default().insert(i, value);
        }
    }
    plan_from(conf, kernel_version, arch, layout, &arrays, &matches)
}

fn plan_from(
    conf: &Path,
    kernel_version: &str,
    arch: &str,
    layout: &Layout,
    arrays: &Arrays,
    matches: &BTreeMap<String, Vec<(String, bool)>>,
) -> Result<Plan, ConfError> {
    let get = |name: &str, i: usize| -> String {
        arrays
            .get(name)
            .and_then(|a| a.get(&i))
            .cloned()
            .unwrap_or_default()
    };
    let len = |name: &str| arrays.get(name).map_or(0, |a| a.len());
    let matched = |name: &str, key: &str| {
        matches
            .get(name)
            .and_then(|v| v.iter().find(|(k, _)| k == key))
            .map(|(_, b)| *b)
    };
    let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
    let mut problems = Vec::new();
    let package_name = get("PACKAGE_NAME", 0);
    let package_version = get("PACKAGE_VERSION", 0);
    let build_dir = layout
        .dkms_tree
        .join(&package_name)
        .join(&package_version)
        .join("build");

    // The BUILT_MODULE_* family: as many records as its longest array
    // (bash counts set elements, as `${#A[@]}`).
    let family = [
        "BUILT_MODULE_NAME",
        "BUILT_MODULE_LOCATION",
        "DEST_MODULE_NAME",
        "DEST_MODULE_LOCATION",
    ];
    let records = family.iter().map(|n| len(n)).max().unwrap_or(0);
    let strip0 = !matches!(get("STRIP", 0).chars().next(), Some('n' | 'N'));
    let mut modules = Vec::new();
    for i in 0..records {
        let mut built_name = get("BUILT_MODULE_NAME", i);
        if built_name.is_empty() && len("DEST_MODULE_LOCATION") == 1 {
            built_name = package_name.clone();
        }
        let dest_name = non_empty(get("DEST_MODULE_NAME", i)).unwrap_or_else(|| built_name.clone());
        let mut built_location = get("BUILT_MODULE_LOCATION", i);
        if !built_location.is_empty() && !built_location.ends_with('/') {
            built_location.push('/');
        }
        // A word starting with neither n nor y leaves DKMS's strip[n]
        // unset: stripped.
        let strip = match get("STRIP", i).chars().next() {
            Some(c) => !"nN".contains(c),
            None => strip0,
        };
        if built_name.is_empty() {
            problems.push(format!(
                "no BUILT_MODULE_NAME directive specified for record #{i}"
            ));
        }
        for (directive, name) in [("BUILT", &built_name), ("DEST", &dest_name)] {
            if name.ends_with(".o") || name.ends_with(".ko") {
                problems.push(format!(
                    "{directive}_MODULE_NAME ends in '.o' or '.ko' in record #{i}"
                ));
            }
        }
        if built_name.contains('/') || dest_name.contains('/') {
            problems.push(format!("module name contains '/' in record #{i}"));
        }
        let dest_location = get("DEST_MODULE_LOCATION", i);
        if dest_location.is_empty() {
            problems.push(format!(
                "no DEST_MODULE_LOCATION directive specified for record #{i}"
            ));
        } else if !["/kernel", "/updates", "/extra"]
            .iter()
            .any(|p| dest_location.starts_with(p))
        {
            problems.push(format!(
                "DEST_MODULE_LOCATION '{dest_location}' does not begin with '/kernel', '/updates' or '/extra' in record #{i}"
            ));
        } else if dest_location.split('/').any(|c| c == "..") {
            problems.push(format!(
                "DEST_MODULE_LOCATION '{dest_location}' contains '..' in record #{i}"
            ));
        }
        if built_location.starts_with('/') || built_location.split('/').any(|c| c == "..") {
            problems.push(format!(
                "BUILT_MODULE_LOCATION '{built_location}' leaves the build folder in record #{i}"
            ));
        }
        modules.push(PlannedModule {
            built_name,
            built_location,
            dest_name,
            dest_location,
            strip,
        });
    }
    if records == 0 {
        problems.push("no DEST_MODULE_LOCATION directive specified".to_string());
    }
    if package_name.is_empty() {
        problems.push("no PACKAGE_NAME directive specified".to_string());
    }
    if package_version.is_empty() {
        problems.push("no PACKAGE_VERSION directive specified".to_string());
    }
    if package_name.contains('/') || package_version.contains('/') {
        problems.push("PACKAGE_NAME or PACKAGE_VERSION contains '/'".to_string());
    }

    // MAKE[0] unless MAKE_MATCH[0] is set; then the last MAKE[n] whose
    // MAKE_MATCH[n] matches the kernel.
    let mut make_index = None;
    if get("MAKE_MATCH", 0).is_empty() && !get("MAKE", 0).is_empty() {
        make_index = Some(0);
    }
    for (&i, cmd) in arrays.get("MAKE").into_iter().flatten() {
        if !cmd.is_empty() && matched("MAKE_MATCH", &i.to_string()) == Some(true) {
            make_index = Some(i);
        }
    }
    let kdir = layout.kernel_source_dir.display();
    let mut make_command = match make_index {
        Some(i) => get("MAKE", i),
        None => format!("make -C {kdir} M={}", build_dir.display()),
    };
    let clean_command = non_empty(get("CLEAN", 0))
        .unwrap_or_else(|| format!("make -C {kdir} M={} clean", build_dir.display()));
    // A kernel built with clang/lld: DKMS appends CC=clang / LD=ld.lld.
    if let Ok(config) = std::fs::read_to_string(layout.kernel_source_dir.join(".config")) {
        if config.lines().any(|l| l == "CONFIG_CC_IS_CLANG=y") {
            make_command.push_str(" CC=clang");
        }
        if config.lines().any(|l| l == "CONFIG_LD_IS_LLD=y") {
            make_command.push_str(" LD=ld.lld");
        }
    }

    let mut patches = Vec::new();
    for (&i, p) in arrays.get("PATCH").into_iter().flatten() {
        let wanted = get("PATCH_MATCH", i).is_empty()
            || matched("PATCH_MATCH", &i.to_string()) == Some(true);
        if p.is_empty() || !wanted {
            continue;
        }
        if p.contains('/') && p.split('/').any(|c| c == "..") {
            problems.push(format!("PATCH[{i}] '{p}' leaves patches/"));
        }
        patches.push(p.clone());
    }

    // The first directive not satisfied, with its message.
    let exclusion = |directive: &str, message: &dyn Fn(&str) -> String| {
        let value = get(directive, 0);
        Some(Exclusion {
            message: message(&value),
            directive: directive.into(),
            value,
        })
    };
    let config = matches
        .get("BUILD_EXCLUSIVE_CONFIG")
        .and_then(|v| v.first());
    let excluded = if matched("BUILD_EXCLUSIVE_KERNEL", "0") == Some(false) {
        exclusion("BUILD_EXCLUSIVE_KERNEL", &|v| {
            format!("BUILD_EXCLUSIVE_KERNEL '{v}' does not match kernel {kernel_version}")
        })
    } else if matched("BUILD_EXCLUSIVE_ARCH", "0") == Some(false) {
        exclusion("BUILD_EXCLUSIVE_ARCH", &|v| {
            format!("BUILD_EXCLUSIVE_ARCH '{v}' does not match arch {arch}")
        })
    } else if let Some((k, _)) = config {
        exclusion("BUILD_EXCLUSIVE_CONFIG", &|_| {
            format!("BUILD_EXCLUSIVE_CONFIG: the kernel's .config does not satisfy '{k}'")
        })
    } else {
        None
    };

    if !problems.is_empty() {
        return Err(ConfError::Invalid {
            path: conf.to_path_buf(),
            problems,
        });
    }
    let ignored_directives = IGNORED
        .split_whitespace()
        .filter(|d| {
            arrays
                .get(*d)
                .is_some_and(|a| a.values().any(|v| !v.is_empty()))
        })
        .map(|d| d.to_string())
        .collect();
    Ok(Plan {
        package_name,
        package_version,
        kernel_version: kernel_version.to_string(),
        arch: arch.to_string(),
        layout: layout.clone(),
        build_dir,
        make_index,
        make_command,
        clean_command,
        patches,
        pre_build: non_empty(get("PRE_BUILD", 0)),
        post_build: non_empty(get("POST_BUILD", 0)),
        modules,
        excluded,
        autoinstall: get("AUTOINSTALL", 0).to_ascii_lowercase().starts_with('y'),
        build_depends: arrays
            .get("BUILD_DEPENDS")
            .map(|a| a.values().filter(|v| !v.is_empty()).cloned().collect())
            .unwrap_or_default(),
        ignored_directives,
    })
}

/// The make command DKMS actually runs: a leading `make` becomes
/// `make -jJOBS KERNELRELEASE=V` (a quoted `'make'` is left alone).
pub fn make_invocation(make_command: &str, jobs: usize, kernel_version: &str) -> String {
    match make_command.strip_prefix("make") {
        Some(rest) => format!("make -j{jobs} KERNELRELEASE={kernel_version}{rest}"),
        None => make_command.to_string(),
    }
}

/// The architecture DKMS assumes (`uname -m` of the host): here the
/// architecture kmodtree was built for, in uname's spelling.
pub fn default_arch() -> &'static str {
    std::env::consts::ARCH
}
