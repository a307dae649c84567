//! Audits: `audit` (a tree's manifest), `diff` (two trees or manifests
//! explained) and `verify` (a tree's databases fresh, its modules
//! loadable). Their 1 is an answer; errors are 2.

use super::common::{kmod_versions, Basedir, Jobs};
use super::output::{out, Io};
use super::{failed, Status, Stop};
use clap::Args;
use kmodtree::audit;
use kmodtree::kmod::KmodVersion;
use kmodtree::module::Limits;
use std::path::PathBuf;

#[derive(Args)]
pub struct AuditArgs {
    /// Print the manifest as JSON (default: a readable summary)
    #[arg(long = "json")]
    json: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    #[command(flatten)]
    jobs: Jobs,
    /// The directory (usually lib/modules/VERSION)
    dir: PathBuf,
}

pub fn run_audit(args: &AuditArgs, io: &mut Io) -> Result<Status, Stop> {
    let progress = args.progress.hook();
    let m = audit::audit_tree(
        &args.dir,
        args.jobs.jobs,
        &Limits::default(),
        progress.get(),
    )
    .map_err(failed)?;
    if args.json {
        io.out("the manifest", m.to_json().as_bytes())?;
    } else {
        let summary = m.summary(&args.dir.display().to_string());
        io.out("the summary", summary.as_bytes())?;
    }
    Ok(0)
}

#[derive(Args)]
pub struct DiffArgs {
    /// Most itemised differences per module or database (0: all)
    #[arg(long = "limit", value_name = "N", default_value_t = 20)]
    limit: usize,
    /// List every layout-only and link-only difference (default: a count)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Print the differences as JSON (docs/json.md)
    #[arg(long = "json")]
    json: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    #[command(flatten)]
    jobs: Jobs,
    /// Old tree (directory) or manifest (JSON of `kmodtree audit --json`)
    a: PathBuf,
    /// New tree or manifest
    b: PathBuf,
}

pub fn run_diff(args: &DiffArgs, io: &mut Io) -> Result<Status, Stop> {
    let opts = audit::DiffOptions {
        limit: args.limit,
        limits: Limits::default(),
    };
    let jobs = args.jobs.jobs;
    let progress = args.progress.hook();
    let load = |side| audit::load_side(side, jobs, &opts.limits, progress.get());
    let (a, b) = (
        load(&args.a).map_err(failed)?,
        load(&args.b).map_err(failed)?,
    );
    let r = audit::diff(&a, &b, &opts).map_err(failed)?;
    if args.json {
        io.out("the differences", super::json::diff(&r).as_bytes())?;
    } else if !r.identical() {
        for l in r.lines(args.verbose) {
            out!(io, "the differences", "{l}\n")?;
        }
    }
    Ok(if r.identical() { 0 } else { 1 })
}

// No --max-module-size: the library's VerifyOptions has no limits yet.
#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    basedir: Basedir,
    /// depmod configuration file or directory (repeatable)
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    config: Vec<String>,
    /// The kernel's Module.symvers: check symbols and CRCs
    #[arg(short = 'E', long = "symvers", value_name = "FILE")]
    symvers: Option<String>,
    /// The kernel's System.map: check symbols
    #[arg(short = 'F', long = "filesyms", value_name = "FILE")]
    filesyms: Option<String>,
    /// The kernel's vermagic (default: the most common among modules under kernel/)
    #[arg(long = "vermagic", value_name = "STRING")]
    vermagic: Option<String>,
    /// Which kmod's databases the tree should hold (default: the kmod that
    /// wrote its indexes, else 34)
    #[arg(long = "kmod-version", value_parser = kmod_versions())]
    kmod_version: Option<KmodVersion>,
    /// .ko.gz files are not modules (kmod built without zlib)
    #[arg(long = "without-zlib")]
    without_zlib: bool,
    /// Most itemised differences per database (0: all)
    #[arg(long = "limit", value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Print the report as JSON (docs/json.md)
    #[arg(long = "json")]
    json: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    #[command(flatten)]
    jobs: Jobs,
    /// Kernel version
    version: String,
}

pub fn run_verify(args: &VerifyArgs, io: &mut Io) -> Result<Status, Stop> {
    let options = audit::VerifyOptions {
        basedir: args.basedir.text()?,
        version: args.version.clone(),
        config: args.config.clone(),
        symvers: args.symvers.clone(),
        system_map: args.filesyms.clone(),
        vermagic: args.vermagic.clone(),
        // Without the flag: the kmod that wrote the indexes, else 34.
        kmod: args.kmod_version.unwrap_or_default(),
        detect_kmod: args.kmod_version.is_none(),
        jobs: args.jobs.jobs,
        limit: args.limit,
        without_zlib: args.without_zlib,
        progress: args.progress.hook(),
    };
    let r = audit::verify(&options).map_err(failed)?;
    let text = match args.json {
        true => super::json::verify(&r),
        false => r.render(),
    };
    io.out("the report", text.as_bytes())?;
    Ok(if r.ok() { 0 } else { 1 })
}
