//! The kmodtree tool: its command line (clap), kmod's message texts and
//! exit statuses, stdout writing and the process's set-up. Nothing in the
//! library imports it.
//!
//! Flags are parsed once into each command's clap struct (the options
//! several commands share are declared once, in [`common`]); each command
//! file turns its struct into the library's typed options in one place
//! (`options()`, or the literal its run passes), runs the library and
//! prints through [`output::Io`].

mod audit;
mod common;
mod depmod;
mod dkms;
mod docs;
mod help;
mod json;
mod modinfo;
mod modprobe;
mod output;
mod progress;
mod signals;
mod union;

use clap::{Parser, Subcommand};
use output::{err, Io, OutputError};
use std::ffi::OsString;
use std::process::ExitCode;

/// An exit status.
pub type Status = u8;

/// Why a command stopped before its own end.
#[derive(Debug)]
pub enum Stop {
    /// Its output could not be written.
    Output(OutputError),
    /// Its flags are wrong (clap's message, or `--help`, `--version`).
    Usage(clap::Error),
    /// Its flags are wrong: kmod's message.
    Message(String),
    /// It could not do its work: why, printed as `kmodtree: error: ...`.
    Failed(String),
}

impl From<OutputError> for Stop {
    fn from(e: OutputError) -> Stop {
        Stop::Output(e)
    }
}

/// A library's status (kmod's 0 or 1) as an exit status.
fn status(code: i32) -> Status {
    Status::try_from(code).unwrap_or(1)
}

/// A failed command's error.
fn failed(e: impl std::fmt::Display) -> Stop {
    Stop::Failed(e.to_string())
}

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

// Under the name of a kmod tool (a symlink; `parse` names it), the
// command line is that subcommand's.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Tool<A: clap::Args> {
    #[command(flatten)]
    args: A,
}

#[derive(Subcommand)]
enum Command {
    /// Write every modules.* database of a module tree, as kmod's depmod does
    Depmod(depmod::DepmodArgs),
    /// Show what a module file holds, as kmod's modinfo does (or as JSON)
    Modinfo(modinfo::ModinfoArgs),
    /// Decode a kmod binary index (.bin) to `KEY<TAB>VALUE<TAB>PRIORITY` lines
    Dump(modinfo::DumpArgs),
    /// Print what `modprobe --show-depends` prints for each target
    ShowDepends(modprobe::ShowDependsArgs),
    /// Print the modules an alias (or name, or symbol:NAME) resolves to, like `modprobe -R`
    Match(modprobe::MatchArgs),
    /// Read-only modprobe with kmod's options: -c, -D, -R, --show-exports, --dump-modversions, -V
    Modprobe(modprobe::KmodModprobeArgs),
    /// Copy the closure of some root modules (and their firmware) into a new module tree
    Closure(modprobe::ClosureArgs),
    /// Merge several trees into OUT: real directories, links to (or copies of) files
    Union(union::UnionArgs),
    /// Union, remove stale modules.* databases, run depmod (Guix's make-linux-module-directory)
    MakeModuleDirectory(union::MakeModuleDirectoryArgs),
    /// Write Guix's modules.name, modules.alias and modules.devname for DIR
    GuixDb(union::GuixDbArgs),
    /// Copy a module closure flat into OUT, decompressed, with Guix's modules.name (Guix's initrd folder)
    Flat(union::FlatArgs),
    /// A manifest of a tree: every file's kind, size and sha256, every module's metadata digest, every database's content digest
    Audit(audit::AuditArgs),
    /// Explain the differences between two trees or manifests (exit 0 identical, 1 different, 2 error)
    Diff(audit::DiffArgs),
    /// Check that a tree's databases are fresh and its modules loadable (exit 0 ok, 1 problems, 2 error)
    Verify(audit::VerifyArgs),
    /// Build out-of-tree modules from DKMS (dkms.conf) or GLEP 33 (BUILD_PARAMS) sources
    #[command(subcommand)]
    Dkms(dkms::DkmsCommand),
    /// Print the shell completion script of kmodtree (bash, zsh, fish, elvish, powershell)
    Completions(docs::CompletionsArgs),
    /// Print kmodtree's manual page, or write one per command into a folder
    Man(docs::ManArgs),
}

