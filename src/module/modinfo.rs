//! `.modinfo` parsing (spec §5.3).
