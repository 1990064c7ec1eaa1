//! Request body and request-line processors: URLENCODED (also the query string), cookies,
//! MULTIPART, JSON and XML, as pure functions from bytes to the collections SecLang rules read.
//!
//! Each processor reproduces what libmodsecurity3 3.0.9 exposes, quirks included (names,
//! value shapes, strictness flags), because CRS rules and their regression tests were written
//! against it; every such quirk is pinned by a unit test that records the reference output.
//! Nothing here does I/O, reads configuration or allocates per byte; no input can make these
//! functions panic (each has a randomized "never panics" test and a cargo-fuzz target).
//! Limits that ModSecurity takes from configuration (JSON depth, arguments) are parameters;
//! `limits` decides what the body-size and argument limits do, as libmodsecurity3 does.

pub mod cookies;
pub mod json;
pub mod limits;
pub mod multipart;
pub mod urlencoded;
pub mod xml;

/// One collection member: `(name, value)`, both raw bytes.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Spare [`Pair`]s whose buffers a caller recycles from one request to the next, so a warm
/// shard fills its collections without allocating. Bounded: at most [`PairPool::MAX_SPARE`]
/// pairs are kept, and none whose buffers grew past [`PairPool::MAX_KEPT_BYTES`], so one huge
/// request does not pin its memory for the life of the shard.
#[derive(Debug, Default)]
pub struct PairPool {
    spare: Vec<Pair>,
}

impl PairPool {
    /// Most pairs kept for reuse.
    pub const MAX_SPARE: usize = 1024;
    /// Pairs whose two buffers together hold more capacity than this are dropped, not kept.
    pub const MAX_KEPT_BYTES: usize = 16 * 1024;

    /// An empty pair, with recycled buffers when one is available.
    pub fn take(&mut self) -> Pair {
        match self.spare.pop() {
            Some((mut k, mut v)) => {
                k.clear();
                v.clear();
                (k, v)
            }
            None => Pair::default(),
        }
    }

    /// Empties `list`, keeping its pairs' buffers (within the bounds) for [`PairPool::take`].
    /// Pushed in reverse, so refilling the same list takes back each pair in its old place:
    /// a repeated request finds every buffer already large enough.
    pub fn recycle(&mut self, list: &mut Vec<Pair>) {
        for p in list.drain(..).rev() {
            if self.spare.len() < Self::MAX_SPARE
                && p.0.capacity() + p.1.capacity() <= Self::MAX_KEPT_BYTES
            {
                self.spare.push(p);
            }
        }
    }

    /// A pair holding copies of `name` and `value`.
    pub fn pair(&mut self, name: &[u8], value: &[u8]) -> Pair {
        let (mut k, mut v) = self.take();
        k.extend_from_slice(name);
        v.extend_from_slice(value);
        (k, v)
    }
}

/// A small deterministic generator for the "never panics" tests (xorshift64*): no dependency,
/// reproducible failures.
#[cfg(test)]
pub(crate) mod testrand {
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        /// Random bytes biased towards `alphabet`, so parsers get past their first checks.
        pub fn bytes(&mut self, max_len: usize, alphabet: &[u8]) -> Vec<u8> {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| {
                    if alphabet.is_empty() || self.below(8) == 0 {
                        self.next() as u8
                    } else {
                        alphabet[self.below(alphabet.len())]
                    }
                })
                .collect()
        }

        /// Splices random fragments of `seeds` together, with random bytes between them.
        pub fn splice(&mut self, seeds: &[&[u8]], pieces: usize, alphabet: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            for _ in 0..self.below(pieces + 1) {
                match self.below(3) {
                    0 => out.extend(self.bytes(8, alphabet)),
                    _ => {
                        let s = seeds[self.below(seeds.len())];
                        let a = self.below(s.len() + 1);
                        let b = a + self.below(s.len() - a + 1);
                        out.extend_from_slice(&s[a..b]);
                    }
                }
            }
            out
        }
    }
}
