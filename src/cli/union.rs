//! Assembling trees: `union`, `make-module-directory` (Guix's
//! make-linux-module-directory), `guix-db` (Guix's databases) and `flat`
//! (Guix's initrd module folder).

use super::common::{Basedir, Jobs, ModuleSize};
use super::output::{err, Io};
use super::{failure, Status, Stop};
use clap::{Args, ValueEnum};
use kmodtree::guix::{self, GuixDatabase};
use kmodtree::union::{self, CollisionRule, LinkMode, UnionOptions};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Symlink,
    Copy,
    Hardlink,
    Buildenv,
}

#[derive(Clone, Copy, ValueEnum)]
enum CollisionsArg {
    First,
    Error,
    Last,
}

/// How a union treats files and collisions.
#[derive(Args)]
pub struct UnionFlags {
    /// How output files refer to input files (buildenv: symlinks, and a directory only one input holds is one link, as nixpkgs' buildEnv)
    #[arg(long = "mode", value_enum, default_value = "symlink")]
    mode: ModeArg,
    /// Different files under one name: first input wins (Guix, with its warning), error (nixpkgs buildEnv), last input wins
    #[arg(long = "collisions", value_enum, default_value = "first")]
    collisions: CollisionsArg,
}

impl UnionFlags {
    fn options(&self) -> UnionOptions {
        UnionOptions {
            mode: match self.mode {
                ModeArg::Symlink => LinkMode::Symlink,
                ModeArg::Copy => LinkMode::Copy,
                ModeArg::Hardlink => LinkMode::Hardlink,
                ModeArg::Buildenv => LinkMode::BuildEnv,
            },
            collisions: match self.collisions {
                CollisionsArg::First => CollisionRule::First,
                CollisionsArg::Error => CollisionRule::Error,
                CollisionsArg::Last => CollisionRule::Last,
            },
        }
    }
}

#[derive(Args)]
pub struct UnionArgs {
    #[command(flatten)]
    flags: UnionFlags,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    /// The directory to create (must not exist)
    out: PathBuf,
    /// Input directories, in priority order
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run_union(args: &UnionArgs, io: &mut Io) -> Result<Status, Stop> {
    let progress = args.progress.hook();
    let opts = args.flags.options();
    match union::union_build_with_progress(&args.out, &args.inputs, &opts, progress.get()) {
        Ok(report) => {
            io.err(report.warnings.concat().as_bytes())?;
            Ok(0)
        }
        Err(e) => failure(io, e),
    }
}

#[derive(Args)]
pub struct MakeModuleDirectoryArgs {
    #[command(flatten)]
    flags: UnionFlags,
    /// Delete what Guix deletes (modules.builtin.modinfo too), for bit-identity with Guix's output
    #[arg(long = "guix-compat")]
    guix_compat: bool,
    /// Also write Guix's modules.name, modules.alias, modules.devname (replacing kmod's text alias/devname)
    #[arg(long = "guix-databases")]
    guix_databases: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    #[command(flatten)]
    jobs: Jobs,
    /// The directory to create (must not exist)
    out: PathBuf,
    /// The kernel version (the one directory under lib/modules)
    version: String,
    /// Input trees (kernel first), in priority order
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

impl MakeModuleDirectoryArgs {
    /// The flags as the library's options.
    fn options(&self) -> union::ModuleDirectoryOptions {
        union::ModuleDirectoryOptions {
            union: self.flags.options(),
            guix_compat: self.guix_compat,
            guix_databases: self.guix_databases,
            jobs: self.jobs.jobs,
        }
    }
}

pub fn run_make_module_directory(
    args: &MakeModuleDirectoryArgs,
    io: &mut Io,
) -> Result<Status, Stop> {
    match union::make_module_directory_with_progress(
        &args.out,
        &args.version,
        &args.inputs,
        &args.options(),
        &args.progress.hook(),
    ) {
        Ok(report) => {
            io.err(report.union.warnings.concat().as_bytes())?;
            for d in &report.depmod_diagnostics {
                io.err(d.render("depmod").as_bytes())?;
            }
            Ok(0)
        }
        Err(e) => failure(io, e),
    }
}

#[derive(Args)]
pub struct GuixDbArgs {
    #[command(flatten)]
    jobs: Jobs,
    /// Write only this database (repeatable; default: all three)
    #[arg(long = "only", value_enum, value_name = "DB")]
    only: Vec<GuixDbName>,
    /// The module directory (its name is written into modules.name as given)
    dir: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GuixDbName {
    /// modules.name (write-module-name-database)
    Name,
    /// modules.alias (write-module-alias-database)
    Alias,
    /// modules.devname (write-module-device-database)
    Devname,
}

impl GuixDbArgs {
    /// The databases to write.
    fn databases(&self) -> Vec<GuixDatabase> {
        if self.only.is_empty() {
            return GuixDatabase::ALL.to_vec();
        }
        self.only
            .iter()
            .map(|d| match d {
                GuixDbName::Name => GuixDatabase::Name,
                GuixDbName::Alias => GuixDatabase::Alias,
                GuixDbName::Devname => GuixDatabase::Devname,
            })
            .collect()
    }
}

pub fn run_guix_db(args: &GuixDbArgs, io: &mut Io) -> Result<Status, Stop> {
    match guix::write_guix_databases(
        Path::new(&args.dir),
        &args.dir,
        args.jobs.jobs,
        &args.databases(),
    ) {
        Ok(()) => Ok(0),
        Err(e) => failure(io, e),
    }
}

#[derive(Args)]
#[command(mut_arg("basedir", |a| a
    .required(true)
    .help("Base directory holding lib/modules/VERSION")))]
pub struct FlatArgs {
    #[command(flatten)]
    basedir: Basedir,
    /// Also take soft dependencies (pre: and post:)
    #[arg(long = "softdeps")]
    softdeps: bool,
    #[command(flatten)]
    size: ModuleSize,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    /// The directory to create (must not exist)
    out: PathBuf,
    /// The kernel version
    version: String,
    /// Modules to include, with their dependencies (dashes or underscores)
    #[arg(required = true)]
    modules: Vec<String>,
}

impl FlatArgs {
    /// The flags as the library's options.
    fn options(&self) -> guix::FlatOptions {
        guix::FlatOptions {
            softdeps: self.softdeps,
            limits: self.size.limits(),
        }
    }
}

pub fn run_flat(args: &FlatArgs, io: &mut Io) -> Result<Status, Stop> {
    let base = args.basedir.required()?;
    let progress = args.progress.hook();
    match guix::flat_module_directory_with_progress(
        &args.out,
        base,
        &args.version,
        &args.modules,
        &args.options(),
        progress.get(),
    ) {
        Ok(report) => {
            for b in &report.builtin {
                err!(io, "kmodtree: {b} is built into the kernel\n")?;
            }
            for m in &report.missing_softdeps {
                err!(io, "kmodtree: soft dependency {m} not found, skipped\n")?;
            }
            Ok(0)
        }
        Err(e) => failure(io, e),
    }
}
