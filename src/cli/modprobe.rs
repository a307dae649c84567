//! modprobe's side: `show-depends` (`modprobe --show-depends`), `match`
//! (`modprobe -R`) and `closure` (the modules a set of roots needs, copied
//! into a new tree), all reading a tree as modprobe does; `modprobe` and
//! the `modprobe` symlink (kmod's read-only modprobe, its options).

use super::common::{bytes, kernel_release, Basedir, Kmod};
use super::json;
use super::output::{err, Io};
use super::{Status, Stop};
use clap::Args;
use kmodtree::closure::{self, ModprobeOptions, RunOutcome};
use kmodtree::modprobe::{Action, ModprobeRun};
use kmodtree::module::Limits;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const MODPROBE_AFTER_HELP: &str = "\
Deliberate differences from kmod's modprobe:
  * Without -C, the configuration directories are read under BASE
    (BASE/etc/modprobe.d, ..., BASE/lib/modprobe.d), never the host's
    (use --host-config for kmod's list).
  * /proc/cmdline is not read (use --kernel-cmdline FILE), nor /sys/module.
  * Several targets are handled as with modprobe -a.";

/// modprobe's module-tree options (and the notes of the commands taking
/// them).
#[derive(Args, Clone)]
#[command(after_help = MODPROBE_AFTER_HELP, mut_arg("basedir", |a| a
    .short_alias('d')
    .help("Root of the tree: modules are in BASE/lib/modules/VERSION (modprobe -d)")))]
pub struct ModprobeArgs {
    #[command(flatten)]
    basedir: Basedir,
    /// Configuration file or directory (repeatable; replaces the defaults)
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    config: Vec<PathBuf>,
    /// Without -C, read kmod's host configuration directories (/etc/modprobe.d, ...)
    #[arg(long = "host-config")]
    host_config: bool,
    /// Apply MODULE.PARAM=VALUE options of this kernel command line (e.g. /proc/cmdline)
    #[arg(long = "kernel-cmdline", value_name = "FILE")]
    kernel_cmdline: Option<PathBuf>,
    /// Kernel version
    #[arg(value_name = "VERSION")]
    version: String,
}

impl ModprobeArgs {
    /// The flags as the library's options.
    fn options(&self, ignore_commands: bool) -> ModprobeOptions {
        ModprobeOptions {
            basedir: self.basedir.basedir.clone(),
            version: self.version.clone(),
            config: self.config.clone(),
            host_config: self.host_config,
            kernel_cmdline: self.kernel_cmdline.clone(),
            ignore_commands,
        }
    }
}

/// Prints what modprobe would: `stdout` (its own, or as JSON), then its
/// messages.
fn print(
    outcome: &RunOutcome,
    stdout: &[u8],
    what: &'static str,
    io: &mut Io,
) -> Result<Status, Stop> {
    io.out(what, stdout)?;
    for m in &outcome.messages {
        io.err(m.render().as_bytes())?;
    }
    Ok(super::status(outcome.exit_code))
}

#[derive(Args, Clone)]
pub struct ShowDependsArgs {
    #[command(flatten)]
    tree: ModprobeArgs,
    /// Ignore install commands (modprobe -i)
    #[arg(short = 'i', long = "ignore-install")]
    ignore_install: bool,
    /// Print each target's lines as JSON (docs/json.md)
    #[arg(long = "json")]
    json: bool,
    /// Module names, aliases or symbol:NAME
    #[arg(value_name = "TARGET", required = true)]
    targets: Vec<OsString>,
}

pub fn run_show_depends(args: &ShowDependsArgs, io: &mut Io) -> Result<Status, Stop> {
    let targets: Vec<Vec<u8>> = args.targets.iter().map(|t| bytes(t)).collect();
    let options = args.tree.options(args.ignore_install);
    let (outcome, actions) = closure::show_depends(&options, &targets);
    if args.json {
        let text = json::show_depends(&actions, super::status(outcome.exit_code));
        return print(&outcome, text.as_bytes(), "the dependencies", io);
    }
    print(&outcome, &outcome.stdout, "the dependency lines", io)
}

#[derive(Args, Clone)]
pub struct MatchArgs {
    #[command(flatten)]
    tree: ModprobeArgs,
    /// Each ALIAS is a file holding the alias (e.g. /sys/devices/.../modalias)
    #[arg(long = "from-file")]
    from_file: bool,
    /// Aliases (e.g. pci:v00008086d...), module names or symbol:NAME
    #[arg(value_name = "ALIAS", required = true)]
    aliases: Vec<OsString>,
}

