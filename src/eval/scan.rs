//! The per-transaction scan cache: each (value, pattern group) pair is transformed by the
//! group's chain and scanned against the group's `PatternSet` once per transaction; every rule
//! of the group then reads its pattern from the cached candidates. PCRE2 confirmations are
//! settled on demand, per (value, pattern), so a value pays only for the patterns of the rules
//! that select it.
//!
//! Owns the per-shard Hyperscan scratch and the cache's buffers, which survive transactions
//! (the engine lends them to each transaction and takes them back), so a warm shard transforms
//! and scans without allocating. Refuses any knowledge of rules: it answers "does pattern `p`
//! match this value after chain `g`" and nothing else. Semantics are the matcher's.

use std::collections::HashMap;

use crate::compile::RuleSet;
use crate::matcher::{Candidate, PatternId, SetScratch};

/// One value after one group's chain, and its candidate patterns (sorted by pattern).
#[derive(Debug, Default)]
struct Entry {
    orig: Vec<u8>,
    transformed: Vec<u8>,
    cands: Vec<Candidate>,
}

/// Scan results of the current transaction, plus the shard's reusable scratch.
#[derive(Debug, Default)]
pub(crate) struct ScanCache {
    /// Per-shard Hyperscan scratch, one per pattern group.
    pub(crate) sets: Vec<SetScratch>,
    /// (group, value key) → index into `entries`.
    index: HashMap<(u16, u64), u32, BuildPreHashed>,
    /// Entries `..live` belong to this transaction; the rest keep their buffers for reuse.
    entries: Vec<Entry>,
    live: usize,
    tmp: Vec<u8>,
    /// `lookup_at` calls and, of those, the ones that transformed and scanned (over the shard's
    /// life, for benchmarks and profiles).
    lookups: u64,
    misses: u64,
    /// Per target set (`RuleSet::unions`): the union of its patterns matched by any value of its
    /// targets, valid while `valid_for == generation + 1`.
    unions: Vec<Union>,
    /// Bumped whenever the enumerable request/response values change (body processed, response
    /// loaded), which makes every union stale.
    generation: u32,
}

/// The pattern union of one target set.
#[derive(Debug, Default)]
struct Union {
    /// `generation + 1` when computed (0: never).
    valid_for: u32,
    /// False when a target of the group is not enumerable by the fast path.
    enumerable: bool,
    /// One bit per operator (`Prefilter::key`).
    bits: Vec<u64>,
}

/// What the cache knows about a group's pattern union.
pub(crate) enum UnionState {
    /// Not computed for the current values.
    Stale,
    /// A target of the group cannot be enumerated: no union.
    NotEnumerable,
    /// Whether the pattern is in the union.
    Known(bool),
}

