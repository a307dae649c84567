//! Entry points for fuzzing: one function per parser of untrusted input.
//!
//! The libFuzzer targets in `fuzz/fuzz_targets/` are one-line wrappers
//! around these, and `tests/testsuite/fuzz_corpus.rs` runs the same
//! functions over the seed inputs and every crash reproducer kept in
//! `fuzz/regressions/`, so a machine without a nightly toolchain still
//! checks them with plain `cargo test`.
//!
//! Each function must return normally for any input: a panic, an
//! out-of-memory or a hang is a bug. Outputs are only checked for internal
//! consistency, not against kmod.

use crate::closure::modprobe_config::ModprobeConfig;
use crate::index::Index;
use crate::module::{Limits, ModuleMeta};
use crate::tree::config::Config;
use camino::Utf8Path;

/// The image size cap used while fuzzing: small, so that a decompression
/// bomb is refused quickly and the fuzzer's memory limit is never reached
/// by a legitimate-looking image.
pub const FUZZ_LIMITS: Limits = Limits {
    max_image_size: 8 << 20,
};

/// A module file: decompression by magic, ELF, `.modinfo`, symbols,
/// `__versions` and the appended signature, then the same bytes through the
/// sparse file reader depmod uses (which reads from a file).
pub fn module_file(data: &[u8]) {
    // depmod does not need the signature (of a compressed image it is
    // read anyway): the readers are compared without it.
    let unsigned = |meta| ModuleMeta {
        signature: None,
        ..meta
    };
    let whole = crate::module::parse_module(data, &FUZZ_LIMITS).map(unsigned);
    thread_local! {
        static PATH: std::path::PathBuf = std::env::temp_dir().join(format!(
            "kmodtree-fuzz-{}-{:?}.ko",
            std::process::id(),
            std::thread::current().id()
        ));
    }
    PATH.with(|path| {
        if std::fs::write(path, data).is_err() {
            return;
        }
        let Some(p) = Utf8Path::from_path(path) else {
            return;
        };
        let sparse = crate::module::read_module_file_for_depmod(p, &FUZZ_LIMITS).map(unsigned);
        // The sparse reader reads fewer bytes but must see the same module
        // (depmod and modinfo must agree on any file).
        assert_eq!(sparse, whole, "sparse and whole-file readers disagree");
    });
}

/// A kmod binary index (`modules.*.bin`): header, full walk, dump, layout
/// detection, exact and wildcard lookups of keys taken from the input.
pub fn index(data: &[u8]) {
    let Ok(index) = Index::parse(data) else {
        return;
    };
    let entries = index.entries();
    let _ = crate::index::dump_lines(&index);
    let _ = crate::index::detect_layout(data);
    // Look up a few keys: some that exist (if the walk worked), and some
    // arbitrary ones cut from the input.
    let mut keys: Vec<Vec<u8>> = Vec::new();
    if let Ok(entries) = &entries {
        keys.extend(entries.iter().take(4).map(|e| e.key.clone()));
    }
    keys.extend(data.chunks(16).take(4).map(<[u8]>::to_vec));
    keys.push(b"pci:v00008086d00001234sv*".to_vec());
    for k in &keys {
        let exact = index.lookup_exact(k);
        let _ = index.lookup_wildcard(k);
        if let (Ok(entries), Ok(found)) = (&entries, &exact) {
            // Every value the lookup finds is one the walk listed (a NUL
            // ends the key, as in C).
            let k = k.split(|&b| b == 0).next().unwrap_or_default();
            for v in found {
                assert!(
                    entries
                        .iter()
                        .any(|e| e.key == k && e.value == v.value && e.priority == v.priority),
                    "lookup found a value the walk did not list"
                );
            }
        }
    }
}

/// A depmod.d configuration file.
pub fn depmod_config(data: &[u8]) {
    let mut cfg = Config::default();
    let mut diags = Vec::new();
    cfg.parse_file(
        Utf8Path::new("fuzz.conf"),
        data,
        "6.12.0-1-amd64",
        &mut diags,
    );
    cfg.finish();
    for d in &diags {
        let _ = d.render("depmod");
    }
}

/// `modules.order`, `modules.builtin` and `modules.builtin.modinfo`
/// (the same bytes are given to each parser).
pub fn tree_lists(data: &[u8]) {
    use crate::kmod::KmodVersion;
    use crate::tree::order::{array_order, parse};
    if let Ok(lines) = parse(data, "modules.order") {
        let names: Vec<String> = lines
            .iter()
            .take(64)
            .map(|l| crate::module::name_from_file_name(&String::from_utf8_lossy(l)))
            .collect();
        let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
        let rel_ref: Vec<Option<&str>> = lines
            .iter()
            .take(64)
            .map(|l| std::str::from_utf8(l).ok())
            .collect();
        for kmod in [KmodVersion::V34, KmodVersion::V30] {
            let order = array_order(&names_ref, &rel_ref, Some(&lines), kmod);
            let mut seen = order.clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..names.len()).collect::<Vec<_>>());
        }
    }
    let _ = crate::tree::builtin::builtin_keys(data);
    let _ = crate::tree::builtin::builtin_aliases(data);
    let _ = crate::closure::copy::builtin_module_firmware(data, b"snd_hda_intel");
}

/// `System.map` (`depmod -F`) and `Module.symvers` (`depmod -E`), with and
/// without a symbol prefix.
pub fn kernel_symbols(data: &[u8]) {
    use crate::tree::kernel_symbols::{parse_module_symvers, parse_system_map};
    for prefix in [None, Some(b'_')] {
        let _ = parse_system_map(data, "System.map", prefix);
        let _ = parse_module_symvers(data, "Module.symvers", prefix, "Success");
    }
}

/// A modprobe.d file (softdep, weakdep, alias, options, install, remove,
/// blacklist lines) and the same bytes as a kernel command line.
pub fn modprobe_config(data: &[u8]) {
    let mut cfg = ModprobeConfig::default();
    let mut messages = Vec::new();
    cfg.parse_file(data, "fuzz.conf", &mut messages);
    cfg.add_kernel_cmdline(data);
    for m in &messages {
        let _ = m.render();
    }
}

/// One fuzz target: takes any bytes, returns normally.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` and the corpus test see
/// them.
pub const TARGETS: &[(&str, Target)] = &[
    ("module_file", module_file),
    ("index", index),
    ("depmod_config", depmod_config),
    ("tree_lists", tree_lists),
    ("kernel_symbols", kernel_symbols),
    ("modprobe_config", modprobe_config),
];
