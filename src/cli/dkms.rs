//! `kmodtree dkms plan|build`: out-of-tree modules from DKMS (dkms.conf) or
//! GLEP 33 (BUILD_PARAMS) sources.

use super::common::{choice, Jobs};
use super::output::{err, out, Io};
use super::{failed, Status, Stop};
use clap::{Args, Subcommand};
use kmodtree::dkms::build::{self, BuildOptions, Compress, SourceOutcome};
use kmodtree::dkms::sandbox::SandboxMode;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DkmsCommand {
    /// Evaluate SRC/dkms.conf (with bash, as DKMS) and print the build plan as JSON
    Plan(DkmsPlanArgs),
    /// Build SRC folders against a kernel's build folder into a new module tree OUT
    Build(DkmsBuildArgs),
}

/// `--arch`, or this machine's (as `uname -m`).
fn arch(arch: &Option<String>) -> String {
    arch.clone()
        .unwrap_or_else(|| kmodtree::dkms::conf::default_arch().to_string())
}

/// Prints `value` as pretty JSON and a newline.
fn print_json(
    io: &mut Io,
    what: &'static str,
    value: &impl serde::Serialize,
) -> Result<Status, Stop> {
    let json = serde_json::to_string_pretty(value).map_err(failed)?;
    out!(io, what, "{json}\n")?;
    Ok(0)
}

#[derive(Args)]
pub struct DkmsPlanArgs {
    /// The source folder (or its dkms.conf)
    src: PathBuf,
    /// Kernel version ($kernelver)
    #[arg(long = "kernel-version", short = 'k')]
    kernel_version: String,
    /// Kernel build folder ($kernel_source_dir; default /lib/modules/V/build)
    #[arg(long = "kernel-build")]
    kernel_build: Option<PathBuf>,
    /// Architecture ($arch; default: this machine's, as uname -m)
    #[arg(long = "arch")]
    arch: Option<String>,
}

pub fn run_plan(args: &DkmsPlanArgs, io: &mut Io) -> Result<Status, Stop> {
    let plan = build::plan(
        &args.src,
        &args.kernel_version,
        &arch(&args.arch),
        args.kernel_build.as_deref(),
    )
    .map_err(failed)?;
    print_json(io, "the build plan", &plan)
}

#[derive(Args)]
#[command(mut_arg("jobs", |a| a.help("make -j (default: the number of cores, as DKMS)")))]
pub struct DkmsBuildArgs {
    /// Source folders (each with a dkms.conf or a BUILD_PARAMS), built in parallel
    #[arg(required = true)]
    src: Vec<PathBuf>,
    /// The kernel's build folder (headers with kbuild, Module.symvers)
    #[arg(long = "kernel-build")]
    kernel_build: PathBuf,
    /// Kernel version
    #[arg(long = "kernel-version", short = 'k')]
    kernel_version: String,
    /// The output folder (must not exist)
    #[arg(long = "out")]
    out: PathBuf,
    /// Compress the installed modules
    #[arg(long = "compress", value_parser = choice([
        ("xz", Compress::Xz),
        ("zst", Compress::Zst),
        ("gz", Compress::Gz),
    ]))]
    compress: Option<Compress>,
    /// Architecture ($arch, BUILD_EXCLUSIVE_ARCH; default: this machine's)
    #[arg(long = "arch")]
    arch: Option<String>,
    #[command(flatten)]
    jobs: Jobs,
    /// Isolation of the build steps: namespaces when possible, always, or never
    #[arg(long = "sandbox", default_value = "auto", value_parser = choice([
        ("auto", SandboxMode::Auto),
        ("require", SandboxMode::Require),
        ("none", SandboxMode::None),
    ]))]
    sandbox: SandboxMode,
    /// Where scratch folders go (default: $TMPDIR)
    #[arg(long = "scratch")]
    scratch: Option<PathBuf>,
    /// The kernel's lib/modules/V: vermagic must equal that of its modules
    #[arg(long = "kernel-modules")]
    kernel_modules: Option<PathBuf>,
    /// Install every module under this location instead of DEST_MODULE_LOCATION
    /// (DKMS on Debian/Ubuntu/Arch: /updates/dkms; Fedora/RHEL: /extra; SUSE: /updates)
    #[arg(long = "location-override")]
    location_override: Option<String>,
    /// Do not strip -g the modules (DKMS strips unless STRIP[n]=no)
    #[arg(long = "no-strip")]
    no_strip: bool,
    /// Print the outcomes as JSON
    #[arg(long = "json")]
    json: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
}

pub fn run_build(args: &DkmsBuildArgs, io: &mut Io) -> Result<Status, Stop> {
    let options = BuildOptions {
        kernel_build: args.kernel_build.clone(),
        kernel_version: args.kernel_version.clone(),
        arch: arch(&args.arch),
        out: args.out.clone(),
        compress: args.compress,
        jobs: args
            .jobs
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        sandbox: args.sandbox,
        scratch: args.scratch.clone(),
        kernel_modules: args.kernel_modules.clone(),
        location_override: args.location_override.clone(),
        strip: !args.no_strip,
        progress: args.progress.hook(),
    };
    let outcomes = build::build(&args.src, &options).map_err(failed)?;
    if args.json {
        return print_json(io, "the outcomes", &outcomes);
    }
    for o in &outcomes {
        match o {
            SourceOutcome::Built {
                package,
                modules,
                sandbox,
            } => {
                for m in modules {
                    out!(io, "the outcomes", "{package}: built {}\n", m.path)?;
                }
                if !sandbox.no_network {
                    err!(
                        io,
                        "kmodtree: warning: {package}: built without namespaces (no network/read-only isolation)\n"
                    )?;
                }
            }
            SourceOutcome::Skipped { package, reason } => {
                out!(io, "the outcomes", "{package}: skipped: {reason}\n")?;
            }
        }
    }
    Ok(0)
}