pub fn run_match(args: &MatchArgs, io: &mut Io) -> Result<Status, Stop> {
    let aliases = args.aliases.iter().map(|a| match args.from_file {
        true => closure::show_depends::read_modalias_file(Path::new(a)).map_err(|e| (a, e)),
        false => Ok(bytes(a)),
    });
    let aliases = match aliases.collect::<Result<Vec<_>, _>>() {
        Ok(aliases) => aliases,
        Err((path, e)) => {
            err!(io, "kmodtree: {}: {e}\n", Path::new(path).display())?;
            return Ok(1);
        }
    };
    let outcome = closure::match_aliases(&args.tree.options(false), &aliases);
    print(&outcome, &outcome.stdout, "the module names", io)
}

#[derive(Args, Clone)]
pub struct ClosureArgs {
    #[command(flatten)]
    tree: ModprobeArgs,
    /// The directory to create (must not exist, or be empty)
    #[arg(long = "out", short = 'o', value_name = "DIR", required = true)]
    out: PathBuf,
    /// A firmware directory (like /lib/firmware; repeatable, searched in order)
    #[arg(long = "firmware", value_name = "FWDIR")]
    firmware: Vec<PathBuf>,
    /// Hard-link the modules instead of copying them
    #[arg(long = "link")]
    link: bool,
    /// Skip roots that do not exist instead of failing
    #[arg(long = "allow-missing")]
    allow_missing: bool,
    /// Also write load-order, load.sh and unload.sh
    #[arg(long = "load-scripts")]
    load_scripts: bool,
    /// Also copy the firmware of every built-in module (modules.builtin.modinfo)
    #[arg(long = "builtin-firmware")]
    builtin_firmware: bool,
    /// Print what was copied, and the firmware found and missing, as JSON (docs/json.md)
    #[arg(long = "json")]
    json: bool,
    #[command(flatten)]
    progress: super::progress::ProgressArgs,
    /// Root modules: names, aliases or symbol:NAME
    #[arg(value_name = "ROOT")]
    roots: Vec<OsString>,
}

pub fn run_closure(args: &ClosureArgs, io: &mut Io) -> Result<Status, Stop> {
    let options = closure::ClosureOptions {
        modprobe: args.tree.options(false),
        out: args.out.clone(),
        firmware_dirs: args.firmware.clone(),
        link: args.link,
        allow_missing: args.allow_missing,
        load_scripts: args.load_scripts,
        builtin_firmware: args.builtin_firmware,
        roots: args.roots.iter().map(|r| bytes(r)).collect(),
        progress: args.progress.hook(),
    };
    match closure::assemble_module_closure(&options) {
        Ok(report) => {
            for l in &report.log {
                err!(io, "{}\n", l.trim_end_matches('\n'))?;
            }
            if args.json {
                io.out("the report", json::closure(&args.out, &report).as_bytes())?;
            }
            Ok(0)
        }
        Err(e) => {
            err!(io, "kmodtree closure: {e}\n")?;
            Ok(1)
        }
    }
}

const KMOD_MODPROBE_AFTER_HELP: &str = "\
Read-only: loading (modprobe MODULE) and removal (-r) are refused with exit
status 1. As kmod's modprobe, the configuration comes from /etc/modprobe.d,
/run/modprobe.d, /usr/local/lib/modprobe.d, /usr/lib/modprobe.d and
/lib/modprobe.d unless -C is given, and /proc/cmdline is read (see
--kernel-cmdline). --show-exports and --dump-modversions take the module
file as the first argument.";

