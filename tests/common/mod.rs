//! Helpers shared by the integration tests.

/// The shared fixtures: `$KMODTREE_FIXTURES` if set, else
/// `CARGO_MANIFEST_DIR/../shared/fixtures`.
pub fn fixtures_dir() -> std::path::PathBuf {
    match std::env::var_os("KMODTREE_FIXTURES") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures"))
        }
    }
}
