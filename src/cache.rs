//! Bounded caches of work the hot path would otherwise repeat on every request: sessions opened
//! from their sealed cookies, and bearer tokens whose signatures were verified.
//!
//! Keys are the exact sealed cookie or token text, so an entry is only ever found by presenting
//! what was verified; entries still go through the same expiry checks on every use. Sharded
//! (no global lock) and bounded by bytes.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// What a cached value costs, roughly, in bytes.
pub trait Weigh {
    /// Approximate size in bytes.
    fn weight(&self) -> usize;
}

#[derive(Clone)]
struct ByWeight;

impl<V: Weigh> Weighter<String, Arc<V>> for ByWeight {
    fn weight(&self, key: &String, value: &Arc<V>) -> u64 {
        (key.len() + value.weight()) as u64
    }
}

/// A cache of verified values, keyed by the text they were verified from.
pub struct VerifiedCache<V: Weigh> {
    inner: Cache<String, Arc<V>, ByWeight>,
}

impl<V: Weigh> std::fmt::Debug for VerifiedCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("len", &self.inner.len())
            .finish()
    }
}

impl<V: Weigh> VerifiedCache<V> {
    /// A cache holding at most about `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Cache::with_weighter((max_bytes / 4096).max(16), max_bytes as u64, ByWeight),
        }
    }

    /// The value verified from `key`, if cached.
    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        self.inner.get(key)
    }

    /// Remembers the value verified from `key`.
    pub fn insert(&self, key: String, value: Arc<V>) {
        self.inner.insert(key, value);
    }
}
