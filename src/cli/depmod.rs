//! `kmodtree depmod` and the `depmod` symlink: every depmod flag, its
//! conversion to the library's options, and what is printed. (The only
//! file that knows the depmod library API.)

use super::common::{Basedir, Jobs, Kmod, ModuleSize};
use super::output::{err, out, Io};
use super::{Status, Stop};
use clap::Args;
use kmodtree::depmod::{self, ConfigSource, Depmod, KernelSymbols, ModuleSelection};
use kmodtree::kmod::{is_version_number, Diagnostic, Level};
use kmodtree::tree::walk::Suffixes;

const DEPMOD_AFTER_HELP: &str = "\
Deliberate differences from kmod's depmod:
  * Configuration is hermetic: without -C, only BASEDIR/etc/depmod.d,
    BASEDIR/lib/depmod.d and BASEDIR/usr/lib/depmod.d are read, never the
    host's /etc (use --host-config for kmod's list).
  * Directories are walked in sorted order, so when two files give the same
    module name and kmod's priority rules tie, the result does not depend on
    the file system's directory order.
  * Each database is written to a temporary file as it is rendered; the
    temporaries replace the databases only once all were rendered and
    written, so nothing changes when any of them fails (kmod stops
    half-way).
  * Index content with bytes >= 0x80 is refused for every --kmod-version
    (kmod 30 would write a corrupt index).
  * The options are kmod 34's for every --kmod-version: -o and -m DIR work
    with --kmod-version 30 too (kmod 30 has no -o, its -m is an ignored
    flag, and it accepts -u -q -r).
  * Output to stdout (-n, -V) that cannot be written ends the run with
    status 1 (kmod ignores the error, or dies of SIGPIPE).";

