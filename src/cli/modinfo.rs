//! `kmodtree modinfo` and the `modinfo` symlink (kmod's modinfo of files,
//! names, aliases and built-in modules, or JSON) and `kmodtree dump` (a
//! binary index decoded).

use super::common::{kernel_release, Basedir, Jobs, ModuleSize};
use super::output::{err, Io};
use super::{Status, Stop};
use clap::Args;
use kmodtree::index::Index;
use kmodtree::kmod::KmodVersion;
use kmodtree::modinfo::{self, Options, Output};
use kmodtree::modinfo_names::{is_module_filename, Found, NameLookup};
use kmodtree::module::Limits;
use std::path::Path;

#[derive(Args)]
pub struct ModinfoArgs {
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
    /// One JSON object per module (every field: not with -F, -a, -d, -l, -p, -n, -0)
    #[arg(long = "json", conflicts_with_all = ["field", "author", "description", "license", "parameters", "filename", "null"])]
    json: bool,
    /// Read every module of BASE/lib/modules/VERSION (JSON Lines, in discovery order)
    #[arg(long = "tree", requires = "json")]
    tree: bool,
    #[command(flatten)]
    basedir: Basedir,
    /// Kernel version whose modules names are looked up in (default: uname -r)
    #[arg(short = 'k', long = "set-version", value_name = "VERSION")]
    set_version: Option<String>,
    /// Print kmod's version lines
    #[arg(short = 'V', long = "version")]
    version: bool,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    size: ModuleSize,
    /// Module files, names or aliases (with --tree: the kernel VERSION)
    #[arg(value_name = "FILE", required_unless_present = "version")]
    files: Vec<String>,
}

impl ModinfoArgs {
    /// The one field to print: `-F`, or the shortcut given.
    fn field(&self) -> Option<&str> {
        let shortcuts = [
            (self.author, "author"),
            (self.description, "description"),
            (self.license, "license"),
            (self.parameters, "parm"),
            (self.filename, "filename"),
        ];
        let shortcut = shortcuts.into_iter().find(|(on, _)| *on);
        self.field.as_deref().or(shortcut.map(|(_, f)| f))
    }
}

pub fn run_modinfo(args: &ModinfoArgs, io: &mut Io) -> Result<Status, Stop> {
    if args.version {
        let text = kmodtree::modprobe::version_text(KmodVersion::V34, true);
        io.out("the version", text.as_bytes())?;
        return Ok(0);
    }
    let limits = args.size.limits();
    if args.tree {
        let basedir = args.basedir.text()?;
        let version = &args.files[0];
        let emit = |line: &[u8]| io.out("the JSON lines", line);
        return match modinfo::tree_json_lines(
            basedir.as_deref(),
            version,
            args.jobs.jobs,
            &limits,
            emit,
        ) {
            Ok(Ok(ok)) => Ok(if ok { 0 } else { 1 }),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => {
                err!(io, "kmodtree: {e}\n")?;
                Ok(1)
            }
        };
    }
    let opts = Options {
        field: args.field(),
        separator: if args.null { 0 } else { b'\n' },
        program: "modinfo",
    };
    let mut ok = true;
    // Opened at the first argument that is not a module file.
    let mut names: Option<NameLookup> = None;
    // Module files are read in parallel (a bounded window at a time) and
    // printed in argument order; names are looked up here, in turn.
    let read = |f: &String| {
        let as_file = is_module_filename(f) || (args.json && std::fs::symlink_metadata(f).is_ok());
        as_file.then(|| {
            let path = kmodtree::kmod::absolute(Path::new(f))
                .to_string_lossy()
                .into_owned();
            file_output(&path, args.json, &opts, &limits)
        })
    };
    let mut in_turn = args.files.iter();
    let mut emit = |shown: Option<Output>| -> Result<(), Stop> {
        let Some(f) = in_turn.next() else {
            return Ok(());
        };
        if let Some(shown) = shown {
            ok &= print(&shown, args.json, io)?;
            return Ok(());
        }
        let lookup = match &mut names {
            Some(lookup) => lookup,
            None => {
                // The tree names are looked up in: `-b BASE`, `-k VERSION`
                // (default: the running kernel's), BASE's modprobe.d aliases.
                let (lookup, messages) = NameLookup::open(&kmodtree::closure::ModprobeOptions {
                    basedir: args.basedir.basedir.clone(),
                    version: args.set_version.clone().unwrap_or_else(kernel_release),
                    ..Default::default()
                });
                for m in messages {
                    io.err(m.render().as_bytes())?;
                }
                names.insert(lookup)
            }
        };
        ok &= by_name(lookup, f, args.json, &opts, &limits, io)?;
        Ok(())
    };
    kmodtree::jobs::map_in_order(args.jobs.jobs, &args.files, read, &mut emit)?;
    Ok(if ok { 0 } else { 1 })
}

