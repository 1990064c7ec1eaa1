//! `t:parityEven7bit`: sets the high bit when needed to make the byte's parity even.
//!
//! As in ModSecurity, the parity is computed over all eight bits of the input byte (the high
//! bit included), then the high bit is set if that parity is odd and cleared otherwise.
//! Example: `SecRule ARGS "@rx ..." "id:1,t:parityEven7bit"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.iter().map(|&b| {
        if b.count_ones() % 2 == 1 {
            b | 0x80
        } else {
            b & 0x7f
        }
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn even_parity() {
        let mut out = Vec::new();
        // 'a' = 0x61 has three bits set → odd → high bit set; 'c' = 0x63 has four → cleared.
        super::apply(b"ac\x81", &mut out);
        assert_eq!(out, b"\xe1\x63\x01");
    }
}
