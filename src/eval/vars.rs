//! The TX collection of one transaction: case-insensitive keys, the key's spelling as last
//! written (what `TX:Key` names render with), and byte values.
//!
//! Owns storage only, built to be recycled by a shard: slots and their buffers survive
//! [`Vars::clear`] (a generation stamp marks which are live), so a warm shard sets and reads
//! CRS's TX variables without allocating. Every read goes through the liveness check, so a
//! value of a previous transaction is never visible. Refuses any SecLang knowledge (macro
//! expansion, `setvar` arithmetic live in `eval`); bounded: too many keys or a huge value and
//! `clear` starts afresh. Iteration is in lower-cased key order, the
//! order ModSecurity's (and the former `BTreeMap`'s) enumeration of `TX` gives.

use std::cell::RefCell;

/// Slots kept across transactions at most; above this (keys derived from request data can be
/// unbounded) [`Vars::clear`] drops them all rather than hold the memory.
const MAX_SLOTS: usize = 4096;

#[derive(Debug, Default)]
struct Slot {
    /// The key as last written (compared ASCII case-insensitively).
    key: Vec<u8>,
    value: Vec<u8>,
    /// Live when equal to the store's generation.
    live: u32,
}

/// A recyclable case-insensitive map from TX keys to values.
#[derive(Debug)]
pub(crate) struct Vars {
    slots: Vec<Slot>,
    /// Open addressing over `slots` (index + 1; 0 = empty); a power of two long.
    table: Vec<u32>,
    generation: u32,
    /// Bumped whenever the set of live keys changes (not when a value does).
    layout: u64,
    /// Live slots in enumeration order, valid for `sorted.0 == layout`: CRS enumerates TX
    /// (`TX:/^…/`) several times per request between rare key insertions.
    sorted: RefCell<(u64, Vec<u32>)>,
    /// A slot's buffers grew past `MAX_KEPT_BUFFER` (released by `clear`).
    big: bool,
}

impl Default for Vars {
    fn default() -> Self {
        Vars {
            slots: Vec::new(),
            table: Vec::new(),
            generation: 1,
            layout: 1,
            sorted: RefCell::new((0, Vec::new())),
            big: false,
        }
    }
}

