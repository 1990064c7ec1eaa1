//! `t:urlEncode`: percent-encodes every byte except `*`, `0-9`, `A-Z`, `a-z`; space → `+`.
//!
//! Hex digits are lowercase, as in ModSecurity. Example: `SecRule ARGS "@streq a+b" "id:1,t:urlEncode"`.

use super::HEX_LOWER;

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    for &b in input {
        if b == b' ' {
            out.push(b'+');
        } else if b == b'*' || b.is_ascii_alphanumeric() {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_LOWER[usize::from(b >> 4)],
                HEX_LOWER[usize::from(b & 15)],
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes() {
        let mut out = Vec::new();
        super::apply(b"a b*-\xff", &mut out);
        assert_eq!(out, b"a+b*%2d%ff");
    }
}
