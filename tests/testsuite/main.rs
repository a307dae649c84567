//! kmodtree's integration tests, in one test binary (as cargo's own test
//! suite is laid out): one link step for all of them, one process that
//! runs them in parallel. Each module is one family of tests; `common` holds
//! the helpers they share (fixtures, synthetic modules, running kmod).
//!
//! Run one family with a name filter: `cargo test --features failpoints
//! --test testsuite depmod_cli::`. The fault-injection tests need the
//! `failpoints` feature (it compiles the hooks into the binary under test).

mod common;

mod audit_incremental;
mod audit_tools;
mod cli_docs;
mod cli_json;
mod cli_messages;
mod cli_output;
mod cli_progress;
mod closure_copy;
mod closure_show_depends;
mod depmod_cli;
mod depmod_cycles;
mod depmod_determinism;
mod depmod_faults;
mod depmod_fixtures;
mod depmod_property;
mod depmod_snapshots;
mod determinism;
mod dkms_build;
mod dkms_compare;
mod faults_bombs;
// Needs the KMODTREE_TEST_KILL_AT hook.
#[cfg(feature = "failpoints")]
mod faults_generations;
mod faults_namespaces;
mod faults_signals;
mod fuzz_corpus;
mod guix_databases;
mod guix_flat;
mod guix_module;
mod index_hostile;
mod index_kernel_size;
mod index_kmod;
mod index_lookup;
mod index_roundtrip;
mod index_spec;
mod modinfo_cli;
mod modinfo_fixtures;
mod modinfo_kmod34;
mod modinfo_names;
mod modprobe_parity;
mod module_reader;
mod nix_builders;
mod tool_symlinks;
mod tree_hostile;
mod union_build;
mod union_make_module_directory;
mod verify_kmod_writer;
