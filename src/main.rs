//! The kmodtree command line: parses flags and calls the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use kmodtree::closure::{self, ModprobeOptions};
use kmodtree::depmod;
use kmodtree::kmod::KmodVersion;
use kmodtree::module::Limits;
use kmodtree::tree::walk::Suffixes;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kmodtree",
    version,
    about = "Assemble Linux kernel module trees and write kmod's modules.* databases, byte-identical and deterministic"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write every modules.* database of a module tree, as kmod's depmod does
    Depmod(DepmodArgs),
    /// Show what a module file holds, as kmod's modinfo does (or as JSON)
    Modinfo(ModinfoArgs),
    /// Decode a kmod binary index (.bin) to `KEY<TAB>VALUE<TAB>PRIORITY` lines
    Dump(DumpArgs),
    /// Print what `modprobe --show-depends` prints for each target
    ShowDepends(ShowDependsArgs),
    /// Print the modules an alias (or name, or symbol:NAME) resolves to, like `modprobe -R`
    Match(MatchArgs),
    /// Copy the closure of some root modules (and their firmware) into a new module tree
    Closure(ClosureArgs),
    /// Merge several trees into OUT: real directories, links to (or copies of) files
    Union(UnionArgs),
    /// Union, remove stale modules.* databases, run depmod (Guix's make-linux-module-directory)
    MakeModuleDirectory(MakeModuleDirectoryArgs),
    /// Write Guix's modules.name, modules.alias and modules.devname for DIR
    GuixDb(GuixDbArgs),
    /// Copy a module closure flat into OUT, decompressed, with Guix's modules.name (Guix's initrd folder)
    Flat(FlatArgs),
    /// A manifest of a tree: every file's kind, size and sha256, every module's metadata digest, every database's content digest
    Audit(AuditArgs),
    /// Explain the differences between two trees or manifests (exit 0 identical, 1 different, 2 error)
    Diff(DiffArgs),
    /// Check that a tree's databases are fresh and its modules loadable (exit 0 ok, 1 problems, 2 error)
    Verify(VerifyArgs),
    /// Build out-of-tree modules from DKMS (dkms.conf) or GLEP 33 (BUILD_PARAMS) sources
    #[command(subcommand)]
    Dkms(DkmsCommand),
}

#[derive(Subcommand)]
enum DkmsCommand {
    /// Evaluate SRC/dkms.conf (with bash, as DKMS) and print the build plan as JSON
    Plan(DkmsPlanArgs),
    /// Build SRC folders against a kernel's build folder into a new module tree OUT
    Build(DkmsBuildArgs),
}

