//! A fast keyed hash for the per-shard caches (scan cache, scan memo, libinjection memo).
//!
//! Owns one function: eight bytes at a time, each word folded into the state with a 64×64→128
//! multiply whose halves are XORed (the construction of foldhash/ahash's fallback). With a random
//! per-cache seed an attacker who cannot read the seed cannot aim collisions; the caches compare
//! full keys anyway, so a collision costs a miss, never a wrong answer. Refuses to be a
//! cryptographic hash or a stable one (values differ per seed and may change between versions).

const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// Hash of `b` under `seed`.
#[inline]
pub(crate) fn hash(seed: u64, b: &[u8]) -> u64 {
    let mut h = fold_mul(seed ^ K1, (b.len() as u64) ^ K2);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1 ^ seed.rotate_left(17));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w), K2 ^ seed);
    }
    fold_mul(h, K1)
}

/// A random seed (from the standard library's per-process random keys).
pub(crate) fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_lengths_tails_and_seeds() {
        let s = 7;
        assert_ne!(hash(s, b""), hash(s, b"\0"));
        assert_ne!(hash(s, b"abcdefgh"), hash(s, b"abcdefgh\0"));
        assert_ne!(hash(s, b"abcdefghi"), hash(s, b"abcdefghj"));
        assert_eq!(hash(s, b"same value"), hash(s, b"same value"));
        assert_ne!(hash(1, b"same value"), hash(2, b"same value"));
    }

    #[test]
    fn low_bits_spread_over_buckets() {
        // 4096 short keys into 512 buckets: no bucket may hold a large share.
        let seed = random_seed();
        let mut buckets = vec![0u32; 512];
        for i in 0..4096u32 {
            let k = format!("arg{i}");
            buckets[(hash(seed, k.as_bytes()) & 511) as usize] += 1;
        }
        let max = buckets.iter().copied().max().unwrap_or(0);
        assert!(max < 32, "max bucket {max}");
    }
}
