//! Independent jobs (cross-validation folds, ensemble members) side by side, each on its share
//! of the threads. Small networks use two threads far less than twice as well as one, so two
//! folds on one thread each finish sooner than two folds one after the other on two threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Jobs run at once: `requested` (0: one per thread), never more than `jobs` nor `threads`.
pub fn at_once(requested: usize, jobs: usize, threads: usize) -> usize {
    let threads = threads.max(1);
    let wanted = if requested == 0 { threads } else { requested };
    wanted.min(jobs).min(threads).max(1)
}

/// Runs `job` on every item, `requested` at a time (0: one per thread of the current rayon
/// pool), each inside a rayon pool of its share of the threads (the last ones, with fewer
/// jobs left than run at once, get a larger share); results in item order. After
/// a failure no further job starts and the first failure in item order is returned. One at a
/// time runs on the calling thread's pool, as a plain loop would.
pub fn run_each<T, R, E>(
    items: &[T],
    requested: usize,
    job: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let threads = rayon::current_num_threads();
    let at_once = at_once(requested, items.len(), threads);
    if at_once <= 1 {
        return items.iter().map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<R, E>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..at_once {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    // The last jobs get the threads the finished ones leave.
                    let left = (items.len() - i).min(at_once);
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads((threads / left).max(1))
                        .build();
                    let result = match &pool {
                        Ok(pool) => pool.install(|| job(item)),
                        Err(_) => job(item),
                    };
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *slots[i].lock().expect("result slot") = Some(result);
                }
            });
        }
    });
    let mut results = Vec::with_capacity(items.len());
    for slot in slots {
        match slot.into_inner().expect("result slot") {
            Some(result) => results.push(result?),
            // Only jobs after a failure are never started, and that failure came first.
            None => unreachable!("a job was skipped without an earlier failure"),
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_many_at_once_as_asked_jobs_and_threads_allow() {
        assert_eq!(at_once(0, 5, 2), 2);
        assert_eq!(at_once(1, 5, 8), 1);
        assert_eq!(at_once(2, 5, 8), 2);
        assert_eq!(at_once(0, 3, 8), 3);
        assert_eq!(at_once(4, 5, 2), 2);
        assert_eq!(at_once(0, 0, 2), 1);
    }

    #[test]
    fn results_come_in_item_order_on_pools_of_their_share() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let items: Vec<u64> = (0..7).collect();
        let results = pool
            .install(|| {
                run_each(&items, 2, |&k| {
                    std::thread::sleep(std::time::Duration::from_millis(10 * (7 - k)));
                    Ok::<_, ()>((k, rayon::current_num_threads()))
                })
            })
            .unwrap();
        let mut expected: Vec<(u64, usize)> = (0..6).map(|k| (k, 2)).collect();
        expected.push((6, 4));
        assert_eq!(results, expected);
    }

    #[test]
    fn a_failure_stops_new_jobs_and_comes_back() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let started = AtomicUsize::new(0);
        let items: Vec<usize> = (0..20).collect();
        let outcome = pool.install(|| {
            run_each(&items, 2, |&k| {
                started.fetch_add(1, Ordering::Relaxed);
                if k == 1 {
                    Err(format!("job {k} failed"))
                } else {
                    Ok(k)
                }
            })
        });
        assert_eq!(outcome, Err("job 1 failed".to_string()));
        assert!(started.load(Ordering::Relaxed) < 20);
    }
}
