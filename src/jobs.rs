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

/// How many results a worker thread of [`map_in_order`] may have waiting:
/// enough to keep every thread busy across uneven items, few enough that
/// memory stays bounded by the window, not the input.
const ITEMS_PER_THREAD: usize = 16;

/// Maps `items` with `work` on `jobs` threads (all cores when None) and
/// hands every result to `emit` in input order, as soon as it and all
/// earlier ones are done. Of N threads, thread w maps items w, w + N,
/// w + 2N, … and stays at most 16 results ahead of `emit` (a bounded
/// channel each), so memory does not grow with `items`, and a slow item
/// holds back only its own thread. Stops at the first error `emit`
/// returns; a panic of `work` is raised again on the calling thread.
pub fn map_in_order<T: Sync, R: Send, E>(
    jobs: Option<usize>,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    mut emit: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    let threads = jobs
        .unwrap_or_else(rayon::current_num_threads)
        .clamp(1, items.len().max(1));
    let work = &work;
    std::thread::scope(|scope| {
        let results: Vec<_> = (0..threads)
            .map(|w| {
                let (tx, rx) = std::sync::mpsc::sync_channel(ITEMS_PER_THREAD);
                // Ends once `emit` stopped (the receiver is gone).
                scope.spawn(move || {
                    for item in items.iter().skip(w).step_by(threads) {
                        if tx
                            .send(catch_unwind(AssertUnwindSafe(|| work(item))))
                            .is_err()
                        {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        for k in 0..items.len() {
            // Every thread sends a result for each of its items.
            let Ok(r) = results[k % threads].recv() else {
                break;
            };
            emit(r.unwrap_or_else(|p| resume_unwind(p)))?;
        }
        Ok(())
    })
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

    #[test]
    fn a_panicking_item_panics_the_caller_instead_of_hanging() {
        let items: Vec<u32> = (0..1000).collect();
        let r = std::panic::catch_unwind(|| {
            map_in_order(
                Some(2),
                &items,
                |&i| assert!(i != 500, "item 500"),
                |()| Ok::<(), ()>(()),
            )
        });
        assert!(r.is_err());
    }
}
