//! The read-only rest of kmod's modprobe and the version lines of kmod's
//! tools: `modprobe -c` ([`showconfig`]), `--show-exports` and
//! `--dump-modversions` ([`exports`]), `-V`.

use crate::kmod::KmodVersion;

/// What kmod's tools print for `-V`/`--version`, for the kmod kmodtree
/// reproduces: `kmod version N` and the feature line, which scripts
/// parse. `zlib`: whether `.ko.gz` modules are read.
pub fn version_text(kmod: KmodVersion, zlib: bool) -> String {
    let z = if zlib { '+' } else { '-' };
    match kmod {
        KmodVersion::V34 => format!("kmod version 34.2\n+ZSTD +XZ {z}ZLIB +OPENSSL\n"),
        KmodVersion::V30 => {
            format!("kmod version 30\n+ZSTD +XZ {z}ZLIB +LIBCRYPTO -EXPERIMENTAL\n")
        }
    }
}

pub mod exports;
pub mod showconfig;

use crate::closure::show_depends::{ModprobeOptions, RunOutcome};
use crate::closure::{Message, MessageLevel, ProbeAction, Resolver};
use crate::module::Limits;

/// What a read-only `modprobe` run does, by kmod's precedence when
/// several are asked for: `-c`, `--dump-modversions`, `--show-exports`,
/// `-r`, then the module arguments (`-R`, `-D`, or loading).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ShowConfig,
    DumpModversions,
    ShowExports,
    /// `-r`: refused.
    Remove,
    /// `-R`: print the names the arguments resolve to.
    ResolveAlias,
    /// `-D`: print what loading would do.
    ShowDepends,
    /// Plain `modprobe MODULE`: refused.
    Load,
}

/// A parsed read-only `modprobe` command line.
#[derive(Clone, Debug)]
pub struct ModprobeRun {
    pub tree: ModprobeOptions,
    pub action: Action,
    /// `-a`: every argument is a module (else the first is the module
    /// and the rest its parameters).
    pub all: bool,
    /// `-q`: no messages once the configuration is read.
    pub quiet: bool,
    /// `-b`: the blacklist applies to modules named directly too.
    pub use_blacklist: bool,
    pub args: Vec<Vec<u8>>,
    pub kmod: KmodVersion,
    pub limits: Limits,
}

fn fail(outcome: &mut RunOutcome, level: MessageLevel, text: String) {
    outcome.messages.push(Message::modprobe(level, text));
    outcome.exit_code = 1;
}

/// Runs a read-only modprobe command: kmod's stdout, messages and status.
pub fn run(r: &ModprobeRun) -> RunOutcome {
    let mut outcome = RunOutcome::default();
    let read_only = "kmodtree's modprobe is read-only: it does not";
    let refused = match r.action {
        Action::ShowConfig => None,
        _ if r.args.is_empty() => Some("missing parameters. See -h.".to_string()),
        Action::Remove => Some(format!("{read_only} remove modules")),
        Action::Load => Some(format!(
            "{read_only} load modules (use --show-depends or --resolve-alias)"
        )),
        _ => None,
    };
    if let Some(text) = refused {
        fail(&mut outcome, MessageLevel::Error, text);
        return outcome;
    }
    if matches!(r.action, Action::ShowExports | Action::DumpModversions) {
        file_symbols(r, &mut outcome);
        if r.quiet {
            outcome.messages.clear();
        }
        return outcome;
    }
    let (indexes, config) = r.tree.load(&mut outcome.messages);
    let kept = outcome.messages.len();
    if r.action == Action::ShowConfig {
        outcome.stdout = showconfig::show_config(&config, &indexes, r.kmod);
        return outcome;
    }
    let mut resolver = Resolver::new(&indexes, &config).use_blacklist(r.use_blacklist);
    let (targets, extra) = if r.all {
        (&r.args[..], None)
    } else {
        let extra = (r.args.len() > 1).then(|| r.args[1..].join(&b' '));
        (&r.args[..1], extra)
    };
    let texts = outcome.each_target(&mut resolver, targets, r.all, |resolver, t| {
        if r.action == Action::ResolveAlias {
            return resolver.module_names_text(t);
        }
        let actions = resolver.module_load_actions(t, r.tree.ignore_commands, extra.as_deref());
        Ok(actions?.iter().flat_map(ProbeAction::render).collect())
    });
    outcome.stdout.extend(texts.into_iter().flatten().flatten());
    // -q: no messages once the configuration is read.
    if r.quiet {
        outcome.messages.truncate(kept);
    }
    outcome
}

/// `--show-exports FILE` / `--dump-modversions FILE` (FILE: the first
/// argument).
fn file_symbols(r: &ModprobeRun, outcome: &mut RunOutcome) {
    let path = String::from_utf8_lossy(&r.args[0]).into_owned();
    if std::fs::metadata(&path).is_err() {
        let text = format!("Module {path} not found.");
        return fail(outcome, MessageLevel::Fatal, text);
    }
    let (result, what) = if r.action == Action::ShowExports {
        (exports::show_exports(&path, &r.limits), "symbols")
    } else {
        (exports::dump_modversions(&path, &r.limits), "modversions")
    };
    match result {
        Ok(text) => outcome.stdout = text,
        Err(e) => {
            let text = format!("could not get {what} of {path}: {}", e.strerror(r.kmod));
            fail(outcome, MessageLevel::Fatal, text);
        }
    }
}
