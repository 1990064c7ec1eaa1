//! Per-scratch scan memo: exact value bytes -> candidate list of one [`super::PatternSet`], with
//! every confirmation PCRE2 has settled so far.
//!
//! Real traffic repeats header values, argument names and common values, and a set's answer for
//! a value never changes, so a shard remembers recent answers; a confirmation run later for a
//! remembered value is written back ([`Memo::settle`]). Owns a bounded 2-way
//! set-associative table (one MRU bit per bucket), allocated on the first insert and then reused:
//! key and result buffers keep their capacity, so steady-state lookups and inserts allocate
//! nothing. Refuses: hash-only matches (every hit compares the full key), values longer than
//! [`MAX_VALUE`] (rare, and expensive to store), answers a match-limit abort produced (the caller
//! decides; see `PatternSet::scan`). The hash is seeded per memo (`crate::fasthash`), so a client
//! cannot aim collisions at a shard; the worst a flood does is evict entries.

use super::Candidate;

/// Values longer than this are not memoized (bytes).
pub(crate) const MAX_VALUE: usize = 256;

/// Buckets per memo (power of two); two ways each, so `2 * BUCKETS` entries.
const BUCKETS: usize = 512;

#[derive(Debug, Default)]
struct Entry {
    /// 0 = empty (a real hash of 0 is stored as 1; the full key comparison keeps this exact).
    hash: u64,
    key: Vec<u8>,
    result: Vec<Candidate>,
}

/// The memo of one (set, scratch) pair.
#[derive(Debug)]
pub(crate) struct Memo {
    seed: u64,
    /// `2 * BUCKETS` entries, way 0 and way 1 of bucket `b` at `2b` and `2b + 1`; empty until the
    /// first insert.
    table: Vec<Entry>,
    /// Per bucket: the way used most recently (the other one is evicted next).
    mru: Vec<u8>,
}

impl Memo {
    pub(crate) fn new() -> Self {
        Memo {
            seed: crate::fasthash::random_seed(),
            table: Vec::new(),
            mru: Vec::new(),
        }
    }

    /// The hash of `value` as this memo keys it, never 0.
    pub(crate) fn hash(&self, value: &[u8]) -> u64 {
        crate::fasthash::hash(self.seed, value).max(1)
    }

    /// The slot holding `value`, if any.
    fn find(&self, hash: u64, value: &[u8]) -> Option<usize> {
        let b = Self::bucket(hash);
        (2 * b..2 * b + 2).find(|&i| {
            self.table
                .get(i)
                .is_some_and(|e| e.hash == hash && e.key == value)
        })
    }

    /// Records a settled confirmation for a remembered value (nothing when it was evicted).
    pub(crate) fn settle(&mut self, hash: u64, value: &[u8], c: Candidate) {
        if let Some(e) = self.find(hash, value).and_then(|i| self.table.get_mut(i)) {
            if let Ok(k) = e.result.binary_search_by_key(&c.pattern, |x| x.pattern) {
                if let Some(slot) = e.result.get_mut(k) {
                    *slot = c;
                }
            }
        }
    }

    fn bucket(hash: u64) -> usize {
        // The hash's final fold spreads every input bit over the low bits.
        (hash as usize) & (BUCKETS - 1)
    }

    /// Copies the remembered answer for `value` into `out` (cleared first); false on a miss.
    pub(crate) fn lookup(&mut self, hash: u64, value: &[u8], out: &mut Vec<Candidate>) -> bool {
        let b = Self::bucket(hash);
        for way in 0..2 {
            let Some(e) = self.table.get(2 * b + way) else {
                return false;
            };
            if e.hash == hash && e.key == value {
                out.clear();
                out.extend_from_slice(&e.result);
                if let Some(m) = self.mru.get_mut(b) {
                    *m = way as u8;
                }
                return true;
            }
        }
        false
    }

