//! `t:hexEncode`: every byte as two lowercase hex digits.
//!
//! Example: CRS pairs it with `t:sha1` to compare digests: `t:sha1,t:hexEncode`.

use super::HEX_LOWER;

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len() * 2);
    for &b in input {
        out.extend_from_slice(&[
            HEX_LOWER[usize::from(b >> 4)],
            HEX_LOWER[usize::from(b & 15)],
        ]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes() {
        let mut out = Vec::new();
        super::apply(b"\x00A\xff", &mut out);
        assert_eq!(out, b"0041ff");
    }
}
