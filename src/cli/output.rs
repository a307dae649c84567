//! The one way commands write: a buffered stdout whose every failure is
//! returned (a closed pipe or a full disk never panics), and stderr, written
//! after stdout's pending bytes so that `2>&1` keeps the order.

use kmodtree::kmod::strerror;
use std::io::{self, BufWriter, Write};

/// Writing `what` to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("could not write {what} to stdout: {}", strerror(.source))]
pub struct OutputError {
    /// What was being written, as the message names it ("the manifest").
    pub what: &'static str,
    #[source]
    pub source: io::Error,
}

/// stdout (buffered) and stderr of the process.
pub struct Io {
    out: BufWriter<io::StdoutLock<'static>>,
    /// What the bytes waiting in the buffer are, to name them when a
    /// later flush fails.
    pending: &'static str,
}

impl Io {
    pub fn new() -> Io {
        Io {
            out: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
            pending: "the output",
        }
    }

    /// Writes `bytes`, which are `what`, to stdout.
    pub fn out(&mut self, what: &'static str, bytes: &[u8]) -> Result<(), OutputError> {
        self.pending = what;
        self.out
            .write_all(bytes)
            .map_err(|source| OutputError { what, source })
    }

    /// Writes out what stdout's buffer holds.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        self.out.flush().map_err(|source| OutputError {
            what: self.pending,
            source,
        })
    }

    /// Writes `bytes` to stderr, after what stdout holds. A message that
    /// cannot be written is lost: there is nowhere left to report it.
    pub fn err(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.flush()?;
        let _ = io::stderr().write_all(bytes);
        Ok(())
    }

    /// Ends after stdout failed: drops what its buffer still holds and
    /// says why on stderr, unless the reader went away (`kmodtree diff A B
    /// | head -1`: nothing to say, and nobody to say it to).
    pub fn abandon(self, e: &OutputError) {
        let _ = self.out.into_parts();
        if e.source.kind() != io::ErrorKind::BrokenPipe {
            let _ = writeln!(io::stderr(), "kmodtree: error: {e}");
        }
    }
}

/// Writes formatted text to stdout: `out!(io, "what", "fmt", args...)`.
macro_rules! out {
    ($io:expr, $what:expr, $($fmt:tt)*) => {
        $io.out($what, format!($($fmt)*).as_bytes())
    };
}

/// Writes formatted text to stderr: `err!(io, "fmt", args...)`.
macro_rules! err {
    ($io:expr, $($fmt:tt)*) => {
        $io.err(format!($($fmt)*).as_bytes())
    };
}

pub(crate) use {err, out};
