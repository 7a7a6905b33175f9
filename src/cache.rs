//! Bounded caches of work the hot path would otherwise repeat on every request: sessions opened
//! from their sealed cookies, and bearer tokens whose signatures were verified.
//!
//! Keys are the exact sealed cookie or token bytes, so an entry is only ever found by presenting
//! what was verified; entries still go through the same expiry checks on every use. Sharded
//! (no global lock) and bounded by bytes.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

/// What a cached value costs, roughly, in bytes.
pub trait Weigh {
    /// Approximate size in bytes.
    fn weight(&self) -> usize;
}

/// Bytes at the end of a key that are hashed.
const HASHED_TAIL: usize = 32;

/// A key: the exact bytes a value was verified from, hashed by its length and its last
/// [`HASHED_TAIL`] bytes only. Sealed cookies end in their authentication tag and tokens in their
/// signature, both unpredictable, so the tail spreads keys as well as the whole text would, at a
/// fraction of the cost: these keys are kilobytes long and looked up on every request. Equality
/// still compares every byte, and only verified values are ever inserted, so keys crafted to
/// collide find nothing and slow nothing down.
#[derive(PartialEq, Eq)]
struct Key(Box<[u8]>);

/// A key being looked up, without copying it.
struct Probe<'a>(&'a [u8]);

fn hash_tail<H: Hasher>(bytes: &[u8], state: &mut H) {
    state.write_usize(bytes.len());
    state.write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_tail(&self.0, state);
    }
}

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_tail(self.0, state);
    }
}

impl Equivalent<Key> for Probe<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self.0 == *key.0
    }
}

#[derive(Clone)]
struct ByWeight;

impl<V: Weigh> Weighter<Key, Arc<V>> for ByWeight {
    fn weight(&self, key: &Key, value: &Arc<V>) -> u64 {
        (key.0.len() + value.weight()) as u64
    }
}

/// A cache of verified values, keyed by the bytes they were verified from.
pub struct VerifiedCache<V: Weigh> {
    inner: Cache<Key, Arc<V>, ByWeight>,
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

    /// The value verified from `key`, if cached. Bytes, as they came off the wire: looking up
    /// needs no UTF-8 check, only a miss does (before verifying).
    pub fn get(&self, key: &[u8]) -> Option<Arc<V>> {
        self.inner.get(&Probe(key))
    }

    /// Remembers the value verified from `key`.
    pub fn insert(&self, key: impl Into<Box<[u8]>>, value: Arc<V>) {
        self.inner.insert(Key(key.into()), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for u8 {
        fn weight(&self) -> usize {
            1
        }
    }

    #[test]
    fn only_the_exact_text_finds_its_value() {
        let cache = VerifiedCache::new(1 << 20);
        let tail = "t".repeat(HASHED_TAIL);
        let verified = format!("head-{tail}");
        cache.insert(verified.as_bytes(), Arc::new(1u8));
        assert_eq!(cache.get(verified.as_bytes()).as_deref(), Some(&1));
        // Same length and same tail (so the same hash), different text: not found.
        assert!(cache.get(format!("HEAD-{tail}").as_bytes()).is_none());
        assert!(cache.get(tail.as_bytes()).is_none());
        assert!(cache.get(b"").is_none());
    }
}
