//! The appended module signature (modinfo's `sig_*` fields).