impl ScanCache {
    /// Forgets this transaction's results, keeping every buffer.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.live = 0;
        self.invalidate();
    }

    /// The enumerable values changed: every group union must be recomputed.
    pub(crate) fn invalidate(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == u32::MAX {
            // Never let a stale union's stamp come around again.
            self.generation = 0;
            self.unions.iter_mut().for_each(|u| u.valid_for = 0);
        }
    }

    /// Whether operator `key` is matched by some value of target set `u`'s targets, if known.
    pub(crate) fn union_state(&self, u: u16, key: u32) -> UnionState {
        match self.unions.get(usize::from(u)) {
            Some(u) if u.valid_for == self.generation + 1 => {
                if !u.enumerable {
                    return UnionState::NotEnumerable;
                }
                let w = u.bits.get(key as usize / 64).copied().unwrap_or(0);
                UnionState::Known(w & (1u64 << (key % 64)) != 0)
            }
            _ => UnionState::Stale,
        }
    }

    /// Starts computing target set `u`'s union (empty, enumerable).
    pub(crate) fn union_begin(&mut self, u: u16) {
        let g = usize::from(u);
        if self.unions.len() <= g {
            self.unions.resize_with(g + 1, Union::default);
        }
        let u = &mut self.unions[g];
        u.valid_for = self.generation + 1;
        u.enumerable = true;
        u.bits.iter_mut().for_each(|w| *w = 0);
    }

    /// Adds entry `i` (of group `g`)'s matches among target set `ui`'s operators to its union,
    /// settling those candidates (and only those) with PCRE2 where needed.
    pub(crate) fn union_add(&mut self, rs: &RuleSet, ui: u16, g: u16, i: usize) {
        let g = usize::from(g);
        let Self {
            sets,
            entries,
            unions,
            ..
        } = self;
        let (Some(ts), Some(u), Some(e), Some(group), Some(sc)) = (
            rs.unions.get(usize::from(ui)),
            unions.get_mut(usize::from(ui)),
            entries.get_mut(i),
            rs.groups.get(g),
            sets.get_mut(g),
        ) else {
            return;
        };
        for c in e.cands.iter_mut() {
            let Some(&key) = group.keys.get(c.pattern.0 as usize) else {
                continue;
            };
            if !ts.has(key) || !group.set.settle(sc, &e.transformed, c) {
                continue;
            }
            let w = key as usize / 64;
            if u.bits.len() <= w {
                u.bits.resize(w + 1, 0);
            }
            u.bits[w] |= 1u64 << (key % 64);
        }
    }

    /// Marks target set `u`'s union as impossible (a target is not enumerable).
    pub(crate) fn union_give_up(&mut self, u: u16) {
        if let Some(u) = self.unions.get_mut(usize::from(u)) {
            u.enumerable = false;
        }
    }

    /// The entry of `value` put through chain `g` (computed on first use), keyed on the value's
    /// place when `origin` (`Value::origin`) is non-zero: such a place cannot change during the
    /// transaction, so the content is neither hashed nor compared. `origin == 0` keys on the
    /// content (verified byte for byte).
    pub(crate) fn lookup_at(&mut self, rs: &RuleSet, g: u16, value: &[u8], origin: u32) -> usize {
        self.lookups += 1;
        let h = if origin != 0 {
            u64::from(origin) | (1 << 63)
        } else {
            // Per-transaction keys, verified byte for byte: no seed needed.
            crate::fasthash::hash(0, value) & !(1 << 63)
        };
        if let Some(&i) = self.index.get(&(g, h)) {
            let i = i as usize;
            if self
                .entries
                .get(i)
                .is_some_and(|e| origin != 0 || e.orig == value)
            {
                return i;
            }
        }
        let i = self.push(value, origin);
        self.misses += 1;
        let Self {
            sets, entries, tmp, ..
        } = self;
        let e = &mut entries[i];
        e.transformed.extend_from_slice(value);
        // A group index outside the rule set (impossible for compiled rules): no pattern matches.
        if let Some(group) = rs.groups.get(usize::from(g)) {
            let mut swapped = false;
            for t in &group.transforms {
                // Most steps leave a benign value as it is: a byte search instead of a pass.
                if t.leaves_unchanged(&e.transformed) {
                    continue;
                }
                t.apply(&e.transformed, tmp);
                std::mem::swap(&mut e.transformed, tmp);
                swapped = !swapped;
            }
            if swapped {
                // Keep each entry's own buffer (its capacity is what this slot needs next
                // request): the result goes back into it instead of moving buffers around.
                std::mem::swap(&mut e.transformed, tmp);
                e.transformed.clear();
                e.transformed.extend_from_slice(tmp);
            }
            if sets.len() != rs.groups.len() {
                // The engine lends one scratch per group; a cache used without it makes its own.
                *sets = rs.groups.iter().map(|g| g.set.new_scratch()).collect();
            }
            if let Some(sc) = sets.get_mut(usize::from(g)) {
                group.set.scan_candidates(sc, &e.transformed, &mut e.cands);
            }
        }
        self.index.insert((g, h), i as u32);
        i
    }

    /// Claims the next entry (reusing its buffers) for `value`; the original bytes are kept
    /// only when the entry is keyed on them (`origin == 0`).
    fn push(&mut self, value: &[u8], origin: u32) -> usize {
        if self.live == self.entries.len() {
            self.entries.push(Entry::default());
        }
        let i = self.live;
        self.live += 1;
        let e = &mut self.entries[i];
        e.orig.clear();
        if origin == 0 {
            e.orig.extend_from_slice(value);
        }
        e.transformed.clear();
        e.cands.clear();
        i
    }

    /// Whether pattern `pid` of group `g` matches entry `i` (settling it with PCRE2 if needed).
    pub(crate) fn hit(&mut self, rs: &RuleSet, g: u16, i: usize, pid: PatternId) -> bool {
        let Self { sets, entries, .. } = self;
        let (Some(e), Some(group), Some(sc)) = (
            entries.get_mut(i),
            rs.groups.get(usize::from(g)),
            sets.get_mut(usize::from(g)),
        ) else {
            return false;
        };
        match e.cands.binary_search_by_key(&pid, |c| c.pattern) {
            Ok(k) => e
                .cands
                .get_mut(k)
                .is_some_and(|c| group.set.settle(sc, &e.transformed, c)),
            Err(_) => false,
        }
    }

    /// Runs regex `pid` of group `g` on entry `i`'s transformed value for its capture spans
    /// (offsets into [`ScanCache::transformed`]).
    pub(crate) fn captures(
        &mut self,
        rs: &RuleSet,
        g: u16,
        pid: PatternId,
        i: usize,
        caps: &mut [Option<(usize, usize)>; crate::matcher::CAPTURE_SLOTS],
    ) -> bool {
        let (Some(group), Some(e), Some(sc)) = (
            rs.groups.get(usize::from(g)),
            self.entries.get(i),
            self.sets.get_mut(usize::from(g)),
        ) else {
            return false;
        };
        group.set.captures(sc, pid, &e.transformed, caps)
    }

    /// (lookups, lookups that transformed and scanned) so far.
    pub(crate) fn lookup_counts(&self) -> (u64, u64) {
        (self.lookups, self.misses)
    }

    /// The transformed value of entry `i`.
    pub(crate) fn transformed(&self, i: usize) -> &[u8] {
        self.entries
            .get(i)
            .map_or(&[], |e| e.transformed.as_slice())
    }
}

