//! Assembling trees: `union`, `make-module-directory` (Guix's
//! make-linux-module-directory), `guix-db` (Guix's databases) and `flat`
//! (Guix's initrd module folder).

use super::common::{choice, Jobs, ModuleSize};
use super::output::{err, Io};
use super::{failed, Status, Stop};
use clap::builder::{PossibleValue, TypedValueParser};
use clap::Args;
use kmodtree::guix::{self, GuixDatabase};
use kmodtree::union::{self, CollisionRule, LinkMode, UnionOptions};
use std::path::{Path, PathBuf};

/// How a union treats files and collisions.
#[derive(Args)]
pub struct UnionFlags {
    /// How output files refer to input files (buildenv: symlinks, and a directory only one input holds is one link, as nixpkgs' buildEnv)
    #[arg(long = "mode", default_value = "symlink", value_parser = choice([
        ("symlink", LinkMode::Symlink),
        ("copy", LinkMode::Copy),
        ("hardlink", LinkMode::Hardlink),
        ("buildenv", LinkMode::BuildEnv),
    ]))]
    mode: LinkMode,
    /// Different files under one name: first input wins (Guix, with its warning), error (nixpkgs buildEnv), last input wins
    #[arg(long = "collisions", default_value = "first", value_parser = choice([
        ("first", CollisionRule::First),
        ("error", CollisionRule::Error),
        ("last", CollisionRule::Last),
    ]))]
    collisions: CollisionRule,
}

impl UnionFlags {
    fn options(&self, progress: &super::progress::ProgressArgs) -> UnionOptions {
        UnionOptions {
            mode: self.mode,
            collisions: self.collisions,
            progress: progress.hook(),
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
    let opts = args.flags.options(&args.progress);
    let report = union::union_build(&args.out, &args.inputs, &opts).map_err(failed)?;
    io.err(report.warnings.concat().as_bytes())?;
    Ok(0)
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

pub fn run_make_module_directory(
    args: &MakeModuleDirectoryArgs,
    io: &mut Io,
) -> Result<Status, Stop> {
    let report = union::make_module_directory(
        &args.out,
        &args.version,
        &args.inputs,
        &union::ModuleDirectoryOptions {
            union: args.flags.options(&args.progress),
            guix_compat: args.guix_compat,
            guix_databases: args.guix_databases,
            jobs: args.jobs.jobs,
        },
    )
    .map_err(failed)?;
    io.err(report.union.warnings.concat().as_bytes())?;
    for d in &report.depmod_diagnostics {
        io.err(d.render("depmod").as_bytes())?;
    }
    Ok(0)
}

#[derive(Args)]
pub struct GuixDbArgs {
    #[command(flatten)]
    jobs: Jobs,
    /// Write only this database (repeatable; default: all three)
    #[arg(long = "only", value_name = "DB", value_parser = databases())]
    only: Vec<GuixDatabase>,
    /// The module directory (its name is written into modules.name as given)
    dir: String,
}

/// The values of `--only`.
fn databases() -> impl TypedValueParser<Value = GuixDatabase> {
    let db = |name, help: &'static str| PossibleValue::new(name).help(help);
    choice([
        (
            db("name", "modules.name (write-module-name-database)"),
            GuixDatabase::Name,
        ),
        (
            db("alias", "modules.alias (write-module-alias-database)"),
            GuixDatabase::Alias,
        ),
        (
            db("devname", "modules.devname (write-module-device-database)"),
            GuixDatabase::Devname,
        ),
    ])
}

pub fn run_guix_db(args: &GuixDbArgs, _: &mut Io) -> Result<Status, Stop> {
    guix::write_guix_databases(
        Path::new(&args.dir),
        &args.dir,
        args.jobs.jobs,
        match args.only.is_empty() {
            true => &GuixDatabase::ALL,
            false => &args.only,
        },
    )
    .map_err(failed)?;
    Ok(0)
}

#[derive(Args)]
pub struct FlatArgs {
    /// Also take soft dependencies (pre: and post:)
    #[arg(long = "softdeps")]
    softdeps: bool,
    #[command(flatten)]
    size: ModuleSize,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    /// Base directory holding lib/modules/VERSION
    #[arg(short = 'b', long = "basedir", value_name = "BASE", display_order = 0)]
    basedir: PathBuf,
    /// The directory to create (must not exist)
    out: PathBuf,
    /// The kernel version
    version: String,
    /// Modules to include, with their dependencies (dashes or underscores)
    #[arg(required = true)]
    modules: Vec<String>,
}

pub fn run_flat(args: &FlatArgs, io: &mut Io) -> Result<Status, Stop> {
    let report = guix::flat_module_directory(
        &args.out,
        &args.basedir,
        &args.version,
        &args.modules,
        &guix::FlatOptions {
            softdeps: args.softdeps,
            limits: args.size.limits(),
            progress: args.progress.hook(),
        },
    )
    .map_err(failed)?;
    for b in &report.builtin {
        err!(io, "kmodtree: {b} is built into the kernel\n")?;
    }
    for m in &report.missing_softdeps {
        err!(io, "kmodtree: soft dependency {m} not found, skipped\n")?;
    }
    Ok(0)
}