fn dispatch(command: &Command, io: &mut Io) -> Result<Status, Stop> {
    match command {
        Command::Depmod(args) => depmod::run(args, io),
        Command::Modinfo(args) => modinfo::run_modinfo(args, io),
        Command::Dump(args) => modinfo::run_dump(args, io),
        Command::ShowDepends(args) => modprobe::run_show_depends(args, io),
        Command::Match(args) => modprobe::run_match(args, io),
        Command::Modprobe(args) => modprobe::run_modprobe(args, io),
        Command::Closure(args) => modprobe::run_closure(args, io),
        Command::Union(args) => union::run_union(args, io),
        Command::MakeModuleDirectory(args) => union::run_make_module_directory(args, io),
        Command::GuixDb(args) => union::run_guix_db(args, io),
        Command::Flat(args) => union::run_flat(args, io),
        Command::Audit(args) => audit::run_audit(args, io),
        Command::Diff(args) => audit::run_diff(args, io),
        Command::Verify(args) => audit::run_verify(args, io),
        Command::Dkms(dkms::DkmsCommand::Plan(args)) => dkms::run_plan(args, io),
        Command::Dkms(dkms::DkmsCommand::Build(args)) => dkms::run_build(args, io),
        Command::Completions(args) => docs::run_completions(args, io),
        Command::Man(args) => docs::run_man(args, io),
    }
}

/// What a command's exit statuses mean: the one table of them, also shown
/// at the end of each command's `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Statuses {
    /// A usage error (unknown flag, missing argument).
    usage: Status,
    /// The command could not do its work, or its output could not be
    /// written.
    failure: Status,
    /// The `--help` text.
    help: &'static str,
}

/// kmod's commands: 1 for every failure, usage errors included.
const fn kmod(help: &'static str) -> Statuses {
    Statuses {
        usage: 1,
        failure: 1,
        help,
    }
}

/// Commands whose 1 is an answer: errors are 2.
const fn answer(help: &'static str) -> Statuses {
    Statuses {
        usage: 2,
        failure: 2,
        help,
    }
}

/// Commands that build something: 1 when they could not, 2 for a usage
/// error (clap's).
const ACTION: Statuses = Statuses {
    usage: 2,
    failure: 1,
    help: "Exit status: 0 done, 1 failure, 2 usage error.",
};

/// The statuses of subcommand `name`.
fn statuses_of(name: &str) -> Option<Statuses> {
    Some(match name {
        "depmod" => kmod("Exit status: 0 success, 1 failure or usage error (as kmod's depmod)."),
        "modinfo" => kmod(
            "Exit status: 0 every module read, 1 otherwise or usage error (as kmod's modinfo).",
        ),
        "show-depends" => kmod(
            "Exit status: 0 every target found, 1 otherwise or usage error (as kmod's modprobe).",
        ),
        "modprobe" => kmod(
            "Exit status: 0 success, 1 failure, refused loading or removal, or usage error \
             (as kmod's modprobe).",
        ),
        "match" => answer(
            "Exit status: 0 every alias resolved, 1 one did not (or the tree's indexes could \
             not be read), 2 usage error or lost output.",
        ),
        "dump" => answer(
            "Exit status: 0 success, 1 --exact or --wildcard found nothing, 2 error or usage \
             error.",
        ),
        "audit" => answer("Exit status: 0 success, 2 error or usage error."),
        "diff" => answer("Exit status: 0 identical, 1 different, 2 error or usage error."),
        "verify" => answer("Exit status: 0 ok, 1 problems, 2 error or usage error."),
        "closure" | "union" | "make-module-directory" | "guix-db" | "flat" | "dkms" => ACTION,
        "completions" | "man" => ACTION,
        _ => return None,
    })
}

/// The statuses of subcommand `name`; kmodtree's own (no or an unknown
/// subcommand) are clap's.
fn statuses(name: Option<&str>) -> Statuses {
    name.and_then(statuses_of).unwrap_or(ACTION)
}

/// The subcommand argv names (the first argument not starting with `-`;
/// kmodtree itself has only `--help` and `--version`).
fn subcommand_of(argv: &[OsString]) -> Option<&str> {
    argv.iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .and_then(|a| a.to_str())
}

/// `command`'s help ends with its examples and, for each subcommand, its
/// exit statuses.
fn with_statuses(command: clap::Command, name: Option<&str>) -> clap::Command {
    let path = match name {
        None => "kmodtree".to_owned(),
        Some(top) if top == command.get_name() => top.to_owned(),
        Some(top) => format!("{top} {}", command.get_name()),
    };
    let examples = help::examples_text(&path);
    if command.has_subcommands() {
        let command = command.mut_subcommands(|c| {
            let top = name.map_or_else(|| c.get_name().to_owned(), str::to_owned);
            with_statuses(c, Some(&top))
        });
        return match examples {
            Some(examples) => command.after_help(examples),
            None => command,
        };
    }
    let exit = statuses(name).help;
    let text: Vec<String> = command
        .get_after_help()
        .map(|h| h.to_string())
        .into_iter()
        .chain(examples)
        .chain([exit.to_owned()])
        .collect();
    command.after_help(text.join("\n\n"))
}