#[derive(Args, Clone)]
// getopt_long, as kmod's depmod, takes any unambiguous prefix of a long
// option (`--base DIR`).
#[command(
    disable_version_flag = true,
    infer_long_args = true,
    after_help = DEPMOD_AFTER_HELP
)]
pub struct DepmodArgs {
    /// Probe all modules (implied when no module file is given)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Only do the work if a module is newer than modules.dep
    #[arg(short = 'A', long = "quick")]
    quick: bool,
    #[command(flatten)]
    basedir: Basedir,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    size: ModuleSize,
    #[command(flatten)]
    kmod: Kmod,
    /// Module directory under the base directory (default lib/modules)
    #[arg(short = 'm', long = "moduledir", value_name = "DIR")]
    moduledir: Option<String>,
    /// Output base directory (default: the base directory)
    #[arg(short = 'o', long = "outdir", value_name = "DIR")]
    outdir: Option<String>,
    /// Read configuration from PATH (file or directory; repeatable)
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    config: Vec<String>,
    /// Read kmod's host configuration directories (/etc/depmod.d, ...)
    #[arg(long = "host-config")]
    host_config: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    /// Report symbols no module or kernel provides (needs -E or -F)
    #[arg(short = 'e', long = "errsyms")]
    errsyms: bool,
    /// Use Module.symvers to check symbol versions
    #[arg(short = 'E', long = "symvers", value_name = "FILE")]
    symvers: Option<String>,
    /// Use System.map for the kernel's symbols
    #[arg(short = 'F', long = "filesyms", value_name = "FILE")]
    filesyms: Option<String>,
    /// Write the text databases to stdout only
    #[arg(short = 'n', long = "show", visible_alias = "dry-run")]
    dry_run: bool,
    /// Architecture symbol prefix
    #[arg(short = 'P', long = "symbol-prefix", value_name = "CHAR")]
    prefix: Option<String>,
    /// Warn on duplicates
    #[arg(short = 'w', long = "warn")]
    warn: bool,
    /// Verbose: print each dependency found (twice: informational messages)
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    /// Show version
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Behave like a kmod built without zlib (Debian's): .ko.gz files are not modules
    #[arg(long = "without-zlib")]
    without_zlib: bool,
    /// Reuse the metadata of unchanged modules recorded in FILE, and update FILE
    /// (a missing, stale or corrupt FILE only costs speed)
    #[arg(long = "manifest", value_name = "FILE")]
    manifest: Option<std::path::PathBuf>,
    /// With --manifest: hash every module instead of trusting an unchanged
    /// (device, inode, size, mtime, ctime)
    #[arg(long = "manifest-verify", requires = "manifest")]
    manifest_verify: bool,
    /// With --manifest: only read FILE, never update it
    #[arg(long = "manifest-read-only", requires = "manifest")]
    manifest_read_only: bool,
    /// With --manifest: print how many modules the manifest saved reading
    #[arg(long = "manifest-stats", requires = "manifest")]
    manifest_stats: bool,
    /// [VERSION] [MODULE_FILE...]
    #[arg(value_name = "ARGS", allow_hyphen_values = false)]
    args: Vec<String>,
}

impl DepmodArgs {
    /// The flags as the library's run, or kmod's message for arguments
    /// depmod refuses before reading anything (`-P` of more than one
    /// character, a first argument that is not a version).
    fn depmod(&self) -> Result<Depmod, Stop> {
        let refuse = |d: Diagnostic| Err(Stop::Message(d.render("depmod")));
        let prefix = match self.prefix.as_deref().map(str::as_bytes) {
            None => None,
            Some(&[c]) => Some(c),
            Some(_) => return refuse(Diagnostic::fatal("-P only takes a single char")),
        };
        let mut args = self.args.iter().peekable();
        let version = match args.next_if(|v| is_version_number(v)) {
            Some(v) => v.clone(),
            None => match args.peek() {
                Some(bad) => return refuse(Diagnostic::error(format!("Bad version passed {bad}"))),
                None => super::common::kernel_release(),
            },
        };
        let files: Vec<camino::Utf8PathBuf> = args.map(Into::into).collect();
        let mut d = match self.basedir.text()? {
            Some(b) => Depmod::new(b, version),
            None => Depmod::system(version),
        };
        if let Some(m) = &self.moduledir {
            d = d.module_dir(m);
        }
        if let Some(o) = &self.outdir {
            d = d.output_base(o);
        }
        if let Some(m) = &self.manifest {
            d = d
                .manifest(m, self.manifest_verify)
                .manifest_read_only(self.manifest_read_only);
        }
        // -E wins over -F.
        let kernel_symbols = match (&self.symvers, &self.filesyms) {
            (Some(f), _) => KernelSymbols::Symvers(f.into()),
            (None, Some(f)) => KernelSymbols::SystemMap(f.into()),
            (None, None) => KernelSymbols::None,
        };
        let config = if !self.config.is_empty() {
            ConfigSource::Paths(self.config.iter().map(Into::into).collect())
        } else if self.host_config {
            ConfigSource::Host
        } else {
            ConfigSource::Hermetic
        };
        let modules = if self.all || files.is_empty() {
            ModuleSelection::All
        } else {
            ModuleSelection::Files(files)
        };
        Ok(d.kernel_symbols(kernel_symbols)
            .config(config)
            .modules(modules)
            .errsyms(self.errsyms)
            .kmod_version(self.kmod.kmod_version)
            .suffixes(Suffixes {
                gzip: !self.without_zlib,
                ..Suffixes::default()
            })
            .limits(self.size.limits())
            .jobs(self.jobs.jobs)
            .warn_dups(self.warn)
            .symbol_prefix(prefix)
            .verbose(self.verbose >= 1)
            .dry_run(self.dry_run)
            .quick(self.quick)
            .progress(self.progress.hook()))
    }
}

/// Runs depmod; prints `-v`'s lines and `-n`'s databases, then kmodtree's
/// notes and kmod's diagnostics (`depmod: LEVEL: text`; INFO only with
/// `-vv`).
pub fn run(args: &DepmodArgs, io: &mut Io) -> Result<Status, Stop> {
    if args.version {
        // kmod's two lines, which scripts parse.
        let text = kmodtree::modprobe::version_text(args.kmod.kmod_version, !args.without_zlib);
        io.out("the version", text.as_bytes())?;
        return Ok(0);
    }
    let result = args.depmod()?.run();
    let (verbose, problems, diagnostics) = match &result {
        Ok(r) => (&r.verbose, &r.manifest_problems, r.diagnostics.clone()),
        Err(f) => (&f.verbose, &f.manifest_problems, f.all_diagnostics()),
    };
    if args.verbose >= 1 {
        for line in verbose {
            out!(io, "the verbose lines", "{line}\n")?;
        }
    }
    if let Ok(depmod::Report {
        output: depmod::Output::DryRun(text),
        ..
    }) = &result
    {
        io.out("the databases", text)?;
    }
    let stats = result.as_ref().ok().and_then(|r| r.cache_stats);
    if let (true, Some(s)) = (args.manifest_stats, stats) {
        err!(io, "kmodtree: manifest {s:?}\n")?;
    }
    for p in problems {
        err!(io, "kmodtree: warning: {p}\n")?;
    }
    for d in diagnostics {
        if d.level <= Level::Warning || args.verbose >= 2 {
            io.err(d.render("depmod").as_bytes())?;
        }
    }
    Ok(if result.is_ok() { 0 } else { 1 })
}