/// The scan-cache key is already a hash: fold it instead of hashing it again.
#[derive(Debug, Default, Clone, Copy)]
struct BuildPreHashed;

impl std::hash::BuildHasher for BuildPreHashed {
    type Hasher = PreHashed;
    fn build_hasher(&self) -> PreHashed {
        PreHashed(0)
    }
}

/// Hasher for keys that are (small int, hash) pairs.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl std::hash::Hasher for PreHashed {
    fn finish(&self) -> u64 {
        // Origin keys are small structured integers: spread them over all bits (hashbrown
        // takes the bucket from the low bits and a tag from the top 7).
        let m = u128::from(self.0) * 0x9E37_79B9_7F4A_7C15_u128;
        (m as u64) ^ ((m >> 64) as u64)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u16(&mut self, n: u16) {
        self.0 = self.0.rotate_left(16) ^ u64::from(n);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(40) ^ n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_group_list_yields_untransformed_entries_without_hits() {
        let rs = crate::compile::compile(
            crate::seclang::parse_str("SecRuleEngine On\n", std::path::Path::new("t")).unwrap(),
        )
        .unwrap();
        let mut c = ScanCache::default();
        let i = c.lookup_at(&rs, 3, b"value", 0);
        assert_eq!(c.transformed(i), b"value");
        assert!(!c.hit(&rs, 3, i, PatternId(0)));
        // Same value, same entry; after clear() the buffers are reused for a new entry.
        assert_eq!(c.lookup_at(&rs, 3, b"value", 0), i);
        c.clear();
        assert_eq!(c.lookup_at(&rs, 3, b"other", 0), 0);
        assert_eq!(c.transformed(0), b"other");
    }
}
