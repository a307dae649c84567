//! The options several commands share, each declared once: `-b/--basedir`,
//! `--jobs`, `--max-module-size`, `--kmod-version` (each command flattens
//! those it takes), and their conversion to the library's types.

use super::Stop;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Args;
use kmodtree::kmod::KmodVersion;
use kmodtree::module::Limits;
use std::path::PathBuf;

/// `-b BASE`: the root holding `lib/modules/VERSION`.
#[derive(Args, Clone, Debug)]
pub struct Basedir {
    /// Root of the tree: modules are in BASE/lib/modules/VERSION
    #[arg(short = 'b', long = "basedir", value_name = "BASE")]
    pub basedir: Option<PathBuf>,
}

impl Basedir {
    /// The base directory as text, for the commands whose library options
    /// hold a `String`: a usage error unless it is UTF-8 (as clap reports
    /// a non-UTF-8 `String` argument).
    pub fn text(&self) -> Result<Option<String>, Stop> {
        let text = |path: &PathBuf| {
            path.to_str().map(str::to_owned).ok_or_else(|| {
                let message = format!(
                    "invalid UTF-8 was detected in --basedir {}\n",
                    path.display()
                );
                Stop::Usage(clap::Error::raw(ErrorKind::InvalidUtf8, message))
            })
        };
        self.basedir.as_ref().map(text).transpose()
    }
}

/// `--jobs N`.
#[derive(Args, Clone, Copy, Debug)]
pub struct Jobs {
    /// Worker threads (default: all cores)
    #[arg(long = "jobs", short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

/// `--max-module-size BYTES`.
#[derive(Args, Clone, Copy, Debug)]
pub struct ModuleSize {
    /// Largest decompressed module accepted, in bytes
    #[arg(long = "max-module-size", value_name = "BYTES", default_value_t = Limits::default().max_image_size)]
    pub max_module_size: u64,
}

impl ModuleSize {
    pub fn limits(self) -> Limits {
        Limits {
            max_image_size: self.max_module_size,
        }
    }
}

/// `--kmod-version 34|30`.
#[derive(Args, Clone, Copy, Debug)]
pub struct Kmod {
    /// Which kmod's output to reproduce
    #[arg(long = "kmod-version", value_parser = kmod_versions(), default_value = "34")]
    pub kmod_version: KmodVersion,
}

/// The values of `--kmod-version`.
pub fn kmod_versions() -> impl TypedValueParser<Value = KmodVersion> {
    choice([("34", KmodVersion::V34), ("30", KmodVersion::V30)])
}

/// A flag whose values are the names in `values`, each standing for the
/// library's value beside it: clap lists the names (with their help) in
/// `--help`, completions and its error for any other value.
pub fn choice<T: Clone + Send + Sync + 'static, const N: usize>(
    values: [(impl Into<PossibleValue>, T); N],
) -> impl TypedValueParser<Value = T> {
    let (names, values): (Vec<PossibleValue>, Vec<T>) =
        values.into_iter().map(|(n, v)| (n.into(), v)).unzip();
    PossibleValuesParser::new(names.clone()).try_map(move |name| {
        let i = names.iter().position(|n| n.get_name() == name);
        i.map(|i| values[i].clone()).ok_or("not a possible value")
    })
}

/// The running kernel's release (`uname -r`): the default VERSION of
/// `modinfo NAME` and `modprobe`; empty when it cannot be read.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

/// kmod's message for a usage error of its tool `tool` (depmod, modinfo,
/// modprobe), where kmod's differs from clap's: an unknown option, as kmod
/// 34's getopt_long names it (`depmod: unrecognized option '--bogus=1'`,
/// `depmod: invalid option -- 'x'`).
pub fn kmod_usage_error(tool: &str, e: clap::Error, argv: &[std::ffi::OsString]) -> Stop {
    let (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) =
        (e.kind(), e.get(ContextKind::InvalidArg))
    else {
        return Stop::Usage(e);
    };
    let text = if arg.starts_with("--") {
        // getopt names the whole argument, `=VALUE` included.
        let whole = argv
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .find(|a| {
                a.strip_prefix(arg.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
            })
            .unwrap_or(arg);
        format!("{tool}: unrecognized option '{whole}'\n")
    } else if let Some(c) = arg.strip_prefix('-').filter(|c| c.chars().count() == 1) {
        format!("{tool}: invalid option -- '{c}'\n")
    } else {
        return Stop::Usage(e);
    };
    Stop::Message(text)
}

/// A byte string argument (module names, aliases) as the library takes it.
pub fn bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    s.as_encoded_bytes().to_vec()
}
