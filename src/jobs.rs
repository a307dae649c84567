//! Running parallel work on a chosen number of threads (`--jobs N`).

/// Runs `work` (which uses rayon inside) on a pool of `jobs` threads, or on
/// rayon's global pool (all cores) when `jobs` is None. Results never
/// depend on the thread count: every caller collects in input order.
pub fn run_with_jobs<T: Send>(jobs: Option<usize>, work: impl FnOnce() -> T + Send) -> T {
    match jobs.map(|n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
    }) {
        Some(Ok(pool)) => pool.install(work),
        _ => work(),
    }
}
