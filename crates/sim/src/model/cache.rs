//! Bounded memo tables shared by every request thread, split into shards so that threads
//! working on different symbols or minutes rarely wait on one lock. A full shard is dropped
//! wholesale: the model is random-access, so anything evicted is simply computed again.

use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash},
    sync::Mutex,
};

const SHARDS: usize = 16;

/// A memo table of at most about `cap` entries.
#[derive(Debug)]
pub(crate) struct Cache<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
    per_shard: usize,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    pub(crate) fn new(cap: usize) -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), per_shard: cap.div_ceil(SHARDS).max(1) }
    }

    /// The value of `k`, computed by `f` (outside any lock) when absent.
    pub(crate) fn get_or(&self, k: K, f: impl FnOnce() -> V) -> V {
        // A fixed hasher: the shard choice needs spread, not secrecy.
        let shard = &self.shards[(BuildHasherDefault::<DefaultHasher>::default().hash_one(&k) as usize) % SHARDS];
        if let Some(v) = shard.lock().expect("cache lock").get(&k) {
            return v.clone();
        }
        let v = f();
        let mut c = shard.lock().expect("cache lock");
        if c.len() >= self.per_shard {
            c.clear();
        }
        c.insert(k, v.clone());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_and_stays_bounded() {
        let cache: Cache<u64, u64> = Cache::new(64);
        let mut calls = 0;
        assert_eq!(
            cache.get_or(7, || {
                calls += 1;
                49
            }),
            49
        );
        assert_eq!(
            cache.get_or(7, || {
                calls += 1;
                0
            }),
            49
        );
        assert_eq!(calls, 1);
        for k in 0..10_000 {
            assert_eq!(cache.get_or(k, || k * k), k * k);
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= 64, "{held} entries held");
    }
}
