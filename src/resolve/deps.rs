//! Direct dependencies (spec §7.1), kmod's global topological numbering
//! (§7.2) and transitive dependency lists (§7.3).

use super::SymbolTable;
use crate::kmod::Diagnostic;
use crate::module::SymbolList;

/// Options of the dependency pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct DepOptions {
    /// `-e` (with a kernel map): warn about unknown symbols.
    pub print_unknown: bool,
    /// `-E`: compare CRCs.
    pub check_symvers: bool,
    /// `-v`: describe each dependency found.
    pub verbose: bool,
}

/// Direct dependencies of every module (or, `Vec<u32>`, of one module),
/// in discovery order of the symbols.
#[derive(Clone, Debug, Default)]
pub struct DirectDeps<D = DepLists> {
    pub deps: D,
    /// `-e` warnings, in kmod's order.
    pub diags: Vec<Diagnostic>,
    /// `-v` lines: `PATH needs "SYM": OWNERPATH`.
    pub verbose: Vec<String>,
}

/// The undefined symbols of the module at each array position.
pub type ImportsOf<'a> = dyn Fn(usize) -> &'a SymbolList + Sync + 'a;

/// The path of the module at each array position, as kmod prints it in
/// warnings.
pub type PathOf<'a> = dyn Fn(usize) -> &'a str + Sync + 'a;

/// Looks up every undefined symbol of the `count` modules (`imports(pos)`:
/// those of the module at array position `pos`) in `table`, in parallel;
/// results, warnings and `-v` lines come out in array order.
pub fn direct_dependencies(
    count: usize,
    path_of: &PathOf,
    imports: &ImportsOf,
    table: &SymbolTable,
    opts: DepOptions,
) -> DirectDeps {
    use rayon::prelude::*;
    let mut out = DirectDeps {
        deps: DepLists::with_capacity(count),
        ..Default::default()
    };
    let all: Vec<DirectDeps<Vec<u32>>> = (0..count)
        .into_par_iter()
        .map(|pos| module_direct_dependencies(pos, path_of, imports(pos), table, opts))
        .collect();
    for m in all {
        out.deps.push_list(&m.deps);
        out.diags.extend(m.diags);
        out.verbose.extend(m.verbose);
    }
    out
}

/// Each module's list of dependencies (array positions), by array
/// position, all in one vector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DepLists {
    /// Where each module's list ends in `deps`.
    ends: Vec<usize>,
    deps: Vec<u32>,
}

impl DepLists {
    /// No lists, with room for `modules` of them.
    pub fn with_capacity(modules: usize) -> Self {
        DepLists {
            ends: Vec::with_capacity(modules),
            deps: Vec::new(),
        }
    }

    /// The lists of `lists`, in order.
    pub fn from_lists(lists: &[Vec<u32>]) -> Self {
        let mut d = DepLists::with_capacity(lists.len());
        for l in lists {
            d.push_list(l);
        }
        d
    }

    /// Adds the next module's list.
    pub fn push_list(&mut self, list: &[u32]) {
        self.deps.extend_from_slice(list);
        self.ends.push(self.deps.len());
    }