/// kmod's modprobe options, the read-only ones (`kmodtree modprobe`).
#[derive(Args, Clone)]
#[command(after_help = KMOD_MODPROBE_AFTER_HELP)]
pub struct KmodModprobeArgs {
    /// Every argument is a module (else: MODULE [PARAMETERS...])
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Remove modules (refused: read-only)
    #[arg(short = 'r', long = "remove")]
    remove: bool,
    /// Print the names the arguments resolve to
    #[arg(short = 'R', long = "resolve-alias")]
    resolve_alias: bool,
    /// Print what loading would do (insmod/install/builtin lines)
    #[arg(short = 'D', long = "show-depends")]
    show_depends: bool,
    /// Print the effective configuration and the alias and symbol indexes
    #[arg(short = 'c', long = "showconfig", visible_alias = "show-config")]
    showconfig: bool,
    /// Print the exported symbols of the module FILE given as argument
    #[arg(long = "show-exports")]
    show_exports: bool,
    /// Print the __versions records of the module FILE given as argument
    #[arg(long = "dump-modversions", visible_alias = "show-modversions")]
    dump_modversions: bool,
    /// No messages about modules that are not found
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Ignore install commands
    #[arg(short = 'i', long = "ignore-install", visible_alias = "ignore-remove")]
    ignore_install: bool,
    /// Apply the blacklist to modules given by name too, not only to aliases
    #[arg(short = 'b', long = "use-blacklist")]
    use_blacklist: bool,
    /// Accepted for kmod's command lines; loading is refused anyway
    #[arg(short = 'n', long = "dry-run", visible_alias = "show")]
    dry_run: bool,
    /// Accepted for kmod's command lines (messages go to stderr)
    #[arg(short = 's', long = "syslog")]
    syslog: bool,
    /// Accepted for kmod's command lines
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    /// Loading and removal options, accepted for kmod's command lines
    /// (loading and removal are refused)
    #[arg(short = 'f', long = "force")]
    force: bool,
    #[arg(long = "force-modversion", hide = true)]
    force_modversion: bool,
    #[arg(long = "force-vermagic", hide = true)]
    force_vermagic: bool,
    #[arg(long = "first-time", hide = true)]
    first_time: bool,
    #[arg(long = "remove-holders", hide = true)]
    remove_holders: bool,
    #[arg(long = "remove-dependencies", hide = true)]
    remove_dependencies: bool,
    #[arg(short = 'w', long = "wait", value_name = "MSEC", hide = true)]
    wait: Option<String>,
    /// Configuration file or directory (repeatable; replaces the defaults)
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    config: Vec<PathBuf>,
    /// Root of the tree: modules are in DIR/lib/modules/VERSION
    #[arg(short = 'd', long = "dirname", value_name = "DIR")]
    dirname: Option<PathBuf>,
    /// Kernel version (default: the running kernel's)
    #[arg(short = 'S', long = "set-version", value_name = "VERSION")]
    set_version: Option<String>,
    /// The kernel command line to read options from
    #[arg(
        long = "kernel-cmdline",
        value_name = "FILE",
        default_value = "/proc/cmdline"
    )]
    kernel_cmdline: PathBuf,
    /// Print kmod's version lines
    #[arg(short = 'V', long = "version")]
    version: bool,
    #[command(flatten)]
    kmod: Kmod,
    /// Modules, aliases or symbol:NAME (or MODULE PARAMETERS..., or FILE)
    #[arg(value_name = "ARGS")]
    args: Vec<OsString>,
}

impl KmodModprobeArgs {
    /// What to do, by kmod's precedence when several are asked for.
    fn action(&self) -> Action {
        [
            (self.showconfig, Action::ShowConfig),
            (self.dump_modversions, Action::DumpModversions),
            (self.show_exports, Action::ShowExports),
            (self.remove, Action::Remove),
            (self.resolve_alias, Action::ResolveAlias),
            (self.show_depends, Action::ShowDepends),
        ]
        .into_iter()
        .find_map(|(asked, action)| asked.then_some(action))
        .unwrap_or(Action::Load)
    }
}

/// The read-only modprobe: kmod's stdout, messages and status.
pub fn run_modprobe(args: &KmodModprobeArgs, io: &mut Io) -> Result<Status, Stop> {
    if args.version {
        let text = kmodtree::modprobe::version_text(args.kmod.kmod_version, true);
        io.out("the version", text.as_bytes())?;
        return Ok(0);
    }
    // kmod's modprobe reads the host's configuration and the kernel
    // command line.
    let outcome = kmodtree::modprobe::run(&ModprobeRun {
        tree: ModprobeOptions {
            basedir: args.dirname.clone(),
            version: args.set_version.clone().unwrap_or_else(kernel_release),
            config: args.config.clone(),
            host_config: true,
            kernel_cmdline: Some(args.kernel_cmdline.clone()),
            ignore_commands: args.ignore_install,
        },
        action: args.action(),
        all: args.all,
        quiet: args.quiet,
        use_blacklist: args.use_blacklist,
        args: args.args.iter().map(|a| bytes(a)).collect(),
        kmod: args.kmod.kmod_version,
        limits: Limits::default(),
    });
    print(&outcome, &outcome.stdout, "modprobe's output", io)
}
