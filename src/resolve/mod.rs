//! Resolving a tree: which module owns each symbol, each module's direct
//! dependencies (with `-e` diagnostics), kmod's global topological numbering,
//! each module's transitive dependency list, and cycle reports.

pub mod cycles;
pub mod deps;
pub mod symbols;

pub use deps::{direct_dependencies, topological_numbers, transitive_dependencies, DepLists};
pub use symbols::SymbolTable;
