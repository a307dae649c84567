//! `kmodtree completions SHELL` and `kmodtree man`: shell completions and
//! manual pages generated from the clap definitions, so they list exactly
//! the commands and flags the tool parses.

use super::help::examples_of;
use super::output::Io;
use super::{failed, statuses, Cli, Status, Stop};
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use kmodtree::kmod::strerror;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the completion script of the shell for every command and flag.
pub fn run_completions(args: &CompletionsArgs, io: &mut Io) -> Result<Status, Stop> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "kmodtree", &mut script);
    io.out("the completions", &script)?;
    Ok(0)
}

#[derive(Args)]
pub struct ManArgs {
    /// Write every page (kmodtree.1, kmodtree-depmod.1, ...) into DIR
    /// instead of printing one
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: Option<PathBuf>,
    /// The command whose page is printed (e.g. `depmod`, `dkms build`;
    /// default: kmodtree's own)
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    command: Vec<String>,
}

pub fn run_man(args: &ManArgs, io: &mut Io) -> Result<Status, Stop> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let pages = pages(&command, &[]);
    match &args.out {
        Some(dir) => {
            for page in &pages {
                let path = dir.join(format!("{}.1", page.name));
                let written =
                    std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &page.text));
                let path = path.display();
                written.map_err(|e| failed(format!("could not write {path}: {}", strerror(&e))))?;
            }
            Ok(0)
        }
        None => {
            let wanted = match args.command.is_empty() {
                true => "kmodtree".to_owned(),
                false => format!("kmodtree-{}", args.command.join("-")),
            };
            match pages.iter().find(|p| p.name == wanted) {
                Some(page) => {
                    io.out("the manual page", &page.text)?;
                    Ok(0)
                }
                None => Err(Stop::Message(format!(
                    "kmodtree: error: no manual page for '{}' (commands: {})\n",
                    args.command.join(" "),
                    pages
                        .iter()
                        .filter_map(|p| p.name.strip_prefix("kmodtree-"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

/// One manual page.
pub struct Page {
    /// `kmodtree`, `kmodtree-depmod`, `kmodtree-dkms-plan`.
    pub name: String,
    /// Its roff text.
    pub text: Vec<u8>,
}

/// The pages of `command` (reached by `path` from kmodtree) and of its
/// (nested) subcommands but `help`.
fn pages(command: &clap::Command, path: &[&str]) -> Vec<Page> {
    let subs = documented(command).flat_map(|sub| pages(sub, &[path, &[sub.get_name()]].concat()));
    std::iter::once(page(command, path)).chain(subs).collect()
}

/// The subcommands with a page: all but hidden ones and `help`.
fn documented(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

fn page(command: &clap::Command, path: &[&str]) -> Page {
    let name = [&["kmodtree"], path].concat().join("-");
    let notes = command.get_after_help().map(|h| h.to_string());
    // The notes are rendered below as they are written, and kmodtree's
    // version is no section of its own.
    let man = clap_mangen::Man::new(command.clone().after_help(None::<&str>).version(None))
        .title(name.to_uppercase())
        .source(format!("kmodtree {}", env!("CARGO_PKG_VERSION")))
        .manual("kmodtree manual");
    let mut roff = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render(&mut roff);
    let mut text = String::from_utf8_lossy(&roff).into_owned();
    let key = if path.is_empty() {
        "kmodtree".to_owned()
    } else {
        path.join(" ")
    };
    if let Some(notes) = notes {
        // Kept as written: its lines are already wrapped.
        text.push_str(".SH NOTES\n.nf\n");
        for line in notes.lines() {
            text += &format!("{}\n", escape(line));
        }
        text.push_str(".fi\n");
    }
    let examples = examples_of(&key);
    if !examples.is_empty() {
        text.push_str(".SH EXAMPLES\n");
        for (what, line) in examples {
            let line = escape(line).replace('-', "\\-");
            text += &format!(".PP\n{}\n.PP\n.RS 4\n.nf\n{line}\n.fi\n.RE\n", escape(what));
        }
    }
    let help = match path.first() {
        Some(top) => statuses(Some(top)).help,
        None => "Exit status: 0 success, 2 usage error; each command's page gives its own.",
    };
    let help = help.strip_prefix("Exit status: ").unwrap_or(help);
    text += &format!(".SH EXIT STATUS\n{}\n", escape(help));
    if path.is_empty() {
        let see: Vec<String> = documented(command)
            .map(|s| format!(".BR kmodtree\\-{} (1)", s.get_name().replace('-', "\\-")))
            .collect();
        text += &format!(".SH SEE ALSO\n{}\n", see.join(",\n"));
    }
    Page {
        name,
        text: text.into_bytes(),
    }
}

/// `line` as roff text: backslashes escaped, no leading control character.
fn escape(line: &str) -> String {
    let line = line.replace('\\', "\\e");
    if line.starts_with('.') || line.starts_with('\'') {
        format!("\\&{line}")
    } else {
        line
    }
}
