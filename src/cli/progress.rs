//! `--progress auto|always|never`: progress bars on stderr (indicatif)
//! for the long stages the library reports through
//! [`kmodtree::progress::Progress`]. `auto` (the default) shows them only
//! when stderr is a terminal, so logs and pipes get the same bytes as
//! without the option.

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kmodtree::progress::{Progress, ProgressHook};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// When stderr is a terminal
    Auto,
    /// Always (a line per stage when stderr is not a terminal)
    Always,
    /// Never
    Never,
}

#[derive(Args, Clone, Debug)]
pub struct ProgressArgs {
    /// Show progress on stderr
    #[arg(
        long = "progress",
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub progress: When,
}

impl ProgressArgs {
    /// The receiver to hand the library.
    pub fn hook(&self) -> ProgressHook {
        let terminal = std::io::stderr().is_terminal();
        let shown: Option<Arc<dyn Progress>> = match (self.progress, terminal) {
            (When::Never, _) | (When::Auto, false) => None,
            (_, true) => Some(Arc::new(Bars::default())),
            (When::Always, false) => Some(Arc::new(Lines::default())),
        };
        ProgressHook(shown)
    }
}

/// A bar per stage, on the terminal (a counter when the total is not
/// known).
#[derive(Default)]
struct Bars {
    bar: Mutex<Option<(ProgressBar, &'static str)>>,
}

impl Progress for Bars {
    fn start(&self, stage: &'static str, total: u64) {
        let length = (total > 0).then_some(total);
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
        let template = match length {
            None => "{msg:>16} {pos} {elapsed}",
            Some(_) => "{msg:>16} [{bar:30}] {pos}/{len} {elapsed}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(stage);
        // Redrawn while a slow item (a dkms make) gives no tick.
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        if let Ok(mut b) = self.bar.lock() {
            *b = Some((bar, stage));
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(Some((bar, _))) = self.bar.lock().as_deref() {
            bar.inc(n);
        }
    }

    fn working_on(&self, what: &str) {
        if let Ok(Some((bar, stage))) = self.bar.lock().as_deref() {
            bar.set_message(format!("{stage}: {what}"));
        }
    }

    fn finish(&self) {
        if let Ok(Some((bar, _))) = self.bar.lock().as_deref_mut().map(Option::take) {
            bar.finish_and_clear();
        }
    }
}

/// A line per finished stage (`--progress always` into a file or pipe):
/// the stage and the items done.
#[derive(Default)]
struct Lines(Mutex<(&'static str, u64)>);

impl Progress for Lines {
    fn start(&self, stage: &'static str, _total: u64) {
        if let Ok(mut s) = self.0.lock() {
            *s = (stage, 0);
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(mut s) = self.0.lock() {
            s.1 += n;
        }
    }

    fn finish(&self) {
        let (stage, done) = self.0.lock().map(|s| *s).unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "kmodtree: {stage}: {done} done");
    }
}