/// Parses `argv` as `P`, with the exit statuses in its help.
fn parse<P: Parser>(argv: &[OsString], name: Option<&'static str>) -> Result<P, clap::Error> {
    let mut command = P::command();
    if let Some(tool) = name {
        command = command.name(tool).about(format!(
            "Under the name `{tool}` (a symlink), the command line is `kmodtree {tool}`'s"
        ));
    }
    let mut command = with_statuses(command, name);
    let matches = command.try_get_matches_from_mut(argv)?;
    P::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// The process: set-up, parse, run, print, exit.
pub fn main() -> ExitCode {
    // A file size limit (RLIMIT_FSIZE) must make a write fail with EFBIG,
    // reported with the file's name, rather than kill the process with
    // SIGXFSZ and no message. (SIGPIPE is ignored by Rust's runtime: a
    // closed pipe is an EPIPE error, handled by `Io`.)
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread
    // exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    signals::install();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let mut io = Io::new();
    // Under the name of a kmod tool (a symlink): that subcommand.
    let invoked_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name());
    let tool = ["depmod", "modinfo", "modprobe"]
        .into_iter()
        .find(|t| invoked_as.is_some_and(|n| n == *t));
    let name = tool.or_else(|| subcommand_of(&argv));
    let command = match tool {
        Some("depmod") => parse::<Tool<_>>(&argv, tool).map(|t| Command::Depmod(t.args)),
        Some("modinfo") => parse::<Tool<_>>(&argv, tool).map(|t| Command::Modinfo(t.args)),
        Some("modprobe") => parse::<Tool<_>>(&argv, tool).map(|t| Command::Modprobe(t.args)),
        _ => parse::<Cli>(&argv, None).map(|cli| cli.command),
    };
    let result = command
        .map_err(|e| match name {
            Some(tool @ ("depmod" | "modinfo" | "modprobe")) => {
                common::kmod_usage_error(tool, e, &argv)
            }
            _ => Stop::Usage(e),
        })
        .and_then(|command| dispatch(&command, &mut io));
    ExitCode::from(finish(io, statuses(name), result))
}

/// The exit status of a run that ended with `result`, once its output is
/// flushed and any failure reported.
fn finish(mut io: Io, statuses: Statuses, result: Result<Status, Stop>) -> Status {
    let result = result.and_then(|status| io.flush().map(|()| status).map_err(Stop::from));
    let lost = match result {
        Ok(status) => return status,
        Err(Stop::Usage(e)) => {
            // --help and --version are "errors" printed to stdout.
            let printed = e.print();
            if e.use_stderr() {
                return statuses.usage;
            }
            match printed {
                Ok(()) => return 0,
                Err(source) => OutputError {
                    what: match e.kind() {
                        clap::error::ErrorKind::DisplayVersion => "the version",
                        _ => "the help",
                    },
                    source,
                },
            }
        }
        Err(Stop::Message(text)) => {
            let _ = io.err(text.as_bytes());
            return statuses.usage;
        }
        Err(Stop::Failed(e)) => match err!(io, "kmodtree: error: {e}\n") {
            Ok(()) => return statuses.failure,
            Err(lost) => lost,
        },
        Err(Stop::Output(e)) => e,
    };
    io.abandon(&lost);
    statuses.failure
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_has_its_statuses() {
        for sub in Cli::command().get_subcommands() {
            let name = sub.get_name();
            assert!(statuses_of(name).is_some(), "{name} has no statuses");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        Tool::<depmod::DepmodArgs>::command().debug_assert();
        Tool::<modinfo::ModinfoArgs>::command().debug_assert();
        Tool::<modprobe::KmodModprobeArgs>::command().debug_assert();
    }

    #[test]
    fn help_ends_with_the_exit_statuses() {
        let mut cmd = with_statuses(Cli::command(), None);
        let diff = cmd.find_subcommand_mut("diff").unwrap();
        let help = diff.render_help().to_string();
        assert!(help.ends_with("Exit status: 0 identical, 1 different, 2 error or usage error.\n"));
        let mut cmd = with_statuses(Cli::command(), None);
        let plan = cmd
            .find_subcommand_mut("dkms")
            .unwrap()
            .find_subcommand_mut("plan")
            .unwrap();
        assert!(plan.render_help().to_string().contains(ACTION.help));
    }
}
