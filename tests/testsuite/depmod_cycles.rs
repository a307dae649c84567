//! Dependency cycle reports (`depmod: ERROR: Cycle detected: ...`)
//! compared with the real kmod 34 and kmod 30 `depmod`: several loops of
//! different lengths in one tree, with modules using a loop and modules a
//! loop uses, so that the order kmod examines its pending roots in (a
//! circular list whose head moves to the successor of each removed
//! member) decides which module each report starts from. Fixed
//! expectations taken from kmod keep the checks when the tools are absent.

use crate::common;

use common::elf::simple_module;
use common::gen::Rng;
use common::kmod::{compare_runs, real_depmod_or_note, run_kmodtree, run_tool, Kmod};
use common::write_file;
use std::path::Path;

const VER: &str = "1.0";

/// Writes one module per `(name, deps)`: `name` exports `name_fn` and
/// imports `dep_fn` of each dependency. `order` lists the modules.order
/// entries (by name), if any.
fn write_tree(root: &Path, mods: &[(String, Vec<String>)], order: &[String]) {
    for (name, deps) in mods {
        let export = format!("{name}_fn");
        let imports: Vec<String> = deps.iter().map(|d| format!("{d}_fn")).collect();
        let imports: Vec<(&str, bool)> = imports.iter().map(|s| (s.as_str(), false)).collect();
        write_file(
            root,
            &format!("lib/modules/{VER}/kernel/{name}.ko"),
            &simple_module(&[], &[&export], &imports),
        );
    }
    if !order.is_empty() {
        let text: String = order.iter().map(|n| format!("kernel/{n}.ko\n")).collect();
        write_file(
            root,
            &format!("lib/modules/{VER}/modules.order"),
            text.as_bytes(),
        );
    }
}

fn edges(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// Runs kmodtree (and each installed kmod) on the tree; returns
/// kmodtree's stderr for each kmod version.
fn run_all(mods: &[(String, Vec<String>)], order: &[String], label: &str) -> Vec<String> {
    let scratch = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for kmod in Kmod::ALL {
        let ours = scratch.path().join(format!("o{}", kmod.flag()));
        write_tree(&ours, mods, order);
        let args = ["-C", "/dev/null", "-n", "-b", ours.to_str().unwrap(), VER];
        let got = run_kmodtree(kmod, &args).unrooted(&ours);
        if let Some(tool) = real_depmod_or_note(kmod, "depmod_cycles") {
            let theirs = scratch.path().join(format!("k{}", kmod.flag()));
            write_tree(&theirs, mods, order);
            let args = ["-C", "/dev/null", "-n", "-b", theirs.to_str().unwrap(), VER];
            let want = run_tool(&tool, &args).unrooted(&theirs);
            let p = compare_runs(&got, &want);
            assert!(
                p.is_empty(),
                "{label} {}: kmodtree differs from kmod:\n{}",
                kmod.label(),
                p.join("\n")
            );
        }
        out.push(String::from_utf8_lossy(&got.stderr).into_owned());
    }
    out
}

fn cycle_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("Cycle detected") || l.contains("dependency cycles"))
        .collect()
}

#[test]
fn three_loops_among_eleven_modules() {
    // a -> b -> c -> a; d -> e -> d; f -> g -> h -> i -> f; j uses a;
    // i also uses the leaf k. (No loop reachable from a root outside it:
    // kmod's report never ends on such a graph.) Expected lines are
    // kmod 30's and 34's.
    let mods = edges(&[
        ("mod_loop_a", &["mod_loop_b"]),
        ("mod_loop_b", &["mod_loop_c"]),
        ("mod_loop_c", &["mod_loop_a"]),
        ("mod_loop_d", &["mod_loop_e"]),
        ("mod_loop_e", &["mod_loop_d"]),
        ("mod_loop_f", &["mod_loop_g"]),
        ("mod_loop_g", &["mod_loop_h"]),
        ("mod_loop_h", &["mod_loop_i"]),
        ("mod_loop_i", &["mod_loop_f", "mod_loop_k"]),
        ("mod_loop_j", &["mod_loop_a"]),
        ("mod_loop_k", &[]),
    ]);
    for stderr in run_all(&mods, &[], "three loops") {
        assert_eq!(
            cycle_lines(&stderr),
            [
                "depmod: ERROR: Cycle detected: mod_loop_d -> mod_loop_e -> mod_loop_d",
                "depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_f -> mod_loop_g -> mod_loop_h -> mod_loop_i",
                "depmod: ERROR: Cycle detected: mod_loop_c -> mod_loop_a -> mod_loop_b -> mod_loop_c",
                "depmod: ERROR: Found 9 modules in dependency cycles!",
            ],
            "{stderr}"
        );
    }
}

#[test]
fn modules_order_rotates_the_roots() {
    // modules.order puts b before c before a, so kmod's array (and its
    // roots list) starts b, c, a, ...: removing b's loop members moves
    // the head past them.
    let mods = edges(&[
        ("mod_loop_a", &["mod_loop_b"]),
        ("mod_loop_b", &["mod_loop_c"]),
        ("mod_loop_c", &["mod_loop_a"]),
        ("mod_loop_d", &["mod_loop_e"]),
        ("mod_loop_e", &["mod_loop_d"]),
        ("mod_loop_x", &["mod_loop_y"]),
        ("mod_loop_y", &["mod_loop_z"]),
        ("mod_loop_z", &["mod_loop_x"]),
    ]);
    let order: Vec<String> = ["c", "e", "x", "a", "y", "d", "b", "z"]
        .iter()
        .map(|s| format!("mod_loop_{s}"))
        .collect();
    for stderr in run_all(&mods, &order, "ordered loops") {
        assert_eq!(cycle_lines(&stderr).len(), 4, "{stderr}");
    }
}

/// Random trees of disjoint loops (lengths 1..=5), modules using a loop
/// and leaves a loop uses, in a random modules.order.
#[test]
fn random_disjoint_loops() {
    let cases: u64 = std::env::var("KMODTREE_CYCLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    for seed in 0..cases {
        let mut rng = Rng::new(seed);
        let mut mods: Vec<(String, Vec<String>)> = Vec::new();
        let mut next = 0usize;
        let mut name = || {
            next += 1;
            format!("m{next:02}")
        };
        for _ in 0..rng.between(2, 4) {
            let len = rng.between(2, 5);
            let members: Vec<String> = (0..len).map(|_| name()).collect();
            for i in 0..len {
                let mut deps = vec![members[(i + 1) % len].clone()];
                if rng.chance(30) {
                    let leaf = name();
                    mods.push((leaf.clone(), vec![]));
                    deps.push(leaf);
                }
                mods.push((members[i].clone(), deps));
            }
            for _ in 0..rng.below(3) {
                let user = name();
                let target = rng.pick(&members).clone();
                mods.push((user, vec![target]));
            }
        }
        rng.shuffle(&mut mods);
        let mut order: Vec<String> = mods
            .iter()
            .filter(|_| rng.chance(70))
            .map(|(n, _)| n.clone())
            .collect();
        rng.shuffle(&mut order);
        for stderr in run_all(&mods, &order, &format!("seed {seed}")) {
            assert!(stderr.contains("dependency cycles!"), "{stderr}");
        }
    }
}
