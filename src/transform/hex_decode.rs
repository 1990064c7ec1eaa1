//! `t:hexDecode`: decodes pairs of hex digits into bytes.
//!
//! ModSecurity does not validate: every pair of input bytes is run through its `x2c`
//! arithmetic whatever they are (so `zz` decodes to 0x53), and an odd trailing byte is dropped.
//! We reproduce that exactly. Example: `SecRule ARGS "@rx admin" "id:1,t:hexDecode"`.

use super::x2c;

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.chunks_exact(2).map(|p| match p {
        [h, l] => x2c(*h, *l),
        _ => 0,
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn pairs_without_validation() {
        let mut out = Vec::new();
        out.clear();
        super::apply(b"414a6", &mut out);
        assert_eq!(out, b"AJ");
        out.clear();
        super::apply(b"zz", &mut out);
        assert_eq!(out, b"\x53");
    }
}
