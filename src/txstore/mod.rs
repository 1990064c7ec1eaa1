//! The transactions kept between a request and its response (`coraza-res` joins by `id`).
//!
//! Owns a bounded map from transaction id to whatever the caller keeps (the engine's
//! transaction and its rule set), shared by every shard: HAProxy may send a response on
//! another SPOP connection than its request, and connections are spread over shards by the
//! kernel. An entry lives until its response takes it, its TTL passes, or the store is full
//! and it is the oldest (evicted). Counters say how often each happened and how many
//! responses came for an unknown id.
//!
//! Synchronisation: 64 stripes, each a `Mutex` around a hash map and an insertion-ordered
//! queue; an id's hash picks its stripe. A lock is held for one O(1) insert or remove (plus
//! popping expired or surplus entries at the queue's front), values are dropped after the lock
//! is released, and two shards contend only when they touch the same stripe at the same
//! moment. Only applications with `response_check` ever reach the store: the classic
//! `check-request` path and every other application take no lock (the shard-path invariant
//! of ARCHITECTURE.md holds for them; this is its one documented exception). A lock-free map
//! would buy nothing at two inserts/removes per response-checked request and cost `unsafe` or
//! a dependency.
//!
//! Refuses: knowing what it stores, evaluating anything, and sweeping on a timer (expired
//! entries are dropped when met: at the front of their stripe on insert, or on lookup; the
//! count bound holds regardless).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const STRIPES: usize = 64;

struct Entry<T> {
    deadline: Instant,
    seq: u64,
    value: T,
}

struct Stripe<T> {
    map: HashMap<Box<[u8]>, Entry<T>>,
    /// (deadline, id, seq) in insertion order; stale when the map's seq differs.
    order: VecDeque<(Instant, Box<[u8]>, u64)>,
    seq: u64,
}

impl<T> Default for Stripe<T> {
    fn default() -> Self {
        Stripe {
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }
}

/// What the store did, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions kept.
    pub kept: u64,
    /// Responses joined to their transaction.
    pub joined: u64,
    /// Transactions dropped because their TTL passed.
    pub expired: u64,
    /// Transactions dropped because the store was full (oldest first) or their id came again.
    pub evicted: u64,
    /// Responses whose id was not (or no longer) in the store.
    pub unknown: u64,
}

#[derive(Default)]
struct Counters {
    kept: AtomicU64,
    joined: AtomicU64,
    expired: AtomicU64,
    evicted: AtomicU64,
    unknown: AtomicU64,
}

/// A bounded, TTL-expiring map from transaction id to `T`, shared by every shard.
pub struct TxStore<T> {
    stripes: Box<[Mutex<Stripe<T>>]>,
    per_stripe: usize,
    hasher: RandomState,
    counters: Counters,
}