    /// Module `m`'s list (empty past the last module).
    pub fn of(&self, m: usize) -> &[u32] {
        let start =
            (m.checked_sub(1)).map_or(0, |p| self.ends.get(p).copied().unwrap_or(self.deps.len()));
        let end = self.ends.get(m).copied().unwrap_or(start);
        self.deps.get(start..end).unwrap_or_default()
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// The direct dependencies (owners in first-use order), `-e` warnings and
/// `-v` lines of the module at array position `pos`.
fn module_direct_dependencies(
    pos: usize,
    path_of: &PathOf,
    imports: &SymbolList,
    table: &SymbolTable,
    opts: DepOptions,
) -> DirectDeps<Vec<u32>> {
    let path = path_of(pos);
    let mut out = DirectDeps::<Vec<u32>>::default();
    for imp in imports.iter() {
        let name = || String::from_utf8_lossy(imp.name);
        let Some(sym) = table.find(imp.name) else {
            if opts.print_unknown && !imp.weak {
                let text = format!("{path} needs unknown symbol {}", name());
                out.diags.push(Diagnostic::warning(text));
            }
            continue;
        };
        if opts.check_symvers && sym.crc != imp.crc && !imp.weak && opts.print_unknown {
            let text = format!("{path} disagrees about version of symbol {}", name());
            out.diags.push(Diagnostic::warning(text));
        }
        if let Some(owner) = sym.owner {
            if !out.deps.contains(&owner) {
                out.deps.push(owner);
                if opts.verbose {
                    let owner = path_of(owner as usize);
                    out.verbose
                        .push(format!("{path} needs \"{}\": {owner}", name()));
                }
            }
        }
    }
    out
}

/// kmod's topological numbering: Kahn's algorithm with a LIFO stack seeded
/// with the modules nobody uses, in array order. Returns each module's
/// number, or the remaining user counts when cycles prevent numbering all.
pub fn topological_numbers(deps: &DepLists) -> Result<Vec<u32>, Vec<u32>> {
    let n = deps.len();
    let mut users = vec![0u32; n];
    for m in 0..n {
        for &x in deps.of(m) {
            users[x as usize] += 1;
        }
    }
    let mut stack: Vec<u32> = (0..n as u32).filter(|&i| users[i as usize] == 0).collect();
    let mut number = vec![u32::MAX; n];
    let mut next = 0u32;
    while let Some(m) = stack.pop() {
        number[m as usize] = next;
        next += 1;
        for &d in deps.of(m as usize) {
            users[d as usize] -= 1;
            if users[d as usize] == 0 {
                stack.push(d);
            }
        }
    }
    if (next as usize) < n {
        Err(users)
    } else {
        Ok(number)
    }
}

/// Every module's transitive dependencies, sorted by topological number
/// (each module before its own dependencies).
pub fn transitive_dependencies(deps: &DepLists, numbers: &[u32]) -> DepLists {
    let n = deps.len();
    let mut seen = vec![u32::MAX; n];
    let mut stack = Vec::new();
    let mut out = DepLists::with_capacity(n);
    for m in 0..n {
        let start = out.deps.len();
        stack.clear();
        stack.extend(deps.of(m).iter().rev().copied());
        while let Some(d) = stack.pop() {
            if seen[d as usize] == m as u32 {
                continue;
            }
            seen[d as usize] = m as u32;
            out.deps.push(d);
            stack.extend(deps.of(d as usize).iter().rev().copied());
        }
        out.deps[start..].sort_unstable_by_key(|&d| numbers[d as usize]);
        out.ends.push(out.deps.len());
    }
    out.deps.shrink_to_fit();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_worked_example() {
        // §7.3: order a b c d; a needs c then b, b→d, c→d.
        let deps = DepLists::from_lists(&[vec![2, 1], vec![3], vec![3], vec![]]);
        let numbers = topological_numbers(&deps).unwrap();
        assert_eq!(numbers, vec![0, 1, 2, 3]);
        let t = transitive_dependencies(&deps, &numbers);
        let lists: Vec<&[u32]> = (0..t.len()).map(|m| t.of(m)).collect();
        assert_eq!(lists, [&[1, 2, 3][..], &[3], &[3], &[]]);
        assert_eq!(t.of(4), &[] as &[u32]);
    }

    #[test]
    fn lifo_order_matters() {
        // a and b unused: stack [a, b]; b is popped first.
        let deps = DepLists::from_lists(&[vec![2], vec![2], vec![]]);
        assert_eq!(topological_numbers(&deps).unwrap(), vec![1, 0, 2]);
    }

    #[test]
    fn cycle_leaves_users() {
        let deps = DepLists::from_lists(&[vec![1], vec![0], vec![]]);
        assert!(topological_numbers(&deps).is_err());
    }
}
