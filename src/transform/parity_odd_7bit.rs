//! `t:parityOdd7bit`: sets the high bit when needed to make the byte's parity odd.
//!
//! Parity is computed over all eight input bits, as ModSecurity does: an odd-parity byte gets
//! its high bit cleared, an even-parity byte gets it set.
//! Example: `SecRule ARGS "@rx ..." "id:1,t:parityOdd7bit"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.iter().map(|&b| {
        if b.count_ones() % 2 == 1 {
            b & 0x7f
        } else {
            b | 0x80
        }
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_parity() {
        let mut out = Vec::new();
        super::apply(b"ac", &mut out);
        assert_eq!(out, b"\x61\xe3");
    }
}
