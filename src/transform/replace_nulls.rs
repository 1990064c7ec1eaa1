//! `t:replaceNulls`: replaces every NUL (0x00) byte with a space.
//!
//! Example: `SecRule ARGS "@rx a b" "id:1,t:replaceNulls"` matches `a\0b`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.iter().map(|&b| if b == 0 { b' ' } else { b }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_to_space() {
        let mut out = Vec::new();
        super::apply(b"a\0b\0", &mut out);
        assert_eq!(out, b"a b ");
    }
}
