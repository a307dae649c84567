//! Reporting dependency cycles the way kmod does (spec §7.4).

use super::DepLists;
use crate::kmod::Diagnostic;
use std::collections::{BTreeSet, VecDeque};

/// Removes `m`, if present, from kmod's pending cycle roots: a circular
/// list whose head is the next root examined. Removing any element makes
/// the one after it the new head (libkmod's `kmod_list_remove_data`
/// returns the removed node's successor, and depmod stores that as the
/// list), so the examination order rotates as members of reported cycles
/// are removed.
fn remove_root(roots: &mut VecDeque<u32>, m: u32) {
    if let Some(at) = roots.iter().position(|&r| r == m) {
        roots.rotate_left(at);
        roots.pop_front();
    }
}

/// kmod's cycle report for the modules left with users after numbering:
/// one `Cycle detected: a -> b -> a` error per cycle found by its DFS, and
/// the number N of modules on them (kmod's last line is `Found N modules
/// in dependency cycles!`).
///
/// kmod's search re-expands visited modules and can loop forever on some
/// graphs (a cycle reachable from a root that is not on it); kmodtree
/// bounds the work per root instead, reporting what it found.
pub fn report_cycles(names: &[&str], deps: &DepLists, users: &[u32]) -> (Vec<Diagnostic>, usize) {
    let n = names.len();
    let mut roots: VecDeque<u32> = (0..n as u32).filter(|&i| users[i as usize] > 0).collect();
    let mut visited = vec![false; n];
    let mut members: BTreeSet<u32> = BTreeSet::new();
    let mut diags = Vec::new();
    // Vertices: (module, parent vertex index).
    let mut vertices: Vec<(u32, Option<usize>)> = Vec::new();
    let budget = (n + 1).saturating_mul(n + 1).min(4_000_000);
    while let Some(root) = roots.pop_front() {
        vertices.clear();
        vertices.push((root, None));
        let mut stack = vec![0usize];
        let mut steps = 0usize;
        while let Some(v) = stack.pop() {
            steps += 1;
            if steps > budget {
                break;
            }
            let (m, _) = vertices[v];
            if visited[m as usize] && m == root {
                // The path from the root, walked back through the parents.
                let mut chain: Vec<u32> = std::iter::successors(vertices[v].1, |&p| vertices[p].1)
                    .map(|p| vertices[p].0)
                    .collect();
                chain.reverse();
                let mut text = String::from("Cycle detected: ");
                for &c in &chain {
                    text.push_str(names[c as usize]);
                    text.push_str(" -> ");
                    members.insert(c);
                    remove_root(&mut roots, c);
                }
                text.push_str(names[m as usize]);
                diags.push(Diagnostic::error(text));
                continue;
            }
            visited[m as usize] = true;
            if deps.of(m as usize).is_empty() {
                remove_root(&mut roots, m);
                continue;
            }
            for &d in deps.of(m as usize) {
                vertices.push((d, Some(v)));
                stack.push(vertices.len() - 1);
            }
        }
    }
    (diags, members.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::topological_numbers;

    #[test]
    fn fixture_shape() {
        // a->b->c->a, d<->e, f uses a (the edge case `cycle`).
        let names = ["mod_a", "mod_b", "mod_c", "mod_d", "mod_e", "mod_f"];
        let deps = DepLists::from_lists(&[vec![1], vec![2], vec![0], vec![4], vec![3], vec![0]]);
        let users = topological_numbers(&deps).unwrap_err();
        let (d, members) = report_cycles(&names, &deps, &users);
        let texts: Vec<_> = d.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Cycle detected: mod_a -> mod_b -> mod_c -> mod_a",
                "Cycle detected: mod_d -> mod_e -> mod_d",
            ]
        );
        assert_eq!(members, 5);
    }

    #[test]
    fn terminates_on_cycle_below_root() {
        // r -> a -> b -> a, with r used by x -> r -> ... and x in a cycle.
        let names = ["x", "y", "r", "a", "b"];
        let deps = DepLists::from_lists(&[vec![1, 2], vec![0], vec![3], vec![4], vec![3]]);
        let users = topological_numbers(&deps).unwrap_err();
        // Returns (kmod's own search would not).
        let _ = report_cycles(&names, &deps, &users);
    }
}
