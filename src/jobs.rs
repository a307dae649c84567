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

/// How many items per worker thread [`map_in_order`] has in flight: enough
/// to keep every thread busy across uneven items, few enough that memory
/// stays bounded by the window, not the input.
const ITEMS_PER_THREAD: usize = 16;

/// Maps `items` with `work` on `jobs` threads (all cores when None) and
/// hands every result to `emit` in input order, as soon as it and all
/// earlier ones are done. At most a window of results (16 per thread) is
/// held at once, so memory does not grow with `items`. Stops at the first
/// error `emit` returns.
pub fn map_in_order<T: Sync, R: Send, E>(
    jobs: Option<usize>,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    mut emit: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    use rayon::prelude::*;
    let pool = jobs.and_then(|n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .ok()
    });
    let threads = pool
        .as_ref()
        .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
    let window = threads.max(1) * ITEMS_PER_THREAD;
    for chunk in items.chunks(window) {
        let map = || chunk.par_iter().map(&work).collect::<Vec<R>>();
        let done = match &pool {
            Some(pool) => pool.install(map),
            None => map(),
        };
        for r in done {
            emit(r)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_in_order_keeps_input_order_and_stops_at_an_error() {
        let items: Vec<u32> = (0..1000).collect();
        for jobs in [None, Some(1), Some(3)] {
            let mut seen = Vec::new();
            let r: Result<(), ()> = map_in_order(
                jobs,
                &items,
                |&i| i * 2,
                |v| {
                    seen.push(v);
                    Ok(())
                },
            );
            assert_eq!(r, Ok(()));
            assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        let mut n = 0;
        let r = map_in_order(
            Some(2),
            &items,
            |&i| i,
            |v| {
                n += 1;
                if v == 40 {
                    Err(v)
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!((r, n), (Err(40), 41));
    }
}
