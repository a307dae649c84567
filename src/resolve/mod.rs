//! Resolving a tree: which module owns each symbol, each module's direct
//! dependencies (with `-e` diagnostics), kmod's global topological numbering,
//! each module's transitive dependency list, and cycle reports.

pub mod cycles;
pub mod deps;
pub mod symbols;

pub use deps::{
    direct_dependencies, topological_numbers, transitive_dependencies, DirectDeps, TransitiveDeps,
};
pub use symbols::SymbolTable;

/// What resolution needs of one module (in module-array order).
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// Full path, as kmod prints it in warnings.
    pub path: &'a str,
    /// Module name.
    pub name: &'a str,
}
