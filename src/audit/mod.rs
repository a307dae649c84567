//! Reproducibility audits (issue 8): manifests of module trees
//! ([`manifest`]), semantic differences between trees or manifests
//! ([`diff`]), checks that a tree's databases are fresh and its modules
//! loadable ([`verify`]), and the metadata cache behind
//! `depmod --manifest` ([`cache`]).

pub mod cache;
pub mod esc;
