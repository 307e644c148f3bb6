//! Independent jobs (cross-validation folds, ensemble members) side by side, each on its share
//! of the threads. Small networks use two threads far less than twice as well as one, so two
//! folds on one thread each finish sooner than two folds one after the other on two threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many jobs run at once, and how many threads each gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub at_once: usize,
    pub threads_each: usize,
}

impl Schedule {
    /// `requested` jobs at once (0: one per thread), never more than `jobs` nor `threads`,
    /// sharing `threads` evenly.
    pub fn new(requested: usize, jobs: usize, threads: usize) -> Self {
        let threads = threads.max(1);
        let wanted = if requested == 0 { threads } else { requested };
        let at_once = wanted.min(jobs).min(threads).max(1);
        Self {
            at_once,
            threads_each: (threads / at_once).max(1),
        }
    }
}

/// Runs `job` on every item, `requested` at a time (0: one per thread of the current rayon
/// pool), each inside a rayon pool of its share of the threads; results in item order. After
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
    let schedule = Schedule::new(requested, items.len(), rayon::current_num_threads());
    if schedule.at_once <= 1 {
        return items.iter().map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<R, E>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..schedule.at_once {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(schedule.threads_each)
                    .build();
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
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
    fn schedules_share_the_threads() {
        assert_eq!(Schedule::new(0, 5, 2), Schedule { at_once: 2, threads_each: 1 });
        assert_eq!(Schedule::new(1, 5, 8), Schedule { at_once: 1, threads_each: 8 });
        assert_eq!(Schedule::new(2, 5, 8), Schedule { at_once: 2, threads_each: 4 });
        assert_eq!(Schedule::new(0, 3, 8), Schedule { at_once: 3, threads_each: 2 });
        assert_eq!(Schedule::new(4, 5, 2), Schedule { at_once: 2, threads_each: 1 });
        assert_eq!(Schedule::new(0, 0, 2).at_once, 1);
    }

    #[test]
    fn results_come_in_item_order_on_pools_of_their_share() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let items: Vec<u64> = (0..7).collect();
        let results = pool
            .install(|| {
                run_each(&items, 2, |&k| {
                    std::thread::sleep(std::time::Duration::from_millis(10 * (7 - k)));
                    Ok::<_, ()>((k, rayon::current_num_threads()))
                })
            })
            .unwrap();
        assert_eq!(results, (0..7).map(|k| (k, 2)).collect::<Vec<_>>());
    }

    #[test]
    fn a_failure_stops_new_jobs_and_comes_back() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let started = AtomicUsize::new(0);
        let items: Vec<usize> = (0..20).collect();
        let outcome = pool.install(|| {
            run_each(&items, 2, |&k| {
                started.fetch_add(1, Ordering::Relaxed);
                if k == 1 { Err(format!("job {k} failed")) } else { Ok(k) }
            })
        });
        assert_eq!(outcome, Err("job 1 failed".to_string()));
        assert!(started.load(Ordering::Relaxed) < 20);
    }
}
