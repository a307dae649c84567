//! `kmodtree modinfo` (kmod's modinfo, or JSON) and `kmodtree dump` (a
//! binary index decoded).

use super::common::{Basedir, Jobs, ModuleSize};
use super::output::{err, out, Io};
use super::{Status, Stop};
use clap::Args;
use kmodtree::index::{Index, IndexError};

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
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    size: ModuleSize,
    /// Module files (with --tree: the kernel VERSION)
    #[arg(value_name = "FILE", required = true)]
    files: Vec<String>,
}

impl ModinfoArgs {
    /// The flags as the library's options (kmod's modinfo output).
    fn options(&self) -> kmodtree::modinfo::Options<'_> {
        kmodtree::modinfo::Options {
            field: self.field(),
            separator: if self.null { 0 } else { b'\n' },
            program: "modinfo",
        }
    }

    /// The one field to print: `-F`, or the shortcut given.
    fn field(&self) -> Option<&str> {
        self.field.as_deref().or(if self.author {
            Some("author")
        } else if self.description {
            Some("description")
        } else if self.license {
            Some("license")
        } else if self.parameters {
            Some("parm")
        } else if self.filename {
            Some("filename")
        } else {
            None
        })
    }
}

pub fn run_modinfo(args: &ModinfoArgs, io: &mut Io) -> Result<Status, Stop> {
    let limits = args.size.limits();
    if args.tree {
        let basedir = args.basedir.text()?;
        let version = &args.files[0];
        return match kmodtree::modinfo::tree_json_lines(
            basedir.as_deref(),
            version,
            args.jobs.jobs,
            &limits,
        ) {
            Ok((lines, ok)) => {
                io.out("the JSON lines", &lines)?;
                Ok(if ok { 0 } else { 1 })
            }
            Err(e) => {
                err!(io, "kmodtree: {e}\n")?;
                Ok(1)
            }
        };
    }
    let opts = args.options();
    let mut ok = true;
    for f in &args.files {
        let path = kmodtree::kmod::absolute(std::path::Path::new(f))
            .to_string_lossy()
            .into_owned();
        let result = kmodtree::module::read_module_file(camino::Utf8Path::new(&path), &limits);
        if args.json {
            let line = match &result {
                Ok(meta) => serde_json::to_string(&kmodtree::modinfo::to_json(&path, meta)),
                Err(e) => {
                    ok = false;
                    err!(io, "modinfo: ERROR: {path}: {e}\n")?;
                    serde_json::to_string(&kmodtree::modinfo::json_error(&path, e))
                }
            };
            out!(io, "the JSON lines", "{}\n", line.unwrap_or_default())?;
            continue;
        }
        let rendered = kmodtree::modinfo::render(&path, result.as_ref(), &opts);
        io.out("modinfo's output", &rendered.stdout)?;
        io.err(&rendered.stderr)?;
        ok &= rendered.success;
    }
    Ok(if ok { 0 } else { 1 })
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

pub fn run_dump(args: &DumpArgs, io: &mut Io) -> Result<Status, Stop> {
    let data = match std::fs::read(&args.file) {
        Ok(d) => d,
        Err(e) => {
            err!(io, "kmodtree: {}: {e}\n", args.file)?;
            return Ok(2);
        }
    };
    let fail = |io: &mut Io, e: IndexError| -> Result<Status, Stop> {
        err!(io, "kmodtree: {}: {e}\n", args.file)?;
        Ok(2)
    };
    let index = match Index::parse(&data) {
        Ok(i) => i,
        Err(e) => return fail(io, e),
    };
    let values = if let Some(key) = &args.exact {
        index.lookup_exact(key.as_bytes())
    } else if let Some(q) = &args.wildcard {
        index.lookup_wildcard(q.as_bytes())
    } else {
        return match kmodtree::index::dump_lines(&index) {
            Ok(lines) => {
                io.out("the index's entries", &lines)?;
                Ok(0)
            }
            Err(e) => fail(io, e),
        };
    };
    match values {
        Ok(v) if v.is_empty() => Ok(1),
        Ok(v) => {
            for iv in v {
                io.out("the values", &iv.value)?;
                out!(io, "the values", "\t{}\n", iv.priority)?;
            }
            Ok(0)
        }
        Err(e) => fail(io, e),
    }
}
