//! HAProxy's variable-length integer ("peers" encoding, SPOE.txt §3.1).
//!
//! Owns encoding and decoding of the varints used for stream ids, frame ids, string lengths and
//! integer values. Pure functions over byte slices; no allocation beyond the caller's buffer.

/// Largest encoded length of a `u64` (the first byte carries 4 bits, the rest 7 each).
pub const MAX_LEN: usize = 10;

/// Decodes a varint at the start of `b`: `Some((value, bytes used))`, or `None` when `b` is
/// truncated or the value does not fit in 64 bits.
pub fn decode(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let mut v = u64::from(first);
    if v < 240 {
        return Some((v, 1));
    }
    let mut shift = 4u32;
    let mut i = 1;
    loop {
        let byte = *b.get(i)?;
        i += 1;
        if shift > 63 || i > MAX_LEN {
            return None;
        }
        v = v.checked_add(u64::from(byte).checked_shl(shift)?)?;
        shift += 7;
        if byte < 128 {
            return Some((v, i));
        }
    }
}

/// Appends the encoding of `x` to `out`.
pub fn encode(mut x: u64, out: &mut impl Extend<u8>) {
    if x < 240 {
        out.extend([x as u8]);
        return;
    }
    out.extend([(x as u8) | 0xF0]);
    x = (x - 240) >> 4;
    while x >= 128 {
        out.extend([(x as u8) | 0x80]);
        x = (x - 128) >> 7;
    }
    out.extend([x as u8]);
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPOE contract §4.2 table.
    const GOLDEN: &[(u64, &[u8])] = &[
        (0, &[0x00]),
        (239, &[0xef]),
        (240, &[0xf0, 0x00]),
        (403, &[0xf3, 0x0a]),
        (2287, &[0xff, 0x7f]),
        (2288, &[0xf0, 0x80, 0x00]),
        (16380, &[0xfc, 0xf0, 0x06]),
        (264432, &[0xf0, 0x80, 0x80, 0x00]),
        (33818864, &[0xf0, 0x80, 0x80, 0x80, 0x00]),
    ];

    #[test]
    fn golden_values_decode() {
        for &(v, bytes) in GOLDEN {
            assert_eq!(decode(bytes), Some((v, bytes.len())), "value {v}");
        }
    }

    #[test]
    fn golden_values_encode() {
        for &(v, bytes) in GOLDEN {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(out, bytes, "value {v}");
        }
    }

    #[test]
    fn round_trip_edges() {
        for v in [
            0,
            1,
            239,
            240,
            2287,
            2288,
            264431,
            264432,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert!(out.len() <= MAX_LEN);
            assert_eq!(decode(&out), Some((v, out.len())), "value {v}");
        }
    }

    #[test]
    fn truncated_and_overlong_are_none() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xf0]), None);
        assert_eq!(decode(&[0xff; 20]), None);
    }
}