#[derive(Args)]
struct DkmsPlanArgs {
    /// The source folder (or its dkms.conf)
    src: std::path::PathBuf,
    /// Kernel version ($kernelver)
    #[arg(long = "kernel-version", short = 'k')]
    kernel_version: String,
    /// Kernel build folder ($kernel_source_dir; default /lib/modules/V/build)
    #[arg(long = "kernel-build")]
    kernel_build: Option<std::path::PathBuf>,
    /// Architecture ($arch; default: this machine's, as uname -m)
    #[arg(long = "arch")]
    arch: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DkmsCompress {
    Xz,
    Zst,
    Gz,
}

#[derive(Clone, Copy, ValueEnum)]
enum DkmsSandbox {
    Auto,
    Require,
    None,
}

#[derive(Args)]
struct DkmsBuildArgs {
    /// Source folders (each with a dkms.conf or a BUILD_PARAMS), built in parallel
    #[arg(required = true)]
    src: Vec<std::path::PathBuf>,
    /// The kernel's build folder (headers with kbuild, Module.symvers)
    #[arg(long = "kernel-build")]
    kernel_build: std::path::PathBuf,
    /// Kernel version
    #[arg(long = "kernel-version", short = 'k')]
    kernel_version: String,
    /// The output folder (must not exist)
    #[arg(long = "out")]
    out: std::path::PathBuf,
    /// Compress the installed modules
    #[arg(long = "compress", value_enum)]
    compress: Option<DkmsCompress>,
    /// Architecture ($arch, BUILD_EXCLUSIVE_ARCH; default: this machine's)
    #[arg(long = "arch")]
    arch: Option<String>,
    /// make -j (default: the number of cores, as DKMS)
    #[arg(long = "jobs", short = 'j')]
    jobs: Option<usize>,
    /// Isolation of the build steps: namespaces when possible, always, or never
    #[arg(long = "sandbox", value_enum, default_value = "auto")]
    sandbox: DkmsSandbox,
    /// Where scratch folders go (default: $TMPDIR)
    #[arg(long = "scratch")]
    scratch: Option<std::path::PathBuf>,
    /// The kernel's lib/modules/V: vermagic must equal that of its modules
    #[arg(long = "kernel-modules")]
    kernel_modules: Option<std::path::PathBuf>,
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
}

#[derive(Args)]
struct AuditArgs {
    /// Print the manifest as JSON (default: a readable summary)
    #[arg(long = "json")]
    json: bool,
    /// Worker threads (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// The directory (usually lib/modules/VERSION)
    dir: std::path::PathBuf,
}

#[derive(Args)]
struct DiffArgs {
    /// Most itemised differences per module or database (0: all)
    #[arg(long = "limit", value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Worker threads (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Old tree (directory) or manifest (JSON of `kmodtree audit --json`)
    a: std::path::PathBuf,
    /// New tree or manifest
    b: std::path::PathBuf,
}

#[derive(Args)]
struct VerifyArgs {
    /// Root of the tree: modules are in BASE/lib/modules/VERSION
    #[arg(short = 'b', long = "basedir", value_name = "BASE")]
    basedir: Option<String>,
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
    /// Which kmod's databases the tree should hold
    #[arg(long = "kmod-version", value_enum, default_value = "34")]
    kmod_version: KmodArg,
    /// .ko.gz files are not modules (kmod built without zlib)
    #[arg(long = "without-zlib")]
    without_zlib: bool,
    /// Most itemised differences per database (0: all)
    #[arg(long = "limit", value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Worker threads (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Kernel version
    version: String,
}

fn run_audit(args: &AuditArgs) -> ExitCode {
    match kmodtree::audit::audit_tree(&args.dir, args.jobs, &Limits::default()) {
        Ok(m) => {
            if args.json {
                print!("{}", m.to_json());
            } else {
                print!("{}", m.summary(&args.dir.display().to_string()));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kmodtree: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_diff(args: &DiffArgs) -> ExitCode {
    use kmodtree::audit;
    let opts = audit::DiffOptions {
        limit: args.limit,
        limits: Limits::default(),
    };
    let result = audit::load_side(&args.a, args.jobs, &opts.limits).and_then(|a| {
        let b = audit::load_side(&args.b, args.jobs, &opts.limits)?;
        audit::diff(&a, &b, &opts)
    });
    match result {
        Ok(r) if r.identical() => ExitCode::SUCCESS,
        Ok(r) => {
            for l in &r.lines {
                println!("{l}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("kmodtree: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_verify(args: &VerifyArgs) -> ExitCode {
    let opts = kmodtree::audit::VerifyOptions {
        basedir: args.basedir.clone(),
        version: args.version.clone(),
        config: args.config.clone(),
        symvers: args.symvers.clone(),
        system_map: args.filesyms.clone(),
        vermagic: args.vermagic.clone(),
        kmod: match args.kmod_version {
            KmodArg::V34 => KmodVersion::V34,
            KmodArg::V30 => KmodVersion::V30,
        },
        jobs: args.jobs,
        limit: args.limit,
        without_zlib: args.without_zlib,
    };
    match kmodtree::audit::verify(&opts) {
        Ok(r) => {
            print!("{}", r.render());
            if r.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("kmodtree: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(Args, Clone)]
#[command(after_help = MODPROBE_AFTER_HELP)]
struct ClosureArgs {
    #[command(flatten)]
    tree: ModprobeArgs,
    /// The directory to create (must not exist, or be empty)
    #[arg(long = "out", short = 'o', value_name = "DIR", required = true)]
    out: std::path::PathBuf,
    /// A firmware directory (like /lib/firmware; repeatable, searched in order)
    #[arg(long = "firmware", value_name = "FWDIR")]
    firmware: Vec<std::path::PathBuf>,
    /// Hard-link the modules instead of copying them
    #[arg(long = "link")]
    link: bool,
    /// Skip roots that do not exist instead of failing
    #[arg(long = "allow-missing")]
    allow_missing: bool,
    /// Also write load-order, load.sh and unload.sh
    #[arg(long = "load-scripts")]
    load_scripts: bool,
    /// Root modules: names, aliases or symbol:NAME
    #[arg(value_name = "ROOT")]
    roots: Vec<std::ffi::OsString>,
}

fn run_closure(args: &ClosureArgs) -> ExitCode {
    let opts = closure::ClosureOptions {
        modprobe: args.tree.options(false),
        out: args.out.clone(),
        firmware_dirs: args.firmware.clone(),
        link: args.link,
        allow_missing: args.allow_missing,
        load_scripts: args.load_scripts,
        roots: args.roots.iter().map(|r| os_bytes(r)).collect(),
    };
    match closure::assemble_module_closure(&opts) {
        Ok(report) => {
            use std::io::Write;
            let mut err = std::io::stderr().lock();
            for l in &report.log {
                let _ = writeln!(err, "{}", l.trim_end_matches('\n'));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kmodtree closure: {e}");
            ExitCode::from(1)
        }
    }
}

const MODPROBE_AFTER_HELP: &str = "\
Deliberate differences from kmod's modprobe:
  * Without -C, the configuration directories are read under BASE
    (BASE/etc/modprobe.d, ..., BASE/lib/modprobe.d), never the host's
    (use --host-config for kmod's list).
  * /proc/cmdline is not read (use --kernel-cmdline FILE), nor /sys/module.
  * Several targets are handled as with modprobe -a.";

/// modprobe's module-tree options.
#[derive(Args, Clone)]
struct ModprobeArgs {
    /// Root of the tree: modules are in BASE/lib/modules/VERSION (modprobe -d)
    #[arg(short = 'b', short_alias = 'd', long = "basedir", value_name = "BASE")]
    basedir: Option<std::path::PathBuf>,
    /// Configuration file or directory (repeatable; replaces the defaults)
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    config: Vec<std::path::PathBuf>,
    /// Without -C, read kmod's host configuration directories (/etc/modprobe.d, ...)
    #[arg(long = "host-config")]
    host_config: bool,
    /// Apply MODULE.PARAM=VALUE options of this kernel command line (e.g. /proc/cmdline)
    #[arg(long = "kernel-cmdline", value_name = "FILE")]
    kernel_cmdline: Option<std::path::PathBuf>,
    /// Kernel version
    #[arg(value_name = "VERSION")]
    version: String,
}

impl ModprobeArgs {
    fn options(&self, ignore_commands: bool) -> ModprobeOptions {
        ModprobeOptions {
            basedir: self.basedir.clone(),
            version: self.version.clone(),
            config: self.config.clone(),
            host_config: self.host_config,
            kernel_cmdline: self.kernel_cmdline.clone(),
            ignore_commands,
        }
    }
}

#[derive(Args, Clone)]
#[command(after_help = MODPROBE_AFTER_HELP)]
struct ShowDependsArgs {
    #[command(flatten)]
    tree: ModprobeArgs,
    /// Ignore install commands (modprobe -i)
    #[arg(short = 'i', long = "ignore-install")]
    ignore_install: bool,
    /// Module names, aliases or symbol:NAME
    #[arg(value_name = "TARGET", required = true)]
    targets: Vec<std::ffi::OsString>,
}

#[derive(Args, Clone)]
#[command(after_help = MODPROBE_AFTER_HELP)]
struct MatchArgs {
    #[command(flatten)]
    tree: ModprobeArgs,
    /// Each ALIAS is a file holding the alias (e.g. /sys/devices/.../modalias)
    #[arg(long = "from-file")]
    from_file: bool,
    /// Aliases (e.g. pci:v00008086d...), module names or symbol:NAME
    #[arg(value_name = "ALIAS", required = true)]
    aliases: Vec<std::ffi::OsString>,
}

fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

fn run_show_depends(args: &ShowDependsArgs) -> ExitCode {
    let targets: Vec<Vec<u8>> = args.targets.iter().map(|t| os_bytes(t)).collect();
    let outcome = closure::show_depends(&args.tree.options(args.ignore_install), &targets);
    outcome.print(&mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    ExitCode::from(outcome.exit_code as u8)
}

fn run_match(args: &MatchArgs) -> ExitCode {
    let mut aliases = Vec::new();
    for a in &args.aliases {
        if args.from_file {
            match closure::show_depends::read_modalias_file(std::path::Path::new(a)) {
                Ok(v) => aliases.push(v),
                Err(e) => {
                    eprintln!("kmodtree: {}: {e}", std::path::Path::new(a).display());
                    return ExitCode::from(1);
                }
            }
        } else {
            aliases.push(os_bytes(a));
        }
    }
    let outcome = closure::match_aliases(&args.tree.options(false), &aliases);
    outcome.print(&mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    ExitCode::from(outcome.exit_code as u8)
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Symlink,
    Copy,
    Hardlink,
}

#[derive(Clone, Copy, ValueEnum)]
enum CollisionsArg {
    First,
    Error,
    Last,
}

#[derive(Args)]
struct UnionFlags {
    /// How output files refer to input files
    #[arg(long = "mode", value_enum, default_value = "symlink")]
    mode: ModeArg,
    /// Different files under one name: first input wins (Guix, with its warning), error (nixpkgs buildEnv), last input wins
    #[arg(long = "collisions", value_enum, default_value = "first")]
    collisions: CollisionsArg,
}

impl UnionFlags {
    fn options(&self) -> kmodtree::union::UnionOptions {
        use kmodtree::union::{CollisionRule, LinkMode};
        kmodtree::union::UnionOptions {
            mode: match self.mode {
                ModeArg::Symlink => LinkMode::Symlink,
                ModeArg::Copy => LinkMode::Copy,
                ModeArg::Hardlink => LinkMode::Hardlink,
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
struct UnionArgs {
    #[command(flatten)]
    flags: UnionFlags,
    /// The directory to create (must not exist)
    out: std::path::PathBuf,
    /// Input directories, in priority order
    #[arg(required = true)]
    inputs: Vec<std::path::PathBuf>,
}

#[derive(Args)]
struct MakeModuleDirectoryArgs {
    #[command(flatten)]
    flags: UnionFlags,
    /// Delete what Guix deletes (modules.builtin.modinfo too), for bit-identity with Guix's output
    #[arg(long = "guix-compat")]
    guix_compat: bool,
    /// Also write Guix's modules.name, modules.alias, modules.devname (replacing kmod's text alias/devname)
    #[arg(long = "guix-databases")]
    guix_databases: bool,
    /// Worker threads for reading modules (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// The directory to create (must not exist)
    out: std::path::PathBuf,
    /// The kernel version (the one directory under lib/modules)
    version: String,
    /// Input trees (kernel first), in priority order
    #[arg(required = true)]
    inputs: Vec<std::path::PathBuf>,
}

#[derive(Args)]
struct GuixDbArgs {
    /// Worker threads for reading modules (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
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

#[derive(Args)]
struct FlatArgs {
    /// Base directory holding lib/modules/VERSION
    #[arg(short = 'b', long = "basedir", value_name = "BASE", required = true)]
    base: std::path::PathBuf,
    /// Also take soft dependencies (pre: and post:)
    #[arg(long = "softdeps")]
    softdeps: bool,
    /// Largest decompressed module accepted, in bytes
    #[arg(long = "max-module-size", value_name = "BYTES", default_value_t = 1 << 30)]
    max_module_size: u64,
    /// The directory to create (must not exist)
    out: std::path::PathBuf,
    /// The kernel version
    version: String,
    /// Modules to include, with their dependencies (dashes or underscores)
    #[arg(required = true)]
    modules: Vec<String>,
}

#[derive(Args)]
struct ModinfoArgs {
    /// Print only the values of FIELD
    #[arg(short = 'F', long = "field", value_name = "FIELD")]
    field: Option<String>,
    /// Shortcut for -F author
    #[arg(short = 'a', long = "author")]
    author: bool,
    /// Shortcut for -F description
    #[arg(short = 'd', long = "description")]
    description: bool,
    /// Shortcut for -F license
    #[arg(short = 'l', long = "license")]
    license: bool,
    /// Shortcut for -F parm
    #[arg(short = 'p', long = "parameters")]
    parameters: bool,
    /// Shortcut for -F filename
    #[arg(short = 'n', long = "filename")]
    filename: bool,
    /// Separate values with NUL instead of newline
    #[arg(short = '0', long = "null")]
    null: bool,
    /// One JSON object per module
    #[arg(long = "json")]
    json: bool,
    /// Read every module of BASE/lib/modules/VERSION (JSON Lines, in discovery order)
    #[arg(long = "tree", requires = "json")]
    tree: bool,
    /// Base directory for --tree
    #[arg(short = 'b', long = "basedir", value_name = "DIR")]
    basedir: Option<String>,
    /// Worker threads for --tree
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Largest decompressed module accepted, in bytes
    #[arg(long = "max-module-size", value_name = "BYTES", default_value_t = 1 << 30)]
    max_module_size: u64,
    /// Module files (with --tree: the kernel VERSION)
    #[arg(value_name = "FILE", required = true)]
    files: Vec<String>,
}

#[derive(Args)]
struct DumpArgs {
    /// The index file (modules.dep.bin, modules.alias.bin, ...)
    file: String,
    /// Print the values stored under exactly KEY
    #[arg(long = "exact", value_name = "KEY", conflicts_with = "wildcard")]
    exact: Option<String>,
    /// Print the values whose key pattern (fnmatch) matches STRING, as modprobe does for aliases
    #[arg(long = "wildcard", value_name = "STRING")]
    wildcard: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum KmodArg {
    #[value(name = "34")]
    V34,
    #[value(name = "30")]
    V30,
}

const DEPMOD_AFTER_HELP: &str = "\
Deliberate differences from kmod's depmod:
  * Configuration is hermetic: without -C, only BASEDIR/etc/depmod.d,
    BASEDIR/lib/depmod.d and BASEDIR/usr/lib/depmod.d are read, never the
    host's /etc (use --host-config for kmod's list).
  * Directories are walked in sorted order, so when two files give the same
    module name and kmod's priority rules tie, the result does not depend on
    the file system's directory order.
  * Every database is rendered, then written to a temporary file; the
    temporaries replace the databases only once all were written, so
    nothing changes when any of them fails (kmod stops half-way).
  * Index content with bytes >= 0x80 is refused for every --kmod-version
    (kmod 30 would write a corrupt index).
  * The options are kmod 34's for every --kmod-version: -o and -m DIR work
    with --kmod-version 30 too (kmod 30 has no -o, its -m is an ignored
    flag, and it accepts -u -q -r).";

#[derive(Args, Clone)]
#[command(disable_version_flag = true, after_help = DEPMOD_AFTER_HELP)]
struct DepmodArgs {
    /// Probe all modules (implied when no module file is given)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Only do the work if a module is newer than modules.dep
    #[arg(short = 'A', long = "quick")]
    quick: bool,
    /// Use an image of a module tree rooted at DIR
    #[arg(short = 'b', long = "basedir", value_name = "DIR")]
    basedir: Option<String>,
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
    /// Worker threads for reading modules (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Which kmod's output to reproduce
    #[arg(long = "kmod-version", value_enum, default_value = "34")]
    kmod_version: KmodArg,
    /// Behave like a kmod built without zlib (Debian's): .ko.gz files are not modules
    #[arg(long = "without-zlib")]
    without_zlib: bool,
    /// Largest decompressed module accepted, in bytes
    #[arg(long = "max-module-size", value_name = "BYTES", default_value_t = 1 << 30)]
    max_module_size: u64,
    /// Reuse the metadata of unchanged modules recorded in FILE, and update FILE
    /// (a missing, stale or corrupt FILE only costs speed)
    #[arg(long = "manifest", value_name = "FILE")]
    manifest: Option<std::path::PathBuf>,
    /// With --manifest: hash every module instead of trusting an unchanged
    /// (device, inode, size, mtime, ctime)
    #[arg(long = "manifest-verify", requires = "manifest")]
    manifest_verify: bool,
    /// With --manifest: print how many modules were reused unchanged,
    /// reused after hashing, and read
    #[arg(long = "manifest-stats", requires = "manifest")]
    manifest_stats: bool,
    /// [VERSION] [MODULE_FILE...]
    #[arg(value_name = "ARGS", allow_hyphen_values = false)]
    args: Vec<String>,
}

impl DepmodArgs {
    /// The run these arguments ask for, or kmod's message for arguments
    /// it refuses (exit 1): `-P` of more than one character, a first
    /// argument that is not a version. Without a version, the running
    /// kernel's.
    fn depmod(&self) -> Result<depmod::Depmod, kmodtree::kmod::Diagnostic> {
        use depmod::{ConfigSource, KernelSymbols, ModuleSelection};
        use kmodtree::kmod::{is_version_number, Diagnostic};
        let prefix = match self.prefix.as_deref().map(str::as_bytes) {
            None => None,
            Some(&[c]) => Some(c),
            Some(_) => return Err(Diagnostic::fatal("-P only takes a single char")),
        };
        let mut args = self.args.iter().peekable();
        let version = match args.next_if(|v| is_version_number(v)) {
            Some(v) => v.clone(),
            None => match args.peek() {
                Some(bad) => return Err(Diagnostic::error(format!("Bad version passed {bad}"))),
                None => std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|s| s.trim_end().to_string())
                    .unwrap_or_default(),
            },
        };
        let files: Vec<camino::Utf8PathBuf> = args.map(Into::into).collect();
        let mut d = match &self.basedir {
            Some(b) => depmod::Depmod::new(b, version),
            None => depmod::Depmod::system(version),
        };
        if let Some(m) = &self.moduledir {
            d = d.module_dir(m);
        }
        if let Some(o) = &self.outdir {
            d = d.output_base(o);
        }
        // -E wins over -F.
        d = d.kernel_symbols(match (&self.symvers, &self.filesyms) {
            (Some(f), _) => KernelSymbols::Symvers(f.into()),
            (None, Some(f)) => KernelSymbols::SystemMap(f.into()),
            (None, None) => KernelSymbols::None,
        });
        d = d.config(if !self.config.is_empty() {
            ConfigSource::Paths(self.config.iter().map(Into::into).collect())
        } else if self.host_config {
            ConfigSource::Host
        } else {
            ConfigSource::Hermetic
        });
        d = d.modules(if self.all || files.is_empty() {
            ModuleSelection::All
        } else {
            ModuleSelection::Files(files)
        });
        if let Some(m) = &self.manifest {
            d = d.manifest(m, self.manifest_verify);
        }
        Ok(d.errsyms(self.errsyms)
            .kmod_version(match self.kmod_version {
                KmodArg::V34 => KmodVersion::V34,
                KmodArg::V30 => KmodVersion::V30,
            })
            .suffixes(Suffixes {
                gzip: !self.without_zlib,
                ..Suffixes::default()
            })
            .limits(Limits {
                max_image_size: self.max_module_size,
            })
            .jobs(self.jobs)
            .warn_dups(self.warn)
            .symbol_prefix(prefix)
            .verbose(self.verbose >= 1)
            .dry_run(self.dry_run)
            .quick(self.quick))
    }
}

fn run_depmod(args: &DepmodArgs) -> ExitCode {
    use std::io::Write;
    if args.version {
        println!(
            "kmodtree {} (kmod 34 and 30 compatible depmod)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let depmod = match args.depmod() {
        Ok(d) => d,
        Err(d) => {
            let _ = err.write_all(d.render("depmod").as_bytes());
            return ExitCode::from(1);
        }
    };
    let result = depmod.run();
    let (verbose, problems, stats, diags, code) = match &result {
        Ok(r) => (
            &r.verbose,
            &r.manifest_problems,
            r.cache_stats,
            r.diagnostics.clone(),
            0,
        ),
        Err(f) => (
            &f.verbose,
            &f.manifest_problems,
            None,
            f.all_diagnostics(),
            1,
        ),
    };
    if args.verbose >= 1 {
        for l in verbose {
            let _ = writeln!(out, "{l}");
        }
    }
    if let Ok(depmod::Report {
        output: depmod::Output::DryRun(text),
        ..
    }) = &result
    {
        let _ = out.write_all(text);
    }
    let _ = out.flush();
    if let (true, Some(s)) = (args.manifest_stats, stats) {
        let _ = writeln!(err, "kmodtree: manifest {s:?}");
    }
    for p in problems {
        let _ = writeln!(err, "kmodtree: warning: {p}");
    }
    for d in diags {
        if d.level <= kmodtree::kmod::Level::Warning || args.verbose >= 2 {
            let _ = err.write_all(d.render("depmod").as_bytes());
        }
    }
    ExitCode::from(code)
}

/// Under the name `depmod` (a symlink), behave as `kmodtree depmod`.
#[derive(Parser)]
#[command(name = "depmod", disable_version_flag = true)]
struct DepmodCli {
    #[command(flatten)]
    args: DepmodArgs,
}

/// Parses the command line; on a usage error prints clap's message and
/// exits 1 as kmod does (clap's own status would be 2). `--help` and
/// `--version` still exit 0.
fn parse_or_exit<P: Parser>() -> P {
    match P::try_parse() {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    }
}

fn main() -> ExitCode {
    // A file size limit (RLIMIT_FSIZE) must make a write fail with EFBIG,
    // reported with the file's name, rather than kill the process with
    // SIGXFSZ and no message.
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread
    // exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as == "depmod" {
        let cli = parse_or_exit::<DepmodCli>();
        return run_depmod(&cli.args);
    }
    let cli = parse_or_exit::<Cli>();
    match &cli.command {
        Command::Depmod(args) => run_depmod(args),
        Command::Modinfo(args) => run_modinfo(args),
        Command::Dump(args) => run_dump(args),
        Command::ShowDepends(args) => run_show_depends(args),
        Command::Match(args) => run_match(args),
        Command::Closure(args) => run_closure(args),
        Command::Union(args) => run_union(args),
        Command::MakeModuleDirectory(args) => run_make_module_directory(args),
        Command::GuixDb(args) => run_guix_db(args),
        Command::Flat(args) => run_flat(args),
        Command::Audit(args) => run_audit(args),
        Command::Diff(args) => run_diff(args),
        Command::Verify(args) => run_verify(args),
        Command::Dkms(DkmsCommand::Plan(args)) => run_dkms_plan(args),
        Command::Dkms(DkmsCommand::Build(args)) => run_dkms_build(args),
    }
}

fn failure(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("kmodtree: error: {e}");
    ExitCode::from(1)
}

fn run_union(args: &UnionArgs) -> ExitCode {
    match kmodtree::union::union_build(&args.out, &args.inputs, &args.flags.options()) {
        Ok(report) => {
            eprint!("{}", report.warnings.concat());
            ExitCode::SUCCESS
        }
        Err(e) => failure(e),
    }
}

fn run_make_module_directory(args: &MakeModuleDirectoryArgs) -> ExitCode {
    let opts = kmodtree::union::ModuleDirectoryOptions {
        union: args.flags.options(),
        guix_compat: args.guix_compat,
        guix_databases: args.guix_databases,
        jobs: args.jobs,
    };
    match kmodtree::union::make_module_directory(&args.out, &args.version, &args.inputs, &opts) {
        Ok(report) => {
            eprint!("{}", report.union.warnings.concat());
            for d in &report.depmod_diagnostics {
                eprint!("{}", d.render("depmod"));
            }
            ExitCode::SUCCESS
        }
        Err(e) => failure(e),
    }
}

fn run_guix_db(args: &GuixDbArgs) -> ExitCode {
    use kmodtree::guix::GuixDatabase;
    let which: Vec<GuixDatabase> = if args.only.is_empty() {
        GuixDatabase::ALL.to_vec()
    } else {
        args.only
            .iter()
            .map(|d| match d {
                GuixDbName::Name => GuixDatabase::Name,
                GuixDbName::Alias => GuixDatabase::Alias,
                GuixDbName::Devname => GuixDatabase::Devname,
            })
            .collect()
    };
    match kmodtree::guix::write_selected_guix_databases(
        std::path::Path::new(&args.dir),
        &args.dir,
        args.jobs,
        &which,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure(e),
    }
}

fn run_flat(args: &FlatArgs) -> ExitCode {
    let opts = kmodtree::guix::FlatOptions {
        softdeps: args.softdeps,
        limits: Limits {
            max_image_size: args.max_module_size,
        },
    };
    match kmodtree::guix::flat_module_directory(
        &args.out,
        &args.base,
        &args.version,
        &args.modules,
        &opts,
    ) {
        Ok(report) => {
            for b in &report.builtin {
                eprintln!("kmodtree: {b} is built into the kernel");
            }
            for m in &report.missing_softdeps {
                eprintln!("kmodtree: soft dependency {m} not found, skipped");
            }
            ExitCode::SUCCESS
        }
        Err(e) => failure(e),
    }
}

fn run_modinfo(args: &ModinfoArgs) -> ExitCode {
    use std::io::Write;
    let limits = Limits {
        max_image_size: args.max_module_size,
    };
    let mut stdout = std::io::stdout().lock();
    if args.tree {
        let version = &args.files[0];
        return match kmodtree::modinfo::tree_json_lines(
            args.basedir.as_deref(),
            version,
            args.jobs,
            &limits,
        ) {
            Ok((lines, ok)) => {
                let _ = stdout.write_all(&lines);
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("kmodtree: {e}");
                ExitCode::from(1)
            }
        };
    }
    let field = args.field.as_deref().or(if args.author {
        Some("author")
    } else if args.description {
        Some("description")
    } else if args.license {
        Some("license")
    } else if args.parameters {
        Some("parm")
    } else if args.filename {
        Some("filename")
    } else {
        None
    });
    let opts = kmodtree::modinfo::Options {
        field,
        separator: if args.null { 0 } else { b'\n' },
        program: "modinfo",
    };
    let mut ok = true;
    for f in &args.files {
        let path = absolute(f);
        let result = kmodtree::module::read_module_file(camino::Utf8Path::new(&path), &limits);
        if args.json {
            let line = match &result {
                Ok(meta) => serde_json::to_string(&kmodtree::modinfo::to_json(&path, meta)),
                Err(e) => {
                    ok = false;
                    eprintln!("modinfo: ERROR: {path}: {e}");
                    serde_json::to_string(&kmodtree::modinfo::json_error(&path, e))
                }
            };
            let _ = writeln!(stdout, "{}", line.unwrap_or_default());
            continue;
        }
        let out = kmodtree::modinfo::render(&path, result.as_ref(), &opts);
        let _ = stdout.write_all(&out.stdout);
        let _ = std::io::stderr().write_all(&out.stderr);
        ok &= out.success;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        return p.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => format!("{}/{p}", cwd.display()),
        Err(_) => p.to_string(),
    }
}

fn run_dump(args: &DumpArgs) -> ExitCode {
    use std::io::Write;
    let data = match std::fs::read(&args.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kmodtree: {}: {e}", args.file);
            return ExitCode::from(2);
        }
    };
    let fail = |e: kmodtree::index::IndexError| {
        eprintln!("kmodtree: {}: {e}", args.file);
        ExitCode::from(2)
    };
    let index = match kmodtree::index::Index::parse(&data) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout().lock();
    let values = if let Some(key) = &args.exact {
        index.lookup_exact(key.as_bytes())
    } else if let Some(q) = &args.wildcard {
        index.lookup_wildcard(q.as_bytes())
    } else {
        return match kmodtree::index::dump_lines(&index) {
            Ok(lines) => {
                let _ = out.write_all(&lines);
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    };
    match values {
        Ok(v) if v.is_empty() => ExitCode::from(1),
        Ok(v) => {
            for iv in v {
                let _ = out.write_all(&iv.value);
                let _ = writeln!(out, "\t{}", iv.priority);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run_dkms_plan(args: &DkmsPlanArgs) -> ExitCode {
    let arch = args
        .arch
        .clone()
        .unwrap_or_else(|| kmodtree::dkms::conf::default_arch().to_string());
    match kmodtree::dkms::build::plan(
        &args.src,
        &args.kernel_version,
        &arch,
        args.kernel_build.as_deref(),
    ) {
        Ok(plan) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).expect("plan serializes")
            );
            ExitCode::SUCCESS
        }
        Err(e) => failure(e),
    }
}

fn run_dkms_build(args: &DkmsBuildArgs) -> ExitCode {
    use kmodtree::dkms::build::{self, BuildOptions, Compress, SourceOutcome};
    use kmodtree::dkms::sandbox::SandboxMode;
    let opts = BuildOptions {
        kernel_build: args.kernel_build.clone(),
        kernel_version: args.kernel_version.clone(),
        arch: args
            .arch
            .clone()
            .unwrap_or_else(|| kmodtree::dkms::conf::default_arch().to_string()),
        out: args.out.clone(),
        compress: args.compress.map(|c| match c {
            DkmsCompress::Xz => Compress::Xz,
            DkmsCompress::Zst => Compress::Zst,
            DkmsCompress::Gz => Compress::Gz,
        }),
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        sandbox: match args.sandbox {
            DkmsSandbox::Auto => SandboxMode::Auto,
            DkmsSandbox::Require => SandboxMode::Require,
            DkmsSandbox::None => SandboxMode::None,
        },
        scratch: args.scratch.clone(),
        kernel_modules: args.kernel_modules.clone(),
        location_override: args.location_override.clone(),
        strip: !args.no_strip,
    };
    match build::build(&args.src, &opts) {
        Ok(outcomes) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcomes).expect("outcomes serialize")
                );
            } else {
                for o in &outcomes {
                    match o {
                        SourceOutcome::Built {
                            package,
                            modules,
                            sandbox,
                        } => {
                            for m in modules {
                                println!("{package}: built {}", m.path);
                            }
                            if !sandbox.no_network {
                                eprintln!("kmodtree: warning: {package}: built without namespaces (no network/read-only isolation)");
                            }
                        }
                        SourceOutcome::Skipped { package, reason } => {
                            println!("{package}: skipped: {reason}");
                        }
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => failure(e),
    }
}
