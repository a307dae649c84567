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
/// earlier ones are done. A sliding window of results (16 per thread) is
/// in flight: a worker takes item `i` only once item `i - window` has been
/// emitted, so memory does not grow with `items`, and a slow item holds
/// back only the window behind it. Stops at the first error `emit`
/// returns.
pub fn map_in_order<T: Sync, R: Send, E>(
    jobs: Option<usize>,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    mut emit: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    use std::collections::BTreeMap;
    use std::sync::{Condvar, Mutex, PoisonError};
    let threads = jobs
        .unwrap_or_else(rayon::current_num_threads)
        .clamp(1, items.len().max(1));
    let window = threads * ITEMS_PER_THREAD;
    struct State<R> {
        /// Items handed out so far.
        next: usize,
        /// Items emitted so far.
        emitted: usize,
        done: BTreeMap<usize, R>,
        stop: bool,
        /// A worker's panic, re-raised on the calling thread.
        panic: Option<Box<dyn std::any::Any + Send>>,
    }
    let state = Mutex::new(State {
        next: 0,
        emitted: 0,
        done: BTreeMap::new(),
        stop: false,
        panic: None,
    });
    let changed = Condvar::new();
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    let wait = |g| changed.wait(g).unwrap_or_else(PoisonError::into_inner);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = {
                    let mut g = lock();
                    while !g.stop && g.next < items.len() && g.next >= g.emitted + window {
                        g = wait(g);
                    }
                    if g.stop || g.next >= items.len() {
                        return;
                    }
                    g.next += 1;
                    g.next - 1
                };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&items[i])));
                let mut g = lock();
                match r {
                    Ok(r) => {
                        g.done.insert(i, r);
                    }
                    Err(p) => {
                        g.panic = Some(p);
                        g.stop = true;
                    }
                }
                drop(g);
                changed.notify_all();
            });
        }
        let mut result = Ok(());
        for k in 0..items.len() {
            let r = {
                let mut g = lock();
                loop {
                    if let Some(r) = g.done.remove(&k) {
                        break r;
                    }
                    if let Some(p) = g.panic.take() {
                        drop(g);
                        std::panic::resume_unwind(p);
                    }
                    g = wait(g);
                }
            };
            result = emit(r);
            let mut g = lock();
            g.emitted = k + 1;
            g.stop = result.is_err();
            drop(g);
            changed.notify_all();
            if result.is_err() {
                break;
            }
        }
        result
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
