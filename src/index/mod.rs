//! kmod's binary trie index (libkmod index v2.1, spec §9): a builder that
//! writes both layouts (pre-order for kmod 34, post-order for kmod 30) and a
//! bounds-checked reader with exact and wildcard lookups.
