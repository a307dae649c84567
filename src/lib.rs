//! kmodtree: assemble Linux kernel module trees and write kmod's `modules.*`
//! databases byte-identically and deterministically.
//!
//! The work is a pipeline, one module per stage:
//!
//! * [`tree`] — discover: walk `lib/modules/VERSION`, read depmod.d
//!   configuration, `modules.order` and the builtin lists;
//! * [`module`] — read: decompress one module file and extract its
//!   `.modinfo`, exported and undefined symbols (run in parallel by [`depmod`]);
//! * [`resolve`] — symbol owners, direct and transitive dependencies, cycles;
//! * [`render`] — pure functions from the resolved tree to the bytes of each
//!   database, with [`index`] for kmod's binary trie format;
//! * [`output`] — the only stage that writes databases: temporary files,
//!   then renames.
//!
//! Command families sit on top: [`depmod`] (the typed [`Depmod`] builder:
//! a tree and options in, a [`depmod::Report`] or a [`depmod::DepmodFailure`]
//! out), [`modinfo`], [`closure`] (modprobe's
//! `--show-depends` and `-R`, module closures, load scripts), [`union`] (merge
//! trees; Guix's `make-linux-module-directory`) and [`guix`] (Guix's own
//! databases and initrd module folder), and [`dkms`] (building out-of-tree
//! modules from dkms.conf or GLEP 33 sources in a sandbox, with load checks).
//!
//! The entry points, each with an example:
//!
//! * [`Depmod`]`::new(base, version)…run()` → [`depmod::Report`];
//! * [`union::union_build`], [`union::make_module_directory`];
//! * [`closure::assemble_module_closure`] (a tree's subset for an initrd);
//! * [`closure::show_depends()`], [`closure::match_aliases`] and
//!   [`closure::Resolver`] (modprobe's lookups);
//! * [`modinfo::render`] over [`module::read_module_file`];
//! * [`audit::audit_tree`], [`audit::diff()`], [`audit::verify()`];
//! * [`guix::guix_databases`], [`guix::write_guix_databases`],
//!   [`guix::flat_module_directory`];
//! * [`dkms::build::build`].
//!
//! Errors are `thiserror` enums that keep the `io::Error` as their source
//! with the path; kmod's message texts come from
//! [`kmod::Diagnostic`]s. Nothing in the library parses a command line,
//! prints or exits.

pub mod audit;
pub mod closure;
pub mod depmod;
pub mod dkms;
#[doc(hidden)]
pub mod fuzz;
pub mod guix;
pub mod index;
pub mod jobs;
pub mod kmod;
pub mod kmod_hash;
pub mod modinfo;
pub mod modinfo_names;
pub mod modprobe;
pub mod module;
pub mod output;
pub mod progress;
pub mod render;
pub mod resolve;
pub mod tree;
pub mod union;

pub use depmod::Depmod;
