//! The per-transaction scan cache: each value is put through the plan's chain trie
//! (`plan::ChainTrie`) once, yielding its distinct outputs (a step whose trigger bytes are
//! absent from the output's byte-class signature is skipped without a pass; a step that changes
//! nothing yields the same output), and each (value, pattern group) pair is scanned against the
//! group's `PatternSet` once per transaction, on its chain's output; every rule of the group
//! then reads its pattern from the cached candidates. PCRE2 confirmations are settled on
//! demand, per (value, pattern), so a value pays only for the patterns of the rules that select
//! it.
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
    /// The value (index into `ScanCache::values`) and its output after the group's chain
    /// (index into `ScanCache::outs`).
    value: u32,
    out: u32,
    cands: Vec<Candidate>,
}

/// One distinct byte string a value's chains produce, with its byte-class signature.
#[derive(Debug, Default)]
struct Out {
    bytes: Vec<u8>,
    sig: u16,
}

/// A trie slot whose output is not computed yet.
const UNSET: u32 = u32::MAX;

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
    /// Value key → value index; value `v`'s trie outputs are `slots[v * stride..][..stride]`
    /// (indices into `outs`, `UNSET` until computed; slot 0 is the value itself).
    values: HashMap<u64, u32, BuildPreHashed>,
    nvalues: usize,
    slots: Vec<u32>,
    stride: usize,
    /// Distinct outputs; `..nouts` belong to this transaction, the rest keep their buffers.
    outs: Vec<Out>,
    nouts: usize,
    tmp: Vec<u8>,
    /// `lookup_at` calls and, of those, the ones that transformed and scanned (over the shard's
    /// life, for benchmarks and profiles).
    lookups: u64,
    misses: u64,
    /// Distinct outputs made and transformation steps run (the rest were skipped on the
    /// signature or shared through the trie).
    made: u64,
    steps: u64,
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
        self.values.clear();
        self.nvalues = 0;
        self.nouts = 0;
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
            outs,
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
        let bytes = outs
            .get(e.out as usize)
            .map_or(&[][..], |o| o.bytes.as_slice());
        for c in e.cands.iter_mut() {
            let Some(&key) = group.keys.get(c.pattern.0 as usize) else {
                continue;
            };
            if !ts.has(key) || !group.set.settle(sc, bytes, c) {
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
                .is_some_and(|e| origin != 0 || self.value_bytes(e.value) == value)
            {
                return i;
            }
        }
        let v = self.value_at(rs, h, value, origin);
        let out = self.resolve(rs, v, g);
        self.misses += 1;
        if self.live == self.entries.len() {
            self.entries.push(Entry::default());
        }
        let i = self.live;
        self.live += 1;
        let Self {
            sets,
            entries,
            outs,
            ..
        } = self;
        let e = &mut entries[i];
        e.value = v;
        e.out = out;
        e.cands.clear();
        // A group index outside the rule set (impossible for compiled rules): no pattern matches.
        if let (Some(group), Some(o)) = (rs.groups.get(usize::from(g)), outs.get(out as usize)) {
            if sets.len() != rs.groups.len() {
                // The engine lends one scratch per group; a cache used without it makes its own.
                *sets = rs.groups.iter().map(|g| g.set.new_scratch()).collect();
            }
            if let Some(sc) = sets.get_mut(usize::from(g)) {
                group.set.scan_candidates(sc, &o.bytes, &mut e.cands);
            }
        }
        self.index.insert((g, h), i as u32);
        i
    }

    /// The bytes of value `v` as received.
    fn value_bytes(&self, v: u32) -> &[u8] {
        self.slots
            .get(v as usize * self.stride)
            .and_then(|&o| self.outs.get(o as usize))
            .map_or(&[], |o| o.bytes.as_slice())
    }

    /// The index of the value keyed `h` (see [`ScanCache::lookup_at`]), made on first use:
    /// its bytes become output 0 of its trie slots, with their signature.
    fn value_at(&mut self, rs: &RuleSet, h: u64, value: &[u8], origin: u32) -> u32 {
        if let Some(&v) = self.values.get(&h) {
            if origin != 0 || self.value_bytes(v) == value {
                return v;
            }
        }
        self.stride = rs.chains.len().max(1);
        let v = self.nvalues;
        self.nvalues += 1;
        let base = v * self.stride;
        if self.slots.len() < base + self.stride {
            self.slots.resize(base + self.stride, UNSET);
        }
        self.slots[base..base + self.stride].fill(UNSET);
        let o = self.new_out();
        let out = &mut self.outs[o as usize];
        out.bytes.extend_from_slice(value);
        out.sig = crate::transform::classes(value);
        self.slots[base] = o;
        let v = v as u32;
        self.values.insert(h, v);
        v
    }

    /// Claims the next output (reusing its buffer), empty.
    fn new_out(&mut self) -> u32 {
        if self.nouts == self.outs.len() {
            self.outs.push(Out::default());
        }
        let o = self.nouts;
        self.nouts += 1;
        self.made += 1;
        self.outs[o].bytes.clear();
        o as u32
    }

    /// Value `v`'s output after group `g`'s chain: walks the chain's trie path, reusing the
    /// outputs of prefixes already computed for this value, skipping steps the current
    /// output's signature rules out, and making a new output only when a step changed it.
    fn resolve(&mut self, rs: &RuleSet, v: u32, g: u16) -> u32 {
        let base = v as usize * self.stride;
        let mut cur = self.slots.get(base).copied().unwrap_or(UNSET);
        for &n in rs.chains.path(usize::from(g)) {
            let slot = base + usize::from(n);
            let Some(&known) = self.slots.get(slot) else {
                break;
            };
            if known != UNSET {
                cur = known;
                continue;
            }
            let t = rs.chains.step(n);
            let Some(o) = self.outs.get(cur as usize) else {
                break;
            };
            if t.may_change(o.sig) {
                self.steps += 1;
                if t.apply(&o.bytes, &mut self.tmp) {
                    let new = self.new_out();
                    let Self { outs, tmp, .. } = self;
                    let out = &mut outs[new as usize];
                    out.bytes.extend_from_slice(tmp);
                    out.sig = crate::transform::classes(&out.bytes);
                    cur = new;
                }
            }
            self.slots[slot] = cur;
        }
        cur
    }

    /// Whether pattern `pid` of group `g` matches entry `i` (settling it with PCRE2 if needed).
    pub(crate) fn hit(&mut self, rs: &RuleSet, g: u16, i: usize, pid: PatternId) -> bool {
        let Self {
            sets,
            entries,
            outs,
            ..
        } = self;
        let (Some(e), Some(group), Some(sc)) = (
            entries.get_mut(i),
            rs.groups.get(usize::from(g)),
            sets.get_mut(usize::from(g)),
        ) else {
            return false;
        };
        let bytes = outs
            .get(e.out as usize)
            .map_or(&[][..], |o| o.bytes.as_slice());
        match e.cands.binary_search_by_key(&pid, |c| c.pattern) {
            Ok(k) => e
                .cands
                .get_mut(k)
                .is_some_and(|c| group.set.settle(sc, bytes, c)),
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
        let bytes = self
            .outs
            .get(e.out as usize)
            .map_or(&[][..], |o| o.bytes.as_slice());
        group.set.captures(sc, pid, bytes, caps)
    }

    /// (lookups, lookups that scanned, distinct outputs made, transformation steps run) so far.
    pub(crate) fn lookup_counts(&self) -> (u64, u64, u64, u64) {
        (self.lookups, self.misses, self.made, self.steps)
    }

    /// The transformed value of entry `i`.
    pub(crate) fn transformed(&self, i: usize) -> &[u8] {
        self.entries
            .get(i)
            .and_then(|e| self.outs.get(e.out as usize))
            .map_or(&[], |o| o.bytes.as_slice())
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