/// `modinfo FILE` (or one JSON line), rendered.
fn file_output(path: &str, json: bool, opts: &Options<'_>, limits: &Limits) -> Output {
    let result = kmodtree::module::read_module_file(camino::Utf8Path::new(path), limits);
    if json {
        let (stdout, stderr) = match &result {
            Ok(meta) => (json_line(&modinfo::to_json(path, meta)), Vec::new()),
            Err(e) => (
                json_line(&modinfo::json_error(path, e)),
                format!("modinfo: ERROR: {path}: {e}\n").into_bytes(),
            ),
        };
        return Output {
            stdout,
            stderr,
            success: result.is_ok(),
        };
    }
    modinfo::render(path, result.as_ref(), opts)
}

/// `value` as a JSON line.
fn json_line(value: &impl serde::Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Prints the output for one module (a JSON line after its failure's
/// message): whether kmod would succeed.
fn print(rendered: &Output, json: bool, io: &mut Io) -> Result<bool, Stop> {
    if json {
        io.err(&rendered.stderr)?;
        io.out("the JSON lines", &rendered.stdout)?;
    } else {
        io.out("modinfo's output", &rendered.stdout)?;
        io.err(&rendered.stderr)?;
    }
    Ok(rendered.success)
}

/// `modinfo NAME`: every module NAME resolves to, or kmod's error; whether
/// each was shown.
fn by_name(
    lookup: &NameLookup,
    name: &str,
    json: bool,
    opts: &Options<'_>,
    limits: &Limits,
    io: &mut Io,
) -> Result<bool, Stop> {
    let found = match lookup.find(name) {
        Ok(found) => found,
        Err(e) => {
            err!(io, "modinfo: ERROR: {e}\n")?;
            if json {
                let j = modinfo::JsonError {
                    path: String::new(),
                    name: name.to_owned(),
                    error: e.to_string(),
                    errno: "No such file or directory".into(),
                };
                io.out("the JSON lines", &json_line(&j))?;
            }
            return Ok(false);
        }
    };
    let mut ok = true;
    for f in found {
        match f {
            Found::File { path, name } => {
                let path = String::from_utf8_lossy(&path).into_owned();
                let rendered = match std::fs::metadata(&path) {
                    Err(e) if !json => {
                        let reason = kmodtree::kmod::strerror(&e);
                        modinfo::render_unreadable(&path, &name, &reason, opts)
                    }
                    _ => file_output(&path, json, opts, limits),
                };
                ok &= print(&rendered, json, io)?;
            }
            Found::Builtin { name, entries } if json => {
                let j = modinfo::builtin_to_json(&name, &entries);
                io.out("the JSON lines", &json_line(&j))?;
            }
            Found::Builtin { name, entries } => {
                ok &= print(&modinfo::render_builtin(&name, &entries, opts), false, io)?;
            }
        }
    }
    Ok(ok)
}

#[derive(Args)]
pub struct DumpArgs {
    /// The index file (modules.dep.bin, modules.alias.bin, ...)
    file: String,
    /// Print the values stored under exactly KEY
    #[arg(long = "exact", value_name = "KEY", conflicts_with = "wildcard")]
    exact: Option<String>,
    /// Print the values whose key pattern (fnmatch) matches STRING, as modprobe does for aliases
    #[arg(long = "wildcard", value_name = "STRING")]
    wildcard: Option<String>,
}

/// `dump`'s stdout and what it is; none when a lookup found nothing.
type Dumped = Option<(&'static str, Vec<u8>)>;

fn dump(args: &DumpArgs) -> Result<Dumped, Box<dyn std::error::Error>> {
    let data = std::fs::read(&args.file)?;
    let index = Index::parse(&data)?;
    let values = match (&args.exact, &args.wildcard) {
        (Some(key), _) => index.lookup_exact(key.as_bytes())?,
        (None, Some(q)) => index.lookup_wildcard(q.as_bytes())?,
        (None, None) => {
            let lines = kmodtree::index::dump_lines(&index)?;
            return Ok(Some(("the index's entries", lines)));
        }
    };
    let mut text = Vec::new();
    for iv in &values {
        text.extend_from_slice(&iv.value);
        text.extend_from_slice(format!("\t{}\n", iv.priority).as_bytes());
    }
    Ok((!values.is_empty()).then_some(("the values", text)))
}

pub fn run_dump(args: &DumpArgs, io: &mut Io) -> Result<Status, Stop> {
    match dump(args) {
        Ok(Some((what, text))) => {
            io.out(what, &text)?;
            Ok(0)
        }
        Ok(None) => Ok(1),
        Err(e) => {
            err!(io, "kmodtree: {}: {e}\n", args.file)?;
            Ok(2)
        }
    }
}
