//! The fuzz targets as plain tests: every function of `kmodtree::fuzz` runs
//! over its hand-written seeds (`fuzz/seeds/TARGET/`), every crash the
//! fuzzer found (`fuzz/regressions/TARGET/`, the regression tests of the
//! fuzz campaign) and inputs taken from the fixture trees. This needs no
//! nightly toolchain and no libFuzzer; `fuzz/smoke.sh` runs the real
//! fuzzers.

use crate::common;

use std::path::{Path, PathBuf};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Fixture files for `target` (a bounded sample, so the test stays fast).
fn fixture_inputs(target: &str) -> Vec<PathBuf> {
    let fixtures = common::fixtures_dir();
    let mut all: Vec<PathBuf> = walkdir::WalkDir::new(&fixtures)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    all.sort();
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let pick: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| {
            let n = name(p);
            match target {
                "module_file" => {
                    common::is_module_file(&n)
                        && (path(p).contains("/edge/") || p.metadata().unwrap().len() < 16 * 1024)
                }
                "index" => n.starts_with("modules.") && n.ends_with(".bin"),
                "tree_lists" => {
                    matches!(
                        n.as_str(),
                        "modules.order" | "modules.builtin" | "modules.builtin.modinfo"
                    )
                }
                "kernel_symbols" => matches!(n.as_str(), "System.map" | "Module.symvers"),
                "depmod_config" => path(p).contains("depmod.d/"),
                "modprobe_config" => matches!(n.as_str(), "modules.softdep" | "modules.weakdep"),
                _ => false,
            }
        })
        .collect();
    // Every 4th index and module, to bound the run time in debug builds.
    match target {
        "module_file" | "index" => pick.into_iter().step_by(4).collect(),
        _ => pick,
    }
}

fn run_target(target: &str) {
    let (_, f) = kmodtree::fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = files_in(&fuzz.join("seeds").join(target));
    inputs.extend(files_in(&fuzz.join("regressions").join(target)));
    let fixtures = fixture_inputs(target);
    assert!(
        !fixtures.is_empty(),
        "no fixture inputs for {target} under {} (set KMODTREE_FIXTURES)",
        common::fixtures_dir().display()
    );
    inputs.extend(fixtures);
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        let run = std::panic::catch_unwind(|| f(&data));
        assert!(run.is_ok(), "{target} panicked on {}", p.display());
        // Truncations of each input (every parser sees short files).
        for cut in [0, 1, 7, 64, data.len() / 2, data.len().saturating_sub(1)] {
            if cut < data.len() {
                let run = std::panic::catch_unwind(|| f(&data[..cut]));
                assert!(
                    run.is_ok(),
                    "{target} panicked on {} cut at {cut}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn module_file() {
    run_target("module_file");
}

#[test]
fn index() {
    run_target("index");
}

#[test]
fn depmod_config() {
    run_target("depmod_config");
}

#[test]
fn tree_lists() {
    run_target("tree_lists");
}

#[test]
fn kernel_symbols() {
    run_target("kernel_symbols");
}

#[test]
fn modprobe_config() {
    run_target("modprobe_config");
}

#[test]
fn every_target_is_tested_and_has_a_libfuzzer_wrapper() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (name, _) in kmodtree::fuzz::TARGETS {
        assert!(
            fuzz.join(format!("{name}.rs")).is_file(),
            "fuzz/fuzz_targets/{name}.rs missing"
        );
    }
    assert_eq!(files_in(&fuzz).len(), kmodtree::fuzz::TARGETS.len());
}
