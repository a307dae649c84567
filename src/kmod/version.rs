//! Which kmod's output kmodtree reproduces.

/// Which kmod's output to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KmodVersion {
    /// kmod 30–33: post-order indexes, no `modules.weakdep`.
    V30,
    /// kmod 34: pre-order indexes, `modules.weakdep`.
    #[default]
    V34,
}
