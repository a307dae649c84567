//! The `modinfo` command family: kmod-compatible text and JSON output.