/// FxHash-style hash, eight bytes at a time, of the key with bit 0x20 set in every byte: keys
/// equal ASCII case-insensitively hash alike (a few others collide too; lookups compare).
fn hash_key(k: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let mut h: u64 = (k.len() as u64).wrapping_mul(K);
    let mut chunks = k.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ (u64::from_le_bytes(w) | FOLD)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ (u64::from_le_bytes(w) | FOLD)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

impl Vars {
    /// Forgets every variable (their buffers are kept for the next transaction).
    pub(crate) fn clear(&mut self) {
        // Too many keys, or a huge value (`setvar:tx.x=%{REQUEST_BODY}`): start afresh rather
        // than pin the memory for the life of the shard.
        if self.slots.len() > MAX_SLOTS || self.big {
            *self = Vars::default();
            return;
        }
        self.layout += 1;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // A stamp must never come around again while a slot still carries it.
            self.slots.iter_mut().for_each(|s| s.live = 0);
            self.generation = 1;
        }
    }

    /// The table position holding `key`'s slot, or the empty position where it would go.
    fn find(&self, key: &[u8]) -> (usize, Option<usize>) {
        let mask = self.table.len() - 1;
        let mut pos = (hash_key(key) as usize) & mask;
        loop {
            match self.table[pos] {
                0 => return (pos, None),
                i => {
                    let s = i as usize - 1;
                    if self.slots[s].key.eq_ignore_ascii_case(key) {
                        return (pos, Some(s));
                    }
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    fn slot(&self, key: &[u8]) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        self.find(key).1
    }

    /// The value of `key` (any case), if set in this transaction.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let s = &self.slots[self.slot(key)?];
        (s.live == self.generation).then_some(s.value.as_slice())
    }

    /// The key as last written and the value of `key`, if set in this transaction.
    pub(crate) fn entry(&self, key: &[u8]) -> Option<(&[u8], &[u8])> {
        let s = &self.slots[self.slot(key)?];
        (s.live == self.generation).then_some((s.key.as_slice(), s.value.as_slice()))
    }

    /// Sets `key` (remembering this spelling) to `value`.
    pub(crate) fn set(&mut self, key: &[u8], value: &[u8]) {
        if (self.slots.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let (pos, found) = self.find(key);
        let i = match found {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                let i = self.slots.len() - 1;
                // Both lengths are bounded by memory long before u32 (MAX_SLOTS per clear).
                self.table[pos] = u32::try_from(i + 1).unwrap_or(u32::MAX);
                i
            }
        };
        if self.slots[i].live != self.generation {
            self.layout += 1;
        }
        let s = &mut self.slots[i];
        s.key.clear();
        s.key.extend_from_slice(key);
        s.value.clear();
        s.value.extend_from_slice(value);
        s.live = self.generation;
        self.big |= s.key.capacity() + s.value.capacity() > super::MAX_KEPT_BUFFER;
    }

    /// Removes `key` (the slot stays, dead, for reuse).
    pub(crate) fn remove(&mut self, key: &[u8]) {
        if let Some(i) = self.slot(key) {
            if self.slots[i].live == self.generation {
                self.layout += 1;
            }
            self.slots[i].live = 0;
        }
    }

    fn grow(&mut self) {
        let n = (self.table.len() * 2).max(64);
        self.table.clear();
        self.table.resize(n, 0);
        for i in 0..self.slots.len() {
            let mask = n - 1;
            let mut pos = (hash_key(&self.slots[i].key) as usize) & mask;
            while self.table[pos] != 0 {
                pos = (pos + 1) & mask;
            }
            self.table[pos] = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
    }

    /// Calls `f(key, value)` for every live variable in lower-cased key order.
    pub(crate) fn for_each_sorted(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let Ok(mut sorted) = self.sorted.try_borrow_mut() else {
            // Re-entered from `f` (the evaluator never does): sort privately.
            let mut order = Vec::new();
            self.sort_into(&mut order);
            return self.emit(&order, &mut f);
        };
        if sorted.0 != self.layout {
            self.sort_into(&mut sorted.1);
            sorted.0 = self.layout;
        }
        self.emit(&sorted.1, &mut f);
    }

    fn emit(&self, order: &[u32], f: &mut impl FnMut(&[u8], &[u8])) {
        for &i in order {
            if let Some(s) = self.slots.get(i as usize) {
                f(&s.key, &s.value);
            }
        }
    }

    fn sort_into(&self, order: &mut Vec<u32>) {
        order.clear();
        order.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.live == self.generation)
                .map(|(i, _)| i as u32),
        );
        let lower = |i: &u32| {
            self.slots[*i as usize]
                .key
                .iter()
                .map(u8::to_ascii_lowercase)
        };
        // Keys are unique case-insensitively, so an unstable sort is deterministic.
        order.sort_unstable_by(|a, b| lower(a).cmp(lower(b)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(v: &Vars) -> Vec<(String, String)> {
        let mut out = Vec::new();
        v.for_each_sorted(|k, v| {
            out.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        });
        out
    }

    #[test]
    fn hash_ignores_ascii_case_only_where_equality_does() {
        assert_eq!(
            hash_key(b"Blocking_Inbound_Anomaly_Score"),
            hash_key(b"blocking_inbound_anomaly_score")
        );
        assert_ne!(hash_key(b"abc"), hash_key(b"abd"));
        assert_ne!(hash_key(b"abcdefgh"), hash_key(b"abcdefgh\0"));
        // Colliding non-letters ('@' and '`') still compare unequal.
        let mut v = Vars::default();
        v.set(b"a@", b"1");
        v.set(b"a`", b"2");
        assert_eq!(v.get(b"A@"), Some(&b"1"[..]));
        assert_eq!(v.get(b"a`"), Some(&b"2"[..]));
    }

    #[test]
    fn keys_are_case_insensitive_and_keep_the_last_spelling() {
        let mut v = Vars::default();
        v.set(b"Anomaly_Score", b"5");
        assert_eq!(v.get(b"anomaly_score"), Some(&b"5"[..]));
        v.set(b"ANOMALY_SCORE", b"7");
        assert_eq!(
            v.entry(b"anomaly_score"),
            Some((&b"ANOMALY_SCORE"[..], &b"7"[..]))
        );
        v.remove(b"anomaly_Score");
        assert_eq!(v.get(b"anomaly_score"), None);
        v.set(b"anomaly_score", b"1");
        assert_eq!(v.get(b"ANOMALY_SCORE"), Some(&b"1"[..]));
    }

    #[test]
    fn clear_hides_every_value_and_slots_are_reused() {
        let mut v = Vars::default();
        for i in 0..200 {
            v.set(format!("k{i}").as_bytes(), b"x");
        }
        let slots = v.slots.len();
        v.clear();
        assert_eq!(all(&v), vec![]);
        assert_eq!(v.get(b"k7"), None);
        v.set(b"K7", b"y");
        assert_eq!(all(&v), vec![("K7".into(), "y".into())]);
        assert_eq!(v.slots.len(), slots, "the old slot is reused");
    }

    #[test]
    fn enumeration_is_in_lower_cased_key_order() {
        let mut v = Vars::default();
        for k in ["b", "A", "c_x", "C", "a_b"] {
            v.set(k.as_bytes(), k.as_bytes());
        }
        let keys: Vec<String> = all(&v).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["A", "a_b", "b", "C", "c_x"]);
    }

    #[test]
    fn cached_order_follows_insertions_removals_and_clears() {
        let mut v = Vars::default();
        v.set(b"b", b"1");
        v.set(b"a", b"1");
        assert_eq!(all(&v).len(), 2);
        v.set(b"a", b"2"); // value only: same order, new value visible
        assert_eq!(all(&v)[0], ("a".into(), "2".into()));
        v.set(b"c", b"3");
        v.remove(b"b");
        let keys: Vec<String> = all(&v).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "c"]);
        v.clear();
        v.set(b"c", b"4");
        assert_eq!(all(&v), vec![("c".into(), "4".into())]);
    }

    #[test]
    fn generation_wrap_does_not_revive_old_values() {
        let mut v = Vars::default();
        v.set(b"a", b"1");
        v.generation = u32::MAX;
        v.set(b"b", b"2");
        v.clear();
        assert_eq!(v.get(b"a"), None);
        assert_eq!(v.get(b"b"), None);
        assert_eq!(v.generation, 1);
    }

    #[test]
    fn huge_values_are_released_on_clear() {
        let mut v = Vars::default();
        v.set(b"big", &vec![b'x'; crate::eval::MAX_KEPT_BUFFER + 1]);
        v.set(b"small", b"1");
        v.clear();
        assert!(v
            .slots
            .iter()
            .all(|s| s.value.capacity() <= crate::eval::MAX_KEPT_BUFFER));
        assert_eq!(v.get(b"big"), None);
        v.set(b"big", b"2");
        assert_eq!(v.get(b"BIG"), Some(&b"2"[..]));
    }

    #[test]
    fn too_many_keys_are_dropped_on_clear() {
        let mut v = Vars::default();
        for i in 0..=MAX_SLOTS {
            v.set(format!("k{i}").as_bytes(), b"x");
        }
        v.clear();
        assert!(v.slots.is_empty());
        v.set(b"a", b"1");
        assert_eq!(v.get(b"a"), Some(&b"1"[..]));
    }
}