impl<T> std::fmt::Debug for TxStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxStore")
            .field("capacity", &self.capacity())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<T> TxStore<T> {
    /// A store holding at most about `max_entries` (rounded up to a multiple of the stripe
    /// count; at least one per stripe).
    pub fn new(max_entries: usize) -> Self {
        TxStore {
            stripes: (0..STRIPES)
                .map(|_| Mutex::new(Stripe::default()))
                .collect(),
            per_stripe: max_entries.div_ceil(STRIPES).max(1),
            hasher: RandomState::new(),
            counters: Counters::default(),
        }
    }

    /// The most entries it holds.
    pub fn capacity(&self) -> usize {
        self.per_stripe * STRIPES
    }

    fn stripe(&self, id: &[u8]) -> &Mutex<Stripe<T>> {
        let h = self.hasher.hash_one(id) as usize;
        &self.stripes[h % STRIPES]
    }

    fn lock<'a>(&self, m: &'a Mutex<Stripe<T>>) -> std::sync::MutexGuard<'a, Stripe<T>> {
        // A panic while holding the lock cannot leave a stripe inconsistent in a way that
        // matters here (worst case a stale queue entry), so poisoning is ignored.
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `value` under `id` for `ttl`. Drops expired entries met at the front of the
    /// stripe, and the oldest when the stripe is full; an older entry with the same id is
    /// replaced (counted as evicted).
    pub fn insert(&self, id: &[u8], ttl: Duration, value: T, now: Instant) {
        let mut dropped: Vec<T> = Vec::new();
        let (mut expired, mut evicted) = (0u64, 0u64);
        {
            let mut s = self.lock(self.stripe(id));
            let s = &mut *s;
            while let Some((deadline, _, _)) = s.order.front() {
                let full = s.map.len() >= self.per_stripe;
                if *deadline > now && !full {
                    break;
                }
                let (deadline, key, seq) = s.order.pop_front().expect("front exists");
                if s.map.get(&key).is_some_and(|e| e.seq == seq) {
                    let e = s.map.remove(&key).expect("present");
                    if deadline <= now {
                        expired += 1;
                    } else {
                        evicted += 1;
                    }
                    dropped.push(e.value);
                }
            }
            s.seq += 1;
            let seq = s.seq;
            let deadline = now + ttl;
            let key: Box<[u8]> = id.into();
            s.order.push_back((deadline, key.clone(), seq));
            if let Some(old) = s.map.insert(
                key,
                Entry {
                    deadline,
                    seq,
                    value,
                },
            ) {
                evicted += 1;
                dropped.push(old.value);
            }
        }
        drop(dropped);
        let c = &self.counters;
        c.kept.fetch_add(1, Ordering::Relaxed);
        c.expired.fetch_add(expired, Ordering::Relaxed);
        c.evicted.fetch_add(evicted, Ordering::Relaxed);
    }

    /// Takes the value kept under `id`, unless it is missing or expired (both counted as
    /// unknown; an expired one also as expired).
    pub fn take(&self, id: &[u8], now: Instant) -> Option<T> {
        let e = self.lock(self.stripe(id)).map.remove(id);
        let c = &self.counters;
        match e {
            Some(e) if e.deadline > now => {
                c.joined.fetch_add(1, Ordering::Relaxed);
                Some(e.value)
            }
            Some(_) => {
                c.expired.fetch_add(1, Ordering::Relaxed);
                c.unknown.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                c.unknown.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Counts a response that had no id to look up.
    pub fn count_unknown(&self) {
        self.counters.unknown.fetch_add(1, Ordering::Relaxed);
    }

    /// Entries held now (expired ones not yet met included).
    pub fn len(&self) -> usize {
        self.stripes.iter().map(|s| self.lock(s).map.len()).sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            kept: c.kept.load(Ordering::Relaxed),
            joined: c.joined.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            unknown: c.unknown.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_once_and_counts_unknowns() {
        let s = TxStore::new(100);
        let now = Instant::now();
        s.insert(b"a", Duration::from_secs(60), 1, now);
        assert_eq!(s.take(b"a", now), Some(1));
        assert_eq!(s.take(b"a", now), None);
        assert_eq!(s.take(b"zz", now), None);
        let st = s.stats();
        assert_eq!((st.kept, st.joined, st.unknown), (1, 1, 2));
        assert!(s.is_empty());
    }

    #[test]
    fn expired_entries_are_not_joined_and_are_dropped_when_met() {
        let s = TxStore::new(6400);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            s.insert(&i.to_be_bytes(), Duration::from_millis(50), i, t0);
        }
        let later = t0 + Duration::from_millis(51);
        assert_eq!(s.take(&7u32.to_be_bytes(), later), None);
        // New inserts sweep the expired fronts of their stripes.
        for i in 1000..3000u32 {
            s.insert(&i.to_be_bytes(), Duration::from_millis(50), i, later);
        }
        assert_eq!(
            s.len(),
            2000,
            "every expired entry was met by a later insert"
        );
        assert_eq!(s.stats().expired, 1000);
    }

    #[test]
    fn a_flood_without_responses_stays_within_the_bound() {
        let s = TxStore::new(1000);
        let now = Instant::now();
        for i in 0..100_000u32 {
            s.insert(&i.to_be_bytes(), Duration::from_secs(60), [0u8; 64], now);
        }
        assert!(s.len() <= s.capacity(), "{} > {}", s.len(), s.capacity());
        assert!(s.capacity() < 1100);
        let st = s.stats();
        assert_eq!(st.kept, 100_000);
        assert_eq!(st.evicted as usize, 100_000 - s.len());
        // The newest survive; the oldest went first.
        assert!(s.take(&99_999u32.to_be_bytes(), now).is_some());
        assert!(s.take(&0u32.to_be_bytes(), now).is_none());
    }

    #[test]
    fn shards_share_it() {
        let s = std::sync::Arc::new(TxStore::new(10_000));
        let now = Instant::now();
        let put = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..5000u32 {
                    s.insert(&i.to_be_bytes(), Duration::from_secs(60), i, now);
                }
            })
        };
        put.join().unwrap();
        let got = (0..5000u32)
            .filter(|i| s.take(&i.to_be_bytes(), now) == Some(*i))
            .count();
        assert_eq!(got, 5000);
    }
}
