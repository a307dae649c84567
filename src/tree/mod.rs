//! Discovering a module tree: the walk of `lib/modules/VERSION` (and
//! external directories), depmod.d configuration, duplicate resolution, and
//! the kernel-build inputs `modules.order`, `modules.builtin`,
//! `modules.builtin.modinfo`, `System.map` and `Module.symvers`.

pub mod builtin;
pub mod config;
pub mod kernel_symbols;
pub mod order;
pub mod walk;

pub use config::Config;