    /// Remembers `result` for `value`, evicting the bucket's less recently used way.
    pub(crate) fn insert(&mut self, hash: u64, value: &[u8], result: &[Candidate]) {
        if value.len() > MAX_VALUE {
            return;
        }
        if self.table.is_empty() {
            self.table.resize_with(2 * BUCKETS, Entry::default);
            self.mru = vec![0; BUCKETS];
        }
        let b = Self::bucket(hash);
        let way = match (self.table.get(2 * b), self.mru.get(b)) {
            (Some(e0), _) if e0.hash == 0 => 0,
            (_, Some(&m)) => 1 - usize::from(m.min(1)),
            _ => 0,
        };
        if let Some(e) = self.table.get_mut(2 * b + way) {
            e.hash = hash;
            e.key.clear();
            e.key.extend_from_slice(value);
            e.result.clear();
            e.result.extend_from_slice(result);
        }
        if let Some(m) = self.mru.get_mut(b) {
            *m = way as u8;
        }
    }

    /// Entries currently held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.iter().filter(|e| e.hash != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::PatternId;

    fn cand(n: u32) -> Candidate {
        Candidate::exact(PatternId(n))
    }

    #[test]
    fn settle_updates_a_remembered_candidate() {
        let mut m = Memo::new();
        let h = m.hash(b"v");
        let open = Candidate::unconfirmed(PatternId(2));
        m.insert(h, b"v", &[cand(1), open]);
        m.settle(h, b"v", Candidate::settled(PatternId(2), false));
        let mut out = Vec::new();
        assert!(m.lookup(h, b"v", &mut out));
        assert_eq!(out, vec![cand(1), Candidate::settled(PatternId(2), false)]);
        // A value that is not held is left alone.
        m.settle(m.hash(b"w"), b"w", cand(2));
        assert!(!m.lookup(m.hash(b"w"), b"w", &mut out));
    }

    #[test]
    fn hit_returns_the_stored_answer_and_miss_leaves_out_alone() {
        let mut m = Memo::new();
        let mut out = vec![cand(9)];
        let h = m.hash(b"Mozilla/5.0");
        assert!(!m.lookup(h, b"Mozilla/5.0", &mut out));
        assert_eq!(out, vec![cand(9)]);
        m.insert(h, b"Mozilla/5.0", &[cand(1), cand(4)]);
        assert!(m.lookup(h, b"Mozilla/5.0", &mut out));
        assert_eq!(out, vec![cand(1), cand(4)]);
    }

    #[test]
    fn same_hash_different_bytes_is_a_miss() {
        // Forge a collision: the full key comparison must reject it.
        let mut m = Memo::new();
        let h = m.hash(b"abc");
        m.insert(h, b"abc", &[cand(3)]);
        let mut out = Vec::new();
        assert!(!m.lookup(h, b"abd", &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn long_values_are_not_stored() {
        let mut m = Memo::new();
        let v = vec![b'a'; MAX_VALUE + 1];
        let h = m.hash(&v);
        m.insert(h, &v, &[cand(0)]);
        assert!(!m.lookup(h, &v, &mut Vec::new()));
        let v = vec![b'a'; MAX_VALUE];
        let h = m.hash(&v);
        m.insert(h, &v, &[cand(0)]);
        assert!(m.lookup(h, &v, &mut Vec::new()));
    }

    #[test]
    fn a_bucket_keeps_its_two_most_recent_keys() {
        // Three keys forced into one bucket (same low bits): the least recently used goes.
        let mut m = Memo::new();
        let (a, b, c) = (
            BUCKETS as u64 + 5,
            2 * BUCKETS as u64 + 5,
            3 * BUCKETS as u64 + 5,
        );
        m.insert(a, b"a", &[cand(1)]);
        m.insert(b, b"b", &[cand(2)]);
        let mut out = Vec::new();
        assert!(m.lookup(a, b"a", &mut out)); // a is now the most recent
        m.insert(c, b"c", &[cand(3)]); // evicts b
        assert!(m.lookup(a, b"a", &mut out));
        assert_eq!(out, vec![cand(1)]);
        assert!(m.lookup(c, b"c", &mut out));
        assert!(!m.lookup(b, b"b", &mut out));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn bounded_under_many_distinct_values() {
        let mut m = Memo::new();
        for i in 0..20_000u32 {
            let v = i.to_le_bytes();
            let h = m.hash(&v);
            m.insert(h, &v, &[cand(i)]);
        }
        assert!(m.len() <= 2 * BUCKETS);
        // Whatever is still held answers correctly.
        let mut out = Vec::new();
        for i in 19_990..20_000u32 {
            let v = i.to_le_bytes();
            if m.lookup(m.hash(&v), &v, &mut out) {
                assert_eq!(out, vec![cand(i)]);
            }
        }
    }
}
