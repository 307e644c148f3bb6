//! Sliding-window counter of failed sign-ins, per client address and per email.
//! In memory: a restart forgets it, which is acceptable for a brute-force brake.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait if any key is over its limit, else `None`.
    pub fn blocked_for(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|key| {
                let times = map.get_mut(key)?;
                self.prune(times, now);
                (times.len() >= self.limit).then(|| {
                    let oldest = times.front().copied().unwrap_or(now);
                    (self.window.saturating_sub(now - oldest)).as_secs().max(1)
                })
            })
            .max()
    }

    pub fn record_failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a flood of distinct keys.
            map.retain(|_, times| times.back().is_some_and(|t| now - *t < self.window));
        }
        for key in keys {
            let times = map.entry(key.clone()).or_default();
            self.prune(times, now);
            times.push_back(now);
        }
    }

    /// A successful sign-in clears that account's counter (not the address's).
    pub fn clear(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }

    fn prune(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times.front().is_some_and(|t| now - *t >= self.window) {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_clears() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let keys = vec!["ip:1".to_owned(), "email:a".to_owned()];
        assert_eq!(limiter.blocked_for(&keys), None);
        limiter.record_failure(&keys);
        limiter.record_failure(&keys);
        assert!(limiter.blocked_for(&keys).is_some());
        limiter.clear("email:a");
        assert!(limiter.blocked_for(&["email:a".to_owned()]).is_none());
        assert!(limiter.blocked_for(&["ip:1".to_owned()]).is_some());
    }
}
