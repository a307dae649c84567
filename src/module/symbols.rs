//! Exported and undefined symbols (spec §5.4, §5.5).
