//! Load checks on freshly built modules: the vermagic must be the kernel's,
//! and every (non-weak) undefined symbol must be exported by the kernel
//! (its `Module.symvers`) or by a module of the same package, with the same
//! CRC when both sides carry one (what the kernel's loader would refuse as
//! "disagrees about version of symbol").

use crate::kmod::IoError;
use crate::module::{Limits, ModuleMeta};
use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};

/// What the modules are checked against.
#[derive(Clone, Debug)]
pub struct KernelInfo {
    pub version: String,
    /// The exact vermagic, read from one of the kernel's own modules
    /// (`--kernel-modules`), when given.
    pub vermagic_exact: Option<String>,
    /// What the vermagic must start with, from the version and the build
    /// folder's `.config`: `V SMP preempt mod_unload modversions ` (the
    /// generic part of `<linux/vermagic.h>`; architecture words may follow).
    pub vermagic_prefix: String,
    /// `Module.symvers`: symbol → CRC.
    pub symvers: FxHashMap<Vec<u8>, u64>,
}

/// Why the kernel's facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{0}: no Module.symvers in the kernel build folder (needed to check symbols)")]
    NoSymvers(PathBuf),
    /// `PATH: TEXT`.
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{0}: the headers are for kernel {1}, not {2} (UTS_RELEASE)")]
    WrongRelease(PathBuf, String, String),
    #[error("{0}: no module found to read the kernel's vermagic from")]
    NoReferenceModule(PathBuf),
}

fn vermagic_of(meta: &ModuleMeta) -> Option<String> {
    meta.values(b"vermagic")
        .next()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Reads the kernel's facts from its build folder (and optionally its
/// installed module folder `lib/modules/V`).
pub fn kernel_info(
    kernel_build: &Path,
    version: &str,
    kernel_modules: Option<&Path>,
) -> Result<KernelInfo, KernelError> {
    let symvers_path = kernel_build.join("Module.symvers");
    let text = std::fs::read(&symvers_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => KernelError::NoSymvers(kernel_build.to_path_buf()),
        _ => IoError::new(&symvers_path, e).into(),
    })?;
    let symvers = parse_symvers(&text);
    let uts = std::fs::read_to_string(kernel_build.join("include/generated/utsrelease.h"));
    let release = uts.as_deref().unwrap_or_default().lines().find_map(|l| {
        l.strip_prefix("#define UTS_RELEASE \"")
            .and_then(|r| r.strip_suffix('"'))
    });
    if let Some(rel) = release.filter(|rel| *rel != version) {
        return Err(KernelError::WrongRelease(
            kernel_build.to_path_buf(),
            rel.to_string(),
            version.to_string(),
        ));
    }
    let config = std::fs::read_to_string(kernel_build.join(".config")).unwrap_or_default();
    let set = |opt: &str| config.lines().any(|l| l == format!("CONFIG_{opt}=y"));
    let preempt = set("PREEMPT_BUILD") || set("PREEMPT");
    let words = [
        (set("SMP"), "SMP "),
        (set("PREEMPT_RT"), "preempt_rt "),
        (!set("PREEMPT_RT") && preempt, "preempt "),
        (set("MODULE_UNLOAD"), "mod_unload "),
        (set("MODVERSIONS"), "modversions "),
    ];
    let mut prefix = format!("{version} ");
    prefix.extend(words.iter().filter(|(on, _)| *on).map(|(_, word)| *word));
    let vermagic_exact = kernel_modules.map(reference_vermagic).transpose()?;
    Ok(KernelInfo {
        version: version.to_string(),
        vermagic_exact,
        vermagic_prefix: prefix,
        symvers,
    })
}

/// `CRC<TAB>SYMBOL<TAB>MODULE<TAB>TYPE[<TAB>NAMESPACE]` lines.
pub fn parse_symvers(text: &[u8]) -> FxHashMap<Vec<u8>, u64> {
    let mut map = FxHashMap::default();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line.split(|&b| b == b'\t');
        let (Some(crc), Some(sym)) = (fields.next(), fields.next()) else {
            continue;
        };
        let crc = std::str::from_utf8(crc)
            .ok()
            .and_then(|c| u64::from_str_radix(c.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        if !sym.is_empty() {
            map.insert(sym.to_vec(), crc);
        }
    }
    map
}

/// The vermagic of the first readable module listed in `DIR/modules.order`
/// (or found under DIR).
fn reference_vermagic(dir: &Path) -> Result<String, KernelError> {
    let mut candidates: Vec<PathBuf> = std::fs::read_to_string(dir.join("modules.order"))
        .unwrap_or_default()
        .lines()
        .take(20)
        .map(|l| dir.join(l))
        .collect();
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if candidates.len() > 40 {
            break;
        }
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_file() && crate::kmod::is_module_file_name(&name) {
            candidates.push(entry.path().to_path_buf());
        }
    }
    for c in candidates {
        let Some(p) = camino::Utf8Path::from_path(&c) else {
            continue;
        };
        for base in [
            p.to_path_buf(),
            p.with_extension("ko.xz"),
            p.with_extension("ko.zst"),
        ] {
            let meta = crate::module::read_module_file(&base, &Limits::default());
            if let Some(v) = meta.ok().as_ref().and_then(vermagic_of) {
                return Ok(v);
            }
        }
    }
    Err(KernelError::NoReferenceModule(dir.to_path_buf()))
}

/// One problem with one module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub module: String,
    pub cause: String,
}

/// Checks `modules` (name, metadata) of one package against the kernel.
pub fn check_modules(kernel: &KernelInfo, modules: &[(String, ModuleMeta)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut package_exports: FxHashMap<&[u8], u64> = FxHashMap::default();
    for (_, meta) in modules {
        for e in &meta.exports {
            package_exports.insert(&e.name, e.crc);
        }
    }
    for (name, meta) in modules {
        let problem = |cause: String| Problem {
            module: name.clone(),
            cause,
        };
        let matches = |v: &String| match &kernel.vermagic_exact {
            Some(exact) => v == exact,
            None => v.starts_with(&kernel.vermagic_prefix),
        };
        match vermagic_of(meta) {
            None => problems.push(problem("no vermagic in .modinfo".into())),
            Some(v) if !matches(&v) => {
                let want = kernel
                    .vermagic_exact
                    .clone()
                    .unwrap_or_else(|| format!("{}...", kernel.vermagic_prefix));
                problems.push(problem(format!(
                    "vermagic '{v}' does not match the kernel's '{want}'"
                )));
            }
            Some(_) => {}
        }
        let mut missing = Vec::new();
        for import in &meta.imports {
            if import.weak {
                continue;
            }
            let provider = kernel
                .symvers
                .get(&import.name)
                .or_else(|| package_exports.get(import.name.as_slice()));
            match provider {
                None => missing.push(String::from_utf8_lossy(&import.name).into_owned()),
                Some(&crc) if import.crc != 0 && crc != 0 && crc != import.crc => {
                    problems.push(problem(format!(
                        "disagrees about version of symbol {} (module 0x{:08x}, provider 0x{:08x})",
                        String::from_utf8_lossy(&import.name),
                        import.crc,
                        crc
                    )))
                }
                Some(_) => {}
            }
        }
        if !missing.is_empty() {
            problems.push(problem(format!(
                "unknown symbols (not in the kernel's Module.symvers nor exported by the package): {}",
                missing.join(", ")
            )));
        }
    }
    problems
}
