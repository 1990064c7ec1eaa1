//! `t:parityZero7bit`: clears the high bit of every byte.
//!
//! Example: `SecRule ARGS "@rx admin" "id:1,t:parityZero7bit"` (7-bit protocols).

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.iter().map(|&b| b & 0x7f));
}

#[cfg(test)]
mod tests {
    #[test]
    fn clears_bit_7() {
        let mut out = Vec::new();
        super::apply(b"\xe1\x41", &mut out);
        assert_eq!(out, b"\x61\x41");
    }
}
